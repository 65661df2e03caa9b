//! Rows the server found in its database and could not read: a date no school can mean, an id
//! that is not a UUID, a value a newer or older version wrote, a hand edit gone wrong.
//!
//! Such a row must never stop the server for everyone (one unreadable lock once made every
//! push fail). Whoever meets one skips it, logs it and reports it here; `/healthz` lists what is
//! reported, so school IT sees which row to repair and why, while every other push, pull and
//! list goes on.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
pub struct UnreadableRow {
    /// The table it is in, e.g. `locks`.
    pub table: String,
    /// Its key in that table (an id, or the columns of a composite key).
    pub key: String,
    /// What is wrong with it, for the person repairing it.
    pub problem: String,
}

impl UnreadableRow {
    pub fn new(table: &str, key: impl Into<String>, problem: impl Into<String>) -> Self {
        UnreadableRow {
            table: table.to_owned(),
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// What each reader last found unreadable, shared by the whole server.
///
/// Keyed by reader, so a reader that re-reads everything (the push writer's authorization copy)
/// replaces its own list and a repaired row drops off; a reader that meets rows one at a time
/// (pull) adds to its list.
#[derive(Debug, Clone, Default)]
pub struct UnreadableRows {
    by_reader: Arc<Mutex<BTreeMap<&'static str, Vec<UnreadableRow>>>>,
}

impl UnreadableRows {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<&'static str, Vec<UnreadableRow>>) -> T) -> T {
        f(&mut self.by_reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Replaces what `reader` found, after it read every row it reads.
    pub fn replace(&self, reader: &'static str, rows: Vec<UnreadableRow>) {
        for row in &rows {
            if !self.with(|found| found.get(reader).is_some_and(|known| known.contains(row))) {
                log(reader, row);
            }
        }
        self.with(|found| found.insert(reader, rows));
    }

    /// Adds one row that `reader` skipped.
    pub fn add(&self, reader: &'static str, row: UnreadableRow) {
        let new = self.with(|found| {
            let known = found.entry(reader).or_default();
            let new = !known.contains(&row);
            if new {
                known.push(row.clone());
            }
            new
        });
        if new {
            log(reader, &row);
        }
    }

    /// Every row reported, without repeats, in table and key order.
    pub fn list(&self) -> Vec<UnreadableRow> {
        let mut rows: Vec<UnreadableRow> = self.with(|found| found.values().flatten().cloned().collect());
        rows.sort();
        rows.dedup();
        rows
    }
}

fn log(reader: &str, row: &UnreadableRow) {
    tracing::error!(
        reader,
        table = row.table,
        key = row.key,
        problem = row.problem,
        "skipping a database row that cannot be read; everything else goes on. Repair or remove the row \
         (GET /healthz lists every such row)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rereading_reader_replaces_its_list_and_a_repaired_row_drops_off() {
        let rows = UnreadableRows::default();
        let bad_lock = UnreadableRow::new("locks", "l1", "bad date");
        rows.replace("authorization", vec![bad_lock.clone()]);
        rows.add("pull", UnreadableRow::new("op_log", "7", "bad value"));
        rows.add("pull", UnreadableRow::new("op_log", "7", "bad value"));
        assert_eq!(rows.list().len(), 2);
        rows.replace("authorization", Vec::new());
        assert_eq!(rows.list(), vec![UnreadableRow::new("op_log", "7", "bad value")]);
    }
}
