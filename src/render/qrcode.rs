//! The QR code as vectors: the module matrix from the `qrcode` crate, drawn as filled
//! rectangles (one per horizontal run of dark modules) on a white quiet zone.

use qrcode::{Color as Module, EcLevel, QrCode};

use printpdf::{CurTransMat, Op, PaintMode, Pt, Rect};

use super::draw::{pt, rgb, Canvas};
use super::RenderError;

/// Modules of white margin around the code, as the QR standard asks.
const QUIET_ZONE: usize = 4;

/// The code matrix for `payload`: error correction M while that needs at most version 15
/// (77 modules), else L — finer modules would not scan from paper at the sizes
/// templates allow.
pub fn matrix(payload: &str) -> Result<(usize, Vec<bool>), RenderError> {
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
        .ok()
        .filter(|c| c.width() <= 77)
        .map(Ok)
        .unwrap_or_else(|| QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::L))
        .map_err(|e| RenderError::Qr(e.to_string()))?;
    let width = code.width();
    let dark = code.to_colors().into_iter().map(|c| c == Module::Dark).collect();
    Ok((width, dark))
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
}
