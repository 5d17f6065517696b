//! Licence templates: the TOML layout format (`docs/TEMPLATES.md`), its validation with
//! errors that name the element, and loading a directory of templates.

use std::path::Path;

use serde::Deserialize;

use super::watermark::STATEMENT_BAND_MM;
use crate::catalog::LicenceType;

/// Millimetres per PostScript point.
pub const MM_PER_PT: f32 = 25.4 / 72.0;

/// A template that failed to parse or validate: where (`element[3] (经营范围)`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {reason}")]
pub struct TemplateError {
    pub at: String,
    pub reason: String,
}

impl TemplateError {
    fn new(at: impl Into<String>, reason: impl Into<String>) -> Self {
        TemplateError {
            at: at.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PageSize {
    A4,
    A3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Orientation {
    Portrait,
    Landscape,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub size: PageSize,
    pub orientation: Orientation,
}

impl Page {
    /// Width and height in millimetres.
    pub fn size_mm(&self) -> (f32, f32) {
        let (short, long) = match self.size {
            PageSize::A4 => (210.0, 297.0),
            PageSize::A3 => (297.0, 420.0),
        };
        match self.orientation {
            Orientation::Portrait => (short, long),
            Orientation::Landscape => (long, short),
        }
    }
}

/// A double border: a heavy outer line and a thin inner line, optional corner ornaments.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Border {
    #[serde(default = "default_border_colour")]
    pub colour: String,
    pub outer_inset_mm: f32,
    #[serde(default = "default_outer_width")]
    pub outer_width_pt: f32,
    pub inner_inset_mm: f32,
    #[serde(default = "default_inner_width")]
    pub inner_width_pt: f32,
    #[serde(default)]
    pub corner_ornaments: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Title {
    /// Literal title; when absent the licence's name (证照名称) is used.
    #[serde(default)]
    pub text: Option<String>,
    /// Horizontal centre; the page centre when absent.
    #[serde(default)]
    pub x_mm: Option<f32>,
    /// Top of the title line, from the top of the page.
    pub y_mm: f32,
    pub font_size_pt: f32,
    /// Extra space between characters, in em (营 业 执 照).
    #[serde(default)]
    pub letter_spacing_em: f32,
    #[serde(default = "default_title_colour")]
    pub colour: String,
}

/// What to do when text needs more than `max_lines` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overflow {
    /// Reduce the font size in 0.5 pt steps down to `min_font_size_pt`, then fail.
    #[default]
    Shrink,
    /// Fail at once.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateStyle {
    /// `2026年3月1日`
    #[default]
    Chinese,
    /// `2026-03-01`
    Iso,
}

/// One labelled value (or a literal text) on the page.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Element {
    #[serde(default)]
    pub label: String,
    /// Record field (`holder_name`, `validity` …) or type-specific field (`fields.经营范围`).
    #[serde(default)]
    pub source: Option<String>,
    /// A literal text instead of a source.
    #[serde(default)]
    pub text: Option<String>,
    /// Left edge of the label.
    pub x_mm: f32,
    /// Top of the first line, from the top of the page.
    pub y_mm: f32,
    #[serde(default = "default_font_size")]
    pub font_size_pt: f32,
    /// Space reserved for the label; the value starts at `x_mm + label_width_mm`.
    #[serde(default)]
    pub label_width_mm: f32,
    /// Width available to the value; longer text wraps.
    pub max_width_mm: f32,
    #[serde(default = "default_max_lines")]
    pub max_lines: u32,
    #[serde(default)]
    pub overflow: Overflow,
    #[serde(default = "default_min_font_size")]
    pub min_font_size_pt: f32,
    /// Line height as a multiple of the font size.
    #[serde(default = "default_line_spacing")]
    pub line_spacing: f32,
    #[serde(default)]
    pub align: Align,
    #[serde(default)]
    pub date_style: DateStyle,
    #[serde(default = "default_text_colour")]
    pub colour: String,
    #[serde(default = "default_text_colour")]
    pub label_colour: String,
}

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Identifier,
    LicenceName,
    LicenceTypeCode,
    LicenceNumber,
    IssuerName,
    IssuerCode,
    IssuerLevel,
    IssueDate,
    HolderName,
    HolderCode,
    ValidFrom,
    /// Empty (no end) renders as 长期.
    ValidUntil,
    /// `<valid_from> 至 <valid_until or 长期>`.
    Validity,
    RegionCode,
    RelatedItem,
    SealName,
    /// A type-specific field (照面信息) by name.
    Field(String),
}

/// Record sources a template may name, for documentation and error messages.
pub const RECORD_SOURCES: [&str; 16] = [
    "identifier",
    "licence_name",
    "licence_type_code",
    "licence_number",
    "issuer_name",
    "issuer_code",
    "issuer_level",
    "issue_date",
    "holder_name",
    "holder_code",
    "valid_from",
    "valid_until",
    "validity",
    "region_code",
    "related_item",
    "seal_name",
];

impl Source {
    pub fn parse(s: &str) -> Option<Source> {
        if let Some(name) = s.strip_prefix("fields.") {
            let ok = !name.trim().is_empty() && name.len() <= 128;
            return ok.then(|| Source::Field(name.to_string()));
        }
        Some(match s {
            "identifier" => Source::Identifier,
            "licence_name" => Source::LicenceName,
            "licence_type_code" => Source::LicenceTypeCode,
            "licence_number" => Source::LicenceNumber,
            "issuer_name" => Source::IssuerName,
            "issuer_code" => Source::IssuerCode,
            "issuer_level" => Source::IssuerLevel,
            "issue_date" => Source::IssueDate,
            "holder_name" => Source::HolderName,
            "holder_code" => Source::HolderCode,
            "valid_from" => Source::ValidFrom,
            "valid_until" => Source::ValidUntil,
            "validity" => Source::Validity,
            "region_code" => Source::RegionCode,
            "related_item" => Source::RelatedItem,
            "seal_name" => Source::SealName,
            _ => return None,
        })
    }
}

impl Element {
    /// The parsed source; `None` for a literal text element. Validated by [`Template::parse`].
    pub fn source(&self) -> Option<Source> {
        self.source.as_deref().and_then(Source::parse)
    }

