//! `elicence gen-sample`: realistic synthetic legacy exports for trying and measuring
//! the migration (Chinese names, valid resident ID numbers and credit codes, every date
//! style, optionally a known set of bad rows).

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;

use crate::import::sample::{gen_sample, SampleFormat};

#[derive(Debug, Args)]
pub struct GenSampleArgs {
    /// Rows to write.
    #[arg(long, default_value_t = 1000)]
    pub rows: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// csv (UTF-8), csv-bom, csv-gbk, jsonl or xlsx.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Plant a known set of bad rows (every twentieth row, from the 8th).
    #[arg(long)]
    pub bad_rows: bool,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: GenSampleArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format.as_str() {
        "csv" | "csv-utf8" => SampleFormat::CsvUtf8,
        "csv-bom" => SampleFormat::CsvUtf8Bom,
        "csv-gbk" => SampleFormat::CsvGbk,
        "jsonl" => SampleFormat::Jsonl,
        "xlsx" => SampleFormat::Xlsx,
        other => bail!("--format {other:?}: use csv, csv-bom, csv-gbk, jsonl or xlsx"),
    };
    let file = std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let info = gen_sample(args.rows, args.seed, format, args.bad_rows, BufWriter::new(file))?;
    eprintln!(
        "{} rows written to {} ({} planted bad rows, {} flagged legacy identifiers)",
        info.rows,
        args.out.display(),
        info.expected_bad.len(),
        info.expected_flagged.len()
    );
    Ok(ExitCode::SUCCESS)
}
