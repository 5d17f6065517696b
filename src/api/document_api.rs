//! `elicence.v1.DocumentService`: a licence as PDF, or as a per-use copy (加注件),
//! rendered on a blocking thread and streamed in chunks after an info message.

use std::pin::Pin;

use sha2::{Digest, Sha256};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::audit::{audited, AuditedResponse};
use super::licence_api::{check_use_cause, resolve_readable};
use super::pb::document_service_server::DocumentService;
use super::pb::{pdf_chunk, PdfChunk, PdfInfo, RenderLicenceCopyRequest, RenderLicencePdfRequest};
use super::{blocking, ApiError, AppState};
use crate::catalog::Department;
use crate::licence::Invalid;
use crate::registry::{CopyOrder, DocumentOrder, RenderedDocument};

/// Bytes per `data` message.
pub const CHUNK_BYTES: usize = 64 * 1024;

type PdfStream = Pin<Box<dyn Stream<Item = Result<PdfChunk, Status>> + Send>>;

pub struct DocumentApi {
    state: AppState,
}

/// A rendered document on its way to the caller; the audit log records its identifier.
struct Rendered(RenderedDocument);

impl AuditedResponse for Rendered {
    fn identifiers(&self) -> Vec<String> {
        vec![self.0.identifier.clone()]
    }
}

fn optional(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

impl DocumentApi {
    pub fn new(state: AppState) -> DocumentApi {
        DocumentApi { state }
    }

    /// Renders on a blocking thread; `order.identifier` was resolved through the caller's
    /// read permission.
    async fn render(&self, order: DocumentOrder) -> Result<Rendered, ApiError> {
        let registry = self.state.registry.clone();
        let renderer = self.state.renderer.clone();
        let doc = blocking(move || Ok(registry.render_document(&renderer, &order)?)).await?;
        Ok(Rendered(doc))
    }

    /// The identifier asked for (or the current version of type + number), once the
    /// caller's read permission on its type is checked.
    fn readable(
        &self,
        caller: &Department,
        identifier: &str,
        type_code: &str,
        number: &str,
    ) -> Result<String, ApiError> {
        resolve_readable(&self.state.registry, caller, identifier, type_code, number)
    }

    async fn pdf(&self, caller: Department, req: RenderLicencePdfRequest) -> Result<Rendered, ApiError> {
        let RenderLicencePdfRequest {
            identifier,
            licence_type_code,
            licence_number,
            use_cause,
            template_id,
        } = req;
        check_use_cause(&use_cause)?;
        let order = DocumentOrder {
            identifier: self.readable(&caller, &identifier, &licence_type_code, &licence_number)?,
            template_id: optional(&template_id),
            copy: None,
        };
        self.render(order).await
    }

    async fn copy(&self, caller: Department, req: RenderLicenceCopyRequest) -> Result<Rendered, ApiError> {
        let RenderLicenceCopyRequest {
            identifier,
            licence_type_code,
            licence_number,
            use_cause,
            receiving_department,
            valid_until,
            template_id,
        } = req;
        check_use_cause(&use_cause)?;
        if valid_until.trim().is_empty() {
            return Err(Invalid::new(
                "valid_until",
                "is required: the last day the copy may be used (YYYY-MM-DD)",
            )
            .into());
        }
        let copy_for = match optional(&receiving_department) {
            None => caller.name.clone(),
            Some(id) => {
                let directory = self.state.directory.current();
                let receiver = directory.departments().iter().find(|d| d.id == id).ok_or_else(|| {
                    Invalid::new(
                        "receiving_department",
                        format!("{id:?} is not a department in the directory"),
                    )
                })?;
                receiver.name.clone()
            }
        };
        let order = DocumentOrder {
            identifier: self.readable(&caller, &identifier, &licence_type_code, &licence_number)?,
            template_id: optional(&template_id),
            copy: Some(CopyOrder {
                copy_for,
                purpose: use_cause.trim().to_string(),
                valid_until,
            }),
        };
        self.render(order).await
    }
}

/// The info message, then the PDF in [`CHUNK_BYTES`] pieces.
fn into_stream(r: Response<Rendered>) -> Response<PdfStream> {
    let doc = r.into_inner().0;
    let info = PdfInfo {
        identifier: doc.identifier,
        file_name: doc.file_name,
        content_type: "application/pdf".into(),
        size_bytes: doc.pdf.len() as u64,
        sha256: Sha256::digest(&doc.pdf).to_vec(),
        template_id: doc.template_id,
        template_version: doc.template_version,
        record_digest: doc.record_digest.to_vec(),
        qr_payload: doc.qr_payload,
    };
    let mut parts = vec![Ok(PdfChunk {
        part: Some(pdf_chunk::Part::Info(info)),
    })];
    parts.extend(doc.pdf.chunks(CHUNK_BYTES).map(|c| {
        Ok(PdfChunk {
            part: Some(pdf_chunk::Part::Data(c.to_vec())),
        })
    }));
    Response::new(Box::pin(tokio_stream::iter(parts)))
}

#[tonic::async_trait]
impl DocumentService for DocumentApi {
    type RenderLicencePdfStream = PdfStream;
    type RenderLicenceCopyStream = PdfStream;

    async fn render_licence_pdf(&self, req: Request<RenderLicencePdfRequest>) -> Result<Response<PdfStream>, Status> {
        let r = audited(
            &self.state,
            "elicence.v1.DocumentService/RenderLicencePdf",
            req,
            |c, m| self.pdf(c, m),
        )
        .await?;
        Ok(into_stream(r))
    }

    async fn render_licence_copy(&self, req: Request<RenderLicenceCopyRequest>) -> Result<Response<PdfStream>, Status> {
        let r = audited(
            &self.state,
            "elicence.v1.DocumentService/RenderLicenceCopy",
            req,
            |c, m| self.copy(c, m),
        )
        .await?;
        Ok(into_stream(r))
    }
}
