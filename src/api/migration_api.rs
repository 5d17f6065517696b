//! `elicence.v1.MigrationService`: client-streamed historical import feeding the same
//! pipeline as the CLI, with the department's issue permissions applied per row.

use tonic::{Request, Response, Status, Streaming};

use super::audit::audited;
use super::pb::import_licences_request::Part;
use super::pb::migration_service_server::MigrationService;
use super::pb::{ImportHeader, ImportLicencesRequest, ImportLicencesResponse, ImportReject};
use super::{blocking, ApiError, AppState};
use crate::catalog::Department;
use crate::import::report::mask_personal;
use crate::import::{
    open_bytes, run_import, Encoding, Format, MapOptions, Mapping, ReadOptions, RowMapper, RunOptions,
};
use crate::licence::Invalid;
use crate::registry::RegistrySink;

/// Largest export accepted over gRPC.
pub const MAX_IMPORT_BYTES: usize = 256 * 1024 * 1024;

pub struct MigrationApi {
    state: AppState,
}

impl MigrationApi {
    pub fn new(state: AppState) -> MigrationApi {
        MigrationApi { state }
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
        };
        let registry = self.state.registry.clone();
        blocking(move || {
            let source = open_bytes(bytes, format, &mapping, &read).map_err(|e| invalid("chunk", e.to_string()))?;
            let opts = MapOptions {
                source_file,
                accept_bad_check_digits,
            };
            let mapper = RowMapper::new(mapping, &registry.list_types(), opts)
                .map_err(|e| invalid("header.mapping_toml", e.to_string()))?;
            let sink = RegistrySink::new(&registry, Some(caller));
            let mut rejects = Vec::new();
            let summary = run_import(
                source,
                &mapper,
                &sink,
                &mut |r| {
                    rejects.push(ImportReject {
                        line: r.line,
                        column: r.column.clone(),
                        value: mask_personal(&r.value),
                        reason: r.reason.clone(),
                    });
                    Ok(())
                },
                &RunOptions::default(),
                &|_| {},
            )
            .map_err(|e| ApiError::Internal(format!("import: {e}")))?;
            Ok(ImportLicencesResponse {
                rows_read: summary.rows_read,
                imported: summary.imported,
                already_present: summary.already_present,
                rejected_rows: summary.rejected_rows,
                flagged: summary.flagged,
                rejects,
            })
        })
        .await
    }
}
