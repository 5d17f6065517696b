//! Tests of [`super::RowMapper`]: each rejection reason with its column, collecting
//! several problems per row, inference, defaults, extra fields and keys.

use proptest::prelude::*;

use super::*;
use crate::import::sample::tests::catalog;
use crate::import::source::{open_bytes, Format, ReadOptions};

const MAPPING: &str = r#"
source_system = "旧营业执照系统"
[columns]
licence_type_code = "类型名称"
licence_number = "证照编号"
legacy_identifier = "证照标识"
issue_date = "发证日期"
valid_until = "有效期至"
holder_name = "持证主体"
holder_code = "主体代码"
holder_code_type = "代码类型"
region_code = "区划"
[constants]
issuer_name = "荆门市市场监督管理局"
issuer_code = "11420800MB1A234561"
[defaults]
issuer_level = "地市级"
related_item = "历史数据迁移"
[type_defaults.11100000MB1536428Y001]
related_item = "医师执业注册"
[values.licence_type_code]
"执照" = "11100000000013338W011"
[[fields]]
column = "资本"
name = "注册资本"
types = ["11100000000013338W011"]
[[fields]]
column = "成立"
name = "成立日期"
date = true
"#;

const HEADER: [&str; 11] = [
    "类型名称",
    "证照编号",
    "证照标识",
    "发证日期",
    "有效期至",
    "持证主体",
    "主体代码",
    "代码类型",
    "区划",
    "资本",
    "成立",
];

fn mapper_with(toml: &str, accept: bool) -> RowMapper {
    let m = Mapping::from_toml(toml).unwrap();
    RowMapper::new(
        m,
        &catalog(),
        MapOptions {
            source_file: "old.csv".into(),
            accept_bad_check_digits: accept,
        },
    )
    .unwrap()
}

fn mapper() -> RowMapper {
    mapper_with(MAPPING, false)
}

/// A good business-licence row; `edit` changes columns by name.
fn row(edit: &[(&str, &str)]) -> SourceRow {
    let mut values = vec![
        "营业执照",
        "91420800MA4F0001X1",
        "",
        "2015年3月1日",
        "长期",
        "荆门市楚韵食品有限公司",
        "91440300708461136T",
        "",
        "420802",
        "500",
        "2015/2/1",
    ];
    for (col, v) in edit {
        let i = HEADER.iter().position(|h| h == col).unwrap();
        values[i] = v;
    }
    SourceRow::from_pairs(
        12,
        HEADER
            .iter()
            .zip(values)
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect(),
    )
}

fn problems(edit: &[(&str, &str)]) -> Vec<(String, String, String)> {
    mapper()
        .map(&row(edit))
        .unwrap_err()
        .into_iter()
        .map(|r| (r.column, r.value, r.reason))
        .collect()
}

fn one_problem(edit: &[(&str, &str)]) -> (String, String, String) {
    let mut p = problems(edit);
    assert_eq!(p.len(), 1, "{p:#?}");
    p.remove(0)
}

#[test]
fn a_good_row_maps_fully() {
    let r = mapper().map(&row(&[])).unwrap();
    let d = &r.draft.draft;
    assert_eq!(d.licence_type_code, "11100000000013338W011");
    assert_eq!(d.issue_date, "2015-03-01");
    assert_eq!(d.valid_from, "2015-03-01", "valid_from defaults to the issue date");
    assert_eq!(d.valid_until, "");
    assert_eq!(d.holder_code_type, "001", "inferred");
    assert_eq!(d.issuer_name, "荆门市市场监督管理局");
    assert_eq!(
        (d.issuer_level.as_str(), d.related_item.as_str()),
        ("地市级", "历史数据迁移")
    );
    let fields: Vec<(&str, &str)> = d.fields.iter().map(|f| (f.name.as_str(), f.value.as_str())).collect();
    assert_eq!(fields, vec![("注册资本", "500"), ("成立日期", "2015-02-01")]);
    assert_eq!(r.key, "11100000000013338W011\u{1f}91420800MA4F0001X1");
    assert_eq!(r.line, 12);
    assert_eq!(r.provenance.source_line, 12);
    assert_eq!(r.provenance.source_file, "old.csv");
    assert_eq!(r.provenance.original_issue_date, "2015-03-01");
    assert!(r.flags.is_empty() && r.legacy_identifier.is_none());
}

