//! Historical migration: reading legacy exports (CSV in UTF-8 or GBK, JSON lines, XLSX),
//! mapping their rows onto licence drafts with a TOML mapping file, validating them as
//! the issuing path does, and reporting every rejected row with its line and reason.
//!
//! The pipeline is `open_source` → [`RowMapper::map`] → an [`ImportSink`] (the store, which
//! signs and writes batches atomically), driven by [`run_import`], with rejects written by
//! [`RejectWriter`]. `docs/IMPORT.md` documents the mapping file.

pub mod dates;
pub mod mapper;
pub mod mapping;
pub mod pipeline;
pub mod report;
pub mod sample;
pub mod source;

mod csv_reader;
mod jsonl_reader;
mod text;
pub mod xlsx_limits;
mod xlsx_reader;

#[cfg(test)]
mod tests;

use crate::licence::record::ValidDraft;
use crate::licence::{LicenceId, Provenance};

pub use mapper::{MapOptions, RowMapper};
pub use mapping::Mapping;
pub use pipeline::{run_import, BatchOutcome, ImportSink, MemorySink, Progress, RunOptions};
pub use report::{RejectWriter, Summary};
pub use sample::{gen_sample, xlsx_bomb, BadKind, ExpectedBad, SampleFormat, SampleInfo};
pub use source::{open_bytes, open_source, Encoding, Format, ReadOptions, Source, SourceRow};
pub use xlsx_limits::{XlsxLimitError, XlsxLimits};

/// Separates the parts of a source key (`type` + `\u{1f}` + `licence number`).
pub const KEY_SEPARATOR: char = '\u{1f}';

/// One problem with one source row. A row with several problems yields several rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// 1-based physical line of the source file where the record starts (the sheet row
    /// number for XLSX); 0 when the problem concerns no row.
    pub line: u64,
    /// The source column (or `constant:<field>` / `default:<field>` / the licence field
    /// when no column is involved); empty when the whole row is at fault.
    pub column: String,
    /// The offending value as read (unmasked; [`RejectWriter`] masks personal codes).
    pub value: String,
    pub reason: String,
}

impl Reject {
    pub fn new(line: u64, column: impl Into<String>, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Reject {
            line,
            column: column.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }
}

/// A validated source row, ready for the store to give it an identifier, sign and write.
#[derive(Debug, Clone)]
pub struct ImportRecord {
    /// Stable source key: by default `licence_type_code` + [`KEY_SEPARATOR`] +
    /// `licence_number`; the store skips a record whose key is already present.
    pub key: String,
    pub draft: ValidDraft,
    pub provenance: Provenance,
    /// The legacy identifier when the source has one, and whether its check character
    /// matched. `None`: the store generates one.
    pub legacy_identifier: Option<(LicenceId, bool)>,
    /// Data-quality flags (also in `provenance.flags`).
    pub flags: Vec<String>,
    /// Source line, as in [`Reject::line`].
    pub line: u64,
}

/// Errors that stop an import (as opposed to [`Reject`]s, which stop one row).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("mapping file: {0}")]
    Mapping(String),
    #[error("source: {0}")]
    Source(String),
    #[error("xlsx: {0}")]
    Xlsx(String),
    /// An XLSX file refused before parsing: it would unpack to more than allowed.
    #[error("xlsx refused before parsing: {0}")]
    XlsxLimit(#[from] XlsxLimitError),
    #[error("reject report: {0}")]
    Report(String),
    #[error("sink: {0}")]
    Sink(String),
}

impl ImportError {
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        ImportError::Io {
            path: path.to_string(),
            source,
        }
    }
}
