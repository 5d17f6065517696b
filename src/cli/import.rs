//! `elicence import`: migrate a legacy export (CSV UTF-8/GBK, JSON lines, XLSX) into the
//! store through a mapping file. Every good row becomes a signed licence exactly once
//! (re-runs skip what is present), its first event naming the operator and the run;
//! every bad row goes to the reject report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::data_dir::StoreArgs;
use crate::clock::SystemClock;
use crate::import::{
    open_source, run_import, Encoding, Format, MapOptions, Mapping, Progress, ReadOptions, RejectWriter, RowMapper,
    RunOptions, XlsxLimits,
};
use crate::registry::{Importer, RegistrySink};
use crate::repository::{Font, Repository, RepositoryConfig};
use crate::store::EmbeddedConfig;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export to import (.csv, .tsv, .jsonl, .xlsx).
    pub input: PathBuf,
    /// Mapping file (docs/IMPORT.md).
    #[arg(long)]
    pub mapping: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long, env = "ELICENCE_KEYS", default_value = "keys-example/")]
    pub keys: PathBuf,
    /// Licence type catalogue: each type the store lacks is stored first.
    #[arg(long, env = "ELICENCE_CATALOG", default_value = "templates/catalog")]
    pub catalog: PathBuf,
    /// Override the format: csv, jsonl, xlsx.
    #[arg(long)]
    pub format: Option<String>,
    /// Override the encoding: auto, utf-8, gbk, gb18030.
    #[arg(long)]
    pub encoding: Option<String>,
    /// XLSX sheet (default: the first).
    #[arg(long)]
    pub sheet: Option<String>,
    /// Reject report (CSV: line, column, value, reason). Default: `<input>.rejects.csv`.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Import holder codes whose check digit fails, flagged, instead of rejecting them.
    #[arg(long)]
    pub accept_bad_check_digits: bool,
    /// Exit 0 even when rows were rejected.
    #[arg(long)]
    pub allow_rejects: bool,
    /// Rows per atomic, durable batch.
    #[arg(long, default_value_t = 2000)]
    pub batch_size: usize,
    /// The embedded store's block cache in MiB. The import writes far more than it reads back;
    /// the server's default is 64.
    #[arg(long, env = "ELICENCE_IMPORT_CACHE_MB", default_value_t = 32)]
    pub cache_mb: u64,
    /// The embedded store's write buffer (all memtables together) in MiB, when the import creates
    /// the store; an existing store keeps the size it was created with.
    #[arg(long, env = "ELICENCE_WRITE_BUFFER_MB", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    pub write_buffer_mb: u64,
    #[arg(long, env = "ELICENCE_ALLOW_INSECURE_KEY_PERMISSIONS")]
    pub allow_insecure_key_permissions: bool,
    /// Who runs the import, as the first event of every imported record names them
    /// (default: the OS user).
    #[arg(long, env = "ELICENCE_OPERATOR")]
    pub operator: Option<String>,
    #[command(flatten)]
    pub xlsx: XlsxLimitArgs,
}

/// What an XLSX file may unpack to (docs/IMPORT.md), for `import` and `serve`. A file
/// past a limit is refused before it is parsed.
#[derive(Debug, Clone, Args)]
pub struct XlsxLimitArgs {
    /// Total unpacked size of an XLSX workbook, in MiB.
    #[arg(long, env = "ELICENCE_XLSX_MAX_UNPACKED_MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub xlsx_max_unpacked_mib: u64,
    /// Compression ratio (unpacked:packed) of any XLSX entry over 1 MiB unpacked.
    #[arg(long, env = "ELICENCE_XLSX_MAX_RATIO", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub xlsx_max_ratio: u64,
    /// Shared strings (distinct cell texts) of an XLSX workbook.
    #[arg(long, env = "ELICENCE_XLSX_MAX_SHARED_STRINGS", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub xlsx_max_shared_strings: u64,
    /// Unpacked size of an XLSX workbook's shared-string table, in MiB.
    #[arg(long, env = "ELICENCE_XLSX_MAX_SHARED_STRINGS_MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub xlsx_max_shared_strings_mib: u64,
    /// Unpacked size of any other XML part of an XLSX workbook read whole (workbook,
    /// styles, relationships), in MiB.
    #[arg(long, env = "ELICENCE_XLSX_MAX_PART_MIB", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub xlsx_max_part_mib: u64,
    /// Style records (cell formats, fonts, fills, borders, number formats) of an XLSX workbook.
    #[arg(long, env = "ELICENCE_XLSX_MAX_STYLE_RECORDS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub xlsx_max_style_records: u64,
}

impl XlsxLimitArgs {
    pub fn limits(&self) -> XlsxLimits {
        const MIB: u64 = 1024 * 1024;
        XlsxLimits {
            max_unpacked_bytes: self.xlsx_max_unpacked_mib.saturating_mul(MIB),
            max_ratio: self.xlsx_max_ratio,
            max_shared_strings: self.xlsx_max_shared_strings,
            max_shared_strings_bytes: self.xlsx_max_shared_strings_mib.saturating_mul(MIB),
            max_part_bytes: self.xlsx_max_part_mib.saturating_mul(MIB),
            max_style_records: self.xlsx_max_style_records,
            ..XlsxLimits::default()
        }
    }
}

