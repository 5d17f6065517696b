//! The issuer's red seal as vectors: a ring, a five-pointed star, the issuer's name set
//! along the upper arc (each character turned to the arc) and the seal name below.

use super::draw::Canvas;
use super::font::CjkFont;
use super::template::MM_PER_PT;
use super::RenderError;

/// What the seal says.
pub struct SealText<'a> {
    pub issuer: &'a str,
    pub seal_name: &'a str,
}

/// Draws the seal centred on (`cx`, `cy`) with radius `r` (mm, template coordinates).
pub fn draw(
    canvas: &mut Canvas,
    font: &CjkFont,
    text: &SealText<'_>,
    (cx, cy, r): (f32, f32, f32),
    colour: [f32; 3],
) -> Result<(), RenderError> {
    font.check("seal.issuer_name", text.issuer)?;
    font.check("seal.seal_name", text.seal_name)?;
    canvas.stroke_circle(cx, cy, r, r * 0.065 / MM_PER_PT, colour);
    canvas.fill_polygons(vec![star(cx, cy, r * 0.28)], colour);
    arc_text(canvas, font, text.issuer, (cx, cy, r), colour);
    let name = text.seal_name;
    if !name.is_empty() {
        let size_pt = (r * 0.17 / MM_PER_PT).min(r * 1.1 / MM_PER_PT / font.width(name, 1.0).max(1.0));
        let w = font.width(name, size_pt) * MM_PER_PT;
        canvas.text(name, cx - w / 2.0, cy + r * 0.58, size_pt, colour, 0.0);
    }
    Ok(())
}

/// The ten corners of a five-pointed star pointing up, radius `outer` (mm).
fn star(cx: f32, cy: f32, outer: f32) -> Vec<(f32, f32)> {
    let inner = outer * 0.381_966;
    (0..10)
        .map(|i| {
            let r = if i % 2 == 0 { outer } else { inner };
            let a = (90.0 + 36.0 * i as f32).to_radians();
            // Template y grows downwards, so subtract the sine.
            (cx + r * a.cos(), cy - r * a.sin())
        })
        .collect()
}

/// Sets `text` clockwise along the upper arc, each glyph's top pointing outwards.
fn arc_text(canvas: &mut Canvas, font: &CjkFont, text: &str, (cx, cy, r): (f32, f32, f32), colour: [f32; 3]) {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return;
    }
    let n = chars.len() as f32;
    // Spread over up to 250°, at most ~30° per character for short names.
    let span = (n * 30.0).min(250.0);
    let size_mm = (r * 0.24).min(2.0 * std::f32::consts::PI * r * 0.72 * span / 360.0 / n * 0.95);
    let size_pt = size_mm / MM_PER_PT;
    // Glyph tops sit just inside the ring.
    let baseline_r = r * 0.90 - size_mm * font.ascent_em();
    for (i, ch) in chars.iter().enumerate() {
        // Angle of the character's centre, counter-clockwise from +x (page coordinates).
        let theta = (90.0 + span / 2.0 - span * (i as f32 + 0.5) / n).to_radians();
        let rot = theta - std::f32::consts::FRAC_PI_2;
        let half = font.advance_em(*ch) * size_mm / 2.0;
        // Baseline centre, then step back half an advance along the baseline direction.
        let bx = cx + baseline_r * theta.cos() - half * rot.cos();
        let by = cy - (baseline_r * theta.sin() - half * rot.sin());
        canvas.text(&ch.to_string(), bx, by, size_pt, colour, rot.to_degrees());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_has_five_outer_points_on_the_circle() {
        let pts = star(0.0, 0.0, 10.0);
        assert_eq!(pts.len(), 10);
        assert!(
            (pts[0].0).abs() < 1e-4 && (pts[0].1 + 10.0).abs() < 1e-4,
            "top point first: {:?}",
            pts[0]
        );
        for p in pts.iter().step_by(2) {
            assert!(((p.0 * p.0 + p.1 * p.1).sqrt() - 10.0).abs() < 1e-3);
        }
    }
}
