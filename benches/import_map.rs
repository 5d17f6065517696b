//! Read + map throughput of the import pipeline over a generated CSV (no store, no
//! signing): how many source rows per second the reader and [`RowMapper`] sustain.
//! Run with `cargo bench --bench import_map`; rows/s is reported as throughput.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use elicence::catalog::types::load_dir;
use elicence::import::{gen_sample, open_bytes, Format, MapOptions, Mapping, ReadOptions, RowMapper, SampleFormat};

const ROWS: u64 = 50_000;

/// CPU seconds this process has used (Linux), so the figure printed below stays
/// meaningful on a machine shared with other builds, where wall time is not.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Rows per CPU second of `work` repeated until it has used at least two CPU seconds.
fn cpu_rate(rows: u64, mut work: impl FnMut()) -> Option<f64> {
    let start = cpu_seconds()?;
    let mut done = 0;
    while cpu_seconds()? - start < 2.0 {
        work();
        done += rows;
    }
    Some(done as f64 / (cpu_seconds()? - start))
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = load_dir(&root.join("templates/catalog")).unwrap();
    let mapping = Mapping::load(&root.join("templates/mappings/sample.toml")).unwrap();
    let mapper = RowMapper::new(mapping.clone(), &catalog, MapOptions::default()).unwrap();
    let mut group = c.benchmark_group("import");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(10);
    for (name, format) in [("csv_utf8", SampleFormat::CsvUtf8), ("csv_gbk", SampleFormat::CsvGbk)] {
        let mut bytes = Vec::new();
        gen_sample(ROWS, 1, format, true, &mut bytes).unwrap();
        group.bench_function(format!("read_map_{name}"), |b| {
            b.iter(|| {
                let source = open_bytes(bytes.clone(), Format::Csv, &mapping, &ReadOptions::default()).unwrap();
                let mut good = 0u64;
                for row in source.flatten() {
                    good += u64::from(mapper.map(&row).is_ok());
                }
                assert!(good > ROWS * 9 / 10);
                good
            })
        });
    }
    let mut bytes = Vec::new();
    gen_sample(ROWS, 1, SampleFormat::CsvUtf8, true, &mut bytes).unwrap();
    let rows: Vec<_> = open_bytes(bytes, Format::Csv, &mapping, &ReadOptions::default())
        .unwrap()
        .flatten()
        .collect();
    group.bench_function("map_only", |b| {
        b.iter(|| rows.iter().filter(|r| mapper.map(r).is_ok()).count())
    });
    group.finish();

    // The same work measured in CPU time rather than wall time.
    let mut utf8 = Vec::new();
    gen_sample(ROWS, 1, SampleFormat::CsvUtf8, true, &mut utf8).unwrap();
    let read_map = cpu_rate(ROWS, || {
        let source = open_bytes(utf8.clone(), Format::Csv, &mapping, &ReadOptions::default()).unwrap();
        for row in source.flatten() {
            std::hint::black_box(mapper.map(&row).is_ok());
        }
    });
    let map_only = cpu_rate(ROWS, || {
        for r in &rows {
            std::hint::black_box(mapper.map(r).is_ok());
        }
    });
    let started = std::time::Instant::now();
    let cpu = cpu_seconds();
    let mut out = std::io::BufWriter::new(std::io::sink());
    gen_sample(1_000_000, 2, SampleFormat::CsvGbk, true, &mut out).unwrap();
    if let (Some(before), Some(after)) = (cpu, cpu_seconds()) {
        println!(
            "import/gen_sample: 1,000,000 GBK CSV rows in {:.1} s wall, {:.1} CPU s",
            started.elapsed().as_secs_f64(),
            after - before
        );
    }
    if let (Some(a), Some(b)) = (read_map, map_only) {
        println!("import/cpu: read+map CSV UTF-8 {a:.0} rows per CPU second; map only {b:.0}");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
