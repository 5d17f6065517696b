//! Small text clean-ups shared by the readers and the mapper: trimming (including
//! full-width spaces), full-width to half-width digits and letters, numbers as text.

/// Whether `c` is trimmed from values: Unicode whitespace (which includes the full-width
/// space U+3000 and no-break space U+00A0), the byte-order mark and zero-width spaces.
fn is_trimmed(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{feff}' | '\u{200b}')
}

pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(is_trimmed)
}

/// Converts full-width ASCII (`０-９`, `Ａ-Ｚ`, `ａ-ｚ`, `－`, `．`, `／`, `：`) to
/// half-width, for codes and dates typed with a Chinese input method. Borrows when
/// there is nothing to convert.
pub(crate) fn halfwidth(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_ascii() || !s.chars().any(|c| ('\u{ff01}'..='\u{ff5e}').contains(&c)) {
        return std::borrow::Cow::Borrowed(s);
    }
    s.chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            c => c,
        })
        .collect::<String>()
        .into()
}

/// A number as a source value: integers without `.0`, others in shortest form.
pub(crate) fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e17 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_full_width_space_and_bom() {
        assert_eq!(trim("\u{3000} 张三\u{3000}\t"), "张三");
        assert_eq!(trim("\u{feff}证照编号"), "证照编号");
        assert_eq!(trim("\u{a0}"), "");
    }

    #[test]
    fn halfwidth_digits_and_letters() {
        assert_eq!(halfwidth("４２０８０２１９９０Ｘ"), "4208021990X");
        assert_eq!(halfwidth("２０１５－０３－０１"), "2015-03-01");
        assert!(matches!(halfwidth("abc"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn numbers_without_point_zero() {
        assert_eq!(number_text(42064.0), "42064");
        assert_eq!(number_text(5.5), "5.5");
        assert_eq!(number_text(-3.0), "-3");
    }
}
