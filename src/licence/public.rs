//! What the public may see of a licence: the one function every public answer goes
//! through (gRPC verification, the QR payload, and any later transport), so the rule is
//! written once. docs/ACCESS.md states it with a table per built-in type.
//!
//! The rule:
//! - A holder is a **natural person** unless their code is a unified social credit code
//!   (`001`): a type whose holders are natural persons admits no other code type, and a
//!   type open to both follows the holder of each licence.
//! - A natural person's name is masked (`张*明`) and never appears unmasked in any public
//!   field; any code of a natural person (resident ID, passport, anything not a USCC)
//!   shows at most its first and last character. A legal person's name is public.
//! - A type-specific field is public only when the type's catalogue entry lists it in
//!   `public_fields` (default: none). For a natural person, a field is withheld whatever
//!   the list says when its name marks personal data (birth date, sex, address, phone,
//!   identity document …) or its value holds a date or an identity-number-like run of
//!   digits; any occurrence of the holder's name in a value is masked.
//! - Values are cut to [`MAX_PUBLIC_VALUE_CHARS`] characters and the public fields to
//!   [`MAX_PUBLIC_FIELDS_BYTES`] in all, so one answer stays small whatever was issued.
//! - The salt, the verification code, provenance details and the record's signed bytes
//!   are never public.

use time::Date;

use super::codes::{self, HOLDER_CODE_USCC};
use super::record::{Field, Licence};

/// A public field value longer than this is cut (ending in `…`).
pub const MAX_PUBLIC_VALUE_CHARS: usize = 256;
/// Public type-specific fields stop once their names and values reach this many bytes.
pub const MAX_PUBLIC_FIELDS_BYTES: usize = 8 * 1024;
/// Texts of the record itself (names, numbers) are cut to this many characters.
const MAX_PUBLIC_TEXT_CHARS: usize = 128;

/// Parts of a field name that mark a natural person's personal data.
const PERSONAL_FIELD_MARKS: [&str; 27] = [
    "出生",
    "生日",
    "年龄",
    "性别",
    "民族",
    "国籍",
    "住址",
    "住所",
    "地址",
    "场所",
    "户籍",
    "籍贯",
    "居住",
    "身份",
    "证件",
    "护照",
    "电话",
    "手机",
    "联系",
    "邮箱",
    "照片",
    "婚",
    "健康",
    "学历",
    "姓名",
    "负责人",
    "代表人",
];

/// A licence as the public sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicLicence {
    pub identifier: String,
    pub licence_name: String,
    pub licence_type_code: String,
    pub licence_number: String,
    pub issuer_name: String,
    pub issuer_code: String,
    pub issuer_level: String,
    pub issue_date: Date,
    /// Masked for a natural person.
    pub holder_name: String,
    /// Masked for a natural person; a USCC keeps its first six and last four.
    pub holder_code: String,
    pub holder_code_type: String,
    pub valid_from: Date,
    pub valid_until: Option<Date>,
    pub region_code: String,
    pub version: u16,
    pub replaces: Option<String>,
    /// Only the fields the type lists as public, screened as the module says.
    pub fields: Vec<Field>,
}

/// Whether the holder is a natural person, whose data is personal.
pub fn holder_is_person(holder_code_type: &str) -> bool {
    holder_code_type != HOLDER_CODE_USCC
}

/// The holder's name and code as they may be shown publicly.
pub fn public_holder(l: &Licence) -> (String, String) {
    if holder_is_person(&l.holder_code_type) {
        (
            codes::mask_person_name(&cut(&l.holder_name, MAX_PUBLIC_TEXT_CHARS)),
            codes::mask_personal_code(&l.holder_code),
        )
    } else {
        (
            cut(&l.holder_name, MAX_PUBLIC_TEXT_CHARS),
            codes::mask_code(&l.holder_code),
        )
    }
}

/// The public view of `l` under its type's allow-list `public_fields`.
pub fn public_licence(l: &Licence, public_fields: &[String]) -> PublicLicence {
    let (holder_name, holder_code) = public_holder(l);
    PublicLicence {
        identifier: l.identifier.clone(),
        licence_name: cut(&l.licence_name, MAX_PUBLIC_TEXT_CHARS),
        licence_type_code: l.licence_type_code.clone(),
        licence_number: public_number(l),
        issuer_name: cut(&l.issuer_name, MAX_PUBLIC_TEXT_CHARS),
        issuer_code: l.issuer_code.clone(),
        issuer_level: cut(&l.issuer_level, MAX_PUBLIC_TEXT_CHARS),
        issue_date: l.issue_date,
        holder_name,
        holder_code,
        holder_code_type: l.holder_code_type.clone(),
        valid_from: l.valid_from,
        valid_until: l.valid_until,
        region_code: l.region_code.clone(),
        version: l.version,
        replaces: l.replaces.clone(),
        fields: public_fields_of(l, public_fields),
    }
}

