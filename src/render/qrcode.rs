//! The QR code as vectors: the module matrix from the `qrcode` crate, drawn as filled
//! rectangles (one per horizontal run of dark modules) on a white quiet zone.

use qrcode::bits::encode_auto;
use qrcode::canvas::{Canvas as QrCanvas, MaskPattern};
use qrcode::{ec, Color as Module, EcLevel};

use printpdf::{CurTransMat, Op, PaintMode, Pt, Rect};

use super::draw::{pt, rgb, Canvas};
use super::RenderError;

/// Modules of white margin around the code, as the QR standard asks.
const QUIET_ZONE: usize = 4;

const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// The code matrix for `payload`: error correction M while that needs at most version 15
/// (77 modules), else L — finer modules would not scan from paper at the sizes
/// templates allow.
///
/// Built from the `qrcode` crate's parts rather than `QrCode::with_error_correction_level`
/// because that crate's mask scoring took a fifth of a whole render; [`penalty`] scores
/// the eight masks by the same ISO/IEC 18004 rules in a single pass each.
pub fn matrix(payload: &str) -> Result<(usize, Vec<bool>), RenderError> {
    let qr_err = |e: qrcode::types::QrError| RenderError::Qr(e.to_string());
    let data = payload.as_bytes();
    let (bits, ec_level) = match encode_auto(data, EcLevel::M) {
        Ok(bits) if bits.version().width() <= 77 => (bits, EcLevel::M),
        _ => (encode_auto(data, EcLevel::L).map_err(qr_err)?, EcLevel::L),
    };
    let version = bits.version();
    let width = version.width() as usize;
    let (data, ec_data) = ec::construct_codewords(&bits.into_bytes(), version, ec_level).map_err(qr_err)?;
    let mut unmasked = QrCanvas::new(version, ec_level);
    unmasked.draw_all_functional_patterns();
    unmasked.draw_data(&data, &ec_data);
    let best = MASKS
        .iter()
        .map(|&mask| {
            let mut c = unmasked.clone();
            c.apply_mask(mask);
            let dark: Vec<bool> = c.into_colors().into_iter().map(|m| m == Module::Dark).collect();
            (penalty(width, &dark), dark)
        })
        .min_by_key(|(score, _)| *score)
        .map(|(_, dark)| dark)
        .ok_or_else(|| RenderError::Qr("no mask".into()))?;
    Ok((width, best))
}

/// The mask penalty of ISO/IEC 18004:2015 §7.8.3: runs of five or more (N1 = 3, +1 per
/// extra module), 2×2 blocks (N2 = 3), finder-like 1:1:3:1:1 patterns next to four light
/// modules (N3 = 40), and the deviation of the dark share from 50 % (N4 = 10 per 5 %).
fn penalty(width: usize, dark: &[bool]) -> u32 {
    // Columns are scored as the rows of the transposed matrix.
    let transposed: Vec<bool> = (0..dark.len()).map(|i| dark[(i % width) * width + i / width]).collect();
    let mut score = line_penalty(width, dark) + line_penalty(width, &transposed);
    for (row, next) in dark.chunks_exact(width).zip(dark.chunks_exact(width).skip(1)) {
        for x in 0..width - 1 {
            let m = row[x];
            if m == row[x + 1] && m == next[x] && m == next[x + 1] {
                score += 3;
            }
        }
    }
    let dark_count = dark.iter().filter(|&&d| d).count();
    let percent = dark_count * 100 / dark.len();
    score + 10 * (percent.abs_diff(50) / 5) as u32
}

/// Runs of five or more and finder-like patterns along each row of `grid`.
fn line_penalty(width: usize, grid: &[bool]) -> u32 {
    let mut score = 0;
    for line in grid.chunks_exact(width) {
        let mut run = 1;
        // The last 11 modules of the line as bits, newest in bit 0.
        let mut window = u16::from(line[0]);
        for i in 1..width {
            if line[i] == line[i - 1] {
                run += 1;
            } else {
                if run >= 5 {
                    score += 3 + (run - 5);
                }
                run = 1;
            }
            window = ((window << 1) | u16::from(line[i])) & 0x7FF;
            if i >= 10 && (window == 0b101_1101_0000 || window == 0b000_0101_1101) {
                score += 40;
            }
        }
        if run >= 5 {
            score += 3 + (run - 5);
        }
    }
    score
}

