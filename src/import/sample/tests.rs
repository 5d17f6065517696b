//! End to end over generated samples: every format and encoding through the reader, the
//! mapper and the driver into a memory sink, planted bad rows reported at their lines.

use std::path::Path;

use super::*;
use crate::catalog::types::load_dir;
use crate::catalog::LicenceType;
use crate::import::source::open_bytes;
use crate::import::{
    run_import, Format, MapOptions, Mapping, MemorySink, ReadOptions, Reject, RowMapper, RunOptions, Summary,
};

pub(crate) fn catalog() -> Vec<LicenceType> {
    load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/catalog"))).unwrap()
}

pub(crate) fn sample_mapping() -> Mapping {
    Mapping::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/mappings/sample.toml"
    )))
    .unwrap()
}

fn sample(n: u64, format: SampleFormat, bad: bool) -> (Vec<u8>, SampleInfo) {
    let mut buf = Vec::new();
    let info = gen_sample(n, 7, format, bad, &mut buf).unwrap();
    (buf, info)
}

fn import(
    bytes: &[u8],
    format: Format,
    accept: bool,
    sink: &MemorySink,
) -> Result<(Summary, Vec<Reject>), crate::import::ImportError> {
    let m = sample_mapping();
    let source = open_bytes(bytes.to_vec(), format, &m, &ReadOptions::default()).unwrap();
    let opts = MapOptions {
        source_file: "sample".into(),
        accept_bad_check_digits: accept,
    };
    let mapper = RowMapper::new(m, &catalog(), opts).unwrap();
    let mut rejects = Vec::new();
    let s = run_import(
        source,
        &mapper,
        sink,
        &mut |r| {
            rejects.push(r.clone());
            Ok(())
        },
        &RunOptions { batch_size: 64 },
        &|_| {},
    )?;
    Ok((s, rejects))
}

fn assert_planted(format: SampleFormat, read_as: Format) {
    let (bytes, info) = sample(400, format, true);
    let sink = MemorySink::default();
    let (s, rejects) = import(&bytes, read_as, false, &sink).unwrap();
    let mut got: Vec<(u64, String)> = rejects.iter().map(|r| (r.line, r.column.clone())).collect();
    got.sort();
    let want: Vec<(u64, String)> = info
        .expected_bad
        .iter()
        .map(|b| (b.line, b.column.to_string()))
        .collect();
    assert_eq!(got, want, "{format:?}: {rejects:#?}");
    assert_eq!(s.rows_read, 400);
    assert_eq!(s.imported, info.good_rows(), "{format:?}");
    assert_eq!(s.rejected_rows, info.expected_bad.len() as u64);
    assert!(s.is_balanced());
    let mut flagged: Vec<u64> = sink
        .state()
        .records
        .values()
        .filter(|r| !r.flags.is_empty())
        .map(|r| r.line)
        .collect();
    flagged.sort();
    assert_eq!(flagged, info.expected_flagged, "{format:?}");
    assert_eq!(s.flagged, info.expected_flagged.len() as u64);
    let kinds: std::collections::BTreeSet<String> = info.expected_bad.iter().map(|b| format!("{:?}", b.kind)).collect();
    assert!(kinds.len() >= 8, "{kinds:?}");
}

#[test]
fn csv_utf8_planted_rows_at_their_lines() {
    assert_planted(SampleFormat::CsvUtf8, Format::Csv);
}

#[test]
fn csv_utf8_bom_planted_rows_at_their_lines() {
    assert_planted(SampleFormat::CsvUtf8Bom, Format::Csv);
}

#[test]
fn csv_gbk_planted_rows_at_their_lines() {
    assert_planted(SampleFormat::CsvGbk, Format::Csv);
}

#[test]
fn jsonl_planted_rows_at_their_lines() {
    assert_planted(SampleFormat::Jsonl, Format::Jsonl);
}

#[test]
fn xlsx_planted_rows_at_their_lines() {
    assert_planted(SampleFormat::Xlsx, Format::Xlsx);
}

#[test]
fn same_seed_same_bytes_and_every_date_style() {
    let (a, _) = sample(100, SampleFormat::CsvUtf8, true);
    let (b, _) = sample(100, SampleFormat::CsvUtf8, true);
    assert_eq!(a, b);
    let text = String::from_utf8(a).unwrap();
    for needle in ["年", "/", ".0", " 00:00:00", "长期", "\n（依法须经批准"] {
        assert!(text.contains(needle), "{needle}");
    }
}

#[test]
fn a_second_run_imports_nothing() {
    let (bytes, info) = sample(300, SampleFormat::CsvGbk, true);
    let sink = MemorySink::default();
    let (first, _) = import(&bytes, Format::Csv, false, &sink).unwrap();
    let (second, rejects) = import(&bytes, Format::Csv, false, &sink).unwrap();
    assert_eq!(first.imported, info.good_rows());
    assert_eq!(second.imported, 0);
    assert_eq!(second.already_present, info.good_rows());
    assert_eq!(rejects.len(), info.expected_bad.len());
}

#[test]
fn an_interrupted_run_resumes_without_duplicates() {
    let (bytes, info) = sample(500, SampleFormat::CsvUtf8, true);
    let sink = MemorySink::failing_after(3);
    assert!(import(&bytes, Format::Csv, false, &sink).is_err());
    let partial = sink.state().records.len() as u64;
    assert!(partial > 0 && partial < info.good_rows());
    sink.state().fail_after_batches = None;
    let (s, _) = import(&bytes, Format::Csv, false, &sink).unwrap();
    assert_eq!(s.already_present, partial);
    assert_eq!(s.imported + partial, info.good_rows());
    assert_eq!(sink.state().records.len() as u64, info.good_rows());
}

#[test]
fn bad_check_digits_can_be_accepted_flagged() {
    let (bytes, info) = sample(400, SampleFormat::CsvUtf8, true);
    let sink = MemorySink::default();
    let (s, _) = import(&bytes, Format::Csv, true, &sink).unwrap();
    let bad_check: Vec<u64> = info
        .expected_bad
        .iter()
        .filter(|b| b.kind == BadKind::BadCheckDigit)
        .map(|b| b.line)
        .collect();
    assert!(!bad_check.is_empty());
    assert_eq!(s.imported, info.good_rows() + bad_check.len() as u64);
    for line in bad_check {
        let state = sink.state();
        let r = state.records.values().find(|r| r.line == line).unwrap();
        assert_eq!(r.provenance.flags, vec!["holder_code_check_digit".to_string()]);
    }
}

#[test]
fn clean_samples_import_whole() {
    for (format, read_as) in [
        (SampleFormat::CsvUtf8, Format::Csv),
        (SampleFormat::Jsonl, Format::Jsonl),
    ] {
        let (bytes, info) = sample(250, format, false);
        assert!(info.expected_bad.is_empty());
        let sink = MemorySink::default();
        let (s, rejects) = import(&bytes, read_as, false, &sink).unwrap();
        assert!(rejects.is_empty(), "{rejects:#?}");
        assert_eq!(s.imported, 250);
        let state = sink.state();
        let r = state.records.values().next().unwrap();
        assert_eq!(r.provenance.source_system, "荆门市行政审批系统（旧）");
        assert_eq!(r.provenance.source_file, "sample");
    }
}
