//! The transparency log over HTTP, as C2SP `tlog-tiles` serves it so that a mirror or
//! monitor copies it with plain GETs, plus JSON proofs:
//! - `GET /log/checkpoint`: the latest signed checkpoint (text/plain note);
//! - `GET /log/tile/<L>/<N>[.p/<W>]`: hash tiles of height 8 (the C2SP path layout);
//!   level-0 tiles are leaf hashes, which reveal nothing about a licence;
//! - `GET /log/tile/entries/…`: 404 — entries are not published (an entry names a
//!   licence's identifier); a licence's own entries come with its verification;
//! - `GET /api/v1/log/checkpoint[?tree_size=N]`, `GET /api/v1/log/inclusion?leaf_index=
//!   &tree_size=`, `GET /api/v1/log/consistency?old_size=&new_size=`: JSON.
//!
//! Tiles are cut from the latest checkpoint's tree: a tile wider than it holds is 404,
//! so what is served always matches a signed checkpoint.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::prelude::{Engine, BASE64_STANDARD};
use serde::{Deserialize, Serialize};

use super::{blocking, WebError, WebState};
use crate::licence::Invalid;
use crate::registry::log::{LogEvidence, LoggedEntry, SignedCheckpoint};
use crate::registry::{Registry, RegistryError};
use crate::store::LogHashes;

/// C2SP tlog-tiles tile height.
const TILE_HEIGHT: u8 = 8;

/// A checkpoint in JSON: the note as signed, and what it says.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckpointJson {
    pub note: String,
    pub origin: String,
    pub tree_size: u64,
    /// Base64.
    pub root_hash: String,
}

