//! `elicence render`: an operator renders a stored licence as a PDF (its type's current
//! template, embedded subset CJK font, red seal, QR code carrying the signed payload),
//! or a per-use copy (加注件) with `--copy-for`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::repository::RepositoryArgs;
use crate::registry::{CopyOrder, DocumentOrder};

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[arg(long)]
    pub identifier: String,
    #[arg(long)]
    pub out: PathBuf,
    /// A layout other than the type's default (`<default>-portrait` / `-landscape`).
    #[arg(long)]
    pub template: Option<String>,
    /// Render a per-use copy (加注件) for this department (its name, as printed).
    #[arg(long, requires_all = ["purpose", "copy_until"])]
    pub copy_for: Option<String>,
    /// The copy's use cause (用证事由).
    #[arg(long, requires = "copy_for")]
    pub purpose: Option<String>,
    /// The copy's last day of use, `YYYY-MM-DD`.
    #[arg(long, requires = "copy_for")]
    pub copy_until: Option<String>,
    #[command(flatten)]
    pub repository: RepositoryArgs,
}

pub fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let (repo, renderer) = args.repository.open()?;
    let copy = match (args.copy_for, args.purpose, args.copy_until) {
        (Some(copy_for), Some(purpose), Some(valid_until)) => Some(CopyOrder {
            copy_for,
            purpose,
            valid_until,
        }),
        _ => None,
    };
    let order = DocumentOrder {
        identifier: args.identifier,
        template_id: args.template,
        copy,
    };
    let doc = repo.registry.render_document(&renderer, &order)?;
    std::fs::write(&args.out, &doc.pdf).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "{} ({} bytes, template {} version {})",
        args.out.display(),
        doc.pdf.len(),
        doc.template_id,
        doc.template_version
    );
    Ok(ExitCode::SUCCESS)
}
