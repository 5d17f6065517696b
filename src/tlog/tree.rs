//! The tree over whatever stores its hashes.
//!
//! Hashes are stored in the layout of Go's `sumdb/tlog` (ported to Rust by the
//! `tlog_tiles` crate, which does the arithmetic here): leaf `n` and every subtree it
//! completes get one stored hash each, at indexes from `stored_hash_index(0, n)` on, so
//! appending reads at most log₂ n earlier hashes and writes about two — the tree is never
//! rescanned — and a root or a proof reads O(log n) hashes. The same layout is what the
//! C2SP tlog-tiles hash tiles are cut from.

use std::cell::RefCell;

use tlog_tiles::HashReader;

use super::proof::{ConsistencyProof, InclusionProof, ProofError};
use super::Hash;

pub use tlog_tiles::{stored_hash_count, stored_hash_index};

/// Reading stored hashes by index; the store's errors pass through unchanged.
pub trait Hashes {
    type Error;
    fn read(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error>;
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError<E> {
    #[error(transparent)]
    Store(E),
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error("the stored tree is inconsistent: {0}")]
    Inconsistent(String),
}

/// Adapts [`Hashes`] to the crate's reader, keeping the store's own error.
struct Reader<'a, H: Hashes> {
    hashes: &'a H,
    failed: RefCell<Option<H::Error>>,
}

impl<H: Hashes> HashReader for Reader<'_, H> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        match self.hashes.read(indexes) {
            Ok(v) if v.len() == indexes.len() => Ok(v.into_iter().map(tlog_tiles::Hash).collect()),
            Ok(_) => Err(tlog_tiles::Error::IndexesNotInTree),
            Err(e) => {
                *self.failed.borrow_mut() = Some(e);
                Err(tlog_tiles::Error::IndexesNotInTree)
            }
        }
    }
}

impl<'a, H: Hashes> Reader<'a, H> {
    fn new(hashes: &'a H) -> Self {
        Reader {
            hashes,
            failed: RefCell::new(None),
        }
    }

    fn error(&self, e: tlog_tiles::Error) -> TreeError<H::Error> {
        match self.failed.borrow_mut().take() {
            Some(e) => TreeError::Store(e),
            None => TreeError::Inconsistent(e.to_string()),
        }
    }
}

/// The hashes to store when leaf `n` (with `leaf_hash`) is appended, with their indexes.
/// `hashes` must see every hash stored for leaves before `n`.
pub fn append<H: Hashes>(n: u64, leaf_hash: Hash, hashes: &H) -> Result<Vec<(u64, Hash)>, TreeError<H::Error>> {
    let r = Reader::new(hashes);
    let new = tlog_tiles::stored_hashes_for_record_hash(n, tlog_tiles::Hash(leaf_hash), &r).map_err(|e| r.error(e))?;
    let first = stored_hash_index(0, n);
    Ok(new
        .into_iter()
        .enumerate()
        .map(|(i, h)| (first + i as u64, h.0))
        .collect())
}

/// The root hash of the first `size` leaves (SHA-256 of nothing for none).
pub fn root<H: Hashes>(size: u64, hashes: &H) -> Result<Hash, TreeError<H::Error>> {
    let r = Reader::new(hashes);
    tlog_tiles::tree_hash(size, &r).map(|h| h.0).map_err(|e| r.error(e))
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion<H: Hashes>(size: u64, index: u64, hashes: &H) -> Result<InclusionProof, TreeError<H::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size }.into());
    }
    let r = Reader::new(hashes);
    let proof = tlog_tiles::prove_record(size, index, &r).map_err(|e| r.error(e))?;
    Ok(InclusionProof {
        leaf_index: index,
        tree_size: size,
        hashes: proof.into_iter().map(|h| h.0).collect(),
    })
}

/// The consistency proof from the tree of `old` leaves to the tree of `new` leaves.
pub fn consistency<H: Hashes>(old: u64, new: u64, hashes: &H) -> Result<ConsistencyProof, TreeError<H::Error>> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new }.into());
    }
    let proof = if old == 0 || old == new {
        Vec::new()
    } else {
        let r = Reader::new(hashes);
        tlog_tiles::prove_tree(new, old, &r).map_err(|e| r.error(e))?
    };
    Ok(ConsistencyProof {
        old_size: old,
        new_size: new,
        hashes: proof.into_iter().map(|h| h.0).collect(),
    })
}

