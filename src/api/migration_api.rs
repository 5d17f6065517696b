//! `elicence.v1.MigrationService`: client-streamed historical import feeding the same
//! pipeline as the CLI, with the department's issuing rules applied per row; the answer
//! (and the call's audit entry) names the run and what it created.

use std::sync::Arc;

use prost::Message;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status, Streaming};

use super::audit::audited;
use super::pb::import_licences_request::Part;
use super::pb::migration_service_server::MigrationService;
use super::pb::{ImportHeader, ImportLicencesRequest, ImportLicencesResponse, ImportReject};
use super::{blocking, ApiError, AppState};
use crate::audit::MAX_LISTED_CREATED;
use crate::catalog::Department;
use crate::import::report::mask_personal;
use crate::import::{
    open_bytes, run_import, Encoding, Format, MapOptions, Mapping, ReadOptions, RowMapper, RunOptions, Source,
    XlsxLimits,
};
use crate::licence::Invalid;
use crate::registry::{Importer, Registry, RegistrySink};

/// Largest export accepted over gRPC.
pub const MAX_IMPORT_BYTES: usize = 256 * 1024 * 1024;

/// Encoded size of the reject list in one response; further rejects are only counted
/// (`rejects_omitted`), so a file of bad rows cannot make an answer too large to send.
pub const MAX_REJECT_BYTES: usize = 2 * 1024 * 1024;

pub struct MigrationApi {
    state: AppState,
    /// One permit per import allowed to run at once: each buffers its export (up to
    /// [`MAX_IMPORT_BYTES`]), so this bounds the memory imports can take.
    imports: Arc<Semaphore>,
    max_imports: usize,
    /// What an XLSX export may unpack to.
    xlsx_limits: XlsxLimits,
}

