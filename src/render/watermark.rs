//! The per-use copy (加注件) mark: a light grey, rotated watermark repeated across the
//! page, and a plain statement along the bottom edge, both saying for whom, why, when
//! made and until when the copy may be used.

use crate::licence::qr::CopyFields;

use super::draw::Canvas;
use super::font::CjkFont;
use super::template::MM_PER_PT;
use super::RenderError;

/// Who a copy is for and until when; what the watermark says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyMark {
    /// The receiving department (用证部门).
    pub copy_for: String,
    /// The use cause (用证事由), at most 200 characters.
    pub purpose: String,
    /// When the copy was made, e.g. `2026-03-05 10:20` (the caller formats its clock).
    pub made_at: String,
    /// Last day of use, `YYYY-MM-DD`.
    pub valid_until: String,
}

const GREY: [f32; 3] = [0.80, 0.80, 0.80];
const FOOTER_GREY: [f32; 3] = [0.35, 0.35, 0.35];
const ANGLE_DEG: f32 = 30.0;

impl CopyMark {
    /// The fields this copy's QR payload signs (the purpose is shortened there).
    pub fn qr_fields(&self) -> CopyFields {
        CopyFields {
            copy_for: self.copy_for.clone(),
            copy_purpose: self.purpose.clone(),
            copy_until: self.valid_until.clone(),
        }
    }

    /// The watermark's two lines (a long purpose is shortened here; the statement at
    /// the bottom of the page carries it in full).
    pub fn lines(&self) -> [String; 2] {
        let purpose: String = if self.purpose.chars().count() > 24 {
            self.purpose.chars().take(23).chain(['…']).collect()
        } else {
            self.purpose.clone()
        };
        [
            format!("加注件 仅供{}使用 有效期至{}", self.copy_for, self.valid_until),
            format!("用途：{purpose} 制作于{}", self.made_at),
        ]
    }

    /// The plain statement along the bottom edge.
    pub fn statement(&self) -> String {
        format!(
            "本加注件仅供{}用于{}，制作时间{}，有效期至{}，逾期或挪作他用无效。",
            self.copy_for, self.purpose, self.made_at, self.valid_until
        )
    }

    fn check(&self, font: &CjkFont) -> Result<(), RenderError> {
        font.check("copy.copy_for", &self.copy_for)?;
        font.check("copy.purpose", &self.purpose)?;
        font.check("copy.made_at", &self.made_at)?;
        font.check("copy.valid_until", &self.valid_until)
    }
}

/// Draws the repeated rotated watermark over the whole page (`w` × `h` mm). Call it
/// before the content so the content stays legible on top of it.
pub fn draw_watermark(
    canvas: &mut Canvas,
    font: &CjkFont,
    mark: &CopyMark,
    (w, h): (f32, f32),
) -> Result<(), RenderError> {
    mark.check(font)?;
    let size_pt = 13.0;
    let line_mm = size_pt * MM_PER_PT * 1.5;
    let [first, second] = mark.lines();
    // Tile along rows that run 30° upwards; each row is shifted by a third of a tile
    // against the previous one so the gaps between tiles do not line up.
    let (s, c) = ANGLE_DEG.to_radians().sin_cos();
    let len = font.width(&first, size_pt).max(font.width(&second, size_pt)) * MM_PER_PT;
    let step_along = len + 12.0;
    let step_across = 32.0;
    let diag = (w * w + h * h).sqrt();
    let rows = (diag / step_across).ceil() as i32 + 1;
    let cols = (diag / step_along).ceil() as i32 + 2;
    for row in -rows..=rows {
        for col in -cols..=cols {
            let along = (col as f32 + row.rem_euclid(3) as f32 / 3.0) * step_along;
            let across = row as f32 * step_across;
            // Start of the tile's first baseline, in page mm with y upwards.
            let (x0, y0) = (along * c - across * s, along * s + across * c);
            let (x1, y1) = (x0 + len * c, y0 + len * s);
            if x1 < 0.0 || x0 > w || y1 < -10.0 || y0 > h + 10.0 {
                continue;
            }
            let y = h - y0;
            canvas.text(&first, x0, y, size_pt, GREY, ANGLE_DEG);
            // The second line sits one line below the first, perpendicular to the text.
            canvas.text(&second, x0 + line_mm * s, y + line_mm * c, size_pt, GREY, ANGLE_DEG);
        }
    }
    Ok(())
}

/// Height of the band at the bottom of every page kept free for the copy statement;
/// templates must place nothing there (`Template::validate` checks).
pub const STATEMENT_BAND_MM: f32 = 12.0;

/// Writes the full statement in small type on a white strip across the bottom band.
/// Call it after the content: the strip covers whatever border runs through the band.
pub fn draw_statement(
    canvas: &mut Canvas,
    font: &CjkFont,
    mark: &CopyMark,
    (w, h): (f32, f32),
) -> Result<(), RenderError> {
    mark.check(font)?;
    let text = mark.statement();
    let max_w_mm = w - 24.0;
    let mut fitted = None;
    for size_pt in [7.5_f32, 7.0, 6.5, 6.0, 5.5, 5.0] {
        let lines = font.wrap(&text, size_pt, max_w_mm / MM_PER_PT);
        let line_mm = size_pt * MM_PER_PT * 1.2;
        if lines.len() as f32 * line_mm <= STATEMENT_BAND_MM - 1.5 {
            fitted = Some((size_pt, line_mm, lines));
            break;
        }
    }
    let (size_pt, line_mm, lines) = fitted.ok_or_else(|| RenderError::Overflow {
        field: "copy.purpose".into(),
        reason: "the copy statement does not fit the bottom band".into(),
    })?;
    let top = h - STATEMENT_BAND_MM + 0.5;
    canvas.fill_polygons(
        vec![vec![(8.0, top), (w - 8.0, top), (w - 8.0, h - 0.5), (8.0, h - 0.5)]],
        [1.0, 1.0, 1.0],
    );
    let mut baseline = top + 0.5 + size_pt * MM_PER_PT * font.ascent_em();
    for l in &lines {
        canvas.text(l, 12.0, baseline, size_pt, FOOTER_GREY, 0.0);
        baseline += line_mm;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_lines_shorten_a_long_purpose_but_the_statement_keeps_it() {
        let m = CopyMark {
            copy_for: "荆门市人力资源和社会保障局".into(),
            purpose: "办理".repeat(50),
            made_at: "2026-03-05 10:20".into(),
            valid_until: "2026-03-31".into(),
        };
        let [a, b] = m.lines();
        assert!(
            a.contains("仅供荆门市人力资源和社会保障局使用") && a.contains("2026-03-31"),
            "{a}"
        );
        assert!(b.contains('…') && b.chars().count() < 60, "{b}");
        assert!(m.statement().contains(&"办理".repeat(50)));
        assert_eq!(m.qr_fields().copy_until, "2026-03-31");
    }
}