    /// How errors name this element: `element[3] (经营范围)`.
    pub fn describe(&self, index: usize) -> String {
        let what = if !self.label.is_empty() {
            self.label.as_str()
        } else {
            self.source.as_deref().or(self.text.as_deref()).unwrap_or("")
        };
        format!("element[{index}] ({what})")
    }
}

/// The issuer's red seal: centre and radius.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealSpec {
    pub x_mm: f32,
    /// Centre, from the top of the page.
    pub y_mm: f32,
    #[serde(default = "default_seal_radius")]
    pub radius_mm: f32,
    /// Text under the star; else the record's seal name, else 电子证照专用章.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_seal_colour")]
    pub colour: String,
}

/// The QR code square: top-left corner and side, optional caption underneath.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QrSpec {
    pub x_mm: f32,
    pub y_mm: f32,
    #[serde(default = "default_qr_size")]
    pub size_mm: f32,
    #[serde(default)]
    pub caption: Option<String>,
}

/// A licence layout, as read from a template file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub page: Page,
    #[serde(default)]
    pub border: Option<Border>,
    pub title: Title,
    #[serde(rename = "element", default)]
    pub elements: Vec<Element>,
    pub seal: SealSpec,
    pub qr: QrSpec,
}

fn default_border_colour() -> String {
    "#8B6914".into()
}
fn default_outer_width() -> f32 {
    2.0
}
fn default_inner_width() -> f32 {
    0.6
}
fn default_title_colour() -> String {
    "#000000".into()
}
fn default_text_colour() -> String {
    "#000000".into()
}
fn default_font_size() -> f32 {
    11.0
}
fn default_max_lines() -> u32 {
    1
}
fn default_min_font_size() -> f32 {
    7.0
}
fn default_line_spacing() -> f32 {
    1.35
}
fn default_seal_radius() -> f32 {
    21.0
}
fn default_seal_colour() -> String {
    "#D7000F".into()
}
fn default_qr_size() -> f32 {
    36.0
}

