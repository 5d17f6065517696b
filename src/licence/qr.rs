//! The compact signed payload carried by a licence's QR code, verifiable offline with
//! only the published public keys. `docs/QR-PAYLOAD.md` specifies the bytes exactly.
//!
//! Text form: `ELC1:` followed by the unpadded base32 (RFC 4648) of the payload bytes:
//! only `A–Z 2–7 :`, so the QR code uses its dense alphanumeric mode. The
//! payload bytes are a version byte, a flags byte, length-prefixed UTF-8 fields, the
//! record digest, the key id and, last, an Ed25519 signature over every byte before it.

use super::record::format_date;
use super::signing::{self, KeyRing, PublicKeyInfo};
use super::Licence;

/// Prefix of the text form; the digit is the payload format version.
pub const QR_PREFIX: &str = "ELC1:";
/// The payload format version, the first payload byte.
pub const QR_VERSION: u8 = 1;
/// Flags bit 0: the payload describes a per-use copy (加注件) and carries copy fields.
pub const FLAG_COPY: u8 = 0x01;
/// A copy's purpose is cut to this many characters in the QR code (the watermark on the
/// page carries it in full), so the code stays scannable.
pub const MAX_QR_PURPOSE_CHARS: usize = 32;
/// Longest accepted text form; anything longer is rejected before decoding.
pub const MAX_QR_TEXT: usize = 4096;

/// Who a copy (加注件) is for, why, and until when; all signed into the copy's QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFields {
    /// The receiving department (用证部门).
    pub copy_for: String,
    /// The use cause (用证事由), at most [`MAX_QR_PURPOSE_CHARS`] characters here.
    pub copy_purpose: String,
    /// Last day the copy may be used, `YYYY-MM-DD`.
    pub copy_until: String,
}

/// The address of the public verification page that QR codes carry in front of their
/// `ELC1:` text (`serve --public-url`), so that a phone camera opens the page. Kept in
/// upper case: the whole URL then stays in the QR code's dense alphanumeric mode
/// (`0–9 A–Z $%*+-./:`), and the page's routes ignore case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

/// Longest accepted public URL: it is printed in every QR code.
const MAX_PUBLIC_URL: usize = 100;

impl PublicUrl {
    /// Checks and upper-cases an operator's base URL, e.g.
    /// `https://verify.example.gov.cn/v/`.
    pub fn parse(url: &str) -> Result<PublicUrl, String> {
        let url = url.trim().to_ascii_uppercase();
        let rest = url
            .strip_prefix("HTTPS://")
            .or_else(|| url.strip_prefix("HTTP://"))
            .ok_or("must start with https:// (or http://)")?;
        if url.len() > MAX_PUBLIC_URL {
            return Err(format!(
                "at most {MAX_PUBLIC_URL} characters: it is printed in every QR code"
            ));
        }
        if let Some(c) = url
            .chars()
            .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || "$%*+-./:".contains(*c)))
        {
            return Err(format!(
                "{c:?} is not allowed: only letters, digits and $%*+-./: keep the QR code in its alphanumeric mode"
            ));
        }
        if rest.starts_with('/') || !rest.contains('/') {
            return Err("has no host".into());
        }
        if !url.ends_with("/V/") {
            return Err(
                "must end with /v/, the verification page's route (e.g. https://verify.example.gov.cn/v/)".into(),
            );
        }
        Ok(PublicUrl(url))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What a QR code carries for `payload_text` (`ELC1:…`).
    pub fn qr_content(&self, payload_text: &str) -> String {
        format!("{}{payload_text}", self.0)
    }
}

/// The `ELC1:` text of a QR code's content: the content itself, or what follows the
/// verification page's address in front of it.
pub fn payload_text(content: &str) -> &str {
    match content.find(QR_PREFIX) {
        Some(at) if at > 0 && content[..at].contains("://") => &content[at..],
        _ => content,
    }
}

/// The decoded QR payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrPayload {
    pub identifier: String,
    pub licence_type_code: String,
    pub licence_number: String,
    /// Masked when the holder is a natural person (`张*明`).
    pub holder_name: String,
    /// Always masked (`420802********1234`).
    pub holder_code_masked: String,
    pub issuer_name: String,
    /// `YYYY-MM-DD`.
    pub valid_from: String,
    /// `YYYY-MM-DD`, or empty for no end (长期).
    pub valid_until: String,
    pub copy: Option<CopyFields>,
    /// SHA-256 of the full record's canonical bytes.
    pub record_digest: [u8; 32],
    /// 16 lowercase hex digits (8 bytes on the wire).
    pub key_id: String,
    pub signature: [u8; 64],
}

