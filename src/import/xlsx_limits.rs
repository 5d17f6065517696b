//! Limits on what an XLSX file may unpack to, checked before calamine parses anything.
//!
//! An XLSX file is a zip archive, and calamine keeps the whole shared-string table in
//! memory: a 1.5 MB upload whose `sharedStrings.xml` unpacks to 452 MB took the server to
//! 617 MB. The sizes a zip directory declares cannot be trusted, so every entry is
//! streamed through the decompressor and counted, stopping as soon as a limit is passed:
//! the total unpacked size, each entry's compression ratio, and the shared strings (their
//! count, including the count the table itself declares, and their XML's size).

use std::io::{Read, Seek, SeekFrom};

/// What an XLSX file may unpack to. The defaults admit exports far larger than the
/// city's (a 100,000-row export unpacks to 62 MB, with 274,000 shared strings) and keep
/// one import's shared-string table to about 100 MB of memory (docs/IMPORT.md).
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
        let mut shared = is_shared_strings(&name).then(SharedStringCounter::default);
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
            if let Some(counter) = &mut shared {
                counter.feed(&buf[..n]);
                check_shared(&name, counter, unpacked, limits)?;
            }
        }
    }
    drop(zip);
    input
        .seek(SeekFrom::Start(0))
        .map_err(|e| XlsxLimitError::Zip(e.to_string()))?;
    Ok(())
}

/// calamine finds the table by name, ignoring case and the path separator; any entry of
/// that name is held to the shared-string limits.
fn is_shared_strings(name: &str) -> bool {
    name.replace('\\', "/")
        .to_ascii_lowercase()
        .ends_with("sharedstrings.xml")
}

fn check_shared(
    entry: &str,
    counter: &SharedStringCounter,
    unpacked: u64,
    limits: &XlsxLimits,
) -> Result<(), XlsxLimitError> {
    if unpacked > limits.max_shared_strings_bytes {
        return Err(XlsxLimitError::SharedStringsBytes {
            entry: entry.to_string(),
            measured: unpacked,
            limit: limits.max_shared_strings_bytes,
        });
    }
    if counter.strings > limits.max_shared_strings {
        return Err(XlsxLimitError::SharedStrings {
            entry: entry.to_string(),
            measured: counter.strings,
            limit: limits.max_shared_strings,
        });
    }
    // calamine reserves room for the declared count before reading a single string.
    if let Some(declared) = &counter.declared {
        let over = declared.parse::<u64>().map_or(true, |n| n > limits.max_shared_strings);
        if over {
            return Err(XlsxLimitError::DeclaredSharedStrings {
                entry: entry.to_string(),
                declared: declared.clone(),
                limit: limits.max_shared_strings,
            });
        }
    }
    Ok(())
}

/// Longest start tag kept whole. Real `<sst>` tags are a few hundred bytes; a longer
/// one is refused rather than read past (see [`SharedStringCounter::end_tag`]).
const MAX_TAG: usize = 16 * 1024;

/// Counts `<si>` start tags (any namespace prefix) in a stream of XML, and reads the
/// `uniqueCount` the `<sst>` tag declares.
#[derive(Debug, Default)]
struct SharedStringCounter {
    in_tag: bool,
    tag: Vec<u8>,
    /// The current tag is longer than [`MAX_TAG`]; only its start is in `tag`.
    truncated: bool,
    strings: u64,
    /// `uniqueCount` as written (digits, or anything calamine might still parse).
    declared: Option<String>,
}

impl SharedStringCounter {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match (self.in_tag, b) {
                (false, b'<') => {
                    self.in_tag = true;
                    self.truncated = false;
                    self.tag.clear();
                }
                (false, _) => {}
                (true, b'>') => {
                    self.in_tag = false;
                    self.end_tag();
                }
                (true, b'<') => {
                    self.truncated = false;
                    self.tag.clear();
                }
                (true, _) => {
                    if self.tag.len() < MAX_TAG {
                        self.tag.push(b);
                    } else {
                        self.truncated = true;
                    }
                }
            }
        }
    }

    fn end_tag(&mut self) {
        // End tags, comments, processing instructions and declarations.
        if matches!(self.tag.first(), None | Some(b'/' | b'!' | b'?')) {
            return;
        }
        let name_end = self
            .tag
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'/')
            .unwrap_or(self.tag.len());
        let name = &self.tag[..name_end];
        let local = name.rsplit(|b| *b == b':').next().unwrap_or(name);
        match local {
            b"si" => self.strings += 1,
            b"sst" if self.declared.is_none() => {
                // calamine reads uniqueCount wherever it is in the tag; so must this.
                self.declared = if self.truncated {
                    Some(format!("unreadable (a start tag over {MAX_TAG} bytes)"))
                } else {
                    attribute(&self.tag[name_end..], "uniqueCount")
                };
            }
            _ => {}
        }
    }
}

/// The value of attribute `name` in a start tag's attribute text.
fn attribute(attrs: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(attrs);
    let mut rest = text.as_ref();
    while let Some(at) = rest.find(name) {
        let before_ok = at == 0 || rest.as_bytes()[at - 1].is_ascii_whitespace();
        let after = rest[at + name.len()..].trim_start();
        rest = &rest[at + name.len()..];
        let Some(value) = after.strip_prefix('=').map(str::trim_start) else {
            continue;
        };
        if !before_ok {
            continue;
        }
        let quote = value.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let end = value[1..].find(quote)?;
        return Some(value[1..1 + end].trim().to_string());
    }
    None
}

#[cfg(test)]
mod tests;
