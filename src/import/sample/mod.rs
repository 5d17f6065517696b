//! Sample legacy exports for tests and benchmarks: realistic 荆门 licence records in CSV
//! (UTF-8, UTF-8 with BOM, GBK), JSON lines or XLSX, with Chinese headers, every date
//! style, and — on request — a known set of bad rows whose lines and kinds are returned
//! so tests can assert the reject report. `templates/mappings/sample.toml` maps them.

mod bomb;
mod people;

use std::io::Write;

use time::Date;

use crate::licence::LicenceId;

use super::ImportError;
pub use bomb::xlsx_bomb;
use people::Rng;

/// Output formats of [`gen_sample`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    CsvUtf8,
    CsvUtf8Bom,
    CsvGbk,
    Jsonl,
    Xlsx,
}

/// The kinds of planted bad rows; each yields exactly one reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadKind {
    /// Holder code with a wrong check character (imported flagged with
    /// `accept_bad_check_digits`).
    BadCheckDigit,
    /// Issue date `2015-02-30`.
    BadDate,
    /// Empty licence number.
    MissingNumber,
    /// A licence type the catalogue does not have.
    UnknownType,
    /// Validity end before its start.
    UntilBeforeFrom,
    /// Same type and licence number as the row before it: the later row is rejected.
    DuplicateNumber,
    /// A company holding a licence for natural persons (医师执业证书).
    CategoryMismatch,
    /// A legacy identifier that is not a GB/T 36904 identifier.
    BadLegacyIdentifier,
    /// CSV: too few fields; JSON lines: not JSON. (XLSX plants a bad date instead.)
    Malformed,
}

const BAD_KINDS: [BadKind; 9] = [
    BadKind::BadCheckDigit,
    BadKind::BadDate,
    BadKind::MissingNumber,
    BadKind::UnknownType,
    BadKind::UntilBeforeFrom,
    BadKind::DuplicateNumber,
    BadKind::CategoryMismatch,
    BadKind::BadLegacyIdentifier,
    BadKind::Malformed,
];

/// A planted bad row: where it is and which column the reject names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedBad {
    pub line: u64,
    pub kind: BadKind,
    pub column: &'static str,
}

/// What [`gen_sample`] wrote.
#[derive(Debug, Clone, Default)]
pub struct SampleInfo {
    pub rows: u64,
    pub expected_bad: Vec<ExpectedBad>,
    /// Lines of good rows whose legacy identifier has a wrong check character.
    pub expected_flagged: Vec<u64>,
}

impl SampleInfo {
    pub fn good_rows(&self) -> u64 {
        self.rows - self.expected_bad.len() as u64
    }
}

/// The header of every sample file.
pub const COLUMNS: [&str; 17] = [
    "证照类型",
    "证照编号",
    "证照标识",
    "发证机关",
    "发证机关代码",
    "发证日期",
    "持证主体",
    "持证主体代码",
    "有效期起始",
    "有效期截止",
    "行政区划",
    "关联事项",
    "住所",
    "法定代表人",
    "注册资本",
    "经营范围",
    "执业类别",
];
const C_TYPE: usize = 0;
const C_NUMBER: usize = 1;
const C_ID: usize = 2;
const C_ISSUE: usize = 5;
const C_HOLDER: usize = 6;
const C_HOLDER_CODE: usize = 7;
const C_FROM: usize = 8;
const C_UNTIL: usize = 9;

struct SampleType {
    name: &'static str,
    code: &'static str,
    issuer: &'static str,
    issuer_code: &'static str,
    /// 0 always a company, 1 always a person, 2 either.
    holders: u8,
    validity_years: i32,
    item: &'static str,
    number_prefix: &'static str,
}

const TYPES: [SampleType; 5] = [
    SampleType {
        name: "营业执照",
        code: "11100000000013338W011",
        issuer: "荆门市市场监督管理局",
        issuer_code: "11420800MB1A234561",
        holders: 0,
        validity_years: 0,
        item: "企业设立登记",
        number_prefix: "",
    },
    SampleType {
        name: "食品经营许可证",
        code: "11100000000013338W012",
        issuer: "荆门市市场监督管理局",
        issuer_code: "11420800MB1A234561",
        holders: 2,
        validity_years: 5,
        item: "食品经营许可",
        number_prefix: "JY14208",
    },
    SampleType {
        name: "医师执业证书",
        code: "11100000MB1536428Y001",
        issuer: "荆门市卫生健康委员会",
        issuer_code: "11420800MB1D45678A",
        holders: 1,
        validity_years: 0,
        item: "医师执业注册",
        number_prefix: "110420800",
    },
    SampleType {
        name: "道路运输经营许可证",
        code: "11100000000019713D001",
        issuer: "荆门市交通运输局",
        issuer_code: "11420800MB1C34567Y",
        holders: 2,
        validity_years: 4,
        item: "道路货物运输经营许可",
        number_prefix: "鄂交运管许可荆字420800",
    },
    SampleType {
        name: "建筑工程施工许可证",
        code: "11100000000013129K001",
        issuer: "荆门市住房和城乡建设局",
        issuer_code: "11420800MB1B2345M2",
        holders: 0,
        validity_years: 0,
        item: "建筑工程施工许可",
        number_prefix: "4208002",
    },
];

