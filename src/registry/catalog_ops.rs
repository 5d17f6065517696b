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
    /// Loads the stored types, first storing every type of `seed` the store lacks: all
    /// of them into a new store, and the rest of them into one whose seeding was cut
    /// short (each type is its own write). A stored type is never replaced by the seed's.
    pub(super) fn load(store: &dyn Store, seed: Vec<LicenceType>) -> Result<Catalogue> {
        let stored: std::collections::HashSet<String> = store.list_types()?.into_iter().map(|t| t.code).collect();
        for t in seed.iter().filter(|t| !stored.contains(&t.code)) {
            store.put_type(t).wait()?;
        }
        let types = store.list_types()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FjallStore;

    /// A first start killed after storing one type completes the catalogue at the next
    /// start; a type already stored (here changed by an administrator) is kept as stored.
    #[test]
    fn an_interrupted_seeding_completes_and_stored_types_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = FjallStore::open(dir.path()).unwrap();
        let seed = crate::catalog::types::load_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/catalog"),
        )
        .unwrap();
        assert!(seed.len() > 2);
        let mut changed = seed[1].clone();
        changed.name = "改过的名称".into();
        store.put_type(&changed).wait().unwrap();
        let catalogue = Catalogue::load(&store, seed.clone()).unwrap();
        assert_eq!(catalogue.list().len(), seed.len());
        assert_eq!(catalogue.get(&seed[1].code).unwrap().name, "改过的名称");
        assert_eq!(store.list_types().unwrap().len(), seed.len());
    }
}
