//! Sync apart from HTTP: the push writer (group commit of validated, authorized, merged ops),
//! the authorization snapshot it checks ops against, the change notices it publishes to event
//! streams (and, through the relay, to the other servers on the same PostgreSQL database), the
//! server's HLC clock, and what a pull cursor is. `api` calls into it; it never imports `api`.

pub mod authz;
pub mod clock;
pub mod notices;
pub mod pull;
pub mod relay;
pub mod writer;
