//! Realistic pieces of a 荆门 licence record: person and company names, resident ID
//! numbers and credit codes with correct check digits, addresses and dates.

use time::{Date, Month};

use crate::licence::codes::{resident_id_check, uscc_check};

/// A small deterministic PRNG (SplitMix64): the same seed gives the same file.
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SURNAMES: [&str; 24] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林",
    "罗", "欧阳", "司马", "诸葛", "上官",
];
const GIVEN: [&str; 32] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀", "霞",
    "平", "刚", "桂", "堃", "喆", "昊", "晗", "睿", "婷", "颖", "鑫", "犇", "淼",
];
const BRANDS: [&str; 16] = [
    "楚韵",
    "汉江",
    "象山",
    "龙泉",
    "漳河",
    "京源",
    "屈家岭",
    "明显",
    "荆楚",
    "东宝",
    "石化",
    "长宁",
    "鑫盛",
    "宏达",
    "恒通",
    "瑞丰",
];
const TRADES: [&str; 10] = [
    "食品",
    "建筑工程",
    "运输",
    "商贸",
    "科技",
    "医药",
    "餐饮",
    "物流",
    "农业发展",
    "化工",
];

/// (district, GB/T 2260 code)
pub(crate) const DISTRICTS: [(&str, &str); 6] = [
    ("东宝区", "420802"),
    ("掇刀区", "420804"),
    ("京山市", "420882"),
    ("沙洋县", "420822"),
    ("钟祥市", "420881"),
    ("漳河新区", "420800"),
];
const ROADS: [&str; 8] = [
    "象山大道",
    "白云大道",
    "月亮湖路",
    "长宁大道",
    "天山路",
    "金虾路",
    "浏河路",
    "杨湾路",
];

pub(crate) fn person_name(rng: &mut Rng) -> String {
    let mut s = rng.pick(&SURNAMES).to_string();
    for _ in 0..1 + rng.below(2) {
        let given = rng.pick(&GIVEN);
        s.push_str(given);
    }
    s
}

pub(crate) fn company_name(rng: &mut Rng, trade: Option<&str>) -> String {
    let suffix = if rng.below(3) == 0 {
        "有限责任公司"
    } else {
        "有限公司"
    };
    let trade = trade.unwrap_or_else(|| *rng.pick(&TRADES));
    format!("荆门市{}{}{}", rng.pick(&BRANDS), trade, suffix)
}

pub(crate) fn address(rng: &mut Rng, district: &str) -> String {
    format!("湖北省荆门市{}{}{}号", district, rng.pick(&ROADS), 1 + rng.below(399))
}

const USCC_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// A valid credit code for a company registered in `region`, unique per `serial`.
pub(crate) fn credit_code(region: &str, serial: u64) -> String {
    let mut org = Vec::with_capacity(9);
    org.extend_from_slice(b"MA4");
    let mut n = serial;
    let mut tail = [b'0'; 6];
    for slot in tail.iter_mut().rev() {
        *slot = USCC_ALPHABET[(n % 31) as usize];
        n /= 31;
    }
    org.extend_from_slice(&tail);
    let first17 = format!("91{region}{}", String::from_utf8(org).expect("ascii"));
    let check = uscc_check(&first17).expect("built from the alphabet");
    format!("{first17}{check}")
}

/// A valid resident identity number born in 1950–2001.
pub(crate) fn resident_id(rng: &mut Rng, region: &str) -> String {
    let birth = Date::from_calendar_date(1950, Month::January, 1).expect("valid")
        + time::Duration::days(rng.below(51 * 365) as i64);
    let first17 = format!(
        "{region}{:04}{:02}{:02}{:03}",
        birth.year(),
        u8::from(birth.month()),
        birth.day(),
        rng.below(999) + 1
    );
    let check = resident_id_check(&first17).expect("digits");
    format!("{first17}{check}")
}

/// Replaces the check character of a code with a wrong one.
pub(crate) fn spoil_check(code: &str) -> String {
    let (body, last) = code.split_at(code.len() - 1);
    let wrong = if last == "0" { '1' } else { '0' };
    format!("{body}{wrong}")
}

pub(crate) fn random_date(rng: &mut Rng, from_year: i32, years: u32) -> Date {
    Date::from_calendar_date(from_year, Month::January, 1).expect("valid")
        + time::Duration::days(rng.below(u64::from(years) * 365) as i64)
}

/// The Excel (1900 system) serial of a date after 1900-03-01.
pub(crate) fn excel_serial(d: Date) -> i64 {
    let epoch = Date::from_calendar_date(1899, Month::December, 30).expect("valid");
    (d - epoch).whole_days()
}

/// A date written in one of the styles legacy systems use, chosen by `style`.
pub(crate) fn date_text(d: Date, style: u64) -> String {
    let (y, m, day) = (d.year(), u8::from(d.month()), d.day());
    match style % 7 {
        0 => format!("{y:04}-{m:02}-{day:02}"),
        1 => format!("{y}/{m}/{day}"),
        2 => format!("{y:04}.{m:02}.{day:02}"),
        3 => format!("{y:04}{m:02}{day:02}"),
        4 => format!("{y}年{m}月{day}日"),
        5 => format!("{y:04}-{m:02}-{day:02} 00:00:00"),
        _ => excel_serial(d).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licence::codes::{validate_resident_id, validate_uscc};

    #[test]
    fn generated_codes_validate() {
        let mut rng = Rng::new(1);
        for i in 0..500 {
            validate_uscc(&credit_code("420802", i * 7919)).unwrap();
            validate_resident_id(&resident_id(&mut rng, "420804")).unwrap();
        }
        assert!(validate_uscc(&spoil_check(&credit_code("420802", 5))).is_err());
    }

    #[test]
    fn serial_matches_excel() {
        let d = Date::from_calendar_date(2015, Month::March, 1).unwrap();
        assert_eq!(excel_serial(d), 42064);
    }
}