#[test]
fn each_rejection_names_column_and_value() {
    let (c, v, why) = one_problem(&[("发证日期", "2015-02-30")]);
    assert_eq!((c.as_str(), v.as_str()), ("发证日期", "2015-02-30"));
    assert!(why.contains("not a calendar date"), "{why}");

    let (c, v, why) = one_problem(&[("类型名称", "捕捞许可证")]);
    assert_eq!((c.as_str(), v.as_str()), ("类型名称", "捕捞许可证"));
    assert!(why.contains("unknown licence type"), "{why}");

    let (c, _, why) = one_problem(&[("证照编号", "  ")]);
    assert_eq!(c, "证照编号");
    assert!(why.contains("required"));

    let (c, v, why) = one_problem(&[("主体代码", "91440300708461136A")]);
    assert_eq!((c.as_str(), v.as_str()), ("主体代码", "91440300708461136A"));
    assert!(why.contains("check digit"), "{why}");

    let (c, _, why) = one_problem(&[("有效期至", "2014-12-31")]);
    assert_eq!(c, "有效期至");
    assert!(why.contains("before valid_from"), "{why}");

    // A person cannot hold a business licence (legal persons only).
    let (c, v, why) = one_problem(&[("主体代码", "11010519491231002X"), ("持证主体", "张三")]);
    assert_eq!((c.as_str(), v.as_str()), ("主体代码", "11010519491231002X"));
    assert!(why.contains("legal_person"), "{why}");

    let (c, _, why) = one_problem(&[("区划", "4208")]);
    assert_eq!(c, "区划");
    assert!(why.contains("6-digit"));

    let (c, _, why) = one_problem(&[("证照标识", "1.2.156.3005.2.XYZ")]);
    assert_eq!(c, "证照标识");
    assert!(why.contains("identifier"), "{why}");

    let (c, _, why) = one_problem(&[("成立", "2015-13-01")]);
    assert_eq!(c, "成立");
    assert!(why.contains("calendar"), "{why}");

    let (c, _, why) = one_problem(&[("主体代码", "ABC")]);
    assert_eq!(c, "主体代码");
    assert!(why.contains("cannot tell"), "{why}");
}

#[test]
fn defaults_are_named_as_such_and_bad_constants_stop_early() {
    let toml = MAPPING
        .replace("issuer_code = \"11420800MB1A234561\"", "")
        .replace("[defaults]\n", "[defaults]\nissuer_code = \"11420800MB1A234560\"\n");
    let e = mapper_with(&toml, false).map(&row(&[])).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].column, "default:issuer_code");
    assert_eq!(e[0].value, "11420800MB1A234560");

    let toml = MAPPING.replace("11420800MB1A234561", "11420800MB1A234560");
    let m = Mapping::from_toml(&toml).unwrap();
    let e = RowMapper::new(m, &catalog(), MapOptions::default()).err().unwrap();
    assert!(e.to_string().contains("constants.issuer_code"), "{e}");
}

#[test]
fn several_problems_in_one_row_are_all_reported() {
    let p = problems(&[
        ("发证日期", "2015-02-30"),
        ("主体代码", "91440300708461136A"),
        ("证照编号", ""),
        ("区划", "x"),
    ]);
    let cols: Vec<&str> = p.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(cols.len(), 4, "{p:#?}");
    for c in ["发证日期", "主体代码", "证照编号", "区划"] {
        assert!(cols.contains(&c), "{c} in {cols:?}");
    }
}

#[test]
fn bad_check_digits_flagged_when_accepted() {
    let r = mapper_with(MAPPING, true)
        .map(&row(&[("主体代码", "91440300708461136A")]))
        .unwrap();
    assert_eq!(r.flags, vec!["holder_code_check_digit"]);
    assert_eq!(r.provenance.flags, r.flags);
}

#[test]
fn legacy_identifiers_kept_flagged_or_rejected() {
    let good = LicenceId::new("11100000000013338W011", "11420800MB1A234561", "20230329701", 3)
        .unwrap()
        .to_string();
    let r = mapper().map(&row(&[("证照标识", &good)])).unwrap();
    let (id, ok) = r.legacy_identifier.unwrap();
    assert!(ok);
    assert_eq!(id.to_string(), good);

    let (body, check) = good.split_at(good.len() - 1);
    let wrong = format!("{body}{}", if check == "Z" { "Y" } else { "Z" });
    let r = mapper().map(&row(&[("证照标识", &wrong)])).unwrap();
    assert!(!r.legacy_identifier.unwrap().1);
    assert_eq!(r.flags, vec![FLAG_LEGACY_IDENTIFIER_CHECK]);

    let other_type = good.replace("W011", "W012");
    let (c, _, why) = one_problem(&[("证照标识", &other_type)]);
    assert_eq!(c, "证照标识");
    assert!(why.contains("of type"), "{why}");
}

