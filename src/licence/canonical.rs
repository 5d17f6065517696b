//! The canonical JSON (RFC 8785, JCS) bytes of a [`Licence`], written directly.
//!
//! The record's shape is fixed, so its members can be written in JCS order without
//! building a `serde_json::Value` tree and sorting it at run time (what `serde_jcs`
//! does, at about a third of an import's signing cost). Every member name is ASCII, so
//! JCS's UTF-16 ordering is plain byte order, spelt out below. The output must equal
//! `serde_jcs::to_vec(licence)` byte for byte: a property test checks it over arbitrary
//! records, and a record whose integers lie outside what both agree on falls back to
//! `serde_jcs` itself.

use super::record::{format_date, Licence};

/// Integers up to 2^53 print the same in JCS (ECMAScript numbers) and as plain decimals.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The JCS bytes of `l`: identical to `serde_jcs::to_vec(l)`.
pub fn licence_bytes(l: &Licence) -> Vec<u8> {
    if l.provenance.as_ref().is_some_and(|p| p.source_line > MAX_SAFE_INTEGER) {
        return serde_jcs::to_vec(l).expect("a licence always serialises");
    }
    let mut w = Writer(Vec::with_capacity(estimate(l)));
    w.raw("{\"fields\":[");
    for (i, f) in l.fields.iter().enumerate() {
        if i > 0 {
            w.raw(",");
        }
        w.raw("{\"name\":");
        w.string(&f.name);
        w.raw(",\"value\":");
        w.string(&f.value);
        w.raw("}");
    }
    w.raw("],\"holder_code\":");
    w.string(&l.holder_code);
    w.raw(",\"holder_code_type\":");
    w.string(&l.holder_code_type);
    w.raw(",\"holder_name\":");
    w.string(&l.holder_name);
    w.raw(",\"identifier\":");
    w.string(&l.identifier);
    w.raw(",\"issue_date\":");
    w.string(&format_date(l.issue_date));
    w.raw(",\"issuer_code\":");
    w.string(&l.issuer_code);
    w.raw(",\"issuer_level\":");
    w.string(&l.issuer_level);
    w.raw(",\"issuer_name\":");
    w.string(&l.issuer_name);
    w.raw(",\"key_id\":");
    w.string(&l.key_id);
    w.raw(",\"licence_name\":");
    w.string(&l.licence_name);
    w.raw(",\"licence_number\":");
    w.string(&l.licence_number);
    w.raw(",\"licence_type_code\":");
    w.string(&l.licence_type_code);
    if let Some(p) = &l.provenance {
        w.raw(",\"provenance\":{\"flags\":[");
        for (i, f) in p.flags.iter().enumerate() {
            if i > 0 {
                w.raw(",");
            }
            w.string(f);
        }
        w.raw("],\"original_issue_date\":");
        w.string(&p.original_issue_date);
        w.raw(",\"source_file\":");
        w.string(&p.source_file);
        w.raw(",\"source_line\":");
        w.number(p.source_line);
        w.raw(",\"source_system\":");
        w.string(&p.source_system);
        w.raw("}");
    }
    w.raw(",\"region_code\":");
    w.string(&l.region_code);
    w.raw(",\"related_item\":");
    w.string(&l.related_item);
    if let Some(r) = &l.replaces {
        w.raw(",\"replaces\":");
        w.string(r);
    }
    if let Some(salt) = &l.salt {
        w.raw(",\"salt\":");
        w.string(salt);
    }
    w.raw(",\"schema\":");
    w.string(&l.schema);
    w.raw(",\"seal\":{\"seal_name\":");
    w.string(&l.seal.seal_name);
    w.raw(",\"sealed_at\":");
    w.string(&l.seal.sealed_at);
    w.raw(",\"signer\":");
    w.string(&l.seal.signer);
    w.raw("},\"signed_at\":");
    w.string(&l.signed_at);
    w.raw(",\"valid_from\":");
    w.string(&format_date(l.valid_from));
    w.raw(",\"valid_until\":");
    match l.valid_until {
        Some(d) => w.string(&format_date(d)),
        None => w.raw("null"),
    }
    if let Some(code) = &l.verification_code {
        w.raw(",\"verification_code\":");
        w.string(code);
    }
    w.raw(",\"version\":");
    w.number(u64::from(l.version));
    w.raw("}");
    w.0
}

