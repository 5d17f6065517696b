//! The committed fixtures under `tests/data/import/` read from disk with the example
//! mappings under `templates/mappings/`, so the documented examples stay true.

use std::path::{Path, PathBuf};

use super::sample::tests::catalog;
use super::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_file(data: &str, mapping: &str) -> (Summary, Vec<Reject>, MemorySink) {
    let mapping = Mapping::load(&root().join("templates/mappings").join(mapping)).unwrap();
    let path = root().join("tests/data/import").join(data);
    let source = open_source(&path, &mapping, &ReadOptions::default()).unwrap();
    let opts = MapOptions {
        source_file: data.to_string(),
        accept_bad_check_digits: false,
    };
    let mapper = RowMapper::new(mapping, &catalog(), opts).unwrap();
    let sink = MemorySink::default();
    let mut rejects = Vec::new();
    let summary = run_import(
        source,
        &mapper,
        &sink,
        &mut |r| {
            rejects.push(r.clone());
            Ok(())
        },
        &RunOptions { batch_size: 4 },
        &|p| assert!(p.bytes_read > 0 && p.summary.is_balanced()),
    )
    .unwrap();
    (summary, rejects, sink)
}

fn lines_and_columns(rejects: &[Reject]) -> Vec<(u64, &str)> {
    let mut v: Vec<(u64, &str)> = rejects.iter().map(|r| (r.line, r.column.as_str())).collect();
    v.sort();
    v
}

#[test]
fn gbk_business_licences_with_every_date_style() {
    let (s, rejects, sink) = run_file("business-licences-gbk.csv", "business-licence-gbk.toml");
    assert_eq!(
        lines_and_columns(&rejects),
        vec![
            (3, "统一社会信用代码"),
            (10, "核准日期"),
            (11, "营业期限至"),
            (12, "注册号"),
            (12, "统一社会信用代码")
        ],
        "{rejects:#?}"
    );
    assert_eq!(
        (s.rows_read, s.imported, s.rejected_rows, s.reject_problems),
        (10, 6, 4, 5)
    );
    let state = sink.state();
    let by_line = |l: u64| &state.records.values().find(|r| r.line == l).unwrap().draft.draft;
    // Row 3 starts on line 4 and its 经营范围 runs onto line 5.
    let r = by_line(4);
    assert_eq!(r.valid_until, "");
    assert!(r.fields.iter().any(|f| f.value == "日用百货销售；\n五金产品零售"));
    assert_eq!(r.region_code, "420881");
    assert_eq!(
        by_line(7).holder_name,
        "荆门市漳河物流有限公司",
        "full-width spaces trimmed"
    );
    assert_eq!(
        (by_line(7).issue_date.as_str(), by_line(7).valid_from.as_str()),
        ("2015-03-01", "2011-03-01")
    );
    assert_eq!(by_line(8).valid_until, "2035-03-01");
    assert_eq!(
        (by_line(9).issue_date.as_str(), by_line(9).valid_from.as_str()),
        ("2015-03-01", "2006-10-10")
    );
    let fields: Vec<&str> = by_line(2).fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(fields, vec!["法定代表人", "注册资本", "成立日期", "住所", "经营范围"]);
    assert_eq!(by_line(2).fields[0].value, "王堃");
}

#[test]
fn json_lines_export_of_the_same_records() {
    let (s, rejects, _) = run_file("business-licences.jsonl", "business-licence-gbk.toml");
    let got = lines_and_columns(&rejects);
    assert_eq!(
        got,
        vec![
            (2, "统一社会信用代码"),
            (8, "核准日期"),
            (9, "营业期限至"),
            (10, "注册号"),
            (10, "统一社会信用代码")
        ]
    );
    assert_eq!(s.imported, 6);
}

#[test]
fn xlsx_fixture_from_disk() {
    let info = gen_sample(40, 3, SampleFormat::Xlsx, true, std::io::sink()).unwrap();
    let (s, rejects, _) = run_file("sample-40.xlsx", "sample.toml");
    let want: Vec<(u64, &str)> = info.expected_bad.iter().map(|b| (b.line, b.column)).collect();
    assert_eq!(lines_and_columns(&rejects), want);
    assert_eq!(s.imported, info.good_rows());
}

#[test]
fn example_mappings_fit_the_catalogue() {
    for entry in std::fs::read_dir(root().join("templates/mappings")).unwrap() {
        let path = entry.unwrap().path();
        let m = Mapping::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        RowMapper::new(m, &catalog(), MapOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn a_misspelt_column_stops_the_run() {
    let mut mapping = Mapping::load(&root().join("templates/mappings/business-licence-gbk.toml")).unwrap();
    mapping.columns.insert("holder_name".into(), "企业名".into());
    let path = root().join("tests/data/import/business-licences-gbk.csv");
    let source = open_source(&path, &mapping, &ReadOptions::default()).unwrap();
    let mapper = RowMapper::new(mapping, &catalog(), MapOptions::default()).unwrap();
    let e = run_import(
        source,
        &mapper,
        &MemorySink::default(),
        &mut |_| Ok(()),
        &RunOptions::default(),
        &|_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("企业名"), "{e}");
}

#[test]
fn forced_utf8_on_a_gbk_file_rejects_rows_not_the_run() {
    let mapping = Mapping::load(&root().join("templates/mappings/business-licence-gbk.toml")).unwrap();
    let path = root().join("tests/data/import/business-licences-gbk.csv");
    let opts = ReadOptions {
        encoding: Some(Encoding::Utf8),
        ..ReadOptions::default()
    };
    // The header itself is GBK: opening fails with a clear message.
    let e = open_source(&path, &mapping, &opts).err().unwrap();
    assert!(e.to_string().contains("UTF-8"), "{e}");
}

/// Rewrites the binary fixture; run by hand with `--ignored` when the generator changes.
#[test]
#[ignore]
fn regenerate_xlsx_fixture() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import/sample-40.xlsx");
    let f = std::fs::File::create(path).unwrap();
    gen_sample(40, 3, SampleFormat::Xlsx, true, f).unwrap();
}

/// Found by the `import_xlsx` fuzz target: a cell reference with a row number too large
/// for a u32 makes calamine 0.38 overflow (a panic where overflow checks are on, as in
/// tests). The import reports where reading stopped instead of panicking or ending
/// quietly as if the sheet were done.
#[test]
fn a_panic_inside_the_xlsx_parser_is_reported_not_swallowed() {
    let input =
        std::fs::read(root().join("fuzz/corpus/import_xlsx/regression-calamine-cell-reference-overflow")).unwrap();
    // The fuzz input's first byte chose the mapping (0: sample.toml); the rest is the file.
    assert_eq!(input[0] % 3, 0);
    let mapping = Mapping::load(&root().join("templates/mappings/sample.toml")).unwrap();
    let source = open_bytes(input[1..].to_vec(), Format::Xlsx, &mapping, &ReadOptions::default()).unwrap();
    let items: Vec<_> = source.collect();
    let last = items.last().expect("the reader reports something");
    let reject = last.as_ref().expect_err("the last item is the failure");
    assert!(
        reject.reason.contains("the XLSX parser stopped on malformed data") && reject.reason.contains("not read"),
        "{reject:?}"
    );
    assert!(reject.line >= 1);
}
