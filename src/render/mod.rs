//! Templates → PDF: licence layouts read from TOML, Chinese text in an embedded, subset
//! CJK font, the issuer's red seal and the signed QR code drawn as vectors, and the
//! watermark of a per-use copy (加注件).
//!
//! Parse the font once ([`Renderer::from_font_file`]) and share the renderer; rendering
//! is CPU-bound and blocking, so async callers run it on a blocking thread.

mod document;
mod draw;
pub mod font;
mod qrcode;
mod seal;
pub mod template;
mod watermark;

pub use document::{extract_qr_payload, pdf_keywords, Renderer, DEFAULT_FONT_PATH};
pub use template::{load_dir, read_dir_texts, Template, TemplateError};
pub use watermark::{CopyMark, STATEMENT_BAND_MM};

/// Why a licence could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("font: {0}")]
    Font(String),
    /// A character the font cannot draw; never rendered as an empty box.
    #[error("{field}: the font has no glyph for {ch:?} (U+{code:04X})", code = u32::from(*.ch))]
    MissingGlyph { field: String, ch: char },
    #[error("{field}: {reason}")]
    Overflow { field: String, reason: String },
    #[error("QR code: {0}")]
    Qr(String),
    #[error("the QR payload names {payload}, but the licence is {licence}")]
    PayloadMismatch { payload: String, licence: String },
    #[error("a copy needs both a copy mark and a copy QR payload")]
    CopyMismatch,
}

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::{Arc, OnceLock};

    use super::font::CjkFont;

    /// The shipped font, parsed once for all tests.
    pub fn font() -> Arc<CjkFont> {
        static FONT: OnceLock<Arc<CjkFont>> = OnceLock::new();
        FONT.get_or_init(|| {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/", "templates/fonts/WenQuanYiMicroHei.ttf");
            Arc::new(CjkFont::from_bytes(&std::fs::read(path).unwrap()).unwrap())
        })
        .clone()
    }
}
