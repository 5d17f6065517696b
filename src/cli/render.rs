//! `elicence render`: an operator renders a stored licence as a PDF (its type's template,
//! embedded subset CJK font, red seal, QR code carrying the signed payload).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use clap::Args;

use crate::catalog::types;
use crate::clock::SystemClock;
use crate::licence::qr::QrPayload;
use crate::registry::Registry;
use crate::render::{load_dir, Renderer, DEFAULT_FONT_PATH};
use crate::store::SledStore;

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[arg(long)]
    pub identifier: String,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, env = "ELICENCE_DATA_DIR", default_value = "./elicence-data")]
    pub data_dir: PathBuf,
    #[arg(long, env = "ELICENCE_KEYS", default_value = "keys-example/")]
    pub keys: PathBuf,
    #[arg(long, env = "ELICENCE_LAYOUTS", default_value = "templates/layouts")]
    pub layouts: PathBuf,
    #[arg(long, env = "ELICENCE_FONT", default_value = DEFAULT_FONT_PATH)]
    pub font: PathBuf,
    #[arg(long, env = "ELICENCE_ALLOW_INSECURE_KEY_PERMISSIONS")]
    pub allow_insecure_key_permissions: bool,
}

pub fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let keys = crate::keys::load(&args.keys, args.allow_insecure_key_permissions).map_err(anyhow::Error::msg)?;
    let store =
        Arc::new(SledStore::open(&args.data_dir).with_context(|| format!("opening {}", args.data_dir.display()))?);
    let seed = types::load_dir(std::path::Path::new("templates/catalog")).unwrap_or_default();
    let registry = Registry::new(store, Arc::new(keys.ring), Arc::new(SystemClock), seed)?;
    let view = registry.load(&args.identifier)?;
    let licence_type = registry.get_type(&view.licence.licence_type_code)?;
    let templates = load_dir(&args.layouts).map_err(anyhow::Error::msg)?;
    let template = templates
        .iter()
        .find(|t| t.id == licence_type.template_id)
        .ok_or_else(|| {
            anyhow!(
                "no template {:?} under {}",
                licence_type.template_id,
                args.layouts.display()
            )
        })?;
    let renderer = Renderer::from_font_file(&args.font)?;
    let payload = QrPayload::sign(&view.licence, registry.keys())?;
    let pdf = renderer.render(template, &view.licence, &payload, None)?;
    std::fs::write(&args.out, &pdf).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "{} ({} bytes, template {}, status {})",
        args.out.display(),
        pdf.len(),
        template.id,
        view.status.as_str()
    );
    Ok(ExitCode::SUCCESS)
}
