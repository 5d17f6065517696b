//! Reading PDFs back the way a user does: poppler's `pdftotext` and `pdffonts`, the page
//! rasterised by `pdftoppm` and its QR code read by `zbarimg`, the file's structure checked
//! by `qpdf --check` (Debian: poppler-utils, zbar-tools, qpdf; `.ci/run` installs them).
//! A missing tool fails the test, never skips it.

use std::path::Path;
use std::process::Command;

use elicence::api::pb::{pdf_chunk, PdfChunk, PdfInfo};
use sha2::{Digest, Sha256};
use tonic::Streaming;

pub fn run(tool: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("{tool} is required ({e}); install Debian packages poppler-utils, zbar-tools and qpdf")
    });
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The licence's PDF as `SCJGJ` renders it for `use_cause`: its info and bytes.
pub async fn render(server: &crate::common::TestServer, identifier: &str, use_cause: &str) -> (PdfInfo, Vec<u8>) {
    let stream = server
        .documents()
        .render_licence_pdf(crate::common::authed(
            crate::common::SCJGJ,
            elicence::api::pb::RenderLicencePdfRequest {
                identifier: identifier.into(),
                use_cause: use_cause.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    collect(stream).await
}

/// Reassembles a streamed PDF: one info message first, then data chunks of at most
/// 64 KiB whose concatenation has the announced size and SHA-256.
pub async fn collect(mut stream: Streaming<PdfChunk>) -> (PdfInfo, Vec<u8>) {
    let first = stream.message().await.unwrap().expect("an info message");
    let Some(pdf_chunk::Part::Info(info)) = first.part else {
        panic!("first message is not info: {first:?}")
    };
    let mut pdf = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        match chunk.part {
            Some(pdf_chunk::Part::Data(d)) => {
                assert!(!d.is_empty() && d.len() <= 64 * 1024, "chunk of {} bytes", d.len());
                pdf.extend_from_slice(&d);
            }
            other => panic!("unexpected message after info: {other:?}"),
        }
    }
    assert_eq!(info.size_bytes, pdf.len() as u64);
    assert_eq!(info.sha256, Sha256::digest(&pdf).to_vec());
    assert!(pdf.starts_with(b"%PDF-"));
    (info, pdf)
}

/// qpdf finds the file's structure sound: a valid cross-reference table, every object and
/// stream readable, no warning.
pub fn check_structure(dir: &Path, pdf: &[u8]) {
    let path = dir.join("check.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = String::from_utf8(run("qpdf", &["--check", path.to_str().unwrap()])).unwrap();
    assert!(
        out.contains("No syntax or stream encoding errors found") && !out.to_lowercase().contains("warning"),
        "qpdf --check: {out}"
    );
}

/// The text poppler extracts, without whitespace (wrapped lines break anywhere).
pub fn text(dir: &Path, pdf: &[u8]) -> String {
    let path = dir.join("text.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = run("pdftotext", &["-raw", "-enc", "UTF-8", path.to_str().unwrap(), "-"]);
    String::from_utf8(out)
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Every QR code on the first page, rasterised at 150 dpi.
pub fn scan_qr(dir: &Path, pdf: &[u8]) -> Vec<String> {
    let path = dir.join("scan.pdf");
    std::fs::write(&path, pdf).unwrap();
    let prefix = dir.join("scan");
    run(
        "pdftoppm",
        &[
            "-r",
            "150",
            "-png",
            "-singlefile",
            path.to_str().unwrap(),
            prefix.to_str().unwrap(),
        ],
    );
    let png = prefix.with_extension("png");
    let out = run(
        "zbarimg",
        &["--raw", "-q", "-Sdisable", "-Sqrcode.enable", png.to_str().unwrap()],
    );
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}
