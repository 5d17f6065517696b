//! Tests of [`super::check`]: each limit refuses with its name and the measured value, the
//! declared sizes are not believed, and real workbooks pass.

use std::io::{Cursor, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::*;
use crate::import::sample::{gen_sample, xlsx_bomb, SampleFormat};
use crate::import::source::{open_bytes, Format, ReadOptions};
use crate::import::{ImportError, Mapping};

/// A zip of the given entries, deflated.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(*name, opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn checked(bytes: Vec<u8>, limits: &XlsxLimits) -> Result<(), XlsxLimitError> {
    let mut input = Cursor::new(bytes);
    let out = check(&mut input, limits);
    if out.is_ok() {
        assert_eq!(input.position(), 0, "the input is rewound for the parser");
    }
    out
}

/// Bytes that do not compress: a xorshift stream.
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// No limit but the one a test sets.
fn loose() -> XlsxLimits {
    XlsxLimits {
        max_unpacked_bytes: u64::MAX,
        max_ratio: u64::MAX,
        ratio_applies_above: u64::MAX,
        max_shared_strings: u64::MAX,
        max_shared_strings_bytes: u64::MAX,
        max_part_bytes: u64::MAX,
        max_style_records: u64::MAX,
    }
}

fn shared_strings(n: usize) -> Vec<u8> {
    let mut xml = b"<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">".to_vec();
    xml.extend(b"<si><t>x</t></si>".repeat(n));
    xml.extend(b"</sst>");
    xml
}

