//! The transparency log: every signed record, lifecycle event and access-audit entry is
//! a leaf of one append-only Merkle tree (RFC 9162 §2.1 hashing), and signed checkpoints
//! (C2SP `tlog-checkpoint`) commit to its size and root.
//!
//! - [`leaf`]: what a leaf is — the entry text that is hashed, and its position key.
//! - [`tree`]: appending (the node hashes a new leaf completes, in the stored-hash layout
//!   of Go's `sumdb/tlog`, through the `tlog_tiles` crate), roots and proofs read from
//!   whatever stores the hashes.
//! - [`proof`]: inclusion and consistency proofs and their verification, written from
//!   RFC 9162 §2.1.3.2 and §2.1.4.2 (untrusted input never panics).
//! - [`checkpoint`]: the signed note, signed by the repository's active key.
//!
//! Storage goes through the store interface: each backend appends a write's leaves in
//! the same atomic write as the entries themselves (see `store`).

pub mod checkpoint;
pub mod leaf;
pub mod proof;
pub mod tree;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use leaf::{Leaf, LeafError, LeafKey, LeafKind};
pub use proof::{ConsistencyProof, InclusionProof, ProofError};

/// A node or leaf hash.
pub type Hash = [u8; 32];
