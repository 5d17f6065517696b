//! The reject report (CSV `line,column,value,reason`, one row per problem) and the end
//! summary of an import run.
//!
//! The report is a file that outlives the run, so every run of digits long enough to be a
//! resident identity number is masked after its region code (`420802************`),
//! however it is spaced, hyphenated, written in full-width digits or embedded in other
//! text: the line and column are enough to find the row in the source, which the
//! migration team has anyway.

use std::fmt;
use std::io::Write;
use std::path::Path;

use crate::licence::codes::{self, CodeError};

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
            self.rows_read, self.imported, self.already_present, self.rejected_rows, self.reject_problems, self.flagged
        )
    }
}

/// Digits of a run shorter than a resident identity number's 15 are left alone (dates,
/// licence numbers, phone numbers).
const MIN_MASKED_DIGITS: usize = 15;
/// Digits kept at the start of a masked run: the region code, no birth date.
const KEPT_DIGITS: usize = 6;
/// Separators allowed in a row between two digits of one run (`420822 - 1959…`).
const MAX_SEPARATORS: usize = 3;

/// A digit, ASCII or full-width.
fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

/// The check character `X` that may end an identity number, in either width or case.
fn is_check_x(c: char) -> bool {
    matches!(c, 'X' | 'x' | 'Ｘ' | 'ｘ')
}

/// What people put between groups of digits: spaces of any kind, dashes, slashes. Not
/// dots, which join the parts of licence identifiers.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '－' | '_' | '/' | '·' | '‐'..='―')
}

/// The run of digits starting at `chars[start]` (a digit): where it ends, and the
/// positions of its digits (and a final `X`).
fn digit_run(chars: &[char], start: usize) -> (usize, Vec<usize>) {
    let mut digits = vec![start];
    let mut end = start + 1;
    loop {
        let next = (end..chars.len().min(end + MAX_SEPARATORS + 1)).find(|&k| !is_separator(chars[k]));
        match next {
            Some(k) if is_digit(chars[k]) => {
                digits.push(k);
                end = k + 1;
            }
            Some(k) if is_check_x(chars[k]) => {
                digits.push(k);
                return (k + 1, digits);
            }
            _ => return (end, digits),
        }
    }
}

/// ASCII for a digit or check `X` of either width.
fn ascii(c: char) -> char {
    match c {
        '０'..='９' | 'Ｘ' | 'ｘ' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
        c => c,
    }
}

/// A 统一社会信用代码 that cannot be a resident identity number: a valid GB 32100 code
/// whose characters 7–14 are no birth date. Type codes and issuer codes are such.
fn is_credit_code(code: &str) -> bool {
    let could_be_id = !matches!(
        codes::validate_resident_id(code),
        Err(CodeError::BirthDate(_) | CodeError::Character { position: 0..=16, .. })
    );
    codes::validate_uscc(code).is_ok() && !could_be_id
}

/// Masks every run of 15 or more digits in `value` — with or without spaces, hyphens or
/// other separators, in ASCII or full-width, alone or inside other text, with a final
/// `X` in either case — after its first six digits, since it may be a resident identity
/// number. A 统一社会信用代码 written without separators is left as it is.
pub fn mask_personal(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    while i < chars.len() {
        if !is_digit(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let (end, digits) = digit_run(&chars, i);
        let contiguous = digits.len() == end - i;
        // A credit code's last character may be any letter of its alphabet.
        let code: String = chars[i..(end + 1).min(chars.len())].iter().map(|c| ascii(*c)).collect();
        let credit = contiguous && (is_credit_code(&code[..end - i]) || is_credit_code(&code));
        let masked = digits.len() >= MIN_MASKED_DIGITS && !credit;
        let mut d = 0;
        for (k, c) in chars.iter().enumerate().take(end).skip(i) {
            let is_digit = digits.get(d) == Some(&k);
            out.push(if masked && is_digit && d >= KEPT_DIGITS {
                '*'
            } else {
                *c
            });
            d += usize::from(is_digit);
        }
        i = end;
    }
    out
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
    /// `mask_personal_codes`: mask runs of digits that may be resident identity numbers
    /// ([`mask_personal`]), in values and reasons.
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
        // A reason may quote a value too.
        let (value, reason) = if self.mask {
            (mask_personal(&r.value), mask_personal(&r.reason))
        } else {
            (r.value.clone(), r.reason.clone())
        };
        self.out
            .write_record([r.line.to_string().as_str(), &r.column, &value, &reason])
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
        assert_eq!(
            lines.next(),
            Some("7,持证主体代码,420802************,invalid resident identity number: bad check digit")
        );
        assert_eq!(
            lines.next(),
            Some("9,发证日期,2015-02-30,2015-02-30 is not a calendar date")
        );
    }

    #[test]
    fn identity_numbers_are_masked_however_written() {
        for (written, masked) in [
            ("420822195905062015", "420822************"),
            ("42080219900101123X", "420802************"),
            ("42080219900101123x", "420802************"),
            ("420802900101123", "420802*********"),
            // Spaced, hyphenated, full-width or mixed separators: the separators stay.
            ("420822 19590506 2015", "420822 ******** ****"),
            ("420822-1959-0506-2015", "420822-****-****-****"),
            ("420822　19590506　2015", "420822　********　****"),
            ("420822 - 19590506 - 2015", "420822 - ******** - ****"),
            ("４２０８２２１９５９０５０６２０１５", "４２０８２２************"),
            ("４２０８２２１９５９０５０６２０１Ｘ", "４２０８２２************"),
            // Inside other text.
            ("身份证420822195905062015", "身份证420822************"),
            (
                "身份证：420822 19590506 2015（张三）",
                "身份证：420822 ******** ****（张三）",
            ),
            ("ID420822195905062015", "ID420822************"),
            (
                "持证人 420822195905062015 与 420802900101123",
                "持证人 420822************ 与 420802*********",
            ),
            // A credit code that could be an identity number (characters 7-14 a date).
            ("420822195905062015A", "420822************A"),
            // Longer runs may hide one.
            ("6222 0212 3456 7890 123", "6222 02** **** **** ***"),
        ] {
            assert_eq!(mask_personal(written), masked, "{written}");
        }
    }

    #[test]
    fn reasons_are_masked_in_the_report() {
        let mut w = RejectWriter::new(Vec::new(), true).unwrap();
        w.write(&Reject::new(3, "备注", "", "contains 420822 19590506 2015"))
            .unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert!(text.contains("contains 420822 ******** ****"), "{text}");
    }

    #[test]
    fn credit_codes_dates_and_identifiers_are_not_masked() {
        for kept in [
            "91440300708461136T",
            "91420804MA4012HJ7L",
            "11420800MB1A234561",
            "2015-03-01",
            "20230329701",
            "13800138000",
            "吉A042012000939",
            "1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y",
        ] {
            assert_eq!(mask_personal(kept), kept);
        }
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
