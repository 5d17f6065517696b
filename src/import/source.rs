//! What every reader yields ([`SourceRow`]), how a source file is opened ([`open_source`])
//! and the read options a caller can force over the mapping file's `[format]`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::mapping::Mapping;
use super::xlsx_limits::{self, XlsxLimits};
use super::{csv_reader, jsonl_reader, xlsx_reader, ImportError, Reject};

/// FNV-1a: column lookups hash a few short names per row, where SipHash's DoS
/// resistance buys nothing and costs several times more.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap<V> = HashMap<String, V, std::hash::BuildHasherDefault<Fnv>>;

/// Column names of a source and their positions, shared by the rows that have them.
#[derive(Debug, Default)]
pub struct Columns {
    names: Vec<String>,
    index: FnvMap<usize>,
}

impl Columns {
    /// Later duplicates of a name are reachable only by position; the first one wins.
    pub fn new(names: Vec<String>) -> Self {
        let mut index = FnvMap::with_capacity_and_hasher(names.len(), Default::default());
        for (i, n) in names.iter().enumerate() {
            index.entry(n.clone()).or_insert(i);
        }
        Columns { names, index }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    fn same_names<'a>(&self, mut names: impl ExactSizeIterator<Item = &'a str>) -> bool {
        names.len() == self.names.len() && self.names.iter().all(|n| names.next() == Some(n))
    }
}

/// One record of a source file: its line and its values by column name.
#[derive(Debug, Clone)]
pub struct SourceRow {
    /// 1-based physical line where the record starts (CSV and JSON lines; the header is
    /// line 1 of a CSV file), or the sheet row number (XLSX).
    pub line: u64,
    columns: Arc<Columns>,
    values: Vec<String>,
}

impl SourceRow {
    /// A row whose values follow `columns` by position (missing trailing values read as
    /// empty).
    pub fn new(line: u64, columns: Arc<Columns>, values: Vec<String>) -> Self {
        SourceRow { line, columns, values }
    }

    /// A row from name/value pairs, e.g. one message of the streaming import RPC.
    pub fn from_pairs(line: u64, pairs: Vec<(String, String)>) -> Self {
        let (names, values) = pairs.into_iter().unzip();
        SourceRow::new(line, Arc::new(Columns::new(names)), values)
    }

    /// Like [`SourceRow::from_pairs`], reusing `previous`'s columns when the names are
    /// the same (the usual case for JSON lines), so lookups stay cheap.
    pub(crate) fn from_pairs_reusing(
        line: u64,
        pairs: Vec<(String, String)>,
        previous: &mut Option<Arc<Columns>>,
    ) -> Self {
        let columns = match previous {
            Some(c) if c.same_names(pairs.iter().map(|(n, _)| n.as_str())) => c.clone(),
            _ => {
                let c = Arc::new(Columns::new(pairs.iter().map(|(n, _)| n.clone()).collect()));
                *previous = Some(c.clone());
                c
            }
        };
        let values = pairs.into_iter().map(|(_, v)| v).collect();
        SourceRow::new(line, columns, values)
    }

    /// The value of `column`, `None` when the source has no such column.
    pub fn get(&self, column: &str) -> Option<&str> {
        let i = self.columns.position(column)?;
        Some(self.values.get(i).map(String::as_str).unwrap_or(""))
    }

    /// Column names and values in source order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.columns
            .names()
            .iter()
            .zip(self.values.iter())
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn columns(&self) -> &Columns {
        &self.columns
    }
}

/// Source file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Jsonl,
    Xlsx,
}

impl Format {
    /// From the file extension: `.csv`/`.txt`/`.tsv`, `.jsonl`/`.ndjson`/`.json`, `.xlsx`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" | "tsv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "xlsx" | "xlsm" => Some(Format::Xlsx),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }
}

/// Text encodings of CSV and JSON-lines sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum Encoding {
    /// Byte-order mark → UTF-8; valid UTF-8 in the first 64 KiB → UTF-8; else GB18030.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    /// GBK and GB2312 files decode as GB18030, of which they are subsets.
    #[serde(rename = "gb18030", alias = "gbk", alias = "GBK", alias = "GB18030")]
    Gb18030,
}

impl Encoding {
    pub fn parse(s: &str) -> Option<Encoding> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" => Some(Encoding::Auto),
            "utf-8" | "utf8" => Some(Encoding::Utf8),
            "gbk" | "gb18030" | "gb2312" | "cp936" => Some(Encoding::Gb18030),
            _ => None,
        }
    }
}

/// Read options given by the caller (CLI flags); each one set overrides the mapping's
/// `[format]` section.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub format: Option<Format>,
    pub encoding: Option<Encoding>,
    /// XLSX sheet name (default: the first sheet).
    pub sheet: Option<String>,
    /// CSV field delimiter (default `,`; `\t` for `.tsv`).
    pub delimiter: Option<u8>,
    /// What an XLSX file may unpack to, checked before it is parsed.
    pub xlsx_limits: XlsxLimits,
}

/// The settled options after merging the caller's over the mapping's.
#[derive(Debug, Clone)]
pub(crate) struct Settled {
    pub encoding: Encoding,
    pub sheet: Option<String>,
    pub delimiter: u8,
}

/// An open source: an iterator of rows (or per-row rejects) that also tells how far
/// through the file it is, for progress and ETA.
pub struct Source {
    rows: Box<dyn Iterator<Item = Result<SourceRow, Reject>> + Send>,
    bytes_read: Arc<AtomicU64>,
    total_bytes: Option<u64>,
    fixed_columns: bool,
}

