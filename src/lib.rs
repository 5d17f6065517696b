pub mod catalog;
pub mod licence;
pub mod render;
