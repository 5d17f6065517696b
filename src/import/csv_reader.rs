//! Streaming CSV reader for UTF-8 (with or without BOM) and GBK/GB18030 files.
//!
//! Records are split on raw bytes and each field is decoded afterwards: every byte that
//! matters to CSV (`,` `"` `\r` `\n`, tab) is ASCII, and GBK/GB18030 never uses ASCII
//! bytes inside a multi-byte character, so splitting before decoding is exact. A field
//! that does not decode rejects its row and the reader carries on.

use std::io::{Cursor, Read};
use std::sync::Arc;

use super::source::{Columns, Encoding, Settled, SourceRow};
use super::text::trim;
use super::{ImportError, Reject};

/// How much of the file auto-detection looks at.
const SNIFF_BYTES: usize = 64 * 1024;

type Inner = Box<dyn Read + Send>;

/// Ends the stream with a newline if it lacks one, so every record is terminated and
/// its start line can be computed the same way (see [`CsvRows::next`]).
struct Terminated<R> {
    inner: R,
    last: Option<u8>,
    done: bool,
}

impl<R: Read> Read for Terminated<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last = Some(buf[n - 1]);
            return Ok(n);
        }
        self.done = true;
        if self.last.is_some_and(|b| b != b'\n') {
            buf[0] = b'\n';
            return Ok(1);
        }
        Ok(0)
    }
}

pub(crate) struct CsvRows {
    reader: csv::Reader<Inner>,
    columns: Arc<Columns>,
    encoding: Encoding,
    record: csv::ByteRecord,
    done: bool,
}

/// Reads the start of `input`, decides the encoding and returns a reader positioned at
/// the first byte of content (after any UTF-8 byte-order mark).
pub(crate) fn sniff(
    mut input: impl Read + Send + 'static,
    forced: Encoding,
) -> Result<(Encoding, Inner), ImportError> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut input)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| ImportError::io("source", e))?;
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        return Err(ImportError::Source(
            "the file is UTF-16; save it as CSV (UTF-8) or CSV in GBK".into(),
        ));
    }
    let bom = head.starts_with(&[0xef, 0xbb, 0xbf]);
    let encoding = match forced {
        Encoding::Auto if bom => Encoding::Utf8,
        Encoding::Auto => match std::str::from_utf8(&head) {
            Ok(_) => Encoding::Utf8,
            // Cut off mid-character at the end of the sample: still UTF-8.
            Err(e) if e.error_len().is_none() => Encoding::Utf8,
            Err(_) => Encoding::Gb18030,
        },
        e => e,
    };
    let skip = if bom && encoding == Encoding::Utf8 {
        3
    } else {
        0
    };
    head.drain(..skip);
    Ok((encoding, Box::new(Cursor::new(head).chain(input))))
}

pub(crate) fn decode(encoding: Encoding, bytes: &[u8]) -> Option<String> {
    match encoding {
        Encoding::Gb18030 => encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|c| c.into_owned()),
        _ => std::str::from_utf8(bytes).ok().map(str::to_string),
    }
}

pub(crate) fn encoding_hint(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Gb18030 => "not valid GBK/GB18030 text",
        _ => "not valid UTF-8 text (if the file is GBK, set encoding = \"gbk\")",
    }
}

fn strip_cr(field: &[u8]) -> &[u8] {
    field.strip_suffix(b"\r").unwrap_or(field)
}

/// A record with no content: a blank `\r\n` line or a row of empty cells (Excel leaves
/// these at the end of exports).
fn is_blank(record: &csv::ByteRecord) -> bool {
    record
        .iter()
        .all(|f| strip_cr(f).iter().all(|b| matches!(b, b' ' | b'\t')))
}

impl CsvRows {
    pub(crate) fn new(
        input: impl Read + Send + 'static,
        opts: &Settled,
    ) -> Result<Self, ImportError> {
        let (encoding, inner) = sniff(input, opts.encoding)?;
        let inner: Inner = Box::new(Terminated {
            inner,
            last: None,
            done: false,
        });
        // Only `\n` ends a record: a `\r` before it is stripped from the last field, and
        // the line counter (which counts `\n`) then always includes the terminator.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(opts.delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(inner);
        let mut header = csv::ByteRecord::new();
        let got = reader
            .read_byte_record(&mut header)
            .map_err(|e| ImportError::Source(format!("reading the header: {e}")))?;
        if !got {
            return Err(ImportError::Source(
                "the file is empty: no header row".into(),
            ));
        }
        let mut names = Vec::with_capacity(header.len());
        let last = header.len().saturating_sub(1);
        for (i, f) in header.iter().enumerate() {
            let f = if i == last { strip_cr(f) } else { f };
            let name = decode(encoding, f).ok_or_else(|| {
                ImportError::Source(format!(
                    "header column {}: {}",
                    i + 1,
                    encoding_hint(encoding)
                ))
            })?;
            names.push(trim(&name).to_string());
        }
        Ok(CsvRows {
            reader,
            columns: Arc::new(Columns::new(names)),
            encoding,
            record: csv::ByteRecord::new(),
            done: false,
        })
    }

