//! The renderer: lays a licence out on its template's page and writes the PDF, with the
//! identifier, record digest and QR payload in the document information dictionary.

use std::path::Path;
use std::sync::Arc;

use printpdf::{Mm, PdfDocument, PdfPage, PdfSaveOptions};

use crate::licence::qr::{PublicUrl, QrPayload, QR_PREFIX};
use crate::licence::secrets::display_code;

/// Height of one 8 pt line under the QR code (its caption, then the 核验码).
pub const CAPTION_LINE_MM: f32 = 4.2;
use crate::licence::Licence;

use super::draw::Canvas;
use super::font::CjkFont;
use super::template::{parse_colour, Align, DateStyle, Element, Overflow, Source, Template, MM_PER_PT};
use super::watermark::{self, CopyMark};
use super::{qrcode, seal, RenderError};

/// The shipped CJK font, relative to the repository root.
pub const DEFAULT_FONT_PATH: &str = "templates/fonts/WenQuanYiMicroHei.ttf";

const DEFAULT_SEAL_NAME: &str = "电子证照专用章";

/// Renders licences to PDF. Cheap to clone and share across threads: the parsed font
/// sits behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Renderer {
    font: Arc<CjkFont>,
    /// The verification page's address, printed in front of every QR payload.
    public_url: Option<PublicUrl>,
}

impl Renderer {
    /// Parses the font once.
    pub fn new(font_bytes: &[u8]) -> Result<Renderer, RenderError> {
        Ok(Renderer {
            public_url: None,
            font: Arc::new(CjkFont::from_bytes(font_bytes)?),
        })
    }

    pub fn from_font_file(path: &Path) -> Result<Renderer, RenderError> {
        let bytes = std::fs::read(path).map_err(|e| RenderError::Font(format!("{}: {e}", path.display())))?;
        Self::new(&bytes)
    }

    pub fn with_font(font: Arc<CjkFont>) -> Renderer {
        Renderer { font, public_url: None }
    }

    /// QR codes then carry `url` followed by the payload text, so that a phone camera
    /// opens the verification page (`serve --public-url`).
    pub fn with_public_url(mut self, url: Option<PublicUrl>) -> Renderer {
        self.public_url = url;
        self
    }

    /// What the QR code of a licence with payload text `payload` carries.
    pub fn qr_content(&self, payload: &str) -> String {
        match &self.public_url {
            Some(url) => url.qr_content(payload),
            None => payload.to_string(),
        }
    }

    pub fn font(&self) -> &Arc<CjkFont> {
        &self.font
    }

