//! Rollcall's tablet engine (placeholder until the client issue lands).