/// Why a payload could not be read or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("not an elicence QR payload (expected prefix {QR_PREFIX})")]
    Prefix,
    #[error("payload text longer than {MAX_QR_TEXT} characters")]
    TooLong,
    #[error("payload is not valid unpadded base32")]
    Base32,
    #[error("unsupported payload version {0}")]
    Version(u8),
    #[error("unknown flags {0:#04x}")]
    Flags(u8),
    #[error("payload ends inside {0}")]
    Truncated(&'static str),
    #[error("{0} is not valid UTF-8")]
    Utf8(&'static str),
    #[error("{0} bytes after the signature")]
    TrailingBytes(usize),
    #[error("{field} is longer than 65535 bytes")]
    FieldTooLong { field: &'static str },
    #[error("key id must be 16 hex digits, got {0:?}")]
    KeyId(String),
    #[error("unknown key id {0}")]
    UnknownKey(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("the record's digest does not match the payload")]
    DigestMismatch,
}

const TEXT_FIELDS: [&str; 8] = [
    "identifier",
    "licence_type_code",
    "licence_number",
    "holder_name",
    "holder_code_masked",
    "issuer_name",
    "valid_from",
    "valid_until",
];
const COPY_FIELDS: [&str; 3] = ["copy_for", "copy_purpose", "copy_until"];

impl QrPayload {
    /// The payload for a licence, signed with the ring's active key.
    pub fn sign(licence: &Licence, keys: &KeyRing) -> Result<QrPayload, QrError> {
        Self::build(licence, None, keys)
    }

    /// The payload for a per-use copy (加注件). The purpose is cut to
    /// [`MAX_QR_PURPOSE_CHARS`] characters (ending in `…` when cut).
    pub fn sign_copy(licence: &Licence, copy: &CopyFields, keys: &KeyRing) -> Result<QrPayload, QrError> {
        let mut copy = copy.clone();
        copy.copy_purpose = shorten(&copy.copy_purpose, MAX_QR_PURPOSE_CHARS);
        Self::build(licence, Some(copy), keys)
    }

    fn build(licence: &Licence, copy: Option<CopyFields>, keys: &KeyRing) -> Result<QrPayload, QrError> {
        let (holder_name, holder_code_masked) = super::public::public_holder(licence);
        let mut p = QrPayload {
            identifier: licence.identifier.clone(),
            licence_type_code: licence.licence_type_code.clone(),
            licence_number: licence.licence_number.clone(),
            holder_name,
            holder_code_masked,
            issuer_name: licence.issuer_name.clone(),
            valid_from: format_date(licence.valid_from),
            valid_until: licence.valid_until.map(format_date).unwrap_or_default(),
            copy,
            record_digest: signing::digest(&licence.canonical_bytes()),
            key_id: keys.active_key_id().to_string(),
            signature: [0; 64],
        };
        let body = p.signed_bytes()?;
        p.signature = keys.sign(&body);
        // A payload the decoder would refuse must never be printed: licences whose texts
        // are all near their length limits exceed it (found by the verify_record fuzzer).
        if p.encode()?.len() > MAX_QR_TEXT {
            return Err(QrError::TooLong);
        }
        Ok(p)
    }

    /// The exact bytes the signature covers: everything but the trailing signature.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, QrError> {
        let key_id = decode_key_id(&self.key_id)?;
        let mut out = Vec::with_capacity(256);
        out.push(QR_VERSION);
        out.push(if self.copy.is_some() { FLAG_COPY } else { 0 });
        let texts = [
            &self.identifier,
            &self.licence_type_code,
            &self.licence_number,
            &self.holder_name,
            &self.holder_code_masked,
            &self.issuer_name,
            &self.valid_from,
            &self.valid_until,
        ];
        for (name, value) in TEXT_FIELDS.iter().zip(texts) {
            put_text(&mut out, name, value)?;
        }
        if let Some(c) = &self.copy {
            for (name, value) in COPY_FIELDS.iter().zip([&c.copy_for, &c.copy_purpose, &c.copy_until]) {
                put_text(&mut out, name, value)?;
            }
        }
        out.extend_from_slice(&self.record_digest);
        out.extend_from_slice(&key_id);
        Ok(out)
    }

    /// The text placed in the QR code: `ELC1:` + base32 (no padding).
    pub fn encode(&self) -> Result<String, QrError> {
        let mut bytes = self.signed_bytes()?;
        bytes.extend_from_slice(&self.signature);
        Ok(format!("{QR_PREFIX}{}", base32_encode(&bytes)))
    }

    /// Reads a payload from its text form, alone or at the end of a verification page's
    /// URL (`HTTPS://VERIFY.EXAMPLE.GOV.CN/V/ELC1:…`, as codes printed with a public URL
    /// carry it). Never panics; surrounding whitespace is ignored.
    pub fn decode(text: &str) -> Result<QrPayload, QrError> {
        let text = text.trim();
        if text.len() > MAX_QR_TEXT {
            return Err(QrError::TooLong);
        }
        let text = payload_text(text);
        let b32 = text.strip_prefix(QR_PREFIX).ok_or(QrError::Prefix)?;
        let bytes = base32_decode(b32).ok_or(QrError::Base32)?;
        let mut r = Reader { bytes: &bytes };
        let version = r.take(1, "version")?[0];
        if version != QR_VERSION {
            return Err(QrError::Version(version));
        }
        let flags = r.take(1, "flags")?[0];
        if flags & !FLAG_COPY != 0 {
            return Err(QrError::Flags(flags));
        }
        let mut t = Vec::with_capacity(8);
        for name in TEXT_FIELDS {
            t.push(r.text(name)?);
        }
        let copy = if flags & FLAG_COPY != 0 {
            Some(CopyFields {
                copy_for: r.text(COPY_FIELDS[0])?,
                copy_purpose: r.text(COPY_FIELDS[1])?,
                copy_until: r.text(COPY_FIELDS[2])?,
            })
        } else {
            None
        };
        let record_digest: [u8; 32] = r.take(32, "record_digest")?.try_into().expect("32 bytes");
        let key_id = hex::encode(r.take(8, "key_id")?);
        let signature: [u8; 64] = r.take(64, "signature")?.try_into().expect("64 bytes");
        if !r.bytes.is_empty() {
            return Err(QrError::TrailingBytes(r.bytes.len()));
        }
        let mut t = t.into_iter();
        let mut next = || t.next().expect("eight text fields");
        Ok(QrPayload {
            identifier: next(),
            licence_type_code: next(),
            licence_number: next(),
            holder_name: next(),
            holder_code_masked: next(),
            issuer_name: next(),
            valid_from: next(),
            valid_until: next(),
            copy,
            record_digest,
            key_id,
            signature,
        })
    }

    /// Checks the signature offline against the published keys.
    pub fn verify(&self, keys: &[PublicKeyInfo]) -> Result<(), QrError> {
        let key = keys
            .iter()
            .find(|k| k.key_id == self.key_id)
            .ok_or_else(|| QrError::UnknownKey(self.key_id.clone()))?;
        let body = self.signed_bytes()?;
        signing::verify_with(&key.public_key, &body, &self.signature).map_err(|_| QrError::BadSignature)
    }

    /// Whether this payload describes exactly the record with these canonical bytes.
    pub fn matches_record(&self, canonical_bytes: &[u8]) -> Result<(), QrError> {
        if signing::digest(canonical_bytes) == self.record_digest {
            Ok(())
        } else {
            Err(QrError::DigestMismatch)
        }
    }

    /// The record digest in lowercase hex, as printed in PDF metadata.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.record_digest)
    }
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Strict RFC 4648 base32 without padding: upper case only, and the unused low bits of
/// the last character must be zero, so every byte string has exactly one text form.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    if matches!(text.len() % 8, 1 | 3 | 6) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = BASE32.iter().position(|&a| a == c)? as u32;
        acc = ((acc << 5) | v) & 0xFFFF;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    (acc & ((1 << bits) - 1) == 0).then_some(out)
}

