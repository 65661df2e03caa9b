//! The HTTP API.
pub mod auth;
pub mod events;
pub mod locks;
pub mod openapi;
pub mod roster;
pub mod sync;
pub mod web_app;
