//! Query page tokens: where the next page starts, sealed with a server secret
//! (XChaCha20-Poly1305) so a caller can neither read the index position inside (which
//! names a licence) nor forge one, bound to the caller and the query it continues, and
//! valid for [`TOKEN_LIFETIME`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::licence::Invalid;

/// Label of the secret derived from the signing key ([`crate::licence::KeyRing::derive_secret`]).
pub const SECRET_LABEL: &str = "elicence page tokens v1";
/// How long a token may be used.
pub const TOKEN_LIFETIME: time::Duration = time::Duration::minutes(15);
const AAD: &[u8] = b"elicence.page-token.v1";
const NONCE: usize = 24;
/// Longest token accepted (positions are index keys, well under this).
const MAX_TOKEN_CHARS: usize = 2048;

pub struct PageTokens {
    cipher: XChaCha20Poly1305,
}

/// What a token binds: who may use it, and for which query.
pub struct TokenScope<'a> {
    pub caller: &'a str,
    pub fingerprint: &'a [u8],
}

impl TokenScope<'_> {
    fn digest(&self) -> [u8; 32] {
        Sha256::new()
            .chain_update((self.caller.len() as u64).to_be_bytes())
            .chain_update(self.caller.as_bytes())
            .chain_update(self.fingerprint)
            .finalize()
            .into()
    }
}

fn bad() -> Invalid {
    Invalid::new("page_token", "is not a next_page_token of this query")
}

impl PageTokens {
    pub fn new(secret: [u8; 32]) -> PageTokens {
        PageTokens {
            cipher: XChaCha20Poly1305::new(&secret.into()),
        }
    }

    /// A token for continuing after `position`.
    pub fn seal(&self, scope: &TokenScope<'_>, position: &[u8], now: OffsetDateTime) -> String {
        let expires = (now + TOKEN_LIFETIME).unix_timestamp().max(0) as u64;
        let mut plain = Vec::with_capacity(8 + 32 + position.len());
        plain.extend_from_slice(&expires.to_be_bytes());
        plain.extend_from_slice(&scope.digest());
        plain.extend_from_slice(position);
        let mut nonce = [0u8; NONCE];
        OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: &plain, aad: AAD })
            .expect("encrypting into a Vec cannot fail");
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The position a token continues from, if it is authentic, unexpired, and for this
    /// caller and query.
    pub fn open(&self, scope: &TokenScope<'_>, token: &str, now: OffsetDateTime) -> Result<Vec<u8>, Invalid> {
        let token = token.trim();
        if token.len() > MAX_TOKEN_CHARS {
            return Err(bad());
        }
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        if raw.len() < NONCE {
            return Err(bad());
        }
        let (nonce, sealed) = raw.split_at(NONCE);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: AAD })
            .map_err(|_| bad())?;
        if plain.len() < 40 || plain[8..40] != scope.digest() {
            return Err(bad());
        }
        let expires = u64::from_be_bytes(plain[..8].try_into().expect("8 bytes"));
        if (now.unix_timestamp().max(0) as u64) > expires {
            return Err(Invalid::new(
                "page_token",
                "has expired; run the query again from the start",
            ));
        }
        Ok(plain[40..].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn tokens_are_opaque_bound_and_expire() {
        let tokens = PageTokens::new([7; 32]);
        let now = datetime!(2026-12-01 10:00 UTC);
        let scope = TokenScope {
            caller: "dept-a",
            fingerprint: b"holder\x00111\x00420802",
        };
        let position = b"111\x00420802199001011234\x001.2.156.3005.2.X";
        let t = tokens.seal(&scope, position, now);
        assert_eq!(tokens.open(&scope, &t, now).unwrap(), position);
        // Nothing of the position shows through, and two tokens for it differ.
        let raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        assert!(!raw.windows(6).any(|w| w == b"420802"));
        assert_ne!(tokens.seal(&scope, position, now), t);
        // Another caller, another query, another secret, a flipped bit: refused.
        let other_caller = TokenScope {
            caller: "dept-b",
            ..scope
        };
        assert!(tokens.open(&other_caller, &t, now).is_err());
        let other_query = TokenScope {
            caller: "dept-a",
            fingerprint: b"holder\x00111\x00other",
        };
        assert!(tokens.open(&other_query, &t, now).is_err());
        assert!(PageTokens::new([8; 32]).open(&scope, &t, now).is_err());
        let mut flipped = raw.clone();
        flipped[30] ^= 1;
        assert!(tokens.open(&scope, &URL_SAFE_NO_PAD.encode(flipped), now).is_err());
        for garbage in ["", "!!!", "AAAA", &"A".repeat(5000)] {
            assert_eq!(tokens.open(&scope, garbage, now).unwrap_err().field, "page_token");
        }
        // Expired.
        let e = tokens
            .open(&scope, &t, now + TOKEN_LIFETIME + time::Duration::seconds(1))
            .unwrap_err();
        assert!(e.reason.contains("expired"), "{e}");
    }
}