/// Room for the member names plus every value, so the buffer is allocated once.
fn estimate(l: &Licence) -> usize {
    let texts = [
        &l.holder_code,
        &l.holder_code_type,
        &l.holder_name,
        &l.identifier,
        &l.issuer_code,
        &l.issuer_level,
        &l.issuer_name,
        &l.key_id,
        &l.licence_name,
        &l.licence_number,
        &l.licence_type_code,
        &l.region_code,
        &l.related_item,
        &l.schema,
        &l.seal.seal_name,
        &l.seal.sealed_at,
        &l.seal.signer,
        &l.signed_at,
    ];
    let secrets =
        l.salt.as_ref().map_or(0, |s| s.len() + 10) + l.verification_code.as_ref().map_or(0, |c| c.len() + 22);
    let fields: usize = l.fields.iter().map(|f| f.name.len() + f.value.len() + 24).sum();
    let provenance = l.provenance.as_ref().map_or(0, |p| {
        p.source_system.len() + p.source_file.len() + p.original_issue_date.len() + 160
    });
    texts.iter().map(|t| t.len() + 3).sum::<usize>() + fields + provenance + secrets + 400
}

struct Writer(Vec<u8>);

impl Writer {
    fn raw(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    fn number(&mut self, n: u64) {
        use std::io::Write;
        write!(self.0, "{n}").expect("writing to a Vec");
    }

    /// A JSON string as JCS (and `serde_json`) escape it: `"` and `\` with a backslash,
    /// U+0000–U+001F as `\b \t \n \f \r` or `\u00xx` (lower-case hex), everything else
    /// as its UTF-8 bytes.
    fn string(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let out = &mut self.0;
        out.push(b'"');
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                0x08 => b"\\b",
                0x09 => b"\\t",
                0x0a => b"\\n",
                0x0c => b"\\f",
                0x0d => b"\\r",
                0x00..=0x1f => {
                    out.extend_from_slice(&bytes[start..i]);
                    out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
                    start = i + 1;
                    continue;
                }
                _ => continue,
            };
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(escape);
            start = i + 1;
        }
        out.extend_from_slice(&bytes[start..]);
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licence::record::{Field, Provenance, Seal};
    use proptest::prelude::*;
    use time::Date;

    fn text() -> impl Strategy<Value = String> {
        // Mostly realistic text, with every escaping case and astral characters mixed in.
        prop_oneof![
            "[\\PC]{0,12}",
            "[a-z0-9\"\\\\/\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}é中𠀀]{0,12}",
            Just(String::new()),
        ]
    }

    fn date() -> impl Strategy<Value = Date> {
        (1i32..=9999, 1u16..=366)
            .prop_map(|(y, d)| Date::from_ordinal_date(y, d.min(time::util::days_in_year(y))).expect("valid ordinal"))
    }

    prop_compose! {
        fn provenance()(
            source_system in text(),
            source_file in text(),
            source_line in prop_oneof![0u64..100_000, Just(MAX_SAFE_INTEGER), Just(u64::MAX)],
            original_issue_date in text(),
            flags in proptest::collection::vec(text(), 0..3),
        ) -> Provenance {
            Provenance { source_system, source_file, source_line, original_issue_date, flags }
        }
    }

    prop_compose! {
        fn licence()(
            strings in proptest::collection::vec(text(), 18),
            fields in proptest::collection::vec((text(), text()), 0..4),
            dates in (date(), date(), proptest::option::of(date())),
            version in any::<u16>(),
            replaces in proptest::option::of(text()),
            provenance in proptest::option::of(provenance()),
            secrets in (proptest::option::of(text()), proptest::option::of(text())),
        ) -> Licence {
            let mut s = strings.into_iter();
            let mut next = || s.next().expect("18 strings");
            Licence {
                schema: next(),
                identifier: next(),
                licence_name: next(),
                licence_type_code: next(),
                licence_number: next(),
                issuer_name: next(),
                issuer_code: next(),
                issuer_level: next(),
                issue_date: dates.0,
                holder_name: next(),
                holder_code: next(),
                holder_code_type: next(),
                valid_from: dates.1,
                valid_until: dates.2,
                region_code: next(),
                related_item: next(),
                seal: Seal { signer: next(), sealed_at: next(), seal_name: next() },
                fields: fields.into_iter().map(|(name, value)| Field { name, value }).collect(),
                version,
                replaces,
                provenance,
                key_id: next(),
                signed_at: next(),
                salt: secrets.0,
                verification_code: secrets.1,
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn equals_serde_jcs_byte_for_byte(l in licence()) {
            prop_assert_eq!(
                String::from_utf8(licence_bytes(&l)).unwrap(),
                serde_jcs::to_string(&l).unwrap()
            );
        }
    }

    #[test]
    fn every_control_character_escapes_as_serde_jcs_does() {
        let all: String = (0u8..0x80).map(char::from).collect();
        let mut w = Writer(Vec::new());
        w.string(&all);
        assert_eq!(w.0, serde_jcs::to_vec(&all).unwrap());
    }
}
