//! Rollcall's sync server (placeholder until the server issue lands).
