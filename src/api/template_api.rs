//! `elicence.v1.TemplateService`: licence layouts, versioned in the store. Reads need a
//! department token, `PutTemplate` the admin role; every call is audited.

use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use super::audit::audited;
use super::pb::template_service_server::TemplateService;
use super::pb::{GetTemplateRequest, ListTemplatesRequest, ListTemplatesResponse, PutTemplateRequest, TemplateVersion};
use super::{blocking, ApiError, AppState};
use crate::catalog::Department;
use crate::licence::Invalid;
use crate::registry::Layout;

pub struct TemplateApi {
    state: AppState,
}

impl TemplateApi {
    pub fn new(state: AppState) -> TemplateApi {
        TemplateApi { state }
    }

    async fn put(&self, caller: Department, req: PutTemplateRequest) -> Result<TemplateVersion, ApiError> {
        let PutTemplateRequest { toml } = req;
        if toml.trim().is_empty() {
            return Err(Invalid::new("toml", "is required: the template in the format of docs/TEMPLATES.md").into());
        }
        let font = self.state.renderer.font().clone();
        let registry = self.state.registry.clone();
        // Parsing and the glyph check take well under a millisecond; the wait for the
        // durable write is what needs the blocking thread.
        let layout = blocking(move || Ok(registry.put_template(&caller, &toml, &font)?)).await?;
        Ok(template_to_pb(&layout))
    }
}

fn template_to_pb(l: &Layout) -> TemplateVersion {
    TemplateVersion {
        id: l.stored.id.clone(),
        version: l.stored.version,
        toml: l.stored.text.clone(),
        name: l.template.name.clone(),
        page: l.template.page_name(),
        put_by: l.stored.put_by.clone(),
        put_at: l.stored.put_at.clone(),
        sha256: Sha256::digest(l.stored.text.as_bytes()).to_vec(),
    }
}

#[tonic::async_trait]
impl TemplateService for TemplateApi {
    async fn put_template(&self, req: Request<PutTemplateRequest>) -> Result<Response<TemplateVersion>, Status> {
        audited(&self.state, "elicence.v1.TemplateService/PutTemplate", req, |c, m| {
            self.put(c, m)
        })
        .await
    }

    async fn get_template(&self, req: Request<GetTemplateRequest>) -> Result<Response<TemplateVersion>, Status> {
        let registry = &self.state.registry;
        audited(
            &self.state,
            "elicence.v1.TemplateService/GetTemplate",
            req,
            |_, GetTemplateRequest { id, version }| async move {
                if id.trim().is_empty() {
                    return Err(Invalid::new("id", "is required").into());
                }
                let version = (version != 0).then_some(version);
                // Off the executor: an old version is read from the store, and the
                // current ones may reload from a shared database.
                let registry = registry.clone();
                let layout = blocking(move || Ok(registry.template(id.trim(), version)?)).await?;
                Ok(template_to_pb(&layout))
            },
        )
        .await
    }

    async fn list_templates(
        &self,
        req: Request<ListTemplatesRequest>,
    ) -> Result<Response<ListTemplatesResponse>, Status> {
        let registry = &self.state.registry;
        audited(
            &self.state,
            "elicence.v1.TemplateService/ListTemplates",
            req,
            |_, ListTemplatesRequest {}| async move {
                let registry = registry.clone();
                let templates = blocking(move || Ok(registry.templates())).await?;
                Ok(ListTemplatesResponse {
                    templates: templates.iter().map(|l| template_to_pb(l)).collect(),
                })
            },
        )
        .await
    }
}