/// One cell as the generator means it; each writer renders it its own way.
#[derive(Debug, Clone)]
enum Cell {
    Text(String),
    Number(f64),
    /// A real date cell in XLSX, ISO text elsewhere.
    Date(Date),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Number(n) => super::text::number_text(*n),
            Cell::Date(d) => crate::licence::record::format_date(*d),
        }
    }
}

struct Generator {
    rng: Rng,
    seed: u64,
    /// (type index, licence number) of the last good row, for planting duplicates.
    last_good: Option<(usize, String)>,
}

impl Generator {
    fn row(&mut self, i: u64, forced_type: Option<usize>, company: Option<bool>) -> Vec<Cell> {
        let rng = &mut self.rng;
        let t_index = forced_type.unwrap_or_else(|| match rng.below(20) {
            0..=7 => 0,
            8..=12 => 1,
            13..=15 => 2,
            16..=17 => 3,
            _ => 4,
        });
        let t = &TYPES[t_index];
        let (district, region) = *rng.pick(&people::DISTRICTS);
        let is_company = company.unwrap_or(match t.holders {
            0 => true,
            1 => false,
            _ => rng.below(10) < 7,
        });
        let serial = i.wrapping_mul(2).wrapping_add(self.seed.wrapping_mul(1_000_003)) % 887_503_681;
        let (holder, code) = if is_company {
            (people::company_name(rng, None), people::credit_code(region, serial))
        } else {
            let code = people::resident_id(rng, region);
            // Some legacy systems wrote the X in lower case.
            let code = if i % 17 == 0 { code.to_lowercase() } else { code };
            (people::person_name(rng), code)
        };
        let holder = if i % 11 == 3 {
            format!("\u{3000}{holder} ")
        } else {
            holder
        };
        let issue = people::random_date(rng, 2005, 18);
        let number = match t_index {
            0 => code.to_uppercase(),
            _ => format!("{}{}{:08}", t.number_prefix, issue.year(), i),
        };
        let issue_cell = match i % 7 {
            0 if i % 2 == 0 => Cell::Date(issue),
            6 => Cell::Number(people::excel_serial(issue) as f64),
            s => Cell::Text(people::date_text(issue, s)),
        };
        let from = if i % 4 == 0 {
            Cell::Text(String::new())
        } else {
            Cell::Text(people::date_text(issue, i / 7))
        };
        let until = if t.validity_years == 0 {
            Cell::Text(["长期", "永久", "", "无期限"][(i % 4) as usize].to_string())
        } else {
            let end = issue.replace_year(issue.year() + t.validity_years).unwrap_or(issue) - time::Duration::days(1);
            Cell::Text(people::date_text(end, i + 3))
        };
        let legacy = if i % 5 == 0 {
            let serial = format!("{}{:08}", issue.year(), i);
            LicenceId::new(t.code, t.issuer_code, &serial, 1)
                .map(|id| id.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        let type_cell = if i % 9 == 0 { t.code } else { t.name };
        let capital = if t_index == 0 {
            Cell::Number((1 + rng.below(500)) as f64 * 10.0)
        } else {
            Cell::Text(String::new())
        };
        let scope = match t_index {
            0 if i % 13 == 5 => {
                "食品销售；餐饮服务\n（依法须经批准的项目，经相关部门批准后方可开展经营活动）".to_string()
            }
            0 => "一般项目：技术服务、技术开发；货物进出口".to_string(),
            1 => "预包装食品销售（含冷藏冷冻食品）".to_string(),
            3 => "道路普通货物运输".to_string(),
            _ => String::new(),
        };
        let practice = if t_index == 2 {
            rng.pick(&["临床", "中医", "口腔", "公共卫生"]).to_string()
        } else {
            String::new()
        };
        let legal_rep = if is_company {
            people::person_name(rng)
        } else {
            String::new()
        };
        let address = people::address(rng, district);
        vec![
            Cell::Text(type_cell.to_string()),
            Cell::Text(number),
            Cell::Text(legacy),
            Cell::Text(t.issuer.to_string()),
            Cell::Text(t.issuer_code.to_string()),
            issue_cell,
            Cell::Text(holder),
            Cell::Text(code),
            from,
            until,
            Cell::Text(region.to_string()),
            Cell::Text(t.item.to_string()),
            Cell::Text(address),
            Cell::Text(legal_rep),
            capital,
            Cell::Text(scope),
            Cell::Text(practice),
        ]
    }

    /// Plants `kind` in a fresh row; returns the row and the column the reject names.
    fn bad_row(&mut self, i: u64, kind: BadKind, format: SampleFormat) -> (Vec<Cell>, BadKind, &'static str) {
        let name = |c: usize| COLUMNS[c];
        let kind = if kind == BadKind::Malformed && format == SampleFormat::Xlsx {
            BadKind::BadDate
        } else {
            kind
        };
        match kind {
            BadKind::BadCheckDigit => {
                let mut r = self.row(i, None, None);
                r[C_HOLDER_CODE] = Cell::Text(people::spoil_check(&r[C_HOLDER_CODE].text()));
                (r, kind, name(C_HOLDER_CODE))
            }
            BadKind::BadDate => {
                let mut r = self.row(i, None, None);
                r[C_ISSUE] = Cell::Text(if i % 2 == 0 { "2015-02-30" } else { "2015年2月30日" }.into());
                if r[C_FROM].text().is_empty() {
                    r[C_FROM] = Cell::Text("2015-03-01".into());
                    r[C_UNTIL] = Cell::Text("长期".into());
                }
                (r, kind, name(C_ISSUE))
            }
            BadKind::MissingNumber => {
                let mut r = self.row(i, None, None);
                r[C_NUMBER] = Cell::Text(String::new());
                (r, kind, name(C_NUMBER))
            }
            BadKind::UnknownType => {
                let mut r = self.row(i, Some(1), None);
                r[C_TYPE] = Cell::Text("渔业捕捞许可证".into());
                (r, kind, name(C_TYPE))
            }
            BadKind::UntilBeforeFrom => {
                let mut r = self.row(i, Some(1), None);
                r[C_ISSUE] = Cell::Text("2016-05-20".into());
                r[C_FROM] = Cell::Text("2016-05-20".into());
                r[C_UNTIL] = Cell::Text("2015/5/19".into());
                (r, kind, name(C_UNTIL))
            }
            BadKind::DuplicateNumber => {
                let (t, number) = self.last_good.clone().unwrap_or((1, "JY14208DUP".into()));
                let mut r = self.row(i, Some(t), None);
                r[C_NUMBER] = Cell::Text(number);
                (r, kind, "key")
            }
            BadKind::CategoryMismatch => {
                let mut r = self.row(i, Some(2), Some(true));
                r[C_HOLDER] = Cell::Text(people::company_name(&mut self.rng, Some("医药")));
                (r, kind, name(C_HOLDER_CODE))
            }
            BadKind::BadLegacyIdentifier => {
                let mut r = self.row(i, None, None);
                r[C_ID] = Cell::Text("1.2.156.3005.2.BAD".into());
                (r, kind, name(C_ID))
            }
            BadKind::Malformed => (self.row(i, None, None), kind, ""),
        }
    }
}

/// Writes `n` sample records in `format` to `out`. With `bad_rows`, every twentieth row
/// (the 8th, 28th, …) carries one planted problem, cycling through [`BadKind`], and every
/// twentieth (the 14th, 34th, …) a legacy identifier with a wrong check character (imported,
/// flagged). The same `seed` always gives the same bytes.
pub fn gen_sample(
    n: u64,
    seed: u64,
    format: SampleFormat,
    bad_rows: bool,
    out: impl Write,
) -> Result<SampleInfo, ImportError> {
    let mut g = Generator {
        rng: Rng::new(seed),
        seed,
        last_good: None,
    };
    let mut info = SampleInfo {
        rows: n,
        ..SampleInfo::default()
    };
    let mut w = writer::Writer::new(format, out)?;
    for i in 0..n {
        let line = w.next_line();
        let bad = bad_rows && i % 20 == 7;
        let (cells, malformed) = if bad {
            let (cells, kind, column) = g.bad_row(i, BAD_KINDS[((i / 20) % BAD_KINDS.len() as u64) as usize], format);
            info.expected_bad.push(ExpectedBad { line, kind, column });
            (cells, kind == BadKind::Malformed)
        } else {
            let mut cells = g.row(i, None, None);
            if bad_rows && i % 20 == 13 {
                let id = cells[C_ID].text();
                let id = if id.is_empty() {
                    let t = TYPES
                        .iter()
                        .position(|t| t.name == cells[C_TYPE].text() || t.code == cells[C_TYPE].text());
                    let t = &TYPES[t.unwrap_or(0)];
                    LicenceId::new(t.code, t.issuer_code, &format!("F{i:010}"), 1)
                        .map(|i| i.to_string())
                        .unwrap_or_default()
                } else {
                    id
                };
                cells[C_ID] = Cell::Text(people::spoil_check(&id));
                info.expected_flagged.push(line);
            }
            let t = TYPES
                .iter()
                .position(|t| t.name == cells[C_TYPE].text() || t.code == cells[C_TYPE].text());
            g.last_good = t.map(|t| (t, cells[C_NUMBER].text()));
            (cells, false)
        };
        w.write_row(&cells, malformed)?;
    }
    w.finish()?;
    Ok(info)
}

mod writer;

#[cfg(test)]
pub(crate) mod tests;
