//! The `elicence` binary: parse the command line, set up logging, run the command.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc (its v2 line) rather than glibc's malloc: sled 0.34 allocates and frees a copy
/// of a tree page on every write, and glibc serves that churn slowly and fragments.
/// `elicence import` of 300,000 rows: 33.0 s and 307 MB peak against 52.5 s and 454 MB;
/// mimalloc v3 took 32.4 s and 336 MB. The server bounds its blocking threads (`serve
/// --blocking-threads`), since each thread keeps a heap of its own (docs/BENCHMARKS-HISTORY.md).
/// `--no-default-features` builds with the system's malloc instead.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    use tracing_subscriber::prelude::*;
    let chosen = tracing_subscriber::EnvFilter::try_from_env("ELICENCE_LOG").unwrap_or_else(|_| "info".into());
    // The PostgreSQL driver logs every statement's parameters at DEBUG: licence records,
    // identity numbers, request ids. Never below INFO, whatever ELICENCE_LOG asks for.
    let no_parameters = tracing_subscriber::filter::filter_fn(|m| {
        !(m.target().starts_with("tokio_postgres") && *m.level() > tracing::Level::INFO)
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colour only on a terminal: logs collected by journald or a file stay plain text.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(chosen)
                .with_filter(no_parameters),
        )
        .init();
    let cli = elicence::cli::Cli::parse();
    match elicence::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