/// Hashes kept in memory: for tests, and for a write's hashes before they are stored.
#[derive(Debug, Default, Clone)]
pub struct MemoryHashes {
    pub hashes: Vec<Hash>,
}

impl MemoryHashes {
    /// Appends leaf number `self.size()` and stores what it completes.
    pub fn push(&mut self, leaf_hash: Hash) -> u64 {
        let n = self.size();
        let new = append(n, leaf_hash, self).expect("memory hashes are complete");
        for (i, h) in new {
            debug_assert_eq!(i as usize, self.hashes.len());
            self.hashes.push(h);
        }
        n
    }

    /// Leaves appended so far.
    pub fn size(&self) -> u64 {
        // The stored-hash count is strictly increasing in the number of leaves.
        let (mut lo, mut hi) = (0u64, self.hashes.len() as u64 + 1);
        while lo + 1 < hi {
            let mid = (lo + hi) / 2;
            if stored_hash_count(mid) <= self.hashes.len() as u64 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

impl Hashes for MemoryHashes {
    type Error = String;
    fn read(&self, indexes: &[u64]) -> Result<Vec<Hash>, String> {
        indexes
            .iter()
            .map(|&i| {
                self.hashes
                    .get(i as usize)
                    .copied()
                    .ok_or_else(|| format!("no hash {i}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    //! Every root and proof of every tree up to a few hundred leaves against the RFC's
    //! recursive definitions (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1), computed naively, and
    //! checked by the RFC's verification algorithms; plus the published vectors.
    use super::*;
    use crate::tlog::leaf::leaf_hash;
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;

    /// MTH(D[lo:hi]) by the definition, memoised.
    struct Naive {
        leaves: Vec<Hash>,
        memo: HashMap<(usize, usize), Hash>,
    }

    fn node(l: &Hash, r: &Hash) -> Hash {
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(l);
        h.update(r);
        h.finalize().into()
    }

    /// The largest power of two smaller than n (n > 1).
    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    impl Naive {
        fn mth(&mut self, lo: usize, hi: usize) -> Hash {
            if let Some(h) = self.memo.get(&(lo, hi)) {
                return *h;
            }
            let h = match hi - lo {
                0 => Sha256::digest([]).into(),
                1 => self.leaves[lo],
                n => {
                    let k = split(n);
                    let l = self.mth(lo, lo + k);
                    let r = self.mth(lo + k, hi);
                    node(&l, &r)
                }
            };
            self.memo.insert((lo, hi), h);
            h
        }

        /// PATH(m, D[lo:hi]).
        fn path(&mut self, m: usize, lo: usize, hi: usize) -> Vec<Hash> {
            let n = hi - lo;
            if n == 1 {
                return vec![];
            }
            let k = split(n);
            if m < k {
                let mut p = self.path(m, lo, lo + k);
                p.push(self.mth(lo + k, hi));
                p
            } else {
                let mut p = self.path(m - k, lo + k, hi);
                p.push(self.mth(lo, lo + k));
                p
            }
        }

        /// SUBPROOF(m, D[lo:hi], b).
        fn subproof(&mut self, m: usize, lo: usize, hi: usize, b: bool) -> Vec<Hash> {
            let n = hi - lo;
            if m == n {
                return if b { vec![] } else { vec![self.mth(lo, hi)] };
            }
            let k = split(n);
            if m <= k {
                let mut p = self.subproof(m, lo, lo + k, b);
                p.push(self.mth(lo + k, hi));
                p
            } else {
                let mut p = self.subproof(m - k, lo + k, hi, false);
                p.push(self.mth(lo, lo + k));
                p
            }
        }
    }

    fn leaf_data(i: usize) -> Vec<u8> {
        format!("leaf {i}").into_bytes()
    }

    #[test]
    fn every_root_and_proof_up_to_300_leaves_matches_the_rfc() {
        const MAX: usize = 300;
        let leaves: Vec<Hash> = (0..MAX).map(|i| leaf_hash(&leaf_data(i))).collect();
        let mut naive = Naive {
            leaves: leaves.clone(),
            memo: HashMap::new(),
        };
        let mut mem = MemoryHashes::default();
        let mut roots = vec![root(0, &mem).unwrap()];
        assert_eq!(roots[0], <[u8; 32]>::from(Sha256::digest([])));
        for (i, l) in leaves.iter().enumerate() {
            assert_eq!(mem.push(*l), i as u64);
            assert_eq!(mem.size(), i as u64 + 1);
            roots.push(root(i as u64 + 1, &mem).unwrap());
        }
        for size in 1..=MAX {
            assert_eq!(roots[size], naive.mth(0, size), "root of {size}");
            for index in 0..size {
                let p = inclusion(size as u64, index as u64, &mem).unwrap();
                assert_eq!(p.hashes, naive.path(index, 0, size), "inclusion {index} in {size}");
                p.verify(&leaves[index], &roots[size]).unwrap();
                // The wrong leaf, index or root is refused.
                assert!(p.verify(&leaves[(index + 1) % MAX], &roots[size]).is_err());
                let mut moved = p.clone();
                moved.leaf_index = (index as u64 + 1) % size as u64;
                if size > 1 {
                    assert!(moved.verify(&leaves[index], &roots[size]).is_err());
                }
            }
            // Consistency from every smaller size (every size up to 120; a sample past it).
            let olds: Vec<usize> = if size <= 120 {
                (0..=size).collect()
            } else {
                (0..=size).step_by(7).chain([size - 1, size]).collect()
            };
            for old in olds {
                let p = consistency(old as u64, size as u64, &mem).unwrap();
                if old > 0 && old < size {
                    assert_eq!(p.hashes, naive.subproof(old, 0, size, true), "consistency {old}→{size}");
                } else {
                    assert!(p.hashes.is_empty());
                }
                p.verify(&roots[old], &roots[size]).unwrap();
                if old > 0 && old < size {
                    assert!(p.verify(&roots[old - 1], &roots[size]).is_err(), "{old}→{size}");
                    assert!(p.verify(&roots[old], &roots[size - 1]).is_err());
                    let mut short = p.clone();
                    short.hashes.pop();
                    assert!(short.verify(&roots[old], &roots[size]).is_err());
                }
            }
        }
    }

    #[test]
    fn the_published_rfc_6962_vectors() {
        // The eight leaves and roots of the RFC 6962 reference test data (used by the
        // certificate-transparency and transparency-dev/merkle implementations).
        let data: [&str; 8] = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut mem = MemoryHashes::default();
        for (i, d) in data.iter().enumerate() {
            mem.push(leaf_hash(&hex::decode(d).unwrap()));
            assert_eq!(
                hex::encode(root(i as u64 + 1, &mem).unwrap()),
                roots[i],
                "root of {}",
                i + 1
            );
        }
        // RFC 6962 §2.1.3's example: the consistency proof from 3 to 7 is [c, d, g, l].
        let p = consistency(3, 7, &mem).unwrap();
        assert_eq!(p.hashes.len(), 4);
        let root3: Hash = hex::decode(roots[2]).unwrap().try_into().unwrap();
        let root7: Hash = hex::decode(roots[6]).unwrap().try_into().unwrap();
        p.verify(&root3, &root7).unwrap();
        assert_eq!(p.hashes[0], leaf_hash(&hex::decode(data[2]).unwrap()));
    }

    #[test]
    fn hostile_proofs_are_refused_without_panic() {
        let mut mem = MemoryHashes::default();
        for i in 0..37 {
            mem.push(leaf_hash(&leaf_data(i)));
        }
        let r = root(37, &mem).unwrap();
        for (index, size, len) in [(0, 0, 0), (5, 3, 2), (u64::MAX, u64::MAX, 70), (3, 37, 0), (3, 37, 200)] {
            let p = InclusionProof {
                leaf_index: index,
                tree_size: size,
                hashes: vec![[7; 32]; len],
            };
            assert!(p.verify(&leaf_hash(&leaf_data(3)), &r).is_err());
        }
        for (old, new, len) in [
            (5, 3, 1),
            (1, 37, 0),
            (36, 37, 300),
            (u64::MAX - 1, u64::MAX, 64),
            (0, 5, 1),
        ] {
            let p = ConsistencyProof {
                old_size: old,
                new_size: new,
                hashes: vec![[7; 32]; len],
            };
            assert!(p.verify(&r, &r).is_err());
        }
        assert!(inclusion(37, 37, &mem).is_err());
        assert!(consistency(38, 37, &mem).is_err());
        // A tree larger than what is stored is an error, not a panic.
        assert!(matches!(
            root(1000, &mem),
            Err(TreeError::Store(_)) | Err(TreeError::Inconsistent(_))
        ));
    }
}