    /// Renders `licence` on `template` with its signed QR payload; with `copy`, as a
    /// per-use copy (加注件) whose payload must carry the copy fields.
    pub fn render(
        &self,
        template: &Template,
        licence: &Licence,
        qr: &QrPayload,
        copy: Option<&CopyMark>,
    ) -> Result<Vec<u8>, RenderError> {
        if qr.identifier != licence.identifier {
            return Err(RenderError::PayloadMismatch {
                payload: qr.identifier.clone(),
                licence: licence.identifier.clone(),
            });
        }
        if copy.is_some() != qr.copy.is_some() {
            return Err(RenderError::CopyMismatch);
        }
        let qr_text = qr.encode().map_err(|e| RenderError::Qr(e.to_string()))?;
        let (w, h) = template.page_size_mm();
        let title = format!("{} {}", licence.licence_name, licence.licence_number);
        let mut doc = PdfDocument::new(&title);
        let font_id = doc.add_font(self.font.parsed());
        let mut canvas = Canvas::new(h, font_id);
        let font = &*self.font;

        if let Some(mark) = copy {
            watermark::draw_watermark(&mut canvas, font, mark, (w, h))?;
        }
        draw_border(&mut canvas, template, (w, h));
        draw_title(&mut canvas, font, template, licence, w)?;
        for (i, e) in template.elements.iter().enumerate() {
            draw_element(&mut canvas, font, e, &e.describe(i), licence)?;
        }
        let s = &template.seal;
        let seal_name = match (&s.name, licence.seal.seal_name.trim()) {
            (Some(n), _) => n.as_str(),
            (None, "") => DEFAULT_SEAL_NAME,
            (None, n) => n,
        };
        let colour = parse_colour(&s.colour).unwrap_or([0.84, 0.0, 0.06]);
        let text = seal::SealText {
            issuer: &licence.issuer_name,
            seal_name,
        };
        seal::draw(&mut canvas, font, &text, (s.x_mm, s.y_mm, s.radius_mm), colour)?;
        let q = &template.qr;
        qrcode::draw(&mut canvas, &self.qr_content(&qr_text), q.x_mm, q.y_mm, q.size_mm)?;
        if let Some(caption) = &q.caption {
            font.check("qr.caption", caption)?;
            let size = 8.0;
            let cw = font.width(caption, size) * MM_PER_PT;
            let baseline = q.y_mm + q.size_mm + 0.5 + size * MM_PER_PT * font.ascent_em();
            canvas.text(
                caption,
                q.x_mm + (q.size_mm - cw) / 2.0,
                baseline,
                size,
                [0.2, 0.2, 0.2],
                0.0,
            );
        }
        if let Some(code) = &licence.verification_code {
            // The 核验码 under the code (and its caption): with the identifier it proves
            // possession to public verification when the QR code cannot be scanned.
            let line = format!("核验码 {}", display_code(code));
            font.check("qr.verification_code", &line)?;
            let size = 8.0;
            let cw = font.width(&line, size) * MM_PER_PT;
            let caption_h = if q.caption.is_some() { CAPTION_LINE_MM } else { 0.0 };
            let baseline = q.y_mm + q.size_mm + 0.5 + caption_h + size * MM_PER_PT * font.ascent_em();
            canvas.text(
                &line,
                q.x_mm + (q.size_mm - cw) / 2.0,
                baseline,
                size,
                [0.1, 0.1, 0.1],
                0.0,
            );
        }
        if let Some(mark) = copy {
            watermark::draw_statement(&mut canvas, font, mark, (w, h))?;
        }

        let digest = qr.digest_hex();
        let info = &mut doc.metadata.info;
        info.document_title = title;
        info.subject = format!("{} sha256:{digest}", licence.identifier);
        info.keywords = vec![licence.identifier.clone(), format!("sha256:{digest}"), qr_text];
        info.identifier = licence.identifier.clone();
        info.creator = "elicence".into();
        info.producer = "elicence (printpdf)".into();
        // The document is dated by the record's signing time, never the clock: the same
        // licence always renders to the same content.
        let signed = time::OffsetDateTime::parse(&licence.signed_at, &time::format_description::well_known::Rfc3339)
            .ok()
            .and_then(|t| printpdf::OffsetDateTime::from_unix_timestamp(t.unix_timestamp()).ok());
        if let Some(t) = signed {
            info.creation_date = t;
            info.modification_date = t;
            info.metadata_date = t;
        }
        let page = PdfPage::new(Mm(w), Mm(h), canvas.ops);
        let opts = PdfSaveOptions {
            subset_fonts: true,
            optimize: true,
            ..Default::default()
        };
        let mut warnings = Vec::new();
        Ok(doc.with_pages(vec![page]).save(&opts, &mut warnings))
    }
}

