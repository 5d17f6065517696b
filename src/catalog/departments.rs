//! The department directory (`departments.toml`): names, codes, token hashes and the
//! licence types each department may issue, manage and read. Tokens are stored only as
//! SHA-256 hashes and compared in constant time.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::licence::codes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May add licence types and templates.
    Admin,
    /// May read the access audit log.
    Auditor,
}

/// A set of licence type codes; `"*"` means every type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeSet {
    all: bool,
    codes: Vec<String>,
}

impl TypeSet {
    fn from_list(list: Vec<String>) -> TypeSet {
        TypeSet {
            all: list.iter().any(|c| c == "*"),
            codes: list.into_iter().filter(|c| c != "*").collect(),
        }
    }

    pub fn contains(&self, code: &str) -> bool {
        self.all || self.codes.iter().any(|c| c == code)
    }

    pub fn is_all(&self) -> bool {
        self.all
    }

    pub fn codes(&self) -> &[String] {
        &self.codes
    }
}

#[derive(Debug, Clone)]
pub struct Department {
    pub id: String,
    pub name: String,
    /// The department's unified social credit code.
    pub code: String,
    /// Issuer codes it may put on licences it issues (its own code by default).
    pub issuer_codes: Vec<String>,
    pub issue: TypeSet,
    pub manage: TypeSet,
    pub read: TypeSet,
    pub roles: Vec<Role>,
    token_hashes: Vec<[u8; 32]>,
    /// SHA-256 fingerprints (hex) of client certificates that authenticate this department.
    pub client_cert_sha256: Vec<String>,
}

impl Department {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// May issue this type (amend and renew count as issuing too).
    pub fn may_issue(&self, type_code: &str) -> bool {
        self.issue.contains(type_code)
    }

    /// May change the status of licences of this type.
    pub fn may_manage(&self, type_code: &str) -> bool {
        self.manage.contains(type_code) || self.issue.contains(type_code)
    }

    /// May read full details of licences of this type.
    pub fn may_read(&self, type_code: &str) -> bool {
        self.read.contains(type_code) || self.may_manage(type_code)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartmentEntry {
    id: String,
    name: String,
    code: String,
    #[serde(default)]
    issuer_codes: Vec<String>,
    #[serde(default)]
    token_sha256: Vec<String>,
    #[serde(default)]
    client_cert_sha256: Vec<String>,
    #[serde(default)]
    issue: Vec<String>,
    #[serde(default)]
    manage: Vec<String>,
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    roles: Vec<Role>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(rename = "department")]
    departments: Vec<DepartmentEntry>,
}

/// All departments, indexed for authentication.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    departments: Vec<Department>,
    by_cert: HashMap<String, usize>,
}

/// Where each value that must be unique was first seen (`department[i] (id)…`).
#[derive(Default)]
struct Seen {
    ids: HashMap<String, String>,
    codes: HashMap<String, String>,
    tokens: HashMap<[u8; 32], String>,
    certs: HashMap<String, String>,
}

