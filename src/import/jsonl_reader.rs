//! Streaming JSON-lines reader: one object per line, values strings, numbers, booleans
//! or null. Blank lines are skipped; a line that is not an object of such values is a
//! reject at its line.

use std::io::{BufRead, BufReader};

use std::sync::Arc;

use super::csv_reader::{decode, encoding_hint, sniff};
use super::source::{Columns, Encoding, Settled, SourceRow};
use super::text::{number_text, trim};
use super::{ImportError, Reject};

pub(crate) struct JsonRows {
    reader: BufReader<Box<dyn std::io::Read + Send>>,
    encoding: Encoding,
    line: u64,
    buf: Vec<u8>,
    columns: Option<Arc<Columns>>,
    done: bool,
}

impl JsonRows {
    pub(crate) fn new(
        input: impl std::io::Read + Send + 'static,
        opts: &Settled,
    ) -> Result<Self, ImportError> {
        let (encoding, inner) = sniff(input, opts.encoding)?;
        Ok(JsonRows {
            reader: BufReader::with_capacity(64 * 1024, inner),
            encoding,
            line: 0,
            buf: Vec::new(),
            columns: None,
            done: false,
        })
    }

    fn parse(&mut self, line: u64) -> Result<SourceRow, Reject> {
        let text = decode(self.encoding, &self.buf)
            .ok_or_else(|| Reject::new(line, "", "", encoding_hint(self.encoding)))?;
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| {
                let shown: String = text.chars().take(60).collect();
                Reject::new(line, "", shown, format!("not a JSON object: {e}"))
            })?;
        let mut pairs = Vec::with_capacity(object.len());
        for (k, v) in object {
            let value = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                    (Some(u), _, _) => u.to_string(),
                    (_, Some(i), _) => i.to_string(),
                    (_, _, Some(f)) => number_text(f),
                    _ => n.to_string(),
                },
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => String::new(),
                other => {
                    return Err(Reject::new(
                        line,
                        trim(&k),
                        other.to_string().chars().take(60).collect::<String>(),
                        "value must be a string, number, boolean or null",
                    ))
                }
            };
            pairs.push((trim(&k).to_string(), value));
        }
        Ok(SourceRow::from_pairs_reusing(
            line,
            pairs,
            &mut self.columns,
        ))
    }
}

impl Iterator for JsonRows {
    type Item = Result<SourceRow, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    if self.line == 1 && self.buf.starts_with(b"\xef\xbb\xbf") {
                        self.buf.drain(..3);
                    }
                    while self.buf.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                        self.buf.pop();
                    }
                    if self.buf.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let line = self.line;
                    return Some(self.parse(line));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(Reject::new(
                        self.line + 1,
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

    fn rows(text: &[u8]) -> Vec<Result<SourceRow, Reject>> {
        let settled = Settled {
            encoding: Encoding::Auto,
            sheet: None,
            delimiter: b',',
        };
        JsonRows::new(std::io::Cursor::new(text.to_vec()), &settled)
            .unwrap()
            .collect()
    }

    #[test]
    fn strings_numbers_and_bad_lines() {
        let text = "{\"证照编号\":\"A1\",\"发证日期\":42064,\"资本\":5.5,\"x\":null}\n\n[1]\n{\"a\":{\"b\":1}}\n{\"证照编号\":\"A2\",\"发证日期\":42065.0,\"资本\":1,\"x\":true}\n{bad\n";
        let r = rows(text.as_bytes());
        assert_eq!(r.len(), 5);
        let first = r[0].as_ref().unwrap();
        assert_eq!(
            (first.line, first.get("发证日期"), first.get("资本")),
            (1, Some("42064"), Some("5.5"))
        );
        assert_eq!(first.get("x"), Some(""));
        assert_eq!(r[1].as_ref().unwrap_err().line, 3);
        let nested = r[2].as_ref().unwrap_err();
        assert_eq!((nested.line, nested.column.as_str()), (4, "a"));
        let last_good = r[3].as_ref().unwrap();
        assert_eq!(
            (last_good.line, last_good.get("发证日期")),
            (5, Some("42065"))
        );
        assert_eq!(r[4].as_ref().unwrap_err().line, 6);
    }

    #[test]
    fn gbk_json_lines() {
        let (bytes, _, _) = encoding_rs::GBK.encode("{\"持证主体\":\"王堃\"}\r\n");
        let r = rows(&bytes);
        assert_eq!(r[0].as_ref().unwrap().get("持证主体"), Some("王堃"));
    }
}
