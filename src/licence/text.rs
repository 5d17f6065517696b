//! What text the repository accepts: one check for every text a caller sends (record
//! fields, reasons, use causes, copy recipients), so no field lets through characters
//! that hide or reorder what a reader sees, or that break logs and reports.
//!
//! Refused everywhere: control characters (C0, DEL, C1), the bidirectional overrides,
//! embeddings and isolates (U+202A–U+202E, U+2066–U+2069, and the marks U+200E, U+200F,
//! U+061C), zero-width and other invisible format characters (U+200B–U+200D, U+2060–
//! U+2064, U+FEFF, U+00AD, U+180E, the interlinear annotation characters U+FFF9–U+FFFB
//! and the tag characters U+E0000–U+E007F), and the line and paragraph separators
//! U+2028/U+2029. A line break (`\n`) is allowed only where a text may span lines
//! ([`Lines::Multi`]: a type-specific field's value, such as 经营范围). Variation
//! selectors and private-use characters stay allowed: legacy systems use them for rare
//! characters in Chinese names.

use super::record::Invalid;

/// Whether a text may contain line breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    Single,
    Multi,
}

/// Why a character is refused, or `None` when it is allowed.
pub fn refused(c: char, lines: Lines) -> Option<&'static str> {
    match c {
        '\n' if lines == Lines::Multi => None,
        '\n' | '\r' => Some("line break"),
        c if c.is_control() => Some("control character"),
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}' => {
            Some("bidirectional control character")
        }
        '\u{200B}'..='\u{200D}'
        | '\u{2060}'..='\u{2064}'
        | '\u{FEFF}'
        | '\u{00AD}'
        | '\u{180E}'
        | '\u{034F}'
        | '\u{115F}'
        | '\u{1160}'
        | '\u{3164}'
        | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E007F}' => Some("invisible (zero-width or format) character"),
        '\u{2028}' | '\u{2029}' => Some("line or paragraph separator"),
        _ => None,
    }
}

/// Checks `value` for refused characters; the error names the field, the character's
/// code point and its position (in characters), never the surrounding text.
pub fn check_chars(field: &str, value: &str, lines: Lines) -> Result<(), Invalid> {
    for (i, c) in value.chars().enumerate() {
        if let Some(what) = refused(c, lines) {
            return Err(Invalid::new(
                field,
                format!("contains a {what} (U+{:04X}) at character {}", c as u32, i + 1),
            ));
        }
    }
    Ok(())
}

/// Checks length in bytes and characters: the common check for one-line texts.
pub fn check_line(field: &str, value: &str, max_bytes: usize) -> Result<(), Invalid> {
    if value.len() > max_bytes {
        return Err(Invalid::new(field, format!("longer than {max_bytes} bytes")));
    }
    check_chars(field, value, Lines::Single)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_is_refused_naming_the_field_and_code_point() {
        for (c, what) in [
            ('\u{0}', "control"),
            ('\u{1B}', "control"),
            ('\u{7F}', "control"),
            ('\u{85}', "control"),
            ('\t', "control"),
            ('\r', "line break"),
            ('\n', "line break"),
            ('\u{202E}', "bidirectional"),
            ('\u{2066}', "bidirectional"),
            ('\u{200F}', "bidirectional"),
            ('\u{061C}', "bidirectional"),
            ('\u{200B}', "invisible"),
            ('\u{200D}', "invisible"),
            ('\u{FEFF}', "invisible"),
            ('\u{2060}', "invisible"),
            ('\u{00AD}', "invisible"),
            ('\u{E0041}', "invisible"),
            ('\u{2028}', "separator"),
        ] {
            let text = format!("张{c}三");
            let e = check_chars("licence.holder_name", &text, Lines::Single).unwrap_err();
            assert_eq!(e.field, "licence.holder_name");
            assert!(e.reason.contains(what), "{c:?}: {e}");
            assert!(e.reason.contains(&format!("U+{:04X}", c as u32)), "{e}");
            assert!(!e.reason.contains('张'), "the value is not echoed: {e}");
        }
    }

    #[test]
    fn ordinary_text_and_multi_line_values_pass() {
        check_chars("f", "荆门市楚韵食品有限公司（分公司）· No.1 — 𠮷", Lines::Single).unwrap();
        check_chars("f", "食品销售\n餐饮服务", Lines::Multi).unwrap();
        assert!(check_chars("f", "食品销售\n餐饮服务", Lines::Single).is_err());
        // An ideographic variation sequence and a private-use character (legacy rare
        // characters) are kept.
        check_chars("f", "葛\u{E0100}\u{E000}", Lines::Single).unwrap();
        assert!(check_line("f", &"a".repeat(65), 64).is_err());
    }
}
