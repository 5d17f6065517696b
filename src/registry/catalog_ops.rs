//! The catalogue part of the registry: the licence types, held in memory, and their
//! operations — list, fetch and (administrators) add.

use std::collections::HashMap;
use std::sync::RwLock;

use super::{Registry, RegistryError, Result};
use crate::catalog::{Department, LicenceType, Role};
use crate::store::Store;

/// Every licence type, read from the store at start (the store is seeded when empty).
pub(super) struct Catalogue {
    types: RwLock<HashMap<String, LicenceType>>,
}

impl Catalogue {
    pub(super) fn load(store: &dyn Store, seed: Vec<LicenceType>) -> Result<Catalogue> {
        let mut types = store.list_types()?;
        if types.is_empty() {
            for t in &seed {
                store.put_type(t).wait()?;
            }
            types = seed;
        }
        Ok(Catalogue {
            types: RwLock::new(types.into_iter().map(|t| (t.code.clone(), t)).collect()),
        })
    }

    /// Replaces what is held with what the store holds.
    pub(super) fn reload(&self, store: &dyn Store) -> Result<()> {
        let types = store.list_types()?;
        *self.types.write().expect("types lock") = types.into_iter().map(|t| (t.code.clone(), t)).collect();
        Ok(())
    }

    pub(super) fn get(&self, code: &str) -> Option<LicenceType> {
        self.types.read().expect("types lock").get(code).cloned()
    }

    fn list(&self) -> Vec<LicenceType> {
        let mut v: Vec<LicenceType> = self.types.read().expect("types lock").values().cloned().collect();
        v.sort_by(|a, b| a.code.cmp(&b.code));
        v
    }

    fn replace(&self, t: LicenceType) {
        self.types.write().expect("types lock").insert(t.code.clone(), t);
    }
}

impl Registry {
    pub fn list_types(&self) -> Vec<LicenceType> {
        self.fresh();
        self.catalogue.list()
    }

    pub fn get_type(&self, code: &str) -> Result<LicenceType> {
        self.licence_type(code)
            .ok_or_else(|| RegistryError::NotFound(format!("licence type {code}")))
    }

    /// Adds or replaces a licence type (admin role). Blocks until it is durable (call it
    /// off the async executor).
    pub fn put_type(&self, caller: &Department, t: LicenceType) -> Result<LicenceType> {
        if !caller.has_role(Role::Admin) {
            return Err(RegistryError::PermissionDenied(format!(
                "{} is not an administrator",
                caller.name
            )));
        }
        t.validate()?;
        self.store.put_type(&t).wait()?;
        self.catalogue.replace(t.clone());
        Ok(t)
    }
}
