//! elicence — an electronic licence repository (电子证照库).
//!
//! # Layout
//! - [`licence`]: the domain — record, GB/T 36904 identifier, holder codes, lifecycle,
//!   canonical JSON and Ed25519 signing. No I/O, no clock.
//! - [`store`]: the storage interface and its sled backend — trees, indexes, atomic
//!   writes, group commit, the data directory kept private (0700/0600).
//! - [`catalog`]: licence types (GB/T 36902) and the department directory with tokens
//!   and permissions.
//! - [`api`]: the tonic services — authentication, validation, proto ↔ domain
//!   conversion, the one error → status mapping, and `api::server`, which builds the
//!   router and runs it on a bound listener until shutdown. The only module that
//!   knows gRPC.
//! - [`registry`]: the repository's operations (issue, read, verify, lifecycle) over the
//!   store, keys and clock; what the API handlers and the CLI call.
//! - [`repository`]: the composition root — keys, store, catalogue, templates and font
//!   assembled into a registry, the same way for every command and test.
//! - [`import`]: historical migration — CSV (UTF-8/GBK), JSON lines and XLSX readers,
//!   mapping files, date parsing, row validation, reject reports.
//! - [`audit`]: the access audit log's entries, signed bytes and hash chain check.
//! - [`tlog`]: the transparency log — leaves, the Merkle tree's stored hashes, proofs
//!   and signed checkpoints.
//! - [`metrics`]: the process's Prometheus metrics.
//! - [`keys`]: loading the signing key ring from disk.
//! - [`limits`]: what a server accepts (sizes, deadlines, requests in progress, the
//!   per-client rate limit of public verification), for every transport.
//! - [`clock`]: the time source, passed in so that expiry rules are testable.
//! - [`render`]: licence templates → PDF with an embedded subset CJK font, the red seal
//!   and a QR code carrying the signed payload.
//! - [`control`]: the operator's Unix socket in the data directory (backup and check of
//!   a running server).
//! - [`cli`]: the subcommands of the `elicence` binary.
//! - `testing` (feature `testing`, on for tests and benchmarks only): the development
//!   repository (example keys, built-in catalogue and layouts) they start.

pub mod api;
pub mod audit;
pub mod catalog;
pub mod cli;
pub mod clock;
#[cfg(unix)]
pub mod control;
pub mod import;
pub mod keys;
pub mod licence;
pub mod limits;
pub mod metrics;
pub mod registry;
pub mod render;
pub mod repository;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tlog;
pub mod web;