/// The licence number, masked like a personal code when a natural person's licence is
/// numbered by their own code (some certificates carry the holder's identity number).
fn public_number(l: &Licence) -> String {
    let code = l.holder_code.trim();
    if holder_is_person(&l.holder_code_type) && code.len() >= 6 && l.licence_number.contains(code) {
        codes::mask_personal_code(&l.licence_number)
    } else {
        cut(&l.licence_number, MAX_PUBLIC_TEXT_CHARS)
    }
}

fn public_fields_of(l: &Licence, allowed: &[String]) -> Vec<Field> {
    let person = holder_is_person(&l.holder_code_type);
    let mut out = Vec::new();
    let mut bytes = 0;
    for f in &l.fields {
        if !allowed.contains(&f.name) {
            continue;
        }
        if contains_id_like(&f.value) || (person && is_personal(f)) {
            continue;
        }
        let mut value = cut(&f.value, MAX_PUBLIC_VALUE_CHARS);
        if person {
            value = mask_name_in(&value, &l.holder_name);
        }
        bytes += f.name.len() + value.len();
        if bytes > MAX_PUBLIC_FIELDS_BYTES {
            break;
        }
        out.push(Field {
            name: f.name.clone(),
            value,
        });
    }
    out
}

/// A field of a natural person that is personal whatever the allow-list says.
fn is_personal(f: &Field) -> bool {
    PERSONAL_FIELD_MARKS.iter().any(|m| f.name.contains(m)) || contains_date(&f.value)
}

/// Whether a name is one a catalogue may not list as public for natural persons.
pub fn is_personal_field_name(name: &str) -> bool {
    PERSONAL_FIELD_MARKS.iter().any(|m| name.contains(m))
}

/// A run of 15 or more digits (or 17 digits and `X`), allowing spaces, hyphens and dots
/// between them: what a resident identity number looks like however it was typed.
pub fn contains_id_like(value: &str) -> bool {
    let mut digits = 0;
    for c in value.chars() {
        match c {
            '0'..='9' | '０'..='９' => {
                digits += 1;
                if digits >= 15 {
                    return true;
                }
            }
            'x' | 'X' | 'ｘ' | 'Ｘ' if digits >= 17 => return true,
            ' ' | '-' | '.' | '\u{3000}' if digits > 0 => {}
            _ => digits = 0,
        }
    }
    false
}

/// Whether a value holds something that reads as a date: `1985-06-12`, `1985/6/12`,
/// `1985.06.12`, `1985年6月12日`, `19850612`.
fn contains_date(value: &str) -> bool {
    let chars: Vec<char> = value.chars().map(fold_digit).collect();
    let n = chars.len();
    let mut i = 0;
    while i < n {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && chars[i].is_ascii_digit() {
            i += 1;
        }
        let run = i - start;
        if run == 8 {
            let year: u32 = chars[start..start + 4].iter().collect::<String>().parse().unwrap_or(0);
            if (1900..2200).contains(&year) {
                return true;
            }
        }
        if run == 4 && i < n && matches!(chars[i], '-' | '/' | '.' | '年') {
            let rest: String = chars[i + 1..n.min(i + 4)].iter().collect();
            if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                return true;
            }
        }
    }
    false
}

fn fold_digit(c: char) -> char {
    match c {
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
        c => c,
    }
}

fn mask_name_in(value: &str, name: &str) -> String {
    let name = name.trim();
    if name.chars().count() < 2 || !value.contains(name) {
        return value.to_string();
    }
    value.replace(name, &codes::mask_person_name(name))
}

