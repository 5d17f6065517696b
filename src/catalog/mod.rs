//! Licence types (the GB/T 36902 catalogue) and the department directory: who may
//! issue, manage and read which types, and how their bearer tokens are checked.

pub mod departments;
pub mod types;

pub use departments::{Department, Directory, Role};
pub use types::{HolderCategory, LicenceType};