fn draw_border(canvas: &mut Canvas, t: &Template, (w, h): (f32, f32)) {
    let Some(b) = &t.border else { return };
    let colour = parse_colour(&b.colour).unwrap_or([0.55, 0.41, 0.08]);
    let (o, i) = (b.outer_inset_mm, b.inner_inset_mm);
    canvas.stroke_rect(o, o, w - 2.0 * o, h - 2.0 * o, b.outer_width_pt, colour);
    canvas.stroke_rect(i, i, w - 2.0 * i, h - 2.0 * i, b.inner_width_pt, colour);
    if b.corner_ornaments {
        // A small diamond in each corner between the two lines, plus an inner bracket.
        let m = (o + i) / 2.0;
        let d = (i - o) / 2.0;
        let arm = 12.0;
        for (cx, cy, sx, sy) in [
            (m, m, 1.0, 1.0),
            (w - m, m, -1.0, 1.0),
            (w - m, h - m, -1.0, -1.0),
            (m, h - m, 1.0, -1.0),
        ] {
            canvas.fill_polygons(
                vec![vec![(cx, cy - d), (cx + d, cy), (cx, cy + d), (cx - d, cy)]],
                colour,
            );
            let (bx, by) = (cx + sx * (d + 2.5), cy + sy * (d + 2.5));
            canvas.stroke_path(
                &[(bx, by + sy * arm), (bx, by), (bx + sx * arm, by)],
                false,
                b.inner_width_pt,
                colour,
            );
        }
    }
}

fn draw_title(canvas: &mut Canvas, font: &CjkFont, t: &Template, licence: &Licence, w: f32) -> Result<(), RenderError> {
    let title = &t.title;
    let text = title.text.as_deref().unwrap_or(&licence.licence_name);
    font.check("title", text)?;
    let size = title.font_size_pt;
    let spacing_pt = title.letter_spacing_em * size;
    let n = text.chars().count().max(1) as f32;
    let width = (font.width(text, size) + spacing_pt * (n - 1.0)) * MM_PER_PT;
    let centre = title.x_mm.unwrap_or(w / 2.0);
    let colour = parse_colour(&title.colour).unwrap_or([0.0; 3]);
    canvas.char_spacing(spacing_pt);
    canvas.text(
        text,
        centre - width / 2.0,
        title.y_mm + size * MM_PER_PT * font.ascent_em(),
        size,
        colour,
        0.0,
    );
    canvas.char_spacing(0.0);
    Ok(())
}

/// The text an element shows for this licence.
pub(super) fn value_of(e: &Element, licence: &Licence) -> String {
    if let Some(text) = &e.text {
        return text.clone();
    }
    let date = |d: time::Date| match e.date_style {
        DateStyle::Chinese => format!("{}年{}月{}日", d.year(), u8::from(d.month()), d.day()),
        DateStyle::Iso => crate::licence::record::format_date(d),
    };
    let until = || licence.valid_until.map(date).unwrap_or_else(|| "长期".to_string());
    match e.source() {
        None => String::new(),
        Some(s) => match s {
            Source::Identifier => licence.identifier.clone(),
            Source::LicenceName => licence.licence_name.clone(),
            Source::LicenceTypeCode => licence.licence_type_code.clone(),
            Source::LicenceNumber => licence.licence_number.clone(),
            Source::IssuerName => licence.issuer_name.clone(),
            Source::IssuerCode => licence.issuer_code.clone(),
            Source::IssuerLevel => licence.issuer_level.clone(),
            Source::IssueDate => date(licence.issue_date),
            Source::HolderName => licence.holder_name.clone(),
            Source::HolderCode => licence.holder_code.clone(),
            Source::ValidFrom => date(licence.valid_from),
            Source::ValidUntil => until(),
            Source::Validity => format!("{} 至 {}", date(licence.valid_from), until()),
            Source::RegionCode => licence.region_code.clone(),
            Source::RelatedItem => licence.related_item.clone(),
            Source::SealName => licence.seal.seal_name.clone(),
            Source::Field(name) => licence
                .fields
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.value.clone())
                .unwrap_or_default(),
        },
    }
}