/// Parses `#RRGGBB` into 0–1 components.
pub fn parse_colour(s: &str) -> Option<[f32; 3]> {
    let hex = s.strip_prefix('#').filter(|h| h.len() == 6 && h.is_ascii())?;
    let c = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok().map(|v| v as f32 / 255.0);
    Some([c(0)?, c(2)?, c(4)?])
}

const MAX_ELEMENTS: usize = 100;

impl Template {
    /// Parses and validates a template; the error names the element and the reason.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let t: Template = toml::from_str(text).map_err(|e| {
            let full = e.to_string();
            let msg: Vec<&str> = full.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            TemplateError::new("toml", msg.join(" "))
        })?;
        t.validate()?;
        Ok(t)
    }

    /// Checks every position, size and source. Called by [`Template::parse`].
    pub fn validate(&self) -> Result<(), TemplateError> {
        let (w, full_h) = self.page.size_mm();
        // Nothing may enter the bottom band kept for a copy's statement.
        let h = full_h - STATEMENT_BAND_MM;
        let ok_id = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.id.starts_with('-');
        if !ok_id {
            return Err(TemplateError::new(
                "id",
                "must be 1-64 characters of a-z, 0-9 and '-', not starting with '-'",
            ));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 128 {
            return Err(TemplateError::new("name", "is required (at most 128 characters)"));
        }
        if let Some(b) = &self.border {
            colour("border.colour", &b.colour)?;
            let limit = w.min(h) / 2.0 - 20.0;
            if !(1.0..=limit).contains(&b.outer_inset_mm) {
                return Err(TemplateError::new(
                    "border.outer_inset_mm",
                    format!("must be 1 to {limit} mm"),
                ));
            }
            if !(b.inner_inset_mm > b.outer_inset_mm && b.inner_inset_mm <= limit) {
                return Err(TemplateError::new(
                    "border.inner_inset_mm",
                    format!("must be greater than outer_inset_mm and at most {limit} mm"),
                ));
            }
            range("border.outer_width_pt", b.outer_width_pt, 0.1, 8.0)?;
            range("border.inner_width_pt", b.inner_width_pt, 0.1, 8.0)?;
        }
        self.validate_title(w, h)?;
        if self.elements.len() > MAX_ELEMENTS {
            return Err(TemplateError::new(
                "element",
                format!("at most {MAX_ELEMENTS} elements"),
            ));
        }
        for (i, e) in self.elements.iter().enumerate() {
            validate_element(e, &e.describe(i), w, h)?;
        }
        let s = &self.seal;
        colour("seal.colour", &s.colour)?;
        range("seal.radius_mm", s.radius_mm, 10.0, 40.0)?;
        if s.x_mm - s.radius_mm < 0.0
            || s.x_mm + s.radius_mm > w
            || s.y_mm - s.radius_mm < 0.0
            || s.y_mm + s.radius_mm > h
        {
            return Err(TemplateError::new(
                "seal",
                format!("the circle must lie inside the {w}×{full_h} mm page, above its bottom {STATEMENT_BAND_MM} mm"),
            ));
        }
        if let Some(n) = &s.name {
            if n.trim().is_empty() || n.chars().count() > 16 {
                return Err(TemplateError::new("seal.name", "must be 1-16 characters"));
            }
        }
        let q = &self.qr;
        range("qr.size_mm", q.size_mm, 20.0, 80.0)?;
        // The caption, then the 核验码 line, under the code.
        let caption_h = if q.caption.is_some() { 6.0 } else { 0.0 } + super::document::CAPTION_LINE_MM;
        if q.x_mm < 0.0 || q.y_mm < 0.0 || q.x_mm + q.size_mm > w || q.y_mm + q.size_mm + caption_h > h {
            return Err(TemplateError::new(
                "qr",
                format!("the code, its caption and the 核验码 line must lie inside the {w}×{full_h} mm page, above its bottom {STATEMENT_BAND_MM} mm"),
            ));
        }
        if let Some(c) = &q.caption {
            if c.chars().count() > 24 {
                return Err(TemplateError::new("qr.caption", "at most 24 characters"));
            }
        }
        Ok(())
    }

    fn validate_title(&self, w: f32, h: f32) -> Result<(), TemplateError> {
        let t = &self.title;
        colour("title.colour", &t.colour)?;
        range("title.font_size_pt", t.font_size_pt, 8.0, 96.0)?;
        range("title.letter_spacing_em", t.letter_spacing_em, 0.0, 3.0)?;
        if let Some(text) = &t.text {
            if text.trim().is_empty() || text.chars().count() > 40 {
                return Err(TemplateError::new("title.text", "must be 1-40 characters"));
            }
        }
        if let Some(x) = t.x_mm {
            range("title.x_mm", x, 0.0, w)?;
        }
        range("title.y_mm", t.y_mm, 0.0, h - t.font_size_pt * MM_PER_PT)
    }

    /// Checks the template against the type it renders: every `fields.X` source must be
    /// one of the type's fields.
    pub fn validate_for_type(&self, licence_type: &LicenceType) -> Result<(), TemplateError> {
        for (i, e) in self.elements.iter().enumerate() {
            if let Some(Source::Field(name)) = e.source() {
                if !licence_type.field_names.contains(&name) {
                    return Err(TemplateError::new(
                        e.describe(i),
                        format!(
                            "{} has no field {name:?} (fields: {})",
                            licence_type.name,
                            licence_type.field_names.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn page_size_mm(&self) -> (f32, f32) {
        self.page.size_mm()
    }

    /// Every literal text the template prints itself (title, labels, texts, seal name,
    /// QR caption), each with where it sits — for checking the font can draw it before
    /// the template is accepted.
    pub fn literal_texts(&self) -> Vec<(String, &str)> {
        let mut v = Vec::new();
        if let Some(t) = &self.title.text {
            v.push(("title.text".to_string(), t.as_str()));
        }
        for (i, e) in self.elements.iter().enumerate() {
            v.push((format!("{}.label", e.describe(i)), e.label.as_str()));
            if let Some(t) = &e.text {
                v.push((format!("{}.text", e.describe(i)), t.as_str()));
            }
        }
        if let Some(n) = &self.seal.name {
            v.push(("seal.name".to_string(), n.as_str()));
        }
        if let Some(c) = &self.qr.caption {
            v.push(("qr.caption".to_string(), c.as_str()));
        }
        v
    }

    /// `A4 portrait`, `A3 landscape`, …
    pub fn page_name(&self) -> String {
        let orientation = match self.page.orientation {
            Orientation::Portrait => "portrait",
            Orientation::Landscape => "landscape",
        };
        format!("{:?} {orientation}", self.page.size)
    }

    /// Whether this layout may render licences of a type whose default layout is
    /// `default_id`: the default itself, or a variant `<default_id>-portrait` /
    /// `<default_id>-landscape`.
    pub fn serves(&self, default_id: &str) -> bool {
        self.id == default_id
            || self
                .id
                .strip_prefix(default_id)
                .is_some_and(|rest| rest == "-portrait" || rest == "-landscape")
    }
}

fn colour(at: &str, s: &str) -> Result<[f32; 3], TemplateError> {
    parse_colour(s).ok_or_else(|| TemplateError::new(at, format!("colour must be #RRGGBB, got {s:?}")))
}

fn range(at: &str, v: f32, lo: f32, hi: f32) -> Result<(), TemplateError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(TemplateError::new(at, format!("{v} is outside {lo}..={hi}")))
    }
}

fn validate_element(e: &Element, at: &str, w: f32, h: f32) -> Result<(), TemplateError> {
    let err = |reason: String| Err(TemplateError::new(at, reason));
    match (&e.source, &e.text) {
        (Some(s), None) => {
            if Source::parse(s).is_none() {
                return err(format!(
                    "unknown source {s:?}; expected fields.<name> or one of {}",
                    RECORD_SOURCES.join(", ")
                ));
            }
        }
        (None, Some(t)) => {
            if t.trim().is_empty() || t.chars().count() > 200 {
                return err("text must be 1-200 characters".into());
            }
        }
        _ => return err("needs exactly one of source or text".into()),
    }
    if e.label.chars().count() > 32 {
        return err("label is longer than 32 characters".into());
    }
    for (name, v, lo, hi) in [
        ("font_size_pt", e.font_size_pt, 5.0, 48.0),
        ("min_font_size_pt", e.min_font_size_pt, 4.0, e.font_size_pt.max(4.0)),
        ("line_spacing", e.line_spacing, 1.0, 3.0),
        ("x_mm", e.x_mm, 0.0, w),
        ("y_mm", e.y_mm, 0.0, h),
        ("label_width_mm", e.label_width_mm, 0.0, w),
        ("max_width_mm", e.max_width_mm, 5.0, w),
    ] {
        if !(v.is_finite() && (lo..=hi).contains(&v)) {
            return err(format!("{name} = {v} is outside {lo}..={hi}"));
        }
    }
    if !(1..=60).contains(&e.max_lines) {
        return err(format!("max_lines = {} is outside 1..=60", e.max_lines));
    }
    colour(&format!("{at}.colour"), &e.colour)?;
    colour(&format!("{at}.label_colour"), &e.label_colour)?;
    let right = e.x_mm + e.label_width_mm + e.max_width_mm;
    if right > w {
        return err(format!(
            "x_mm + label_width_mm + max_width_mm = {right} mm exceeds the page width {w} mm"
        ));
    }
    let bottom = e.y_mm + e.max_lines as f32 * e.font_size_pt * e.line_spacing * MM_PER_PT;
    if bottom > h {
        return err(format!(
            "{} lines end at {bottom:.1} mm, below {h} mm (the bottom {STATEMENT_BAND_MM} mm are kept for copy statements)",
            e.max_lines
        ));
    }
    Ok(())
}

/// Loads and validates every `*.toml` in `dir`, sorted by file name; ids must be unique.
pub fn load_dir(dir: &Path) -> Result<Vec<Template>, String> {
    let mut out: Vec<Template> = Vec::new();
    for (p, text) in read_dir_texts(dir)? {
        let t = Template::parse(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        if out.iter().any(|o| o.id == t.id) {
            return Err(format!("{}: duplicate template id {}", p.display(), t.id));
        }
        out.push(t);
    }
    Ok(out)
}

/// The text of every `*.toml` in `dir`, sorted by file name.
pub fn read_dir_texts(dir: &Path) -> Result<Vec<(std::path::PathBuf, String)>, String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok((p, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin_dir() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/layouts"))
    }

    const MINIMAL: &str = r##"
id = "t"
name = "测试"
page = { size = "A4", orientation = "portrait" }
title = { y_mm = 30, font_size_pt = 28 }
seal = { x_mm = 150, y_mm = 240 }
qr = { x_mm = 20, y_mm = 230 }

[[element]]
label = "名称"
source = "holder_name"
x_mm = 20
y_mm = 60
label_width_mm = 30
max_width_mm = 140
"##;

    #[test]
    fn minimal_template_parses_with_defaults() {
        let t = Template::parse(MINIMAL).unwrap();
        assert_eq!(t.page_size_mm(), (210.0, 297.0));
        assert_eq!(t.elements[0].source(), Some(Source::HolderName));
        assert_eq!(t.elements[0].max_lines, 1);
        assert_eq!(t.qr.size_mm, 36.0);
    }

    fn err_of(text: &str) -> TemplateError {
        Template::parse(text).unwrap_err()
    }

    #[test]
    fn errors_name_the_element_and_reason() {
        let e = err_of(&MINIMAL.replace("holder_name", "holder_nmae"));
        assert_eq!(e.at, "element[0] (名称)");
        assert!(e.reason.contains("unknown source \"holder_nmae\""), "{e}");

        let e = err_of(&MINIMAL.replace("max_width_mm = 140", "max_width_mm = 190"));
        assert_eq!(e.at, "element[0] (名称)");
        assert!(e.reason.contains("exceeds the page width 210"), "{e}");

        let e = err_of(&MINIMAL.replace("y_mm = 60", "y_mm = 284"));
        assert!(e.reason.contains("kept for copy statements"), "{e}");

        let e = err_of(&MINIMAL.replace("seal = { x_mm = 150", "seal = { x_mm = 200"));
        assert_eq!(e.at, "seal");

        let e = err_of(&MINIMAL.replace(
            "qr = { x_mm = 20, y_mm = 230 }",
            "qr = { x_mm = 20, y_mm = 230, size_mm = 5 }",
        ));
        assert_eq!(e.at, "qr.size_mm");

        let e = err_of(&MINIMAL.replace("orientation = \"portrait\"", "orientation = \"sideways\""));
        assert_eq!(e.at, "toml");
        assert!(e.reason.contains("sideways"), "{e}");

        let e = err_of(&MINIMAL.replace("label = \"名称\"", "label = \"名称\"\ncolor = \"red\""));
        assert!(e.reason.contains("color"), "unknown keys are rejected: {e}");

        let e = err_of(&MINIMAL.replace("source = \"holder_name\"", "source = \"holder_name\"\ntext = \"x\""));
        assert!(e.reason.contains("exactly one of source or text"), "{e}");

        let e = err_of(&MINIMAL.replace("font_size_pt = 28", "font_size_pt = 0"));
        assert_eq!(e.at, "title.font_size_pt");

        let e = err_of(&MINIMAL.replace("id = \"t\"", "id = \"Bad Id\""));
        assert_eq!(e.at, "id");
    }

    #[test]
    fn field_sources_are_checked_against_the_type() {
        let t = Template::parse(&MINIMAL.replace("holder_name", "fields.经营范围")).unwrap();
        let types =
            crate::catalog::types::load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/catalog")))
                .unwrap();
        let business = types.iter().find(|t| t.name == "营业执照").unwrap();
        t.validate_for_type(business).unwrap();
        let physician = types.iter().find(|t| t.name == "医师执业证书").unwrap();
        let e = t.validate_for_type(physician).unwrap_err();
        assert!(e.reason.contains("no field \"经营范围\""), "{e}");
    }

    /// Issue 4: every built-in type has a layout in both orientations — its default
    /// `template_id` or the alternate `<template_id>-portrait` / `<template_id>-landscape`
    /// — and each shows every field of the type and every value its default layout shows.
    #[test]
    fn built_in_templates_cover_every_type_in_both_orientations() {
        let templates = load_dir(builtin_dir()).unwrap();
        let types =
            crate::catalog::types::load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/catalog")))
                .unwrap();
        let sources = |t: &Template| -> Vec<String> { t.elements.iter().filter_map(|e| e.source.clone()).collect() };
        for ty in &types {
            let default = templates.iter().find(|t| t.id == ty.template_id);
            let default = default.unwrap_or_else(|| panic!("no template {} for {}", ty.template_id, ty.name));
            for (orientation, suffix) in [
                (Orientation::Portrait, "portrait"),
                (Orientation::Landscape, "landscape"),
            ] {
                let alternate = format!("{}-{suffix}", ty.template_id);
                let t = templates
                    .iter()
                    .find(|t| (t.id == ty.template_id || t.id == alternate) && t.page.orientation == orientation)
                    .unwrap_or_else(|| panic!("{}: no {suffix} layout ({} or {alternate})", ty.name, ty.template_id));
                t.validate_for_type(ty).unwrap_or_else(|e| panic!("{}: {e}", t.id));
                let shown = sources(t);
                let fields = ty.field_names.iter().map(|f| format!("fields.{f}"));
                for want in fields.chain(sources(default)) {
                    assert!(shown.contains(&want), "{}: does not show {want}", t.id);
                }
            }
        }
    }
}
