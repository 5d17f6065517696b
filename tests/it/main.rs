//! Integration tests: a real server on a port-0 listener, driven through the generated
//! gRPC client. One binary; each module covers one area.

mod audit;
mod backup;
mod browser;
mod common;
mod core;
mod crash;
mod documents;
mod hygiene;
mod import_limits;
mod import_rules;
mod lifecycle;
mod limits;
mod migration;
mod offline;
mod on_postgres;
mod openapi;
mod pdf;
mod privacy;
mod query;
mod replicas;
mod secrets;
mod store_migrate;
mod templates;
mod tls;
mod transparency;
mod web;
mod workload;
