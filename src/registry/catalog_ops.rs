//! Catalogue operations: list, fetch and (administrators) add licence types.

use super::{Registry, RegistryError, Result};
use crate::catalog::{Department, LicenceType, Role};

impl Registry {
    pub fn list_types(&self) -> Vec<LicenceType> {
        let mut v: Vec<LicenceType> = self.types.read().expect("types lock").values().cloned().collect();
        v.sort_by(|a, b| a.code.cmp(&b.code));
        v
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
        self.types
            .write()
            .expect("types lock")
            .insert(t.code.clone(), t.clone());
        Ok(t)
    }
}
