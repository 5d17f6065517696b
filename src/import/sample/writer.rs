//! Renders sample rows as CSV (UTF-8, UTF-8 with BOM, GBK), JSON lines or XLSX, keeping
//! count of the physical line each record starts on.

use std::collections::HashMap;
use std::io::Write;

use super::{Cell, SampleFormat, COLUMNS};
use crate::import::ImportError;

fn io(e: std::io::Error) -> ImportError {
    ImportError::io("sample output", e)
}

pub(super) struct Writer<W: Write> {
    format: SampleFormat,
    out: W,
    csv: csv::WriterBuilder,
    buf: Vec<u8>,
    /// Line (or sheet row) the next record starts on.
    line: u64,
    book: Option<(rust_xlsxwriter::Workbook, rust_xlsxwriter::Format)>,
    /// GBK bytes of each character seen: encoding_rs's GBK encoder favours size over
    /// speed, and the generator uses a few hundred distinct characters.
    gbk: HashMap<char, ([u8; 4], usize)>,
}

fn gbk_bytes(cache: &mut HashMap<char, ([u8; 4], usize)>, text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c as u8);
            continue;
        }
        let (bytes, n) = *cache.entry(c).or_insert_with(|| {
            let mut utf8 = [0u8; 4];
            let (enc, _, _) = encoding_rs::GBK.encode(c.encode_utf8(&mut utf8));
            let mut b = [0u8; 4];
            let n = enc.len().min(4);
            b[..n].copy_from_slice(&enc[..n]);
            (b, n)
        });
        out.extend_from_slice(&bytes[..n]);
    }
}

impl<W: Write> Writer<W> {
    pub(super) fn new(format: SampleFormat, out: W) -> Result<Self, ImportError> {
        let mut csv = csv::WriterBuilder::new();
        csv.flexible(true)
            .terminator(csv::Terminator::CRLF)
            .buffer_capacity(512);
        let mut w = Writer {
            format,
            out,
            csv,
            buf: Vec::with_capacity(1024),
            line: 1,
            book: None,
            gbk: HashMap::new(),
        };
        match format {
            SampleFormat::Jsonl => {}
            SampleFormat::Xlsx => {
                let mut book = rust_xlsxwriter::Workbook::new();
                let sheet = book.add_worksheet();
                sheet.set_name("证照").map_err(xlsx)?;
                for (c, name) in COLUMNS.iter().enumerate() {
                    sheet.write_string(0, c as u16, *name).map_err(xlsx)?;
                }
                let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
                w.book = Some((book, date));
                w.line = 2;
            }
            _ => {
                if format == SampleFormat::CsvUtf8Bom {
                    w.out.write_all(b"\xef\xbb\xbf").map_err(io)?;
                }
                let header: Vec<Cell> = COLUMNS.iter().map(|c| Cell::Text(c.to_string())).collect();
                w.write_csv(&header, false)?;
            }
        }
        Ok(w)
    }
}

fn xlsx(e: rust_xlsxwriter::XlsxError) -> ImportError {
    ImportError::Xlsx(e.to_string())
}

impl<W: Write> Writer<W> {
    pub(super) fn next_line(&self) -> u64 {
        self.line
    }

    fn write_csv(&mut self, cells: &[Cell], malformed: bool) -> Result<(), ImportError> {
        let texts: Vec<String> = cells.iter().map(Cell::text).collect();
        let take = if malformed { texts.len() - 3 } else { texts.len() };
        let mut row = self.csv.from_writer(&mut self.buf);
        row.write_record(&texts[..take])
            .map_err(|e| ImportError::Report(e.to_string()))?;
        row.flush().map_err(io)?;
        drop(row);
        let bytes = &mut self.buf;
        self.line += bytes.iter().filter(|b| **b == b'\n').count() as u64;
        let r = if self.format == SampleFormat::CsvGbk {
            let text = std::str::from_utf8(bytes).expect("the csv writer was given UTF-8");
            let mut gbk = Vec::with_capacity(text.len());
            gbk_bytes(&mut self.gbk, text, &mut gbk);
            self.out.write_all(&gbk)
        } else {
            self.out.write_all(bytes)
        };
        bytes.clear();
        r.map_err(io)
    }

    pub(super) fn write_row(&mut self, cells: &[Cell], malformed: bool) -> Result<(), ImportError> {
        match self.format {
            SampleFormat::Jsonl => {
                self.line += 1;
                if malformed {
                    return self.out.write_all("{\"证照编号\": \"broken\n".as_bytes()).map_err(io);
                }
                let mut obj = serde_json::Map::new();
                for (name, cell) in COLUMNS.iter().zip(cells) {
                    let v = match cell {
                        Cell::Number(n) if n.fract() == 0.0 => serde_json::Value::from(*n as i64),
                        Cell::Number(n) => serde_json::Value::from(*n),
                        c => serde_json::Value::String(c.text()),
                    };
                    obj.insert(name.to_string(), v);
                }
                let mut line = serde_json::to_vec(&obj).map_err(|e| ImportError::Source(e.to_string()))?;
                line.push(b'\n');
                self.out.write_all(&line).map_err(io)
            }
            SampleFormat::Xlsx => {
                let row = (self.line - 1) as u32;
                self.line += 1;
                let (book, date) = self.book.as_mut().expect("xlsx writer has a workbook");
                let sheet = book.worksheet_from_index(0).map_err(xlsx)?;
                for (c, cell) in cells.iter().enumerate() {
                    let c = c as u16;
                    match cell {
                        Cell::Text(s) if s.is_empty() => {}
                        Cell::Text(s) => {
                            sheet.write_string(row, c, s).map_err(xlsx)?;
                        }
                        Cell::Number(n) => {
                            sheet.write_number(row, c, *n).map_err(xlsx)?;
                        }
                        Cell::Date(d) => {
                            let dt =
                                rust_xlsxwriter::ExcelDateTime::from_ymd(d.year() as u16, u8::from(d.month()), d.day())
                                    .map_err(xlsx)?;
                            sheet.write_datetime_with_format(row, c, &dt, date).map_err(xlsx)?;
                        }
                    }
                }
                Ok(())
            }
            _ => self.write_csv(cells, malformed),
        }
    }

    pub(super) fn finish(mut self) -> Result<(), ImportError> {
        if let Some((mut book, _)) = self.book.take() {
            let bytes = book.save_to_buffer().map_err(xlsx)?;
            self.out.write_all(&bytes).map_err(io)?;
        }
        self.out.flush().map_err(io)
    }
}
