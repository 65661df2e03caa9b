//! Sync.
pub mod authz;
pub mod writer;
