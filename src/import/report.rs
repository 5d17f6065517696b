//! The reject report (CSV `line,column,value,reason`, one row per problem) and the end
//! summary of an import run.
//!
//! The report is a file that outlives the run, so values that look like resident
//! identity numbers are masked (`420802********1234`): the line and column are enough
//! to find the row in the source, which the migration team has anyway.

use std::fmt;
use std::io::Write;
use std::path::Path;

use crate::licence::codes::mask_code;

use super::text::halfwidth;
use super::{ImportError, Reject};

/// Counts of an import run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records read from the source (good and bad).
    pub rows_read: u64,
    /// Written to the store in this run.
    pub imported: u64,
    /// Skipped because their key was already in the store (an earlier run).
    pub already_present: u64,
    /// Rows with at least one problem.
    pub rejected_rows: u64,
    /// Problems reported (rows of the reject report).
    pub reject_problems: u64,
    /// Imported rows carrying data-quality flags.
    pub flagged: u64,
}

impl Summary {
    /// Every row is accounted for exactly once.
    pub fn is_balanced(&self) -> bool {
        self.rows_read == self.imported + self.already_present + self.rejected_rows
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rows read {}, imported {}, already present {}, rejected {} ({} problems), flagged {}",
            self.rows_read,
            self.imported,
            self.already_present,
            self.rejected_rows,
            self.reject_problems,
            self.flagged
        )
    }
}

/// Masks a value that looks like a resident identity number (18 or 15 characters of
/// digits, the last possibly `X`); anything else is returned as is.
pub fn mask_personal(value: &str) -> String {
    let v = halfwidth(value.trim());
    let b = v.as_bytes();
    let looks_like_id = (b.len() == 18
        && b[..17].iter().all(u8::is_ascii_digit)
        && (b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x'))
        || (b.len() == 15 && b.iter().all(u8::is_ascii_digit));
    if looks_like_id {
        mask_code(&v)
    } else {
        value.to_string()
    }
}

/// Writes rejects as CSV (UTF-8 with a byte-order mark, so Excel shows Chinese text).
pub struct RejectWriter<W: Write> {
    out: csv::Writer<W>,
    mask: bool,
    written: u64,
}

fn report_err(e: impl fmt::Display) -> ImportError {
    ImportError::Report(e.to_string())
}

impl RejectWriter<std::io::BufWriter<std::fs::File>> {
    pub fn create(path: &Path) -> Result<Self, ImportError> {
        let f = std::fs::File::create(path).map_err(|e| ImportError::io(path.display(), e))?;
        RejectWriter::new(std::io::BufWriter::new(f), true)
    }
}

impl<W: Write> RejectWriter<W> {
    /// `mask_personal_codes`: mask values that look like resident identity numbers.
    pub fn new(mut out: W, mask_personal_codes: bool) -> Result<Self, ImportError> {
        out.write_all(b"\xef\xbb\xbf").map_err(report_err)?;
        let mut out = csv::Writer::from_writer(out);
        out.write_record(["line", "column", "value", "reason"])
            .map_err(report_err)?;
        Ok(RejectWriter {
            out,
            mask: mask_personal_codes,
            written: 0,
        })
    }

    pub fn write(&mut self, r: &Reject) -> Result<(), ImportError> {
        let value = if self.mask {
            mask_personal(&r.value)
        } else {
            r.value.clone()
        };
        self.out
            .write_record([r.line.to_string().as_str(), &r.column, &value, &r.reason])
            .map_err(report_err)?;
        self.written += 1;
        Ok(())
    }

    /// Problems written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn flush(&mut self) -> Result<(), ImportError> {
        self.out.flush().map_err(report_err)
    }

    pub fn into_inner(self) -> Result<W, ImportError> {
        self.out.into_inner().map_err(report_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_rows_and_masking() {
        let mut w = RejectWriter::new(Vec::new(), true).unwrap();
        w.write(&Reject::new(
            7,
            "持证主体代码",
            "42080219900101123X",
            "invalid resident identity number: bad check digit",
        ))
        .unwrap();
        w.write(&Reject::new(
            9,
            "发证日期",
            "2015-02-30",
            "2015-02-30 is not a calendar date",
        ))
        .unwrap();
        assert_eq!(w.written(), 2);
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("\u{feff}line,column,value,reason"));
        assert_eq!(lines.next(), Some("7,持证主体代码,420802********123X,invalid resident identity number: bad check digit"));
        assert_eq!(
            lines.next(),
            Some("9,发证日期,2015-02-30,2015-02-30 is not a calendar date")
        );
    }

    #[test]
    fn credit_codes_are_not_masked() {
        assert_eq!(mask_personal("91440300708461136T"), "91440300708461136T");
        assert_eq!(mask_personal("420802900101123"), "420802*****1123");
    }

    #[test]
    fn summary_reads_as_a_sentence() {
        let s = Summary {
            rows_read: 10,
            imported: 7,
            already_present: 1,
            rejected_rows: 2,
            reject_problems: 3,
            flagged: 1,
        };
        assert!(s.is_balanced());
        assert_eq!(
            s.to_string(),
            "rows read 10, imported 7, already present 1, rejected 2 (3 problems), flagged 1"
        );
    }
}
