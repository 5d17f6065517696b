//! Integration tests: a real server on a port-0 listener, driven through the generated
//! gRPC client. One binary; each module covers one area.

mod audit;
mod backup;
mod common;
mod core;
mod crash;
mod lifecycle;
mod limits;
mod migration;
mod query;
mod secrets;
mod tls;
mod workload;
