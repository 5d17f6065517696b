//! Counting elements in a stream of XML without parsing it: enough to know how many
//! records calamine would build from a part before it builds any.

/// Longest start tag kept whole. Real `<sst>` tags are a few hundred bytes; a longer one
/// is refused rather than read past (see [`ElementCounter::declared`]).
pub(super) const MAX_TAG: usize = 16 * 1024;

/// Counts start tags whose local name (any namespace prefix) is one of `counted`, fed a
/// part in pieces of any size, and reads the `uniqueCount` an `<sst>` tag declares.
/// Comments and CDATA are not recognised, so a tag inside one counts too: an error on the
/// side of refusing.
#[derive(Debug)]
pub(super) struct ElementCounter {
    counted: &'static [&'static [u8]],
    in_tag: bool,
    tag: Vec<u8>,
    /// The current tag is longer than [`MAX_TAG`]; only its start is in `tag`.
    truncated: bool,
    /// Start tags of the counted names so far.
    pub(super) count: u64,
    /// `uniqueCount` of the first `<sst>` as written, or why it could not be read.
    pub(super) declared: Option<String>,
}

impl ElementCounter {
    pub(super) fn new(counted: &'static [&'static [u8]]) -> ElementCounter {
        ElementCounter {
            counted,
            in_tag: false,
            tag: Vec::new(),
            truncated: false,
            count: 0,
            declared: None,
        }
    }

    pub(super) fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match (self.in_tag, b) {
                (false, b'<') | (true, b'<') => {
                    self.in_tag = true;
                    self.truncated = false;
                    self.tag.clear();
                }
                (false, _) => {}
                (true, b'>') => {
                    self.in_tag = false;
                    self.end_tag();
                }
                (true, _) if self.tag.len() < MAX_TAG => self.tag.push(b),
                (true, _) => self.truncated = true,
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
        if self.counted.contains(&local) {
            self.count += 1;
        }
        if local == b"sst" && self.declared.is_none() {
            // calamine reads uniqueCount wherever it is in the tag; so must this.
            self.declared = if self.truncated {
                Some(format!("unreadable (a start tag over {MAX_TAG} bytes)"))
            } else {
                attribute(&self.tag[name_end..], "uniqueCount")
            };
        }
    }
}

/// The value of attribute `name` in a start tag's attribute text.
fn attribute(attrs: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(attrs);
    let mut rest = text.as_ref();
    while let Some(at) = rest.find(name) {
        let starts_name = at == 0 || rest.as_bytes()[at - 1].is_ascii_whitespace();
        let after = rest[at + name.len()..].trim_start();
        rest = &rest[at + name.len()..];
        let Some(value) = after.strip_prefix('=').map(str::trim_start) else {
            continue;
        };
        if !starts_name {
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