fn cut(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max_chars - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licence::record::tests::sample_licence;

    const PERSON: &str = "420802198506120036";

    fn physician() -> Licence {
        let mut l = sample_licence();
        l.holder_code_type = "111".into();
        l.holder_code = "420802198506120036".into();
        l.holder_name = "刘堃明".into();
        l.fields = vec![
            Field {
                name: "性别".into(),
                value: "男".into(),
            },
            Field {
                name: "出生日期".into(),
                value: "1985-06-12".into(),
            },
            Field {
                name: "执业类别".into(),
                value: "临床".into(),
            },
            Field {
                name: "备注".into(),
                value: "生于1985年6月12日".into(),
            },
            Field {
                name: "主要执业机构".into(),
                value: "荆门市第一人民医院（刘堃明诊室）".into(),
            },
            Field {
                name: "执业地点".into(),
                value: "湖北省荆门市 420802198506120036".into(),
            },
        ];
        l
    }

    fn all_public(l: &Licence) -> Vec<String> {
        l.fields.iter().map(|f| f.name.clone()).collect()
    }

    #[test]
    fn a_natural_person_keeps_birth_date_name_and_id_private_whatever_the_list_says() {
        let l = physician();
        let p = public_licence(&l, &all_public(&l));
        assert_eq!(p.holder_name, "刘*明");
        assert_eq!(p.holder_code, "4****************6");
        let names: Vec<&str> = p.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["执业类别", "主要执业机构"]);
        assert_eq!(p.fields[1].value, "荆门市第一人民医院（刘*明诊室）");
        let text = format!("{p:?}");
        for secret in ["1985", "0612", "刘堃明", "420802", "男"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn a_certificate_numbered_by_the_holders_id_is_masked() {
        let mut l = physician();
        l.licence_number = PERSON.into();
        assert_eq!(public_licence(&l, &[]).licence_number, "4****************6");
        l.licence_number = "110420800000001".into();
        assert_eq!(public_licence(&l, &[]).licence_number, "110420800000001");
    }

    #[test]
    fn nothing_is_public_unless_listed() {
        let l = physician();
        assert!(public_licence(&l, &[]).fields.is_empty());
    }

    #[test]
    fn a_legal_person_shows_what_the_list_allows() {
        let l = sample_licence();
        let p = public_licence(&l, &["经营范围".to_string()]);
        assert_eq!(p.holder_name, l.holder_name);
        assert_eq!(p.holder_code, "914403********136T");
        assert_eq!(p.fields.len(), 1);
        assert_eq!(p.fields[0].name, "经营范围");
    }

    #[test]
    fn every_natural_person_code_is_masked() {
        for (t, code, shown) in [
            ("414", "E12345678", "E*******8"),
            ("414", "414", "***"),
            ("111", "420802198506120036", "4****************6"),
            ("999", "AB12", "****"),
        ] {
            let mut l = sample_licence();
            l.holder_code_type = t.into();
            l.holder_code = code.into();
            assert_eq!(public_holder(&l).1, shown, "{t} {code}");
        }
    }

    #[test]
    fn id_numbers_are_recognised_however_typed() {
        for v in [
            "420822195905062015",
            "420822 19590506 2015",
            "身份证420822195905062015",
            "4208-2219-5905-0620-1x",
            "４２０８２２１９５９０５０６２０１５",
            "420822590506201",
        ] {
            assert!(contains_id_like(v), "{v}");
        }
        for v in ["12315", "0724-12345678", "注册资本500万元", "2026-03-01"] {
            assert!(!contains_id_like(v), "{v}");
        }
    }

    #[test]
    fn dates_are_recognised() {
        for v in [
            "1985-06-12",
            "1985/6/12",
            "1985.06.12",
            "1985年6月12日",
            "19850612",
            "１９８５年６月１２日",
        ] {
            assert!(contains_date(v), "{v}");
        }
        for v in ["临床", "12315", "500万元", "床位 120"] {
            assert!(!contains_date(v), "{v}");
        }
    }

    #[test]
    fn answers_stay_small_whatever_was_issued() {
        let mut l = sample_licence();
        l.holder_name = "公".repeat(500);
        l.fields = (0..200)
            .map(|i| Field {
                name: format!("字段{i}"),
                value: "长".repeat(2000),
            })
            .collect();
        let allowed = all_public(&l);
        let p = public_licence(&l, &allowed);
        let bytes: usize = p.fields.iter().map(|f| f.name.len() + f.value.len()).sum();
        assert!(bytes <= MAX_PUBLIC_FIELDS_BYTES, "{bytes}");
        assert!(p
            .fields
            .iter()
            .all(|f| f.value.chars().count() <= MAX_PUBLIC_VALUE_CHARS));
        assert!(p.holder_name.chars().count() <= MAX_PUBLIC_TEXT_CHARS);
    }
}