fn shorten(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max_chars - 1).collect();
    out.push('…');
    out
}

fn decode_key_id(key_id: &str) -> Result<[u8; 8], QrError> {
    let bad = || QrError::KeyId(key_id.to_string());
    if key_id.len() != 16 || key_id.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad());
    }
    let v = hex::decode(key_id).map_err(|_| bad())?;
    v.try_into().map_err(|_| bad())
}

fn put_text(out: &mut Vec<u8>, field: &'static str, value: &str) -> Result<(), QrError> {
    let len = u16::try_from(value.len()).map_err(|_| QrError::FieldTooLong { field })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value.as_bytes());
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], QrError> {
        if self.bytes.len() < n {
            return Err(QrError::Truncated(what));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn text(&mut self, what: &'static str) -> Result<String, QrError> {
        let len = self.take(2, what)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| QrError::Utf8(what))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::licence::record::tests::sample_draft;
    use crate::licence::{CheckDigits, LicenceId};
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;
    use time::macros::datetime;

    /// The fixed key of the worked example in `docs/QR-PAYLOAD.md`.
    pub fn example_ring() -> KeyRing {
        KeyRing::single(SigningKey::from_bytes(&[42; 32]))
    }

    pub fn example_licence(ring: &KeyRing) -> Licence {
        let (v, _) = sample_draft().validate(CheckDigits::Strict).unwrap();
        let id = LicenceId::new("11100000000013338W011", "11110000000021135M", "20260000001", 1).unwrap();
        let secrets = crate::licence::secrets::RecordSecrets {
            salt: "5f3c9a0e7d21b4c86e0f1a2b3c4d5e6f".into(),
            verification_code: "7K3M9Q2XP4".into(),
        };
        v.into_licence_with(
            &id,
            "营业执照",
            ring.active_key_id(),
            datetime!(2026-03-01 08:00 UTC),
            secrets,
        )
    }

    #[test]
    fn sign_encode_decode_verify() {
        let ring = example_ring();
        let l = example_licence(&ring);
        let p = QrPayload::sign(&l, &ring).unwrap();
        let text = p.encode().unwrap();
        assert!(text.starts_with("ELC1:"), "{text}");
        assert!(text.len() < 600, "{} chars: {text}", text.len());
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b':'),
            "{text}"
        );
        let back = QrPayload::decode(&format!(" {text}\n")).unwrap();
        assert_eq!(back, p);
        back.verify(&ring.public_keys()).unwrap();
        back.matches_record(&l.canonical_bytes()).unwrap();
        assert_eq!(back.valid_until, "");
        assert_eq!(back.holder_code_masked, "914403********136T");

        // As printed with a public URL: the page's address, then the same text.
        let url = format!("HTTPS://VERIFY.EXAMPLE.GOV.CN/V/{text}");
        assert_eq!(QrPayload::decode(&url).unwrap(), p);
        let base = PublicUrl::parse("https://verify.example.gov.cn/v/").unwrap();
        assert_eq!(base.as_str(), "HTTPS://VERIFY.EXAMPLE.GOV.CN/V/");
        assert_eq!(QrPayload::decode(&base.qr_content(&text)).unwrap(), p);
        // Text before the prefix that is not a URL is not silently dropped.
        assert_eq!(QrPayload::decode(&format!("X{text}")), Err(QrError::Prefix));
    }

    #[test]
    fn a_public_url_is_checked_and_kept_alphanumeric() {
        for (bad, why) in [
            ("verify.example.gov.cn/v/", "must start with https://"),
            ("ftp://verify.example.gov.cn/v/", "must start with https://"),
            ("https://verify.example.gov.cn/", "must end with /v/"),
            ("https://verify.example.gov.cn/v/?x=", "'?' is not allowed"),
            ("https://verify_example.gov.cn/v/", "'_' is not allowed"),
            ("https:///v/", "has no host"),
        ] {
            let e = PublicUrl::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let long = format!("https://{}.cn/v/", "a".repeat(100));
        assert!(PublicUrl::parse(&long).unwrap_err().contains("at most 100"));
        assert_eq!(
            PublicUrl::parse(" http://127.0.0.1:8080/v/ ").unwrap().as_str(),
            "HTTP://127.0.0.1:8080/V/"
        );
    }

    #[test]
    fn person_holder_is_masked() {
        let ring = example_ring();
        let mut l = example_licence(&ring);
        l.holder_code_type = "111".into();
        l.holder_code = "420802199001011234".into();
        l.holder_name = "李堃喆".into();
        let p = QrPayload::sign(&l, &ring).unwrap();
        assert_eq!(p.holder_name, "李*喆");
        assert_eq!(p.holder_code_masked, "4****************4");
        // A passport or any other code of a natural person is masked too.
        l.holder_code_type = "414".into();
        l.holder_code = "E12345678".into();
        let p = QrPayload::sign(&l, &ring).unwrap();
        assert_eq!(p.holder_code_masked, "E*******8");
    }

    #[test]
    fn tampering_fails() {
        let ring = example_ring();
        let l = example_licence(&ring);
        let p = QrPayload::sign(&l, &ring).unwrap();
        let mut t = p.clone();
        t.valid_until = "2099-12-31".into();
        assert_eq!(t.verify(&ring.public_keys()), Err(QrError::BadSignature));
        let mut t = p.clone();
        t.signature[10] ^= 1;
        assert_eq!(t.verify(&ring.public_keys()), Err(QrError::BadSignature));
        let other = KeyRing::single(SigningKey::from_bytes(&[1; 32]));
        assert!(matches!(p.verify(&other.public_keys()), Err(QrError::UnknownKey(_))));
        let mut l2 = l.clone();
        l2.licence_number.push('X');
        assert_eq!(p.matches_record(&l2.canonical_bytes()), Err(QrError::DigestMismatch));
        // Flip one byte of the text form.
        let text = p.encode().unwrap();
        let mut bytes = base32_decode(&text[5..]).unwrap();
        bytes[20] ^= 0x01;
        let flipped = format!("ELC1:{}", base32_encode(&bytes));
        let r = QrPayload::decode(&flipped).and_then(|p| p.verify(&ring.public_keys()));
        assert!(r.is_err());
    }

    #[test]
    fn copy_fields_are_signed_and_purpose_is_shortened() {
        let ring = example_ring();
        let l = example_licence(&ring);
        let copy = CopyFields {
            copy_for: "荆门市人力资源和社会保障局".into(),
            copy_purpose: "办理".repeat(30),
            copy_until: "2026-04-30".into(),
        };
        let p = QrPayload::sign_copy(&l, &copy, &ring).unwrap();
        let c = p.copy.clone().unwrap();
        assert_eq!(c.copy_purpose.chars().count(), MAX_QR_PURPOSE_CHARS);
        assert!(c.copy_purpose.ends_with('…'));
        let back = QrPayload::decode(&p.encode().unwrap()).unwrap();
        back.verify(&ring.public_keys()).unwrap();
        let mut t = back.clone();
        t.copy.as_mut().unwrap().copy_until = "2027-04-30".into();
        assert_eq!(t.verify(&ring.public_keys()), Err(QrError::BadSignature));
        // Dropping the copy section breaks the signature too.
        t.copy = None;
        assert_eq!(t.verify(&ring.public_keys()), Err(QrError::BadSignature));
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert_eq!(QrPayload::decode("http://x"), Err(QrError::Prefix));
        assert_eq!(QrPayload::decode("ELC1:***"), Err(QrError::Base32));
        assert_eq!(
            QrPayload::decode("ELC1:aebq"),
            Err(QrError::Base32),
            "lower case is not canonical"
        );
        assert_eq!(
            QrPayload::decode("ELC1:AF"),
            Err(QrError::Base32),
            "non-zero trailing bits"
        );
        assert_eq!(QrPayload::decode("ELC1:"), Err(QrError::Truncated("version")));
        assert_eq!(
            QrPayload::decode(&format!("ELC1:{}", base32_encode(&[2]))),
            Err(QrError::Version(2))
        );
        assert_eq!(
            QrPayload::decode(&format!("ELC1:{}", base32_encode(&[1, 2]))),
            Err(QrError::Flags(2))
        );
        assert_eq!(
            QrPayload::decode(&format!("ELC1:{}", base32_encode(&[1, 0]))),
            Err(QrError::Truncated("identifier"))
        );
        let ring = example_ring();
        let text = QrPayload::sign(&example_licence(&ring), &ring)
            .unwrap()
            .encode()
            .unwrap();
        let mut bytes = base32_decode(&text[5..]).unwrap();
        bytes.push(0);
        let long = format!("ELC1:{}", base32_encode(&bytes));
        assert_eq!(QrPayload::decode(&long), Err(QrError::TrailingBytes(1)));
    }

    /// Prints the worked example of `docs/QR-PAYLOAD.md`:
    /// `cargo test --lib qr::tests::worked_example -- --nocapture`.
    #[test]
    fn worked_example() {
        let ring = example_ring();
        let l = example_licence(&ring);
        let p = QrPayload::sign(&l, &ring).unwrap();
        let pk = ring.public_keys()[0].public_key;
        println!("seed            = 2a × 32 bytes");
        println!("public key      = {}", hex::encode(pk));
        println!("key id          = {}", p.key_id);
        println!("record digest   = {}", p.digest_hex());
        println!("signed bytes    = {}", hex::encode(p.signed_bytes().unwrap()));
        println!("signature       = {}", hex::encode(p.signature));
        println!("text            = {}", p.encode().unwrap());
        // Ed25519 is deterministic: the example in the docs stays valid.
        assert_eq!(
            p.key_id,
            signing::key_id(&SigningKey::from_bytes(&[42; 32]).verifying_key())
        );
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/QR-PAYLOAD.md")).unwrap();
        for value in [
            p.digest_hex(),
            hex::encode(p.signed_bytes().unwrap()),
            hex::encode(p.signature),
            p.encode().unwrap(),
        ] {
            assert!(doc.contains(&value), "docs/QR-PAYLOAD.md is stale: {value} missing");
        }
    }

    #[test]
    fn base32_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
    }

    fn payload() -> impl Strategy<Value = QrPayload> {
        let text = || "\\PC{0,24}";
        let copy = proptest::option::of(
            (text(), text(), text()).prop_map(|(copy_for, copy_purpose, copy_until)| CopyFields {
                copy_for,
                copy_purpose,
                copy_until,
            }),
        );
        (
            proptest::collection::vec(text(), 8),
            copy,
            any::<[u8; 32]>(),
            "[0-9a-f]{16}",
            proptest::collection::vec(any::<u8>(), 64),
        )
            .prop_map(|(t, copy, record_digest, key_id, signature)| QrPayload {
                identifier: t[0].clone(),
                licence_type_code: t[1].clone(),
                licence_number: t[2].clone(),
                holder_name: t[3].clone(),
                holder_code_masked: t[4].clone(),
                issuer_name: t[5].clone(),
                valid_from: t[6].clone(),
                valid_until: t[7].clone(),
                copy,
                record_digest,
                key_id,
                signature: signature.try_into().unwrap(),
            })
    }

    proptest! {
        #[test]
        fn base32_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(base32_decode(&base32_encode(&bytes)).unwrap(), bytes);
        }

        #[test]
        fn decode_never_panics(s in ".{0,600}") {
            let _ = QrPayload::decode(&s);
            let _ = QrPayload::decode(&format!("ELC1:{s}"));
        }

        #[test]
        fn arbitrary_payloads_round_trip(p in payload()) {
            let text = p.encode().unwrap();
            prop_assert!(text.len() <= MAX_QR_TEXT, "{} chars", text.len());
            prop_assert_eq!(QrPayload::decode(&text).unwrap(), p);
        }

        #[test]
        fn accepted_text_is_the_canonical_encoding(bytes in proptest::collection::vec(any::<u8>(), 0..400), cut in any::<prop::sample::Index>()) {
            // Mostly well-formed payload bytes, truncated or not: whatever decodes must
            // re-encode to exactly the text that was read.
            let ring = example_ring();
            let p = QrPayload::sign(&example_licence(&ring), &ring).unwrap();
            let mut raw = p.signed_bytes().unwrap();
            raw.extend_from_slice(&p.signature);
            raw.truncate(cut.index(raw.len() + 1));
            raw.extend_from_slice(&bytes);
            let text = format!("ELC1:{}", base32_encode(&raw));
            if let Ok(decoded) = QrPayload::decode(&text) {
                prop_assert_eq!(decoded.encode().unwrap(), text);
            }
        }

        #[test]
        fn decode_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = QrPayload::decode(&format!("ELC1:{}", base32_encode(&bytes)));
            let mut b = vec![1u8, 0];
            b.extend_from_slice(&bytes);
            let _ = QrPayload::decode(&format!("ELC1:{}", base32_encode(&b)));
        }
    }
}

#[cfg(test)]
mod too_long_tests {
    use super::tests::{example_licence, example_ring};
    use super::*;

    #[test]
    fn a_payload_too_long_to_decode_is_refused_when_signed() {
        let ring = example_ring();
        let mut l = example_licence(&ring);
        l.issuer_name = "荆".repeat(512);
        l.holder_name = "楚".repeat(512);
        l.licence_number = "A".repeat(500);
        assert_eq!(QrPayload::sign(&l, &ring), Err(QrError::TooLong));
        // At ordinary lengths it signs and round-trips.
        let l = example_licence(&ring);
        let p = QrPayload::sign(&l, &ring).unwrap();
        assert_eq!(QrPayload::decode(&p.encode().unwrap()).unwrap(), p);
    }
}