/// Draws the code so that it and its quiet zone fill the square at (`x`, `y`), side `size` (mm).
/// Modules are drawn in a coordinate system scaled to one unit per module, so every
/// rectangle is written with small integers and the content stream stays compact.
pub fn draw(canvas: &mut Canvas, payload: &str, x: f32, y: f32, size: f32) -> Result<usize, RenderError> {
    let (width, dark) = matrix(payload)?;
    let module_mm = size / (width + 2 * QUIET_ZONE) as f32;
    canvas.fill_polygons(vec![rect(x, y, size, size)], [1.0, 1.0, 1.0]);
    let origin = canvas.point(x + module_mm * QUIET_ZONE as f32, y + module_mm * QUIET_ZONE as f32);
    let m = pt(module_mm).0;
    canvas.ops.extend([
        Op::SaveGraphicsState,
        // x grows with the column, y (downwards on the page) with the row.
        Op::SetTransformationMatrix {
            matrix: CurTransMat::Raw([m, 0.0, 0.0, -m, origin.x.0, origin.y.0]),
        },
        Op::SetFillColor {
            col: rgb([0.0, 0.0, 0.0]),
        },
    ]);
    for row in 0..width {
        let mut col = 0;
        while col < width {
            if !dark[row * width + col] {
                col += 1;
                continue;
            }
            let start = col;
            while col < width && dark[row * width + col] {
                col += 1;
            }
            canvas.ops.push(Op::DrawRectangle {
                rectangle: Rect {
                    x: Pt(start as f32),
                    y: Pt(row as f32),
                    width: Pt((col - start) as f32),
                    height: Pt(1.0),
                    mode: Some(PaintMode::Fill),
                    winding_order: None,
                },
            });
        }
    }
    canvas.ops.push(Op::RestoreGraphicsState);
    Ok(width)
}

fn rect(x: f32, y: f32, w: f32, h: f32) -> Vec<(f32, f32)> {
    vec![(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_payloads_fit_moderate_versions() {
        use crate::licence::qr::tests::{example_licence, example_ring};
        use crate::licence::qr::{CopyFields, QrPayload};
        let ring = example_ring();
        let l = example_licence(&ring);
        let plain = QrPayload::sign(&l, &ring).unwrap().encode().unwrap();
        let copy = CopyFields {
            copy_for: "荆门市人力资源和社会保障局".into(),
            copy_purpose: "办理企业职工社会保险登记，核验营业执照信息".into(),
            copy_until: "2026-03-31".into(),
        };
        let copy = QrPayload::sign_copy(&l, &copy, &ring).unwrap().encode().unwrap();
        let (plain_w, dark) = matrix(&plain).unwrap();
        assert_eq!(dark.len(), plain_w * plain_w);
        let (copy_w, _) = matrix(&copy).unwrap();
        // ≤ 77 / 81 modules keep modules ≥ 0.4 mm in a 36 mm square (quiet zone included).
        assert!(plain_w <= 77, "{} chars → {plain_w} modules", plain.len());
        assert!(copy_w <= 81, "{} chars → {copy_w} modules", copy.len());
    }

    #[test]
    fn the_penalty_follows_the_standard_rules() {
        // A 6×6 all-light square: six runs of six per direction (4 each), 25 blocks, 50 % off.
        let light = vec![false; 36];
        assert_eq!(penalty(6, &light), 12 * 4 + 25 * 3 + 100);
        // A checkerboard has no runs, no blocks, no finder patterns and half dark.
        let board: Vec<bool> = (0..36).map(|i| (i / 6 + i % 6) % 2 == 0).collect();
        assert_eq!(penalty(6, &board), 0);
        // 11×11, light but for a finder-like top row 00001011101: rows 10 × 9 and columns
        // 94 for runs, 40 for the pattern, 93 blocks, 6 of 121 dark (4 %) → 90.
        let mut code = vec![false; 121];
        for (i, d) in [0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1].into_iter().enumerate() {
            code[i] = d == 1;
        }
        assert_eq!(penalty(11, &code), 90 + 94 + 40 + 93 * 3 + 90);
    }
}