/// Chooses the font size and line breaks: shrinks in 0.5 pt steps when allowed.
fn fit(font: &CjkFont, e: &Element, at: &str, value: &str) -> Result<(f32, Vec<String>), RenderError> {
    let max_width_pt = e.max_width_mm / MM_PER_PT;
    let mut size = e.font_size_pt;
    loop {
        let lines = font.wrap(value, size, max_width_pt);
        if lines.len() <= e.max_lines as usize {
            return Ok((size, lines));
        }
        if e.overflow == Overflow::Error || size - 0.5 < e.min_font_size_pt - 1e-3 {
            return Err(RenderError::Overflow {
                field: at.to_string(),
                reason: format!(
                    "{} characters need {} lines at {size} pt, more than max_lines = {}",
                    value.chars().count(),
                    lines.len(),
                    e.max_lines
                ),
            });
        }
        size -= 0.5;
    }
}

fn draw_element(
    canvas: &mut Canvas,
    font: &CjkFont,
    e: &Element,
    at: &str,
    licence: &Licence,
) -> Result<(), RenderError> {
    let value = value_of(e, licence).replace('\t', " ").replace("\r\n", "\n");
    let field = e.source.clone().unwrap_or_else(|| format!("{at}.text"));
    font.check(&format!("{at}.label"), &e.label)?;
    font.check(&field, &value)?;
    let label_colour = parse_colour(&e.label_colour).unwrap_or([0.0; 3]);
    let colour = parse_colour(&e.colour).unwrap_or([0.0; 3]);
    let ascent_mm = |size: f32| size * MM_PER_PT * font.ascent_em();
    if !e.label.is_empty() {
        canvas.text(
            &e.label,
            e.x_mm,
            e.y_mm + ascent_mm(e.font_size_pt),
            e.font_size_pt,
            label_colour,
            0.0,
        );
    }
    if value.trim().is_empty() {
        return Ok(());
    }
    let (size, lines) = fit(font, e, &field, &value)?;
    let x0 = e.x_mm + e.label_width_mm;
    // Keep a shrunk value's first baseline on the label's baseline.
    let mut baseline = e.y_mm + ascent_mm(e.font_size_pt);
    for line in &lines {
        let lw = font.width(line, size) * MM_PER_PT;
        let x = match e.align {
            Align::Left => x0,
            Align::Center => x0 + (e.max_width_mm - lw) / 2.0,
            Align::Right => x0 + e.max_width_mm - lw,
        };
        if !line.is_empty() {
            canvas.text(line, x, baseline, size, colour, 0.0);
        }
        baseline += size * MM_PER_PT * e.line_spacing;
    }
    Ok(())
}

/// The keywords of a PDF's document information dictionary, if it has any.
pub fn pdf_keywords(pdf: &[u8]) -> Option<Vec<String>> {
    // lopdf parses untrusted input; a panic inside it must not take the caller down.
    std::panic::catch_unwind(|| {
        let doc = lopdf::Document::load_mem(pdf).ok()?;
        let info = doc.trailer.get(b"Info").ok()?;
        let info = match info {
            lopdf::Object::Reference(id) => doc.get_object(*id).ok()?,
            other => other,
        };
        let raw = info.as_dict().ok()?.get(b"Keywords").ok()?.as_str().ok()?;
        let text = decode_pdf_text(raw);
        Some(
            text.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    })
    .ok()
    .flatten()
}

/// Reads back the QR payload text (`ELC1:…`) that [`Renderer::render`] stores in the
/// PDF's `/Keywords`, so offline verification needs no image decoding.
pub fn extract_qr_payload(pdf: &[u8]) -> Option<String> {
    pdf_keywords(pdf)?.into_iter().find(|k| k.starts_with(QR_PREFIX))
}

/// A PDF text string: UTF-16BE with a byte-order mark, else PDFDocEncoding (read as Latin-1).
fn decode_pdf_text(raw: &[u8]) -> String {
    match raw.strip_prefix(&[0xFE, 0xFF]) {
        Some(be) => {
            let units: Vec<u16> = be.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16_lossy(&units)
        }
        None => raw.iter().map(|&b| b as char).collect(),
    }
}
