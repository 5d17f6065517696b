//! The CJK font, parsed once and shared: glyph coverage checks, measured widths, and
//! line wrapping by those widths.

use printpdf::ParsedFont;

use super::RenderError;

/// A parsed font with the metrics layout needs.
pub struct CjkFont {
    parsed: ParsedFont,
    units_per_em: f32,
    ascent_em: f32,
}

impl std::fmt::Debug for CjkFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CjkFont")
            .field("glyphs", &self.parsed.num_glyphs)
            .finish()
    }
}

/// Closing punctuation that must not start a line (禁则): it hangs at the line end instead.
const NO_LINE_START: &str = "，。、；：！？）》」』”’】〕…,.;:!?)]%";

impl CjkFont {
    /// Parses a TrueType/OpenType font (a single face, not a collection).
    pub fn from_bytes(bytes: &[u8]) -> Result<CjkFont, RenderError> {
        let mut warnings = Vec::new();
        let parsed = ParsedFont::from_bytes(bytes, 0, &mut warnings)
            .ok_or_else(|| RenderError::Font(format!("cannot parse font ({} warnings)", warnings.len())))?;
        let upm = parsed.font_metrics.units_per_em as f32;
        if upm <= 0.0 || parsed.lookup_glyph_index('中' as u32).is_none() {
            return Err(RenderError::Font("not a CJK font (no glyph for 中)".into()));
        }
        let ascent_em = (parsed.font_metrics.ascent / upm).clamp(0.5, 1.2);
        Ok(CjkFont {
            parsed,
            units_per_em: upm,
            ascent_em,
        })
    }

    pub fn parsed(&self) -> &ParsedFont {
        &self.parsed
    }

    /// Distance from the top of a line to its baseline, in em.
    pub fn ascent_em(&self) -> f32 {
        self.ascent_em
    }

    fn glyph(&self, ch: char) -> Option<u16> {
        self.parsed.lookup_glyph_index(ch as u32).filter(|&g| g != 0)
    }

    pub fn has_glyph(&self, ch: char) -> bool {
        self.glyph(ch).is_some()
    }

    /// Fails on the first character the font cannot draw, naming it and the field.
    pub fn check(&self, field: &str, text: &str) -> Result<(), RenderError> {
        match text.chars().find(|&c| c != '\n' && !self.has_glyph(c)) {
            Some(ch) => Err(RenderError::MissingGlyph {
                field: field.to_string(),
                ch,
            }),
            None => Ok(()),
        }
    }

    /// Advance of one character in em (0.5 em for characters without a glyph).
    pub fn advance_em(&self, ch: char) -> f32 {
        match self.glyph(ch) {
            Some(g) => self.parsed.get_horizontal_advance(g) as f32 / self.units_per_em,
            None => 0.5,
        }
    }

    /// Width of `text` at `size`, in the same unit as `size`.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance_em(c)).sum::<f32>() * size
    }

    /// Breaks `text` into lines no wider than `max_width` (same unit as `size`). Breaks
    /// anywhere between CJK characters, keeps Latin words whole where it can, hangs
    /// closing punctuation, and honours explicit newlines.
    pub fn wrap(&self, text: &str, size: f32, max_width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            let mut width = 0.0;
            for ch in para.chars() {
                let w = self.advance_em(ch) * size;
                let fits = width + w <= max_width + 1e-3;
                if fits || line.is_empty() || NO_LINE_START.contains(ch) {
                    line.push(ch);
                    width += w;
                    continue;
                }
                let (keep, carry) = split_latin_word(&line);
                lines.push(keep.trim_end().to_string());
                line = carry.to_string();
                if ch != ' ' || !line.is_empty() {
                    line.push(ch);
                }
                width = self.width(&line, size);
            }
            lines.push(line.trim_end().to_string());
        }
        lines
    }
}

/// When a line ends inside a Latin word that started after a space, moves the word to
/// the next line: `("abc de", "fg")` rather than `("abc def", "g")`.
fn split_latin_word(line: &str) -> (&str, &str) {
    let tail_start = line
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric())
        .last()
        .map(|(i, _)| i);
    match tail_start {
        Some(i) if i > 0 && line[..i].ends_with(' ') => (&line[..i], &line[i..]),
        _ => (line, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::test_support::font;

    #[test]
    fn the_shipped_font_covers_rare_name_characters() {
        let f = font();
        for c in "堃喆赟珺犇淼焱垚鑫，。（）：0123456789ABCDEFGHJKLMNPQRTUWXY长期".chars() {
            assert!(f.has_glyph(c), "{c}");
        }
        let e = f.check("holder_name", "张𠀋明").unwrap_err();
        assert_eq!(
            e,
            RenderError::MissingGlyph {
                field: "holder_name".into(),
                ch: '𠀋'
            }
        );
        assert!(
            e.to_string().contains("holder_name") && e.to_string().contains('𠀋'),
            "{e}"
        );
    }

    #[test]
    fn wrapping_respects_width_and_punctuation() {
        let f = font();
        let text = "食品销售（仅销售预包装食品），保健食品销售。".repeat(10);
        let lines = f.wrap(&text, 10.0, 200.0);
        assert!(lines.len() > 3);
        assert_eq!(lines.concat(), text, "CJK wraps without losing characters");
        for l in &lines {
            let trimmed: String = l.chars().filter(|c| !NO_LINE_START.contains(*c)).collect();
            assert!(f.width(&trimmed, 10.0) <= 200.0 + 1e-3, "{l}");
            assert!(!l.starts_with('，') && !l.starts_with('。'), "{l}");
        }
        let lines = f.wrap("line one\nline two", 10.0, 1000.0);
        assert_eq!(lines, ["line one", "line two"]);
        let lines = f.wrap("aaaa bbbbbb", 10.0, f.width("aaaa bbb", 10.0));
        assert_eq!(lines, ["aaaa", "bbbbbb"]);
    }
}