impl From<SignedCheckpoint> for CheckpointJson {
    fn from(c: SignedCheckpoint) -> Self {
        CheckpointJson {
            note: String::from_utf8_lossy(&c.note).into_owned(),
            origin: c.checkpoint.origin,
            tree_size: c.checkpoint.size,
            root_hash: BASE64_STANDARD.encode(c.checkpoint.root),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InclusionJson {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Base64, leaf to root.
    pub hashes: Vec<String>,
    /// Base64 of SHA-256(0x00 ‖ entry).
    pub leaf_hash: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConsistencyJson {
    pub old_size: u64,
    pub new_size: u64,
    pub hashes: Vec<String>,
}

/// A licence's leaf in a verification answer.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoggedEntryJson {
    /// The entry text (docs/TRANSPARENCY.md).
    pub entry: String,
    pub proof: InclusionJson,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EvidenceJson {
    pub checkpoint: CheckpointJson,
    pub record: LoggedEntryJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_event: Option<LoggedEntryJson>,
}

fn b64(hashes: &[crate::tlog::Hash]) -> Vec<String> {
    hashes.iter().map(|h| BASE64_STANDARD.encode(h)).collect()
}

fn logged(e: LoggedEntry) -> LoggedEntryJson {
    LoggedEntryJson {
        proof: InclusionJson {
            leaf_index: e.proof.leaf_index,
            tree_size: e.proof.tree_size,
            hashes: b64(&e.proof.hashes),
            leaf_hash: BASE64_STANDARD.encode(crate::tlog::leaf::leaf_hash(&e.entry)),
        },
        entry: String::from_utf8_lossy(&e.entry).into_owned(),
    }
}

impl From<LogEvidence> for EvidenceJson {
    fn from(e: LogEvidence) -> Self {
        EvidenceJson {
            checkpoint: e.checkpoint.into(),
            record: logged(e.record),
            latest_event: e.latest_event.map(logged),
        }
    }
}

fn no_checkpoint() -> RegistryError {
    RegistryError::NotFound("checkpoint (the log has none yet)".into())
}

fn latest(registry: &Registry) -> Result<SignedCheckpoint, WebError> {
    Ok(registry.latest_checkpoint()?.ok_or_else(no_checkpoint)?)
}

/// `GET /log/checkpoint`.
pub async fn checkpoint_note(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, WebError> {
    state.admit(peer)?;
    let registry = state.registry.clone();
    let c = blocking(move || latest(&registry)).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        c.note,
    )
        .into_response())
}

/// `GET /log/tile/{*path}`.
pub async fn tile(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(path): Path<String>,
) -> Result<Response, WebError> {
    state.admit(peer)?;
    if path.starts_with("entries/") || path == "entries" {
        return Err(RegistryError::NotFound(
            "entry bundles (this log publishes hashes only: an entry names a licence; a licence's own \
             entries come with its verification)"
                .into(),
        )
        .into());
    }
    let not_a_tile = || WebError::NotFound(format!("log/tile/{}", path.chars().take(48).collect::<String>()));
    // C2SP's tile/<L>/<N>[.p/<W>] is Go's tile/<H>/<L>/<N>[.p/<W>] at height 8.
    let t = tlog_tiles::Tile::from_path(&format!("tile/{TILE_HEIGHT}/{path}")).map_err(|_| not_a_tile())?;
    if t.is_data() {
        return Err(not_a_tile());
    }
    let registry = state.registry.clone();
    let data = blocking(move || {
        let size = latest(&registry)?.checkpoint.size;
        // The tile's last hash covers leaves up to (N·256 + W)·256^L.
        let level_shift = u32::from(TILE_HEIGHT) * u32::from(t.level());
        let end = (t.level_index() << TILE_HEIGHT)
            .checked_add(u64::from(t.width()))
            .and_then(|w| w.checked_shl(level_shift).filter(|v| v >> level_shift == w));
        if end.is_none_or(|end| end > size) {
            return Err(WebError::NotFound(format!(
                "tile {} (beyond the latest checkpoint)",
                t.path()
            )));
        }
        let store = registry.store();
        let reader = TileHashes(LogHashes(store.as_ref()));
        t.read_data(&reader)
            .map_err(|e| WebError::Internal(format!("tile {}: {e}", t.path())))
    })
    .await?;
    // A full tile never changes; a partial one is replaced by a wider one.
    let cache = if t.width() == 1 << TILE_HEIGHT {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        data,
    )
        .into_response())
}

/// The store's hashes as the tile reader takes them.
struct TileHashes<'a>(LogHashes<'a>);

impl tlog_tiles::HashReader for TileHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        use crate::tlog::tree::Hashes;
        self.0
            .read(indexes)
            .map(|v| v.into_iter().map(tlog_tiles::Hash).collect())
            .map_err(|_| tlog_tiles::Error::IndexesNotInTree)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SizeQuery {
    pub tree_size: Option<u64>,
}

/// `GET /api/v1/log/checkpoint`.
pub async fn checkpoint_json(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<SizeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CheckpointJson>, WebError> {
    state.admit(peer)?;
    let Query(q) = query.map_err(|e| Invalid::new("tree_size", e.body_text()))?;
    let registry = state.registry.clone();
    let c = blocking(move || match q.tree_size {
        None | Some(0) => latest(&registry),
        Some(n) => Ok(registry
            .checkpoint_at(n)?
            .ok_or_else(|| RegistryError::NotFound(format!("checkpoint of tree size {n}")))?),
    })
    .await?;
    Ok(Json(c.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    pub leaf_index: u64,
    #[serde(default)]
    pub tree_size: Option<u64>,
}

/// `GET /api/v1/log/inclusion`.
pub async fn inclusion(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InclusionJson>, WebError> {
    state.admit(peer)?;
    let Query(q) = query.map_err(|e| Invalid::new("leaf_index", e.body_text()))?;
    let registry = state.registry.clone();
    let (p, leaf_hash) = blocking(move || {
        let size = match q.tree_size {
            None | Some(0) => latest(&registry)?.checkpoint.size,
            Some(n) => n,
        };
        let p = registry.inclusion_proof(q.leaf_index, size)?;
        Ok((p, registry.leaf_hash(q.leaf_index)?))
    })
    .await?;
    Ok(Json(InclusionJson {
        leaf_index: p.leaf_index,
        tree_size: p.tree_size,
        hashes: b64(&p.hashes),
        leaf_hash: BASE64_STANDARD.encode(leaf_hash),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    pub old_size: u64,
    #[serde(default)]
    pub new_size: Option<u64>,
}

/// `GET /api/v1/log/consistency`.
pub async fn consistency(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConsistencyJson>, WebError> {
    state.admit(peer)?;
    let Query(q) = query.map_err(|e| Invalid::new("old_size", e.body_text()))?;
    let registry = state.registry.clone();
    let p = blocking(move || {
        let new = match q.new_size {
            None | Some(0) => latest(&registry)?.checkpoint.size,
            Some(n) => n,
        };
        Ok(registry.consistency_proof(q.old_size, new)?)
    })
    .await?;
    Ok(Json(ConsistencyJson {
        old_size: p.old_size,
        new_size: p.new_size,
        hashes: b64(&p.hashes),
    }))
}
