//! Security.
pub mod passwords;
pub mod throttle;
pub mod tokens;