impl MigrationApi {
    /// `max_concurrent_imports` imports may run at once; one more is refused with
    /// RESOURCE_EXHAUSTED before its export is read. An XLSX export beyond `xlsx_limits`
    /// is refused with INVALID_ARGUMENT before it is parsed.
    pub fn new(state: AppState, max_concurrent_imports: usize, xlsx_limits: XlsxLimits) -> MigrationApi {
        MigrationApi {
            state,
            imports: Arc::new(Semaphore::new(max_concurrent_imports)),
            max_imports: max_concurrent_imports,
            xlsx_limits,
        }
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
    ApiError::Invalid(Invalid::new(field, reason))
}

async fn receive(mut stream: Streaming<ImportLicencesRequest>) -> Result<(ImportHeader, Vec<u8>), ApiError> {
    let broken = |e: Status| invalid("stream", format!("reading the request stream: {}", e.message()));
    let header = match stream.message().await.map_err(broken)?.and_then(|m| m.part) {
        Some(Part::Header(h)) => h,
        _ => return Err(invalid("header", "the first message must be the import header")),
    };
    let mut bytes = Vec::new();
    while let Some(msg) = stream.message().await.map_err(broken)? {
        match msg.part {
            Some(Part::Chunk(c)) if bytes.len() + c.len() <= MAX_IMPORT_BYTES => bytes.extend_from_slice(&c),
            Some(Part::Chunk(_)) => return Err(invalid("chunk", "the export exceeds 256 MiB; use `elicence import`")),
            _ => return Err(invalid("header", "only the first message may be a header")),
        }
    }
    Ok((header, bytes))
}

#[tonic::async_trait]
impl MigrationService for MigrationApi {
    async fn import_licences(
        &self,
        req: Request<Streaming<ImportLicencesRequest>>,
    ) -> Result<Response<ImportLicencesResponse>, Status> {
        audited(
            &self.state,
            "elicence.v1.MigrationService/ImportLicences",
            req,
            |caller, stream| self.import(caller, stream),
        )
        .await
    }
}

impl MigrationApi {
    async fn import(
        &self,
        caller: Department,
        stream: Streaming<ImportLicencesRequest>,
    ) -> Result<ImportLicencesResponse, ApiError> {
        // Held until the import itself ends, not just this call: a deadline that cancels
        // the call leaves the blocking import running, and it still counts.
        let permit = self.imports.clone().try_acquire_owned().map_err(|_| {
            ApiError::Busy(format!(
                "import busy: at most {} imports run at once (--max-concurrent-imports); retry when one ends",
                self.max_imports
            ))
        })?;
        let (header, bytes) = receive(stream).await?;
        let ImportHeader {
            mapping_toml,
            source_file,
            format,
            encoding,
            accept_bad_check_digits,
            sheet,
        } = header;
        let mapping = Mapping::from_toml(&mapping_toml).map_err(|e| invalid("header.mapping_toml", e.to_string()))?;
        let format = Format::parse(&format).ok_or_else(|| invalid("header.format", "must be csv, jsonl or xlsx"))?;
        let encoding = match encoding.as_str() {
            "" => None,
            e => Some(Encoding::parse(e).ok_or_else(|| invalid("header.encoding", "auto, utf-8, gbk or gb18030"))?),
        };
        let read = ReadOptions {
            format: Some(format),
            encoding,
            sheet: (!sheet.is_empty()).then_some(sheet),
            delimiter: None,
            xlsx_limits: self.xlsx_limits.clone(),
        };
        let opts = MapOptions {
            source_file,
            accept_bad_check_digits,
        };
        let registry = self.state.registry.clone();
        blocking(move || {
            let _permit = permit;
            let source = open_bytes(bytes, format, &mapping, &read).map_err(|e| invalid("chunk", e.to_string()))?;
            let mapper = RowMapper::new(mapping, &registry.list_types(), opts)
                .map_err(|e| invalid("header.mapping_toml", e.to_string()))?;
            import_rows(&registry, caller, source, &mapper)
        })
        .await
    }
}

/// Runs the import for `caller`; rejects are listed (masked) up to [`MAX_REJECT_BYTES`].
fn import_rows(
    registry: &Registry,
    caller: Department,
    source: Source,
    mapper: &RowMapper,
) -> Result<ImportLicencesResponse, ApiError> {
    let department = caller.id.clone();
    let sink = RegistrySink::new(registry, Importer::Department(Box::new(caller)));
    let mut rejects = Vec::new();
    let mut reject_bytes = 0;
    let mut rejects_omitted = 0;
    let summary = run_import(
        source,
        mapper,
        &sink,
        &mut |r| {
            let reject = ImportReject {
                line: r.line,
                column: r.column.clone(),
                value: mask_personal(&r.value),
                reason: mask_personal(&r.reason),
            };
            // Tag and length prefix of the repeated field included.
            let size = reject.encoded_len() + 8;
            if rejects_omitted == 0 && reject_bytes + size <= MAX_REJECT_BYTES {
                reject_bytes += size;
                rejects.push(reject);
            } else {
                rejects_omitted += 1;
            }
            Ok(())
        },
        &RunOptions::default(),
        &|_| {},
    );
    let run_id = sink.run_id().to_string();
    let summary = summary.map_err(|e| {
        // Records already written name this run in their first event.
        ApiError::Internal(format!("import run {run_id} by {department}: {e}"))
    })?;
    let receipt = sink.receipt();
    tracing::info!(%department, run_id = %receipt.run_id, created = receipt.created.len(), "import run ended");
    let listed = receipt.created.len() <= MAX_LISTED_CREATED;
    Ok(ImportLicencesResponse {
        rows_read: summary.rows_read,
        imported: summary.imported,
        already_present: summary.already_present,
        rejected_rows: summary.rejected_rows,
        flagged: summary.flagged,
        rejects,
        rejects_omitted,
        run_id: receipt.run_id,
        created_sha256: receipt.created_sha256.to_vec(),
        created_identifiers: if listed { receipt.created } else { Vec::new() },
    })
}
