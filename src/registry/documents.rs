//! Licence documents: a stored licence rendered as PDF on its type's current template,
//! with a freshly signed QR payload — or as a per-use copy (加注件) whose watermark and
//! QR payload say for whom, why and until when.
//!
//! Rendering is CPU-bound; callers on an async executor run this on a blocking thread.

use time::Duration;

use super::{Registry, RegistryError, Result};
use crate::licence::qr::QrPayload;
use crate::licence::record::{format_date, parse_date};
use crate::licence::status::LicenceStatus;
use crate::licence::Invalid;
use crate::render::{CopyMark, Renderer};

/// The longest a copy may stay usable.
pub const MAX_COPY_DAYS: i64 = 366;

/// What to render.
#[derive(Debug, Clone)]
pub struct DocumentOrder {
    pub identifier: String,
    /// A layout other than the type's default (`<default>-portrait` / `-landscape`).
    pub template_id: Option<String>,
    pub copy: Option<CopyOrder>,
}

/// A per-use copy: the receiving department's name, the use cause, the last day of use.
#[derive(Debug, Clone)]
pub struct CopyOrder {
    pub copy_for: String,
    pub purpose: String,
    /// `YYYY-MM-DD`, as the caller sent it.
    pub valid_until: String,
}

/// The longest licence number part of a document's file name, in characters.
pub const FILE_NAME_NUMBER_CHARS: usize = 64;

/// The name a document is offered for saving under: `<number>-v<version>.pdf`, or
/// `<number>-v<version>-copy.pdf` for a per-use copy. A licence number is free text and
/// the caller's software may save under this name as is, so the number keeps only
/// ASCII letters, digits, `-`, `_` and CJK ideographs — everything else, path separators,
/// dots, NUL and bidi or zero-width characters included, becomes `_` — is cut to
/// [`FILE_NAME_NUMBER_CHARS`] characters, and never starts with `-` (read as an option
/// by command-line tools) or `.`.
pub fn document_file_name(licence_number: &str, version: u16, copy: bool) -> String {
    let mut stem: String = licence_number
        .chars()
        .take(FILE_NAME_NUMBER_CHARS)
        .map(|c| if file_name_char(c) { c } else { '_' })
        .collect();
    if stem.starts_with('-') {
        stem.replace_range(..1, "_");
    }
    if stem.is_empty() {
        stem.push_str("licence");
    }
    let copy = if copy { "-copy" } else { "" };
    format!("{stem}-v{version:03}{copy}.pdf")
}

fn file_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || c == '-'
        || c == '_'
        || matches!(c,
            '\u{3007}'                     // 〇
            | '\u{3400}'..='\u{4DBF}'      // CJK Unified Ideographs Extension A
            | '\u{4E00}'..='\u{9FFF}'      // CJK Unified Ideographs
            | '\u{F900}'..='\u{FAFF}'      // CJK Compatibility Ideographs
            | '\u{20000}'..='\u{3FFFF}') // the supplementary and tertiary ideographic planes
}

/// A rendered licence document.
#[derive(Debug, Clone)]
pub struct RenderedDocument {
    pub identifier: String,
    pub file_name: String,
    pub pdf: Vec<u8>,
    pub template_id: String,
    pub template_version: u32,
    pub record_digest: [u8; 32],
    pub qr_payload: String,
}

impl Registry {
    /// Renders a licence. Permission is the caller's to check first (the API resolves
    /// the identifier through the caller's read permission; the operator's CLI has the
    /// data directory). A copy is refused unless the licence is valid today: a copy is
    /// made to be used, and an unusable licence must not look usable.
    pub fn render_document(&self, renderer: &Renderer, order: &DocumentOrder) -> Result<RenderedDocument> {
        let view = self.load(&order.identifier)?;
        let licence = &view.licence;
        let licence_type = self.get_type(&licence.licence_type_code)?;
        let layout = match &order.template_id {
            None => self.template(&licence_type.template_id, None)?,
            Some(id) => {
                let layout = self.template(id, None)?;
                if !layout.template.serves(&licence_type.template_id) {
                    return Err(Invalid::new(
                        "template_id",
                        format!(
                            "{id} is not a layout of {} (use {0}, {0}-portrait or {0}-landscape)",
                            licence_type.template_id
                        ),
                    )
                    .into());
                }
                layout
            }
        };
        let (payload, mark) = match &order.copy {
            None => (QrPayload::sign(licence, &self.keys), None),
            Some(c) => {
                if view.status != LicenceStatus::Valid {
                    return Err(RegistryError::FailedPrecondition(format!(
                        "licence {} is {}; a copy is made only of a valid licence",
                        licence.identifier,
                        view.status.as_str()
                    )));
                }
                let mark = self.copy_mark(c, licence.valid_until)?;
                (QrPayload::sign_copy(licence, &mark.qr_fields(), &self.keys), Some(mark))
            }
        };
        let payload = payload
            .map_err(|e| RegistryError::FailedPrecondition(format!("the licence's QR payload cannot be built: {e}")))?;
        let pdf = renderer
            .render(&layout.template, licence, &payload, mark.as_ref())
            .map_err(|e| RegistryError::FailedPrecondition(format!("licence cannot be rendered: {e}")))?;
        let qr_payload = payload
            .encode()
            .map_err(|e| RegistryError::FailedPrecondition(e.to_string()))?;
        let file_name = document_file_name(&licence.licence_number, licence.version, mark.is_some());
        Ok(RenderedDocument {
            identifier: licence.identifier.clone(),
            file_name,
            pdf,
            template_id: layout.stored.id.clone(),
            template_version: layout.stored.version,
            record_digest: payload.record_digest,
            qr_payload,
        })
    }

