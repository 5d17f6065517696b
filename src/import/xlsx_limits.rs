//! Limits on what an XLSX file may unpack to, checked before calamine parses anything.
//!
//! An XLSX file is a zip archive, and calamine keeps some of its parts whole in memory —
//! above all the shared-string table: a 1.5 MB upload whose `sharedStrings.xml` unpacks
//! to 452 MB took the server to 617 MB. The sizes a zip directory declares cannot be
//! trusted, so every entry is streamed through the decompressor and counted, stopping as
//! soon as a limit is passed: the total unpacked size, each entry's compression ratio,
//! the shared strings (their count, including the count the table declares, and their
//! XML's size), and for the other parts calamine reads whole, their size and — for the
//! styles, where a few bytes of XML become a record of hundreds — their record count.
//! Worksheets are read a cell at a time and are bounded by the total alone.

mod elements;

use std::io::{Read, Seek, SeekFrom};

use elements::ElementCounter;

/// What an XLSX file may unpack to. The defaults admit exports far larger than the
/// city's (a 100,000-row export unpacks to 62 MB, with 274,000 shared strings) and keep
/// what calamine holds of one workbook to about 100 MB for its shared strings and 35 MB
/// for its styles (measured, docs/IMPORT.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlsxLimits {
    /// Sum of the unpacked sizes of all entries.
    pub max_unpacked_bytes: u64,
    /// Unpacked size over compressed size, for entries that unpack to more than
    /// [`XlsxLimits::ratio_applies_above`].
    pub max_ratio: u64,
    pub ratio_applies_above: u64,
    /// Shared strings (`<si>` elements) counted, or declared by `uniqueCount`.
    pub max_shared_strings: u64,
    /// Unpacked size of the shared-string table's XML.
    pub max_shared_strings_bytes: u64,
    /// Unpacked size of each other XML part calamine reads whole (workbook, styles,
    /// relationships, theme, …): any `.xml` or `.rels` entry but a worksheet.
    pub max_part_bytes: u64,
    /// Style records in `styles.xml` (`xf`, `font`, `fill`, `border`, `numFmt` elements):
    /// calamine builds a style, with copies of its font, fill and border, for each.
    pub max_style_records: u64,
}

const MIB: u64 = 1024 * 1024;

impl Default for XlsxLimits {
    fn default() -> Self {
        XlsxLimits {
            max_unpacked_bytes: 256 * MIB,
            max_ratio: 100,
            ratio_applies_above: MIB,
            max_shared_strings: 1_000_000,
            max_shared_strings_bytes: 64 * MIB,
            max_part_bytes: 16 * MIB,
            max_style_records: 100_000,
        }
    }
}

/// Why a workbook was refused: the limit and what was measured. Measuring stops at the
/// limit, so a measured size is "at least".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XlsxLimitError {
    #[error(
        "the workbook unpacks to more than {limit} bytes (measured at least {measured}); \
         limit: total unpacked size (--xlsx-max-unpacked-mib)"
    )]
    Unpacked { measured: u64, limit: u64 },
    #[error(
        "entry {entry} expands more than {limit}:1 (at least {unpacked} bytes from {compressed}); \
         limit: compression ratio of entries over {applies_above} bytes (--xlsx-max-ratio)"
    )]
    Ratio {
        entry: String,
        unpacked: u64,
        compressed: u64,
        limit: u64,
        applies_above: u64,
    },
    #[error(
        "{entry} holds more than {limit} shared strings (counted at least {measured}); \
         limit: shared-string count (--xlsx-max-shared-strings)"
    )]
    SharedStrings { entry: String, measured: u64, limit: u64 },
    #[error(
        "{entry} declares uniqueCount {declared}, more than {limit} shared strings; \
         limit: shared-string count (--xlsx-max-shared-strings)"
    )]
    DeclaredSharedStrings {
        entry: String,
        declared: String,
        limit: u64,
    },
    #[error(
        "{entry} unpacks to more than {limit} bytes (measured at least {measured}); \
         limit: shared-string table size (--xlsx-max-shared-strings-mib)"
    )]
    SharedStringsBytes { entry: String, measured: u64, limit: u64 },
    #[error(
        "{entry} unpacks to more than {limit} bytes (measured at least {measured}); \
         limit: size of a part read whole (--xlsx-max-part-mib)"
    )]
    PartBytes { entry: String, measured: u64, limit: u64 },
    #[error(
        "{entry} holds more than {limit} style records (counted at least {measured}); \
         limit: style records (--xlsx-max-style-records)"
    )]
    StyleRecords { entry: String, measured: u64, limit: u64 },
    #[error("not a readable XLSX (zip) file: {0}")]
    Zip(String),
}

