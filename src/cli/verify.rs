//! `elicence verify` and `elicence keys export`: offline verification of a QR payload, a
//! rendered PDF (its embedded payload) or an exported signed record, against a key list
//! file — no service contacted. The key list is itself signed by the active key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::clock::{Clock, SystemClock};
pub use crate::licence::key_list::parse_key_list;
use crate::licence::key_list::SignedKeyList;
use crate::licence::qr::QrPayload;
use crate::licence::signing::{self, PublicKeyInfo};
use crate::licence::Licence;

#[derive(Debug, Args)]
pub struct KeysExportArgs {
    #[arg(long, env = "ELICENCE_KEYS", default_value = "keys-example/")]
    pub keys: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, env = "ELICENCE_ALLOW_INSECURE_KEY_PERMISSIONS")]
    pub allow_insecure_key_permissions: bool,
}

pub fn export(args: KeysExportArgs) -> anyhow::Result<ExitCode> {
    let ring = crate::keys::load(&args.keys, args.allow_insecure_key_permissions)
        .map_err(anyhow::Error::msg)?
        .ring;
    let file = SignedKeyList::of(&ring)?;
    std::fs::write(&args.out, serde_json::to_string_pretty(&file)? + "\n")?;
    eprintln!("{} keys written to {}", file.keys.len(), args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Reads a key list and checks its signature; with `trusted` key ids (obtained out of
/// band, e.g. from the bureau's website), its signer must be one of them — a list that
/// only signs itself proves nothing about who made it.
fn load_key_list(path: &PathBuf, trusted: &[String]) -> anyhow::Result<Vec<PublicKeyInfo>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse_key_list(&text, trusted)?)
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Exported key list (`elicence keys export`).
    #[arg(long)]
    pub keys_file: PathBuf,
    /// Key id the key list must be signed by (repeatable); without it the list's own
    /// signature is checked and its signer named, but not pinned.
    #[arg(long)]
    pub trusted_key_id: Vec<String>,
    /// Judge validity as of this day (`YYYY-MM-DD`); default today (China time).
    #[arg(long)]
    pub at: Option<String>,
    /// A QR payload string (`ELC1:…`).
    #[arg(long, conflicts_with_all = ["pdf", "record"])]
    pub payload: Option<String>,
    /// A rendered licence PDF.
    #[arg(long, conflicts_with = "record")]
    pub pdf: Option<PathBuf>,
    /// A signed record file (the exact `signed_record` bytes), with --signature and --key-id.
    #[arg(long, requires_all = ["signature", "key_id"])]
    pub record: Option<PathBuf>,
    #[arg(long)]
    pub signature: Option<String>,
    #[arg(long)]
    pub key_id: Option<String>,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let keys = load_key_list(&args.keys_file, &args.trusted_key_id)?;
    if args.trusted_key_id.is_empty() {
        eprintln!("note: the key list's signer is not pinned; pass --trusted-key-id with the published key id");
    }
    let outcome = check(&args, &keys);
    match outcome {
        Ok((what, expired)) => {
            println!("GENUINE: {what}");
            if let Some(why) = expired {
                // Genuine, but no longer usable: a different answer from "forged".
                println!("EXPIRED: {why}");
                return Ok(ExitCode::from(3));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("NOT GENUINE: {reason}");
            Ok(ExitCode::from(1))
        }
    }
}

/// What a genuine document says, and why it is no longer usable if its validity or
/// (for a copy) its period of use ended before today.
fn check(args: &VerifyArgs, keys: &[PublicKeyInfo]) -> Result<(String, Option<String>), String> {
    let payload_text = match (&args.payload, &args.pdf, &args.record) {
        (Some(p), _, _) => p.trim().to_string(),
        (None, Some(pdf), _) => {
            let bytes = std::fs::read(pdf).map_err(|e| format!("{}: {e}", pdf.display()))?;
            crate::render::extract_qr_payload(&bytes).ok_or("the PDF carries no elicence QR payload")?
        }
        (None, None, Some(record)) => return check_record(args, record, keys).map(|w| (w, None)),
        _ => return Err("give --payload, --pdf or --record".into()),
    };
    let payload = QrPayload::decode(&payload_text).map_err(|e| format!("unreadable payload: {e}"))?;
    payload.verify(keys).map_err(|e| e.to_string())?;
    let today = match &args.at {
        Some(day) => crate::licence::record::parse_date("--at", day)
            .map(crate::licence::record::format_date)
            .map_err(|e| e.to_string())?,
        None => crate::licence::record::format_date(SystemClock.today()),
    };
    let expired = match &payload.copy {
        Some(c) if c.copy_until < today => Some(format!("this copy (加注件) was usable until {}", c.copy_until)),
        _ if !payload.valid_until.is_empty() && payload.valid_until < today => {
            Some(format!("the licence was valid until {}", payload.valid_until))
        }
        _ => None,
    };
    Ok((describe(&payload), expired))
}

/// What a genuine payload vouches for, in one line.
fn describe(p: &QrPayload) -> String {
    let until = if p.valid_until.is_empty() {
        "长期"
    } else {
        &p.valid_until
    };
    let mut s = format!(
        "licence {} (type {}, number {}), holder {} {}, issuer {}, valid {} to {}, record sha256:{}, key {}",
        p.identifier,
        p.licence_type_code,
        p.licence_number,
        p.holder_name,
        p.holder_code_masked,
        p.issuer_name,
        p.valid_from,
        until,
        p.digest_hex(),
        p.key_id
    );
    if let Some(c) = &p.copy {
        s.push_str(&format!(
            "; COPY (加注件) for {} ({}) usable until {}",
            c.copy_for, c.copy_purpose, c.copy_until
        ));
    }
    s.push_str("; status (revoked, suspended) needs the online check");
    s
}

fn check_record(args: &VerifyArgs, record: &PathBuf, keys: &[PublicKeyInfo]) -> Result<String, String> {
    let bytes = std::fs::read(record).map_err(|e| format!("{}: {e}", record.display()))?;
    let key_id = args.key_id.as_deref().unwrap_or_default();
    let key = keys
        .iter()
        .find(|k| k.key_id == key_id)
        .ok_or_else(|| format!("unknown key id {key_id}"))?;
    let signature = hex::decode(args.signature.as_deref().unwrap_or_default()).map_err(|_| "signature is not hex")?;
    signing::verify_with(&key.public_key, &bytes, &signature).map_err(|e| e.to_string())?;
    let licence = Licence::from_canonical(&bytes).map_err(|e| format!("not a licence record: {e}"))?;
    Ok(format!(
        "{} {} {}",
        licence.licence_name,
        licence.identifier,
        crate::licence::public::public_holder(&licence).0
    ))
}