/// An identifier names its issuer: one kept from the source must name the row's, or an
/// import could put a licence under another department's name.
#[test]
fn legacy_identifier_of_another_issuer_is_rejected() {
    let published = "1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y";
    let (c, v, why) = one_problem(&[("证照标识", published)]);
    assert_eq!((c.as_str(), v.as_str()), ("证照标识", published));
    assert!(
        why.contains("issuer part 11110000000021135M") && why.contains("11420800MB1A234561"),
        "{why}"
    );
}

#[test]
fn holder_code_type_inference_and_aliases() {
    assert_eq!(infer_holder_code_type("11010519491231002X"), Some("111"));
    assert_eq!(
        infer_holder_code_type("110105194912310021"),
        Some("111"),
        "bad check, plausible birth date"
    );
    assert_eq!(infer_holder_code_type("91440300708461136T"), Some("001"));
    assert_eq!(infer_holder_code_type("91440300708461136A"), Some("001"));
    assert_eq!(infer_holder_code_type("E12345678"), None);

    let toml = MAPPING.replace(
        "11100000MB1536428Y001]",
        "11100000MB1536428Y001]\nissuer_level = \"区县级\"",
    );
    let m = mapper_with(&toml, false);
    let r = m
        .map(&row(&[
            ("类型名称", "医师执业证书"),
            ("主体代码", "11010519491231002x"),
            ("代码类型", "身份证"),
            ("持证主体", "\u{3000}王堃 "),
        ]))
        .unwrap();
    let d = &r.draft.draft;
    assert_eq!(
        (d.holder_code_type.as_str(), d.holder_code.as_str()),
        ("111", "11010519491231002X")
    );
    assert_eq!(d.holder_name, "王堃", "full-width spaces trimmed");
    assert_eq!(d.related_item, "医师执业注册", "type default beats the global default");
    assert_eq!(d.issuer_level, "区县级");
    assert!(
        d.fields.iter().all(|f| f.name != "注册资本"),
        "field limited to business licences"
    );
}

#[test]
fn values_map_and_codes_select_the_type() {
    let r = mapper().map(&row(&[("类型名称", "执照")])).unwrap();
    assert_eq!(r.draft.draft.licence_type_code, "11100000000013338W011");
    let r = mapper().map(&row(&[("类型名称", "11100000000013338W012")])).unwrap();
    assert_eq!(r.draft.draft.licence_type_code, "11100000000013338W012");
}

#[test]
fn key_from_configured_columns() {
    let toml = format!("{MAPPING}\n[key]\ncolumns = [\"主体代码\", \"发证日期\"]\n");
    let r = mapper_with(&toml, false).map(&row(&[])).unwrap();
    assert_eq!(r.key, "11100000000013338W011\u{1f}91440300708461136T\u{1f}2015年3月1日");
}

#[test]
fn mapping_checked_against_catalogue_and_source() {
    let bad = MAPPING.replace(
        "\"执照\" = \"11100000000013338W011\"",
        "\"执照\" = \"11100000000013338W099\"",
    );
    let m = Mapping::from_toml(&bad).unwrap();
    assert!(RowMapper::new(m, &catalog(), MapOptions::default()).is_err());
    let unmapped = MAPPING.replace("region_code = \"区划\"\n", "");
    let m = Mapping::from_toml(&unmapped).unwrap();
    let e = RowMapper::new(m, &catalog(), MapOptions::default()).err().unwrap();
    assert!(e.to_string().contains("region_code"), "{e}");

    let cols = Columns::new(vec!["类型名称".into(), "证照编号".into()]);
    let e = mapper().check_columns(&cols).unwrap_err();
    assert!(e.to_string().contains("发证日期"), "{e}");
}

proptest! {
    #[test]
    fn arbitrary_values_never_panic(values in proptest::collection::vec("\\PC{0,24}", 11)) {
        let r = SourceRow::from_pairs(2, HEADER.iter().map(|h| h.to_string()).zip(values).collect());
        let _ = mapper().map(&r);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), json in any::<bool>()) {
        let m = Mapping::from_toml(MAPPING).unwrap();
        let format = if json { Format::Jsonl } else { Format::Csv };
        if let Ok(source) = open_bytes(bytes, format, &m, &ReadOptions::default()) {
            let mapper = mapper();
            for row in source.flatten() {
                let _ = mapper.map(&row);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_as_xlsx_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let m = Mapping::from_toml(MAPPING).unwrap();
        if let Ok(source) = open_bytes(bytes, Format::Xlsx, &m, &ReadOptions::default()) {
            for _ in source {}
        }
    }
}