/// Measures the workbook in `input` against `limits` and rewinds it. An entry that
/// cannot be decompressed is measured up to where it fails: the parser would fail at the
/// same point.
pub fn check<R: Read + Seek>(input: &mut R, limits: &XlsxLimits) -> Result<(), XlsxLimitError> {
    let mut zip = zip::ZipArchive::new(&mut *input).map_err(|e| XlsxLimitError::Zip(e.to_string()))?;
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let Ok(mut entry) = zip.by_index(i) else { continue };
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let compressed = entry.compressed_size();
        let part = Part::of(&name);
        let mut counter = part.counted().map(ElementCounter::new);
        let mut unpacked = 0u64;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            unpacked += n as u64;
            total += n as u64;
            if total > limits.max_unpacked_bytes {
                return Err(XlsxLimitError::Unpacked {
                    measured: total,
                    limit: limits.max_unpacked_bytes,
                });
            }
            if unpacked > limits.ratio_applies_above && unpacked > compressed.saturating_mul(limits.max_ratio) {
                return Err(XlsxLimitError::Ratio {
                    entry: name,
                    unpacked,
                    compressed,
                    limit: limits.max_ratio,
                    applies_above: limits.ratio_applies_above,
                });
            }
            if let Some(counter) = &mut counter {
                counter.feed(&buf[..n]);
            }
            part.check(&name, unpacked, counter.as_ref(), limits)?;
        }
    }
    drop(zip);
    input
        .seek(SeekFrom::Start(0))
        .map_err(|e| XlsxLimitError::Zip(e.to_string()))?;
    Ok(())
}

/// What an entry is to calamine, which finds parts by name, ignoring case and the path
/// separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// `…/sharedStrings.xml`: every string kept.
    SharedStrings,
    /// `…/styles.xml`: a record per style element.
    Styles,
    /// `…/worksheets/*.xml`: read a cell at a time.
    Worksheet,
    /// Any other `.xml` or `.rels` entry: read whole when read at all.
    OtherXml,
    /// Images and other binary parts: not parsed.
    Other,
}

impl Part {
    fn of(name: &str) -> Part {
        let path = name.replace('\\', "/").to_ascii_lowercase();
        let (dir, file) = path.rsplit_once('/').unwrap_or(("", &path));
        match file {
            "sharedstrings.xml" => Part::SharedStrings,
            "styles.xml" => Part::Styles,
            f if f.ends_with(".xml") && dir.rsplit('/').next() == Some("worksheets") => Part::Worksheet,
            f if f.ends_with(".xml") || f.ends_with(".rels") => Part::OtherXml,
            _ => Part::Other,
        }
    }

    /// The elements whose count is limited.
    fn counted(self) -> Option<&'static [&'static [u8]]> {
        match self {
            Part::SharedStrings => Some(&[b"si"]),
            Part::Styles => Some(&[b"xf", b"font", b"fill", b"border", b"numFmt"]),
            Part::Worksheet | Part::OtherXml | Part::Other => None,
        }
    }

    /// Checks what has been read of the entry so far.
    fn check(
        self,
        entry: &str,
        unpacked: u64,
        counter: Option<&ElementCounter>,
        limits: &XlsxLimits,
    ) -> Result<(), XlsxLimitError> {
        let entry = || entry.to_string();
        let count = counter.map_or(0, |c| c.count);
        match self {
            Part::SharedStrings if unpacked > limits.max_shared_strings_bytes => {
                Err(XlsxLimitError::SharedStringsBytes {
                    entry: entry(),
                    measured: unpacked,
                    limit: limits.max_shared_strings_bytes,
                })
            }
            Part::SharedStrings if count > limits.max_shared_strings => Err(XlsxLimitError::SharedStrings {
                entry: entry(),
                measured: count,
                limit: limits.max_shared_strings,
            }),
            // calamine reserves room for the declared count before reading a string.
            Part::SharedStrings => match counter.and_then(|c| c.declared.as_ref()) {
                Some(d) if d.parse::<u64>().map_or(true, |n| n > limits.max_shared_strings) => {
                    Err(XlsxLimitError::DeclaredSharedStrings {
                        entry: entry(),
                        declared: d.clone(),
                        limit: limits.max_shared_strings,
                    })
                }
                _ => Ok(()),
            },
            Part::Styles | Part::OtherXml if unpacked > limits.max_part_bytes => Err(XlsxLimitError::PartBytes {
                entry: entry(),
                measured: unpacked,
                limit: limits.max_part_bytes,
            }),
            Part::Styles if count > limits.max_style_records => Err(XlsxLimitError::StyleRecords {
                entry: entry(),
                measured: count,
                limit: limits.max_style_records,
            }),
            Part::Styles | Part::OtherXml | Part::Worksheet | Part::Other => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