impl Source {
    /// A source from rows produced elsewhere (the streaming import RPC).
    pub fn from_rows(rows: impl Iterator<Item = Result<SourceRow, Reject>> + Send + 'static) -> Self {
        Source {
            rows: Box::new(rows),
            bytes_read: Arc::default(),
            total_bytes: None,
            fixed_columns: false,
        }
    }

    /// Bytes consumed from the file so far (approximate: readers buffer ahead).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// A handle that keeps reporting [`Source::bytes_read`] after the source is moved.
    pub fn bytes_read_handle(&self) -> Arc<AtomicU64> {
        self.bytes_read.clone()
    }

    pub fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }

    /// Whether every row has the same columns (CSV, XLSX), so the mapping's columns can
    /// be checked against the first row.
    pub fn has_fixed_columns(&self) -> bool {
        self.fixed_columns
    }
}

impl Iterator for Source {
    type Item = Result<SourceRow, Reject>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next()
    }
}

/// A reader that counts the bytes it hands out.
pub(crate) struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: std::io::Seek> std::io::Seek for Counting<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Opens `path` for streaming: the format from `opts`, else the mapping, else the file
/// extension. Errors here (unreadable file, no header, unknown sheet) stop the import;
/// problems with single rows come out of the iterator as [`Reject`]s.
pub fn open_source(path: &Path, mapping: &Mapping, opts: &ReadOptions) -> Result<Source, ImportError> {
    let format = opts
        .format
        .or(mapping.format.kind)
        .or_else(|| Format::from_path(path))
        .ok_or_else(|| {
            ImportError::Source(format!(
                "{}: cannot tell the format from the extension; set [format] kind or --format",
                path.display()
            ))
        })?;
    let is_tsv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    let settled = Settled {
        encoding: opts.encoding.or(mapping.format.encoding).unwrap_or_default(),
        sheet: opts.sheet.clone().or_else(|| mapping.format.sheet.clone()),
        delimiter: opts
            .delimiter
            .or(mapping.format.delimiter_byte()?)
            .unwrap_or(if is_tsv { b'\t' } else { b',' }),
    };
    let mut file = File::open(path).map_err(|e| ImportError::io(path.display(), e))?;
    if format == Format::Xlsx {
        xlsx_limits::check(&mut file, &opts.xlsx_limits)?;
    }
    let total_bytes = file.metadata().ok().map(|m| m.len());
    let bytes_read = Arc::new(AtomicU64::new(0));
    let counting = Counting {
        inner: file,
        count: bytes_read.clone(),
    };
    let rows: Box<dyn Iterator<Item = Result<SourceRow, Reject>> + Send> = match format {
        Format::Csv => Box::new(csv_reader::CsvRows::new(counting, &settled)?),
        Format::Jsonl => Box::new(jsonl_reader::JsonRows::new(counting, &settled)?),
        Format::Xlsx => Box::new(xlsx_reader::open(counting, &settled)?),
    };
    Ok(Source {
        rows,
        bytes_read,
        total_bytes,
        fixed_columns: format != Format::Jsonl,
    })
}

/// Opens an in-memory source (tests, the streaming RPC's file upload).
pub fn open_bytes(
    bytes: Vec<u8>,
    format: Format,
    mapping: &Mapping,
    opts: &ReadOptions,
) -> Result<Source, ImportError> {
    let settled = Settled {
        encoding: opts.encoding.or(mapping.format.encoding).unwrap_or_default(),
        sheet: opts.sheet.clone().or_else(|| mapping.format.sheet.clone()),
        delimiter: opts.delimiter.or(mapping.format.delimiter_byte()?).unwrap_or(b','),
    };
    let total = bytes.len() as u64;
    let mut input = std::io::Cursor::new(bytes);
    if format == Format::Xlsx {
        xlsx_limits::check(&mut input, &opts.xlsx_limits)?;
    }
    let bytes_read = Arc::new(AtomicU64::new(0));
    let counting = Counting {
        inner: input,
        count: bytes_read.clone(),
    };
    let rows: Box<dyn Iterator<Item = Result<SourceRow, Reject>> + Send> = match format {
        Format::Csv => Box::new(csv_reader::CsvRows::new(counting, &settled)?),
        Format::Jsonl => Box::new(jsonl_reader::JsonRows::new(counting, &settled)?),
        Format::Xlsx => Box::new(xlsx_reader::open(counting, &settled)?),
    };
    Ok(Source {
        rows,
        bytes_read,
        total_bytes: Some(total),
        fixed_columns: format != Format::Jsonl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_look_up_by_name() {
        let r = SourceRow::from_pairs(3, vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert_eq!(r.get("b"), Some("2"));
        assert_eq!(r.get("c"), None);
        let cols = Arc::new(Columns::new(vec!["a".into(), "b".into()]));
        let short = SourceRow::new(4, cols, vec!["x".into()]);
        assert_eq!(short.get("b"), Some(""));
    }

    #[test]
    fn format_and_encoding_names() {
        assert_eq!(Format::from_path(Path::new("a/导出.XLSX")), Some(Format::Xlsx));
        assert_eq!(Format::from_path(Path::new("x.ndjson")), Some(Format::Jsonl));
        assert_eq!(Encoding::parse("GBK"), Some(Encoding::Gb18030));
        assert_eq!(Encoding::parse("utf_8"), Some(Encoding::Utf8));
    }
}
