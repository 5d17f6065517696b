//! Licence templates in the store: validated before they are stored, versioned (a new
//! version never rewrites an old one), the current version of each cached parsed.
//!
//! A template only decides how a licence looks; nothing signed depends on it, so a new
//! version changes no identifier, digest or signature of any issued licence.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{Registry, RegistryError, Result};
use crate::catalog::{Department, Role};
use crate::licence::record::rfc3339;
use crate::licence::Invalid;
use crate::render::font::CjkFont;
use crate::render::Template;
use crate::store::{Store, StoredTemplate};

/// Largest template text accepted.
pub const MAX_TEMPLATE_BYTES: usize = 256 * 1024;

/// Who stored the templates seeded on first start.
pub const BUILT_IN: &str = "built-in";

/// A stored template version with its parsed layout.
#[derive(Debug)]
pub struct Layout {
    pub stored: StoredTemplate,
    pub template: Template,
}

/// The templates part of the registry: the current version of every template, parsed.
pub(super) struct Templates {
    current: RwLock<HashMap<String, Arc<Layout>>>,
}

impl Templates {
    pub(super) fn load(store: &dyn Store) -> Result<Templates> {
        Ok(Templates {
            current: RwLock::new(load_current(store)?),
        })
    }

    fn get(&self, id: &str) -> Option<Arc<Layout>> {
        self.current.read().expect("layouts lock").get(id).cloned()
    }

    pub(super) fn reload(&self, store: &dyn Store) -> Result<()> {
        *self.current.write().expect("layouts lock") = load_current(store)?;
        Ok(())
    }

    /// Makes `layout` current unless a later version of its id already is (a concurrent
    /// put).
    fn offer(&self, layout: Arc<Layout>) {
        let mut current = self.current.write().expect("layouts lock");
        let newer = current
            .get(&layout.stored.id)
            .is_some_and(|l| l.stored.version > layout.stored.version);
        if !newer {
            current.insert(layout.stored.id.clone(), layout);
        }
    }

    fn list(&self) -> Vec<Arc<Layout>> {
        let mut v: Vec<_> = self.current.read().expect("layouts lock").values().cloned().collect();
        v.sort_by(|a, b| a.stored.id.cmp(&b.stored.id));
        v
    }
}

/// The current version of every template, parsed; loaded at start.
fn load_current(store: &dyn Store) -> Result<HashMap<String, Arc<Layout>>> {
    let mut current = HashMap::new();
    for stored in store.latest_templates()? {
        match Template::parse(&stored.text) {
            Ok(template) => {
                current.insert(stored.id.clone(), Arc::new(Layout { stored, template }));
            }
            // Accepted when stored, refused by this build's rules: leave it out and say so
            // rather than refuse to start; rendering with it answers NOT_FOUND.
            Err(e) => {
                tracing::error!(id = %stored.id, version = stored.version, error = %e, "stored template no longer valid")
            }
        }
    }
    Ok(current)
}

impl Registry {
    /// Stores each of `texts` (the built-in layouts) whose id the store has no version of
    /// as version 1, validated as a department's would be: all of them into a new store,
    /// the rest of them into one whose seeding was cut short. A stored template is never
    /// replaced. Returns how many were stored.
    pub fn seed_templates(&self, texts: &[String], font: &CjkFont) -> Result<usize> {
        let stored: std::collections::HashSet<String> =
            self.store.latest_templates()?.into_iter().map(|t| t.id).collect();
        let mut n = 0;
        for text in texts {
            // A stored id is left alone before its text is checked: the catalogue may
            // have changed since, along with the stored version.
            if Template::parse(text).is_ok_and(|t| stored.contains(&t.id)) {
                continue;
            }
            let layout = self.validated_layout(text, BUILT_IN, font)?;
            self.store.put_template(layout.stored.clone()).wait()?;
            n += 1;
        }
        if n > 0 {
            self.templates.reload(self.store.as_ref())?;
        }
        Ok(n)
    }

    /// Validates and stores a new version of a template (admin role). Blocks until it is
    /// durable (call it off the async executor); nothing is stored when any check fails.
    pub fn put_template(&self, caller: &Department, text: &str, font: &CjkFont) -> Result<Arc<Layout>> {
        if !caller.has_role(Role::Admin) {
            return Err(RegistryError::PermissionDenied(format!(
                "{} is not an administrator",
                caller.name
            )));
        }
        let mut layout = self.validated_layout(text, &caller.id, font)?;
        layout.stored.version = self.store.put_template(layout.stored.clone()).wait()?;
        let layout = Arc::new(layout);
        self.templates.offer(layout.clone());
        Ok(layout)
    }

    /// A template version; `None` for the current one.
    pub fn template(&self, id: &str, version: Option<u32>) -> Result<Arc<Layout>> {
        let not_found = || RegistryError::NotFound(format!("template {id}"));
        self.fresh();
        let current = self.templates.get(id);
        match (version, current) {
            (None, Some(l)) => Ok(l),
            (Some(v), Some(l)) if l.stored.version == v => Ok(l),
            (None, None) => Err(not_found()),
            (Some(v), _) => {
                let stored = self
                    .store
                    .get_template(id, Some(v))?
                    .ok_or_else(|| RegistryError::NotFound(format!("template {id} version {v}")))?;
                let template = Template::parse(&stored.text)
                    .map_err(|e| RegistryError::FailedPrecondition(format!("template {id} version {v}: {e}")))?;
                Ok(Arc::new(Layout { stored, template }))
            }
        }
    }

    /// The current version of every template, ordered by id.
    pub fn templates(&self) -> Vec<Arc<Layout>> {
        self.fresh();
        self.templates.list()
    }

    /// Parses and checks a template: its own rules, every licence type it serves (each
    /// `fields.X` must be a field of the type), and that the font draws every literal
    /// text. Errors name the `toml` field, the element and the reason.
    fn validated_layout(&self, text: &str, put_by: &str, font: &CjkFont) -> Result<Layout> {
        if text.len() > MAX_TEMPLATE_BYTES {
            return Err(Invalid::new("toml", format!("is {} bytes; at most {MAX_TEMPLATE_BYTES}", text.len())).into());
        }
        let invalid = |e: &dyn std::fmt::Display| Invalid::new("toml", e.to_string());
        let template = Template::parse(text).map_err(|e| invalid(&e))?;
        for t in self.list_types().iter().filter(|t| template.serves(&t.template_id)) {
            template.validate_for_type(t).map_err(|e| invalid(&e))?;
        }
        for (at, literal) in template.literal_texts() {
            font.check(&at, literal).map_err(|e| invalid(&e))?;
        }
        Ok(Layout {
            stored: StoredTemplate {
                id: template.id.clone(),
                version: 0,
                text: text.to_string(),
                put_by: put_by.to_string(),
                put_at: rfc3339(self.clock.now()),
            },
            template,
        })
    }
}
