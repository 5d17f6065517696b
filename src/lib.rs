pub mod catalog;
pub mod licence;
