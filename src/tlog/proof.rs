//! Inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4) and their verification.
//!
//! The verifiers are written from the RFC's algorithms, step by step, so that what
//! `docs/TRANSPARENCY.md` states is what runs; they take untrusted input and return an
//! error for anything that does not check out, never panic.

use serde::{Deserialize, Serialize};

use super::Hash;

/// The audit path of leaf `leaf_index` in the tree of `tree_size` leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    #[serde(with = "hashes")]
    pub hashes: Vec<Hash>,
}

/// The proof that the tree of `new_size` leaves extends the one of `old_size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    #[serde(with = "hashes")]
    pub hashes: Vec<Hash>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {old} is larger than tree size {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error("the proof has {0} hashes, which no tree of these sizes has")]
    WrongLength(usize),
    #[error("the proof does not lead to the root hash it should")]
    RootMismatch,
    #[error("the proof does not lead to the old root hash")]
    OldRootMismatch,
}

fn node(left: &Hash, right: &Hash) -> Hash {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

impl InclusionProof {
    /// RFC 9162 §2.1.3.2: whether `leaf_hash` is leaf `leaf_index` of the tree of
    /// `tree_size` leaves whose root is `root`.
    pub fn verify(&self, leaf_hash: &Hash, root: &Hash) -> Result<(), ProofError> {
        if self.leaf_index >= self.tree_size {
            return Err(ProofError::IndexOutOfRange {
                index: self.leaf_index,
                size: self.tree_size,
            });
        }
        let (mut f, mut s) = (self.leaf_index, self.tree_size - 1);
        let mut r = *leaf_hash;
        for p in &self.hashes {
            if s == 0 {
                return Err(ProofError::WrongLength(self.hashes.len()));
            }
            if f & 1 == 1 || f == s {
                r = node(p, &r);
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            } else {
                r = node(&r, p);
            }
            f >>= 1;
            s >>= 1;
        }
        if s != 0 {
            return Err(ProofError::WrongLength(self.hashes.len()));
        }
        if &r != root {
            return Err(ProofError::RootMismatch);
        }
        Ok(())
    }
}

impl ConsistencyProof {
    /// RFC 9162 §2.1.4.2: whether the tree of `new_size` leaves with root `new_root`
    /// extends the tree of `old_size` leaves with root `old_root`. Equal sizes need an
    /// empty proof and equal roots; every tree extends the empty one.
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<(), ProofError> {
        let (first, second) = (self.old_size, self.new_size);
        if first > second {
            return Err(ProofError::SizesOutOfOrder {
                old: first,
                new: second,
            });
        }
        if first == second || first == 0 {
            if !self.hashes.is_empty() {
                return Err(ProofError::WrongLength(self.hashes.len()));
            }
            if first == second && old_root != new_root {
                return Err(ProofError::RootMismatch);
            }
            return Ok(());
        }
        if self.hashes.is_empty() {
            return Err(ProofError::WrongLength(0));
        }
        let mut path: Vec<&Hash> = Vec::with_capacity(self.hashes.len() + 1);
        if first.is_power_of_two() {
            path.push(old_root);
        }
        path.extend(self.hashes.iter());
        let (mut f, mut s) = (first - 1, second - 1);
        while f & 1 == 1 {
            f >>= 1;
            s >>= 1;
        }
        let (mut fr, mut sr) = (*path[0], *path[0]);
        for c in &path[1..] {
            if s == 0 {
                return Err(ProofError::WrongLength(self.hashes.len()));
            }
            if f & 1 == 1 || f == s {
                fr = node(c, &fr);
                sr = node(c, &sr);
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            } else {
                sr = node(&sr, c);
            }
            f >>= 1;
            s >>= 1;
        }
        if s != 0 {
            return Err(ProofError::WrongLength(self.hashes.len()));
        }
        if &fr != old_root {
            return Err(ProofError::OldRootMismatch);
        }
        if &sr != new_root {
            return Err(ProofError::RootMismatch);
        }
        Ok(())
    }
}

/// Hashes as base64 strings in JSON (as C2SP notes and tiles tools print them).
mod hashes {
    use base64::prelude::{Engine, BASE64_STANDARD};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|h| BASE64_STANDARD.encode(h)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        let v: Vec<String> = Vec::deserialize(d)?;
        v.iter()
            .map(|s| {
                BASE64_STANDARD
                    .decode(s)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| D::Error::custom("a hash is 32 bytes in base64"))
            })
            .collect()
    }
}
