//! Store write path of the migration, without reading, mapping or signing: how many rows
//! per second the store's batch insert sustains, against raw sled 0.34 writing the same
//! keys and values (per-tree `apply_batch`, one write-only transaction, the record tree
//! alone), each batch flushed as the import does. Single-threaded, so rows per CPU
//! second is also printed (the machine is shared with other builds), and the median and
//! p90 time of a flush: the store's durable flush is `Db::flush` + `fdatasync` of sled's
//! log, the raw rows' is `Db::flush` alone, so their difference is the fdatasync's cost.
//!
//! `cargo bench --bench store_write` (env `BENCH_ROWS`, default 100000; `BENCH_BATCH`,
//! default 2000).

mod common;

use std::time::Instant;

use common::migrated_row as row;

use elicence::store::{NewRecord, SledStore, Store};
use sled::Transactional;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = stat.rsplit_once(')').expect("stat").1;
    let f: Vec<&str> = after.split_whitespace().collect();
    (f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime")) / 100.0
}

fn key(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&0u8)
}

/// The six (tree, key, value) writes the store makes for a migrated row.
fn writes(n: &NewRecord) -> [(usize, Vec<u8>, Vec<u8>); 6] {
    let id = n.identifier.as_bytes();
    let mut value = vec![16u8];
    value.extend_from_slice(n.record.key_id.as_bytes());
    value.extend_from_slice(&n.record.signature);
    value.extend_from_slice(&n.record.bytes);
    [
        (0, id.to_vec(), value),
        (
            1,
            key(&[n.type_code.as_bytes(), n.licence_number.as_bytes()]),
            id.to_vec(),
        ),
        (2, key(&[b"111", n.holder_code.as_bytes(), id]), vec![]),
        (3, key(&[n.type_code.as_bytes(), n.issue_date.as_bytes(), id]), vec![]),
        (4, key(&[n.issuer_code.as_bytes(), n.issue_date.as_bytes(), id]), vec![]),
        (5, n.import_key.as_ref().expect("key").as_bytes().to_vec(), id.to_vec()),
    ]
}

fn raw_db(dir: &std::path::Path) -> (sled::Db, Vec<sled::Tree>) {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(256 * 1024 * 1024)
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(None)
        .open()
        .expect("open sled");
    let trees = [
        "records",
        "idx_number",
        "idx_holder",
        "idx_type",
        "idx_issuer",
        "import_keys",
    ]
    .iter()
    .map(|n| db.open_tree(n).expect("tree"))
    .collect();
    (db, trees)
}

fn measure(name: &str, rows: u64, batch: u64, mut write: impl FnMut(Vec<NewRecord>), mut flush: impl FnMut()) {
    let cpu = cpu_seconds();
    let start = Instant::now();
    let mut flushes = Vec::new();
    let mut i = 0;
    while i < rows {
        let n = batch.min(rows - i);
        write((i..i + n).map(row).collect());
        let f = Instant::now();
        flush();
        flushes.push(f.elapsed().as_secs_f64() * 1e3);
        i += n;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    flushes.sort_by(f64::total_cmp);
    let pick = |q: f64| flushes[((flushes.len() as f64 * q) as usize).min(flushes.len() - 1)];
    println!(
        "{name:<44} {:>8.0} rows/s wall ({wall:.2} s), {:>8.0} rows per CPU s; flush p50 {:.2} ms p90 {:.2} ms",
        rows as f64 / wall,
        rows as f64 / cpu,
        pick(0.5),
        pick(0.9)
    );
}

fn main() {
    let rows: u64 = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let batch: u64 = std::env::var("BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    // Building rows costs something too; measured alone so it can be subtracted.
    measure("building the rows only", rows, batch, drop, || {});

    {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = SledStore::open(tmp.path()).expect("open");
        measure(
            "SledStore::insert_batch + durable flush",
            rows,
            batch,
            |b| {
                let out = store.insert_batch(b).wait().expect("insert");
                assert!(out.items.iter().all(|i| *i == elicence::store::BatchItem::Written));
            },
            || store.flush().expect("flush"),
        );
    }
    {
        let tmp = tempfile::tempdir().expect("tmp");
        let (db, trees) = raw_db(tmp.path());
        measure(
            "raw sled: apply_batch per tree (6 keys/row)",
            rows,
            batch,
            |b| {
                let mut batches: Vec<sled::Batch> = (0..6).map(|_| sled::Batch::default()).collect();
                for n in &b {
                    for (t, k, v) in writes(n) {
                        batches[t].insert(k, v);
                    }
                }
                for (t, batch) in batches.into_iter().enumerate() {
                    trees[t].apply_batch(batch).expect("apply");
                }
            },
            || {
                db.flush().expect("flush");
            },
        );
    }
    {
        let tmp = tempfile::tempdir().expect("tmp");
        let (db, trees) = raw_db(tmp.path());
        measure(
            "raw sled: write-only transaction (6 keys/row)",
            rows,
            batch,
            |b| {
                let all: Vec<_> = b.iter().flat_map(writes).collect();
                trees[..]
                    .transaction(|t| {
                        for (i, k, v) in &all {
                            t[*i].insert(k.as_slice(), v.as_slice())?;
                        }
                        Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
                    })
                    .expect("tx");
            },
            || {
                db.flush().expect("flush");
            },
        );
    }
    {
        let tmp = tempfile::tempdir().expect("tmp");
        let (db, trees) = raw_db(tmp.path());
        measure(
            "raw sled: reads of 3 absent keys + apply_batch",
            rows,
            batch,
            |b| {
                let mut batches: Vec<sled::Batch> = (0..6).map(|_| sled::Batch::default()).collect();
                for n in &b {
                    let w = writes(n);
                    assert!(trees[5].get(&w[5].1).expect("get").is_none());
                    assert!(trees[1].get(&w[1].1).expect("get").is_none());
                    assert!(trees[0].get(&w[0].1).expect("get").is_none());
                    for (t, k, v) in w {
                        batches[t].insert(k, v);
                    }
                }
                for (t, batch) in batches.into_iter().enumerate() {
                    trees[t].apply_batch(batch).expect("apply");
                }
            },
            || {
                db.flush().expect("flush");
            },
        );
    }
    {
        let tmp = tempfile::tempdir().expect("tmp");
        let (db, trees) = raw_db(tmp.path());
        measure(
            "raw sled: record tree only (1 key/row)",
            rows,
            batch,
            |b| {
                let mut batch = sled::Batch::default();
                for n in &b {
                    let [(_, k, v), ..] = writes(n);
                    batch.insert(k, v);
                }
                trees[0].apply_batch(batch).expect("apply");
            },
            || {
                db.flush().expect("flush");
            },
        );
    }
    {
        let tmp = tempfile::tempdir().expect("tmp");
        let (db, trees) = raw_db(tmp.path());
        measure(
            "raw sled: five small index keys only",
            rows,
            batch,
            |b| {
                let mut batches: Vec<sled::Batch> = (0..6).map(|_| sled::Batch::default()).collect();
                for n in &b {
                    for (t, k, v) in writes(n).into_iter().skip(1) {
                        batches[t].insert(k, v);
                    }
                }
                for (t, batch) in batches.into_iter().enumerate().skip(1) {
                    trees[t].apply_batch(batch).expect("apply");
                }
            },
            || {
                db.flush().expect("flush");
            },
        );
    }
}
