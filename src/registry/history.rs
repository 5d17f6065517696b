//! A licence's full history: every version (linked through `replaces`) and every event
//! of each, all verified, oldest first.

use super::lifecycle::type_of;
use super::{LicenceView, Registry, RegistryError, Result};
use crate::catalog::Department;

/// Versions beyond this are refused (the identifier's version has three digits).
const MAX_VERSIONS: usize = 999;

impl Registry {
    /// Fails with `PermissionDenied` unless `caller` may read `type_code`.
    pub(crate) fn check_read(&self, caller: &Department, type_code: &str) -> Result<()> {
        if caller.may_read(type_code) {
            Ok(())
        } else {
            Err(RegistryError::PermissionDenied(format!(
                "{} may not read licences of type {type_code}",
                caller.name
            )))
        }
    }

    /// Every version of the licence that `identifier` is a version of, oldest first.
    /// Walks back from the current version (found through the number index) along
    /// `replaces`; each version's record and event chain is verified on the way.
    pub fn history(&self, caller: &Department, identifier: &str) -> Result<Vec<LicenceView>> {
        self.check_read(caller, &type_of(identifier)?)?;
        let asked = self.load(identifier)?;
        let current = asked.current_identifier.clone();
        let mut versions = Vec::new();
        let mut next = Some(current);
        while let Some(id) = next {
            if versions.len() == MAX_VERSIONS {
                return Err(RegistryError::Tampered(identifier.to_string()));
            }
            let view = if id == identifier {
                asked.clone()
            } else {
                self.load(&id)?
            };
            next = view.licence.replaces.clone();
            versions.push(view);
        }
        versions.reverse();
        if !versions.iter().any(|v| v.licence.identifier == identifier) {
            // The asked version is not on the current version's chain: the links are broken.
            return Err(RegistryError::Tampered(identifier.to_string()));
        }
        Ok(versions)
    }
}