    fn row(&self, line: u64) -> Result<SourceRow, Reject> {
        let expected = self.columns.names().len();
        if self.record.len() != expected {
            return Err(Reject::new(
                line,
                "",
                format!("{} fields", self.record.len()),
                format!(
                    "expected {expected} columns as in the header, got {}",
                    self.record.len()
                ),
            ));
        }
        let mut values = Vec::with_capacity(expected);
        let last = expected.saturating_sub(1);
        for (i, f) in self.record.iter().enumerate() {
            let f = if i == last { strip_cr(f) } else { f };
            match decode(self.encoding, f) {
                Some(v) => values.push(v),
                None => {
                    return Err(Reject::new(
                        line,
                        self.columns.names()[i].clone(),
                        String::from_utf8_lossy(f),
                        encoding_hint(self.encoding),
                    ))
                }
            }
        }
        Ok(SourceRow::new(line, self.columns.clone(), values))
    }
}

impl Iterator for CsvRows {
    type Item = Result<SourceRow, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let start_line = self.reader.position().line();
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) => {
                    if is_blank(&self.record) {
                        continue;
                    }
                    // The counter now stands after the record's terminating `\n`; step
                    // back over it and over the newlines inside quoted fields.
                    let inner = self
                        .record
                        .as_slice()
                        .iter()
                        .filter(|b| **b == b'\n')
                        .count() as u64;
                    let line = self
                        .reader
                        .position()
                        .line()
                        .saturating_sub(inner + 1)
                        .max(1);
                    return Some(self.row(line));
                }
                Ok(false) => self.done = true,
                Err(e) => {
                    // Only I/O errors reach here (record lengths are checked in `row`);
                    // report and stop rather than spin on a broken reader.
                    self.done = true;
                    return Some(Err(Reject::new(
                        start_line,
                        "",
                        "",
                        format!("reading the file failed: {e}"),
                    )));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(bytes: &[u8], encoding: Encoding) -> Vec<Result<SourceRow, Reject>> {
        let settled = Settled {
            encoding,
            sheet: None,
            delimiter: b',',
        };
        CsvRows::new(Cursor::new(bytes.to_vec()), &settled)
            .unwrap()
            .collect()
    }

    #[test]
    fn utf8_with_bom_and_chinese_header() {
        let text = "\u{feff}证照编号,持证主体\nA1,张三\n";
        let r = rows(text.as_bytes(), Encoding::Auto);
        let row = r[0].as_ref().unwrap();
        assert_eq!(row.line, 2);
        assert_eq!(row.get("证照编号"), Some("A1"));
        assert_eq!(row.get("持证主体"), Some("张三"));
    }

    #[test]
    fn gbk_is_detected() {
        let (bytes, _, _) = encoding_rs::GBK.encode("证照编号,持证主体\nA1,王堃\nA2,李喆\n");
        let r = rows(&bytes, Encoding::Auto);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].as_ref().unwrap().get("持证主体"), Some("李喆"));
        assert_eq!(r[1].as_ref().unwrap().line, 3);
    }

    #[test]
    fn multi_line_quoted_field_reports_its_start_line() {
        for text in [
            "a,b\n1,\"x\ny\nz\"\n2,w\n\n,\n3,v\n",
            "a,b\r\n1,\"x\r\ny\nz\"\r\n2,w\r\n\r\n,\r\n3,v",
        ] {
            let r: Vec<(u64, String)> = rows(text.as_bytes(), Encoding::Utf8)
                .into_iter()
                .map(|r| r.unwrap())
                .map(|r| (r.line, r.get("b").unwrap().to_string()))
                .collect();
            let lines: Vec<u64> = r.iter().map(|x| x.0).collect();
            assert_eq!(lines, vec![2, 5, 8], "{text:?}");
            assert_eq!(r[1].1, "w");
            assert_eq!(r[2].1, "v");
        }
    }

    #[test]
    fn bad_rows_are_rejects_not_aborts() {
        let mut bytes = b"a,b\n1,2\n3\n4,\xff\xfe\n5,6\n".to_vec();
        bytes.extend_from_slice(b"7,8,9\n");
        let r = rows(&bytes, Encoding::Utf8);
        assert_eq!(r.len(), 5);
        let e = r[1].as_ref().unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("expected 2 columns"), "{e:?}");
        let e = r[2].as_ref().unwrap_err();
        assert_eq!((e.line, e.column.as_str()), (4, "b"));
        assert!(e.reason.contains("UTF-8"));
        assert_eq!(r[3].as_ref().unwrap().get("b"), Some("6"));
        assert_eq!(r[4].as_ref().unwrap_err().line, 6);
    }

    #[test]
    fn empty_file_is_an_error() {
        let settled = Settled {
            encoding: Encoding::Auto,
            sheet: None,
            delimiter: b',',
        };
        assert!(CsvRows::new(Cursor::new(Vec::new()), &settled).is_err());
    }
}