/// The operator's name, as the first event of every imported record gives it:
/// `--operator`, else the OS user.
fn operator_name(flag: Option<&str>) -> anyhow::Result<String> {
    let os_user = || {
        ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|n| !n.trim().is_empty())
    };
    let name = match flag {
        Some(f) => f.trim().to_string(),
        None => os_user().map_or_else(|| "unknown operator".into(), |n| n.trim().to_string()),
    };
    anyhow::ensure!(
        (1..=64).contains(&name.chars().count()) && !name.chars().any(char::is_control),
        "--operator: 1-64 printable characters (it is signed into every imported record)"
    );
    Ok(name)
}

pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let operator = operator_name(args.operator.as_deref())?;
    let location = args.store.location(EmbeddedConfig {
        cache_bytes: args.cache_mb << 20,
        write_buffer_bytes: args.write_buffer_mb << 20,
    })?;
    let mapping = Mapping::load(&args.mapping)?;
    let read = ReadOptions {
        format: args
            .format
            .as_deref()
            .map(|f| Format::parse(f).context("--format: csv, jsonl or xlsx"))
            .transpose()?,
        encoding: args
            .encoding
            .as_deref()
            .map(|e| Encoding::parse(e).context("--encoding: auto, utf-8, gbk or gb18030"))
            .transpose()?,
        sheet: args.sheet.clone(),
        delimiter: None,
        xlsx_limits: args.xlsx.limits(),
    };
    let repo = Repository::open(
        &RepositoryConfig {
            store: location,
            keys: args.keys.clone(),
            allow_insecure_key_permissions: args.allow_insecure_key_permissions,
            seed_catalog: Some(args.catalog.clone()),
            seed_layouts: None,
            font: Font::None,
        },
        Arc::new(SystemClock),
    )?;
    if repo.example_keys {
        tracing::warn!("importing with the EXAMPLE signing key from keys-example/: records can be forged");
    }
    let registry = repo.registry;
    let source = open_source(&args.input, &mapping, &read)?;
    let opts = MapOptions {
        source_file: args.input.display().to_string(),
        accept_bad_check_digits: args.accept_bad_check_digits,
    };
    let mapper = RowMapper::new(mapping, &registry.list_types(), opts)?;
    let reject_path = args.rejects.clone().unwrap_or_else(|| {
        let mut p = args.input.clone().into_os_string();
        p.push(".rejects.csv");
        PathBuf::from(p)
    });
    let mut report = RejectWriter::create(&reject_path)?;
    let sink = RegistrySink::new(&registry, Importer::Operator(operator));
    eprintln!("import run {}", sink.run_id());
    let progress = ProgressView::new();
    let summary = run_import(
        source,
        &mapper,
        &sink,
        &mut |r| report.write(r),
        &RunOptions {
            batch_size: args.batch_size,
        },
        &|p| progress.update(p),
    )?;
    report.flush()?;
    progress.finish();
    registry.store().flush()?;
    let receipt = sink.receipt();
    eprintln!("{summary}");
    eprintln!(
        "import run {}: {} records created, sha256 of their sorted identifiers {}",
        receipt.run_id,
        receipt.created.len(),
        hex::encode(receipt.created_sha256)
    );
    eprintln!("reject report: {}", reject_path.display());
    if summary.rejected_rows > 0 && !args.allow_rejects {
        eprintln!(
            "{} rows rejected; exit status 2 (pass --allow-rejects to accept)",
            summary.rejected_rows
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress bar with rate and ETA on a terminal; a log line every few seconds otherwise.
struct ProgressView {
    bar: Option<indicatif::ProgressBar>,
    last_log: Mutex<Instant>,
}

impl ProgressView {
    fn new() -> ProgressView {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {percent}% {msg} (ETA {eta})",
                )
                .expect("valid template"),
            );
            b
        });
        ProgressView {
            bar,
            last_log: Mutex::new(Instant::now()),
        }
    }

    fn update(&self, p: &Progress) {
        let s = &p.summary;
        let msg = format!(
            "{} rows, {:.0} rows/s, {} imported, {} present, {} rejected",
            s.rows_read,
            p.rows_per_second(),
            s.imported,
            s.already_present,
            s.rejected_rows
        );
        match &self.bar {
            Some(b) => {
                if let Some(total) = p.total_bytes {
                    b.set_length(total);
                }
                b.set_position(p.bytes_read);
                b.set_message(msg);
            }
            None => {
                let mut last = self.last_log.lock().expect("progress lock");
                if last.elapsed() >= Duration::from_secs(5) {
                    *last = Instant::now();
                    let eta = p
                        .eta()
                        .map(|d| format!("{}s", d.as_secs()))
                        .unwrap_or_else(|| "?".into());
                    tracing::info!("import progress: {msg}, ETA {eta}");
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::operator_name;

    #[test]
    fn operator_names_are_printable_text() {
        assert_eq!(operator_name(Some("  迁移组 王工 ")).unwrap(), "迁移组 王工");
        for bad in ["", "  ", "a\nb", "\u{1b}[2J", &"长".repeat(65)] {
            assert!(operator_name(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(!operator_name(None).unwrap().is_empty());
    }
}