    /// Checks the copy's last day (today or later, at most [`MAX_COPY_DAYS`] ahead, not
    /// after the licence's own end) and builds its mark, stamped with the clock's time.
    fn copy_mark(&self, c: &CopyOrder, licence_until: Option<time::Date>) -> Result<CopyMark> {
        let until = parse_date("valid_until", c.valid_until.trim())?;
        let today = self.clock.today();
        let latest = today + Duration::days(MAX_COPY_DAYS);
        if until < today || until > latest {
            return Err(Invalid::new(
                "valid_until",
                format!("must be from {} to {}", format_date(today), format_date(latest)),
            )
            .into());
        }
        if let Some(end) = licence_until.filter(|end| until > *end) {
            return Err(Invalid::new(
                "valid_until",
                format!("is after the licence's own validity end {}", format_date(end)),
            )
            .into());
        }
        let copy_for = c.copy_for.trim();
        if copy_for.is_empty() || copy_for.chars().count() > 64 {
            return Err(Invalid::new("receiving_department", "must name the department using the copy").into());
        }
        crate::licence::text::check_chars("receiving_department", copy_for, crate::licence::text::Lines::Single)?;
        let now = self.clock.now().to_offset(crate::clock::LOCAL_OFFSET);
        Ok(CopyMark {
            copy_for: copy_for.to_string(),
            purpose: c.purpose.trim().to_string(),
            made_at: format!("{} {:02}:{:02}", format_date(now.date()), now.hour(), now.minute()),
            valid_until: format_date(until),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_a_plain_licence_number() {
        assert_eq!(
            document_file_name("91420800MA4F0001X1", 1, false),
            "91420800MA4F0001X1-v001.pdf"
        );
        assert_eq!(
            document_file_name("吉A042012000939", 3, true),
            "吉A042012000939-v003-copy.pdf"
        );
        assert_eq!(document_file_name("JY1_4208-00", 12, false), "JY1_4208-00-v012.pdf");
        assert_eq!(document_file_name("𠀀鿿", 1, false), "𠀀鿿-v001.pdf");
    }

    #[test]
    fn a_hostile_licence_number_cannot_leave_the_download_directory() {
        let hostile = [
            "../../../../etc/cron.d/evil",
            "..",
            ".bashrc",
            "a/b\\c",
            "C:\\Windows\\evil",
            "nul\0byte",
            "evil\u{202E}fdp.exe",
            "zero\u{200B}width\u{FEFF}",
            "-rf",
            "line\nbreak\r\t",
            "（全角）／＼",
            "",
        ];
        for number in hostile {
            for copy in [false, true] {
                let name = document_file_name(number, 7, copy);
                assert!(!name.contains(['/', '\\', '\0']), "{number:?} → {name:?}");
                assert!(!name.contains(".."), "{number:?} → {name:?}");
                assert!(!name.starts_with(['.', '-']), "{number:?} → {name:?}");
                assert!(
                    name.chars().all(|c| c == '.' || file_name_char(c)),
                    "{number:?} → {name:?}"
                );
                assert!(
                    name.ends_with(if copy { "-v007-copy.pdf" } else { "-v007.pdf" }),
                    "{name}"
                );
                assert_eq!(name.matches('.').count(), 1, "{name}");
            }
        }
        assert_eq!(
            document_file_name("../../../../etc/cron.d/evil", 1, false),
            "____________etc_cron_d_evil-v001.pdf"
        );
        assert_eq!(document_file_name("", 1, false), "licence-v001.pdf");
        assert_eq!(document_file_name("-rf", 1, false), "_rf-v001.pdf");
    }

    #[test]
    fn a_long_licence_number_is_cut_to_64_characters() {
        let name = document_file_name(&"证".repeat(200), 1, false);
        assert_eq!(name, format!("{}-v001.pdf", "证".repeat(FILE_NAME_NUMBER_CHARS)));
    }
}
