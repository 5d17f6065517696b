//! Small builders for printpdf operations in page millimetres measured from the top-left
//! corner (the template's coordinate system); PDF's origin is bottom-left, in points.

use printpdf::{
    Color, FontId, Line, LinePoint, Mm, Op, PaintMode, PdfFontHandle, Point, Polygon, PolygonRing, Pt, Rgb, TextItem,
    TextMatrix, WindingOrder,
};

/// One page being drawn: its height (to flip y) and the font in use.
pub struct Canvas {
    pub height_mm: f32,
    pub font: FontId,
    pub ops: Vec<Op>,
}

pub fn pt(mm: f32) -> Pt {
    Mm(mm).into()
}

pub fn rgb(c: [f32; 3]) -> Color {
    Color::Rgb(Rgb {
        r: c[0],
        g: c[1],
        b: c[2],
        icc_profile: None,
    })
}

impl Canvas {
    pub fn new(height_mm: f32, font: FontId) -> Canvas {
        Canvas {
            height_mm,
            font,
            ops: Vec::with_capacity(256),
        }
    }

    /// A page point from template coordinates (mm from the top-left).
    /// Rounded to 1/100 pt: far below what print can show, and it keeps the content
    /// stream short.
    pub fn point(&self, x_mm: f32, y_mm: f32) -> Point {
        let round = |p: Pt| Pt((p.0 * 100.0).round() / 100.0);
        Point {
            x: round(pt(x_mm)),
            y: round(pt(self.height_mm - y_mm)),
        }
    }

    /// Text with its baseline starting at (`x_mm`, `baseline_mm`), rotated
    /// counter-clockwise by `angle_deg` around that point.
    pub fn text(&mut self, text: &str, x_mm: f32, baseline_mm: f32, size_pt: f32, colour: [f32; 3], angle_deg: f32) {
        let p = self.point(x_mm, baseline_mm);
        let (s, c) = angle_deg.to_radians().sin_cos();
        let (s, c) = ((s * 1e4).round() / 1e4, (c * 1e4).round() / 1e4);
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::External(self.font.clone()),
                size: Pt(size_pt),
            },
            Op::SetFillColor { col: rgb(colour) },
            Op::SetTextMatrix {
                matrix: TextMatrix::Raw([c, s, -s, c, p.x.0, p.y.0]),
            },
            Op::ShowText {
                items: vec![TextItem::Text(text.to_string())],
            },
            Op::EndTextSection,
        ]);
    }

    /// Character spacing for the following text, in points (0 to reset).
    pub fn char_spacing(&mut self, spacing_pt: f32) {
        self.ops.push(Op::SetCharacterSpacing { multiplier: spacing_pt });
    }

    /// An axis-aligned rectangle outline (top-left corner in template coordinates).
    pub fn stroke_rect(&mut self, x_mm: f32, y_mm: f32, w_mm: f32, h_mm: f32, width_pt: f32, colour: [f32; 3]) {
        let pts = [
            (x_mm, y_mm),
            (x_mm + w_mm, y_mm),
            (x_mm + w_mm, y_mm + h_mm),
            (x_mm, y_mm + h_mm),
        ];
        self.stroke_path(&pts, true, width_pt, colour);
    }

    /// A polyline through template points.
    pub fn stroke_path(&mut self, pts: &[(f32, f32)], closed: bool, width_pt: f32, colour: [f32; 3]) {
        let points = pts
            .iter()
            .map(|&(x, y)| LinePoint {
                p: self.point(x, y),
                bezier: false,
            })
            .collect();
        self.ops.extend([
            Op::SetOutlineColor { col: rgb(colour) },
            Op::SetOutlineThickness { pt: Pt(width_pt) },
            Op::DrawLine {
                line: Line {
                    points,
                    is_closed: closed,
                },
            },
        ]);
    }

    /// Fills the union of the given polygons (template coordinates), in one path.
    pub fn fill_polygons(&mut self, rings: Vec<Vec<(f32, f32)>>, colour: [f32; 3]) {
        let rings = rings
            .into_iter()
            .map(|r| PolygonRing {
                points: r
                    .into_iter()
                    .map(|(x, y)| LinePoint {
                        p: self.point(x, y),
                        bezier: false,
                    })
                    .collect(),
            })
            .collect();
        self.ops.extend([
            Op::SetFillColor { col: rgb(colour) },
            Op::DrawPolygon {
                polygon: Polygon {
                    rings,
                    mode: PaintMode::Fill,
                    winding_order: WindingOrder::NonZero,
                },
            },
        ]);
    }

    /// A circle outline of radius `r_mm` around (`cx_mm`, `cy_mm`), from four Bézier arcs.
    pub fn stroke_circle(&mut self, cx_mm: f32, cy_mm: f32, r_mm: f32, width_pt: f32, colour: [f32; 3]) {
        const K: f32 = 0.552_284_8;
        let k = K * r_mm;
        let (cx, cy, r) = (cx_mm, cy_mm, r_mm);
        // Start at the right, go round through top, left, bottom (template y grows down).
        let seq = [
            ((cx + r, cy), false),
            ((cx + r, cy - k), true),
            ((cx + k, cy - r), true),
            ((cx, cy - r), false),
            ((cx - k, cy - r), true),
            ((cx - r, cy - k), true),
            ((cx - r, cy), false),
            ((cx - r, cy + k), true),
            ((cx - k, cy + r), true),
            ((cx, cy + r), false),
            ((cx + k, cy + r), true),
            ((cx + r, cy + k), true),
            ((cx + r, cy), false),
        ];
        let points = seq
            .iter()
            .map(|&((x, y), bezier)| LinePoint {
                p: self.point(x, y),
                bezier,
            })
            .collect();
        self.ops.extend([
            Op::SetOutlineColor { col: rgb(colour) },
            Op::SetOutlineThickness { pt: Pt(width_pt) },
            Op::DrawLine {
                line: Line {
                    points,
                    is_closed: true,
                },
            },
        ]);
    }
}