#[test]
fn a_shared_string_bomb_is_refused_before_parsing_naming_the_limit() {
    // 6 million strings: 100 MB of XML from about 250 KB; calamine would hold ~250 MB.
    let bomb = xlsx_bomb(6_000_000);
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    let e = checked(bomb.clone(), &XlsxLimits::default()).unwrap_err();
    // Whichever of the two limits it passes first.
    let message = e.to_string();
    match e {
        XlsxLimitError::SharedStrings { limit, measured, .. } => {
            assert_eq!(limit, 1_000_000);
            assert!(measured > limit && measured < limit + 10_000, "{measured}");
            assert!(message.contains("--xlsx-max-shared-strings"), "{message}");
        }
        XlsxLimitError::Ratio { limit, .. } => {
            assert_eq!(limit, 100);
            assert!(message.contains("--xlsx-max-ratio"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert!(message.contains("xl/sharedStrings.xml"), "{message}");

    // The same through the import's entry point, where the RPC opens uploads.
    let mapping = Mapping::from_toml("source_system = \"旧系统\"").unwrap();
    let e = open_bytes(bomb, Format::Xlsx, &mapping, &ReadOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, ImportError::XlsxLimit(_)), "{e}");
    assert!(e.to_string().starts_with("xlsx refused before parsing: "), "{e}");
}

#[test]
fn each_limit_refuses_with_what_it_measured() {
    let loose = loose();

    let total = XlsxLimits {
        max_unpacked_bytes: 100_000,
        ..loose.clone()
    };
    let two = zip_of(&[("a.bin", &noise(60_000)), ("b.bin", &noise(60_000))]);
    match checked(two, &total) {
        Err(XlsxLimitError::Unpacked { measured, limit }) => {
            assert_eq!(limit, 100_000);
            assert!(measured > 100_000 && measured <= 120_000, "{measured}");
        }
        other => panic!("{other:?}"),
    }

    let zeros = zip_of(&[("xl/media/image1.bin", &vec![0u8; 3 * 1024 * 1024])]);
    match checked(zeros, &XlsxLimits::default()) {
        Err(XlsxLimitError::Ratio {
            entry,
            unpacked,
            compressed,
            limit,
            applies_above,
        }) => {
            assert_eq!(
                (entry.as_str(), limit, applies_above),
                ("xl/media/image1.bin", 100, 1024 * 1024)
            );
            assert!(unpacked > 100 * compressed, "{unpacked} from {compressed}");
        }
        other => panic!("{other:?}"),
    }

    let count = XlsxLimits {
        max_shared_strings: 10,
        ..loose.clone()
    };
    assert!(checked(zip_of(&[("xl/sharedStrings.xml", &shared_strings(10))]), &count).is_ok());
    let e = checked(zip_of(&[("xl/sharedStrings.xml", &shared_strings(11))]), &count).unwrap_err();
    assert_eq!(
        e,
        XlsxLimitError::SharedStrings {
            entry: "xl/sharedStrings.xml".into(),
            measured: 11,
            limit: 10
        }
    );

    let size = XlsxLimits {
        max_shared_strings_bytes: 1000,
        ..loose.clone()
    };
    let e = checked(zip_of(&[("xl/sharedStrings.xml", &shared_strings(100))]), &size).unwrap_err();
    assert!(
        matches!(e, XlsxLimitError::SharedStringsBytes { limit: 1000, measured, .. } if measured > 1000),
        "{e}"
    );
    // Only the shared-string table is held to its size.
    assert!(checked(zip_of(&[("xl/worksheets/sheet1.xml", &shared_strings(100))]), &size).is_ok());
}

/// calamine builds a style record, with copies of its font, fill and border, for every
/// `<xf>`: five bytes of XML become hundreds in memory. Other parts read whole are held
/// to a size; worksheets, read a cell at a time, are not.
#[test]
fn style_records_and_parts_read_whole_are_limited() {
    let styles = |n: usize| {
        let mut xml = b"<styleSheet><fonts><font/></fonts><cellXfs>".to_vec();
        xml.extend(b"<xf fontId=\"0\"/>".repeat(n));
        xml.extend(b"</cellXfs></styleSheet>");
        xml
    };
    let records = XlsxLimits {
        max_style_records: 100,
        ..loose()
    };
    assert!(checked(zip_of(&[("xl/styles.xml", &styles(99))]), &records).is_ok());
    let e = checked(zip_of(&[("xl/styles.xml", &styles(100))]), &records).unwrap_err();
    assert_eq!(
        e,
        XlsxLimitError::StyleRecords {
            entry: "xl/styles.xml".into(),
            measured: 101,
            limit: 100
        }
    );
    assert!(e.to_string().contains("--xlsx-max-style-records"), "{e}");

    let parts = XlsxLimits {
        max_part_bytes: 10_000,
        ..loose()
    };
    for name in [
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
        "xl/styles.xml",
        "xl/theme/theme1.xml",
    ] {
        let e = checked(zip_of(&[(name, &noise(20_000))]), &parts).unwrap_err();
        assert!(
            matches!(&e, XlsxLimitError::PartBytes { entry, limit: 10_000, .. } if entry == name),
            "{e}"
        );
    }
    for name in [
        "xl/worksheets/sheet1.xml",
        "xl/media/image1.png",
        "XL/Worksheets/Sheet2.xml",
    ] {
        checked(zip_of(&[(name, &noise(20_000))]), &parts).unwrap();
    }
}

/// calamine reserves room for the count the table declares before reading a string:
/// `uniqueCount="4000000000"` alone would ask for 96 GB.
#[test]
fn a_declared_shared_string_count_over_the_limit_is_refused() {
    let limits = XlsxLimits::default();
    for (declared, refused) in [
        ("1000000", false),
        ("1000001", true),
        ("4000000000", true),
        ("99999999999999999999999", true),
        ("-1", true),
    ] {
        let xml =
            format!(r#"<x:sst xmlns:x="urn:x" count="3" uniqueCount='{declared}'><x:si><x:t>a</x:t></x:si></x:sst>"#);
        let out = checked(zip_of(&[("XL\\SharedStrings.xml", xml.as_bytes())]), &limits);
        assert_eq!(out.is_err(), refused, "{declared}: {out:?}");
        if let Err(e) = out {
            assert!(matches!(e, XlsxLimitError::DeclaredSharedStrings { .. }), "{e}");
        }
    }
    // An <sst> tag too long to read whole is refused rather than read past.
    let padding = format!(r#"a="{}""#, "x".repeat(elements::MAX_TAG));
    let xml = format!(r#"<sst {padding} uniqueCount="4000000000"></sst>"#);
    let e = checked(zip_of(&[("xl/sharedStrings.xml", xml.as_bytes())]), &limits).unwrap_err();
    assert!(e.to_string().contains("unreadable"), "{e}");
}

#[test]
fn shared_strings_are_counted_across_reads_and_prefixes() {
    let xml = b"<?xml version=\"1.0\"?><sst><si><t>a</t></si><x:si><t>b</t></x:si><sig/><si/></sst>";
    let mut whole = ElementCounter::new(&[b"si"]);
    whole.feed(xml);
    assert_eq!(whole.count, 3);
    let mut bytewise = ElementCounter::new(&[b"si"]);
    for b in xml {
        bytewise.feed(&[*b]);
    }
    assert_eq!(bytewise.count, 3);
}

/// The sizes in the zip directory are the attacker's to write, and are not what is
/// measured: a bomb declaring its table larger than it is is measured all the same, and
/// one declaring it smaller is cut off there by the decompressor — for the parser too.
#[test]
fn declared_sizes_do_not_change_what_is_measured() {
    let mut bomb = xlsx_bomb(2_000_000);
    declare_size(&mut bomb, b"xl/sharedStrings.xml", u32::MAX);
    let by_count = XlsxLimits {
        max_ratio: u64::MAX,
        ..XlsxLimits::default()
    };
    let e = checked(bomb.clone(), &by_count).unwrap_err();
    assert!(matches!(e, XlsxLimitError::SharedStrings { .. }), "{e}");

    declare_size(&mut bomb, b"xl/sharedStrings.xml", 100);
    checked(bomb.clone(), &XlsxLimits::default()).unwrap();
    let mapping = Mapping::from_toml("source_system = \"旧系统\"").unwrap();
    let e = open_bytes(bomb, Format::Xlsx, &mapping, &ReadOptions::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("declared uncompressed size"), "{e}");
}

/// Rewrites the uncompressed size `name` declares in its local header and the central
/// directory.
fn declare_size(zip: &mut [u8], name: &[u8], size: u32) {
    let mut patched = 0;
    for p in 0..zip.len().saturating_sub(46) {
        let (name_at, size_at, len_at) = match &zip[p..p + 4] {
            b"PK\x03\x04" => (p + 30, p + 22, p + 26),
            b"PK\x01\x02" => (p + 46, p + 24, p + 28),
            _ => continue,
        };
        let len = u16::from_le_bytes([zip[len_at], zip[len_at + 1]]) as usize;
        if zip.get(name_at..name_at + len) == Some(name) {
            zip[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2, "local header and central directory entry");
}

#[test]
fn real_workbooks_pass() {
    let fixture =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import/sample-40.xlsx")).unwrap();
    checked(fixture, &XlsxLimits::default()).unwrap();
    let mut generated = Vec::new();
    gen_sample(5000, 7, SampleFormat::Xlsx, false, &mut generated).unwrap();
    checked(generated, &XlsxLimits::default()).unwrap();
}

#[test]
fn not_a_zip_is_an_error_not_a_panic() {
    let e = checked(b"PK\x03\x04 not really".to_vec(), &XlsxLimits::default()).unwrap_err();
    assert!(matches!(e, XlsxLimitError::Zip(_)), "{e}");
}