/// SHA-256 of a bearer token, as stored in the departments file.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Directory {
    pub fn load(path: &Path) -> Result<Directory, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Directory::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and validates a departments file. Ids, codes, token hashes and client
    /// certificate fingerprints must each identify one department: a duplicate is
    /// refused with both entries named (a token hash by its position only, never its
    /// value).
    pub fn parse(text: &str) -> Result<Directory, String> {
        let file: DirectoryFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut departments = Vec::new();
        let mut by_cert = HashMap::new();
        let mut seen = Seen::default();
        for (i, e) in file.departments.into_iter().enumerate() {
            let at = format!("department[{i}] ({})", e.id);
            if e.id.is_empty() {
                return Err(format!("department[{i}].id: must not be empty"));
            }
            if let Some(first) = seen.ids.insert(e.id.clone(), at.clone()) {
                return Err(format!("department[{i}].id: {:?} is already the id of {first}", e.id));
            }
            codes::validate_uscc(&e.code).map_err(|err| format!("{at}.code: {err}"))?;
            if let Some(first) = seen.codes.insert(e.code.clone(), at.clone()) {
                return Err(format!("{at}.code: {} is already the code of {first}", e.code));
            }
            let mut token_hashes = Vec::new();
            for (j, h) in e.token_sha256.iter().enumerate() {
                let field = format!("{at}.token_sha256[{j}]");
                let bytes = hex::decode(h).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
                let bytes = bytes.ok_or_else(|| format!("{field}: not a 64-hex-digit SHA-256"))?;
                if let Some(first) = seen.tokens.insert(bytes, field.clone()) {
                    return Err(format!(
                        "{field}: the same token hash as {first}; a token must identify one department"
                    ));
                }
                token_hashes.push(bytes);
            }
            for (j, fp) in e.client_cert_sha256.iter().enumerate() {
                let field = format!("{at}.client_cert_sha256[{j}]");
                let norm = fp.replace(':', "").to_ascii_lowercase();
                if norm.len() != 64 || hex::decode(&norm).is_err() {
                    return Err(format!("{field}: not a SHA-256 fingerprint"));
                }
                if let Some(first) = seen.certs.insert(norm.clone(), field.clone()) {
                    return Err(format!(
                        "{field}: certificate {norm} is already registered as {first}; a certificate must identify one department"
                    ));
                }
                by_cert.insert(norm, departments.len());
            }
            let issuer_codes = if e.issuer_codes.is_empty() {
                vec![e.code.clone()]
            } else {
                e.issuer_codes
            };
            departments.push(Department {
                id: e.id,
                name: e.name,
                code: e.code,
                issuer_codes,
                issue: TypeSet::from_list(e.issue),
                manage: TypeSet::from_list(e.manage),
                read: TypeSet::from_list(e.read),
                roles: e.roles,
                token_hashes,
                client_cert_sha256: e.client_cert_sha256,
            });
        }
        Ok(Directory { departments, by_cert })
    }

    /// Finds the department a bearer token belongs to. Every stored hash is compared in
    /// constant time, so timing does not reveal which department or how much matched.
    pub fn authenticate(&self, token: &str) -> Option<&Department> {
        let presented = token_hash(token);
        let mut found = None;
        for d in &self.departments {
            for h in &d.token_hashes {
                if bool::from(h.ct_eq(&presented)) {
                    found = Some(d);
                }
            }
        }
        found
    }

    /// Finds the department a client certificate (SHA-256 of its DER) belongs to.
    pub fn authenticate_cert(&self, cert_der_sha256: &[u8; 32]) -> Option<&Department> {
        self.by_cert
            .get(&hex::encode(cert_der_sha256))
            .map(|i| &self.departments[*i])
    }

    pub fn departments(&self) -> &[Department] {
        &self.departments
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_directory_authenticates_the_readme_tokens() {
        let dir = Directory::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/keys-example/departments.toml"
        )))
        .unwrap();
        let d = dir.authenticate("dev-scjgj-token").expect("market regulator token");
        assert!(d.may_issue("11100000000013338W011"));
        assert!(!d.may_issue("11100000000013129K001"));
        assert!(dir.authenticate("dev-scjgj-token ").is_none());
        assert!(dir.authenticate("").is_none());
    }

    #[test]
    fn bad_files_are_rejected() {
        assert!(Directory::parse("[[department]]\nid='a'\nname='x'\ncode='bad'\n")
            .unwrap_err()
            .contains("code"));
        let dup = "[[department]]\nid='a'\nname='x'\ncode='11420800MB1A234561'\ntoken_sha256=['00']\n";
        assert!(Directory::parse(dup).unwrap_err().contains("token_sha256"));
        assert!(Directory::parse("[[department]]\nid='a'\nname='x'\ncode='11420800MB1A234561'\nbogus=1\n").is_err());
    }

    const SCJGJ_HASH: &str = "a42d48cd10a61cb3a9f6b73979fa81a6a88c4adaaef782329965c44ab1a7f68d";
    const ZJJ_HASH: &str = "9a212bca4a96c0673047c6426b7642790e6f0f80753693446e6eae3f93e7cb4d";
    const CERT: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

    fn entry(id: &str, code: &str, extra: &str) -> String {
        format!("[[department]]\nid='{id}'\nname='{id}'\ncode='{code}'\n{extra}\n")
    }

    /// Two well-formed departments, with the second's fields replaced by `second`.
    fn two(second_id: &str, second_code: &str, second_extra: &str) -> Result<Directory, String> {
        let first = entry(
            "scjgj",
            "11420800MB1A234561",
            &format!("token_sha256=['{SCJGJ_HASH}']\nclient_cert_sha256=['{CERT}']"),
        );
        Directory::parse(&(first + &entry(second_id, second_code, second_extra)))
    }

    #[test]
    fn a_value_that_must_name_one_department_is_refused_when_duplicated() {
        assert!(two("zjj", "11420800MB1B2345M2", &format!("token_sha256=['{ZJJ_HASH}']")).is_ok());

        let err = two("scjgj", "11420800MB1B2345M2", "").unwrap_err();
        assert_eq!(
            err,
            r#"department[1].id: "scjgj" is already the id of department[0] (scjgj)"#
        );

        let err = two("zjj", "11420800MB1A234561", "").unwrap_err();
        assert_eq!(
            err,
            "department[1] (zjj).code: 11420800MB1A234561 is already the code of department[0] (scjgj)"
        );

        // Hex case differs: still the same hash. Named by position, never by value.
        let err = two(
            "zjj",
            "11420800MB1B2345M2",
            &format!("token_sha256=['{ZJJ_HASH}', '{}']", SCJGJ_HASH.to_uppercase()),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "department[1] (zjj).token_sha256[1]: the same token hash as department[0] (scjgj).token_sha256[0]; \
             a token must identify one department"
        );
        assert!(!err.to_lowercase().contains(SCJGJ_HASH) && !err.contains("dev-scjgj-token"));
        let err = Directory::parse(&entry(
            "a",
            "11420800MB1A234561",
            &format!("token_sha256=['{ZJJ_HASH}', '{ZJJ_HASH}']"),
        ))
        .unwrap_err();
        assert!(
            err.starts_with(
                "department[0] (a).token_sha256[1]: the same token hash as department[0] (a).token_sha256[0]"
            ),
            "{err}"
        );

        // Colons and case do not make a fingerprint different.
        let colons = CERT
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        let err = two("zjj", "11420800MB1B2345M2", &format!("client_cert_sha256=['{colons}']")).unwrap_err();
        assert_eq!(
            err,
            format!(
                "department[1] (zjj).client_cert_sha256[0]: certificate {CERT} is already registered as \
                 department[0] (scjgj).client_cert_sha256[0]; a certificate must identify one department"
            )
        );
    }

    #[test]
    fn an_empty_id_is_refused() {
        assert_eq!(
            Directory::parse(&entry("", "11420800MB1A234561", "")).unwrap_err(),
            "department[0].id: must not be empty"
        );
    }
}
