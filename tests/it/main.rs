//! Integration tests: a real server on a port-0 listener, driven through the generated
//! gRPC client. One binary; each module covers one area.

mod audit;
mod common;
mod core;
mod documents;
mod lifecycle;
mod migration;
mod offline;
mod pdf;
mod query;
mod templates;
mod tls;
