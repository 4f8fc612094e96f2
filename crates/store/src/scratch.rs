//! Keys an import has met so far, held in a private temporary database
//! instead of in memory, so that an import of any size runs in the same
//! memory. SQLite deletes the file when the connection closes.

use rusqlite::OptionalExtension;

use crate::StoreError;

/// Named sets of keys, each key with a number (a row, say).
pub struct ScratchKeys {
    conn: rusqlite::Connection,
}

impl ScratchKeys {
    pub fn new() -> Result<ScratchKeys, StoreError> {
        // An empty file name: a private on-disk database, removed on close.
        let conn = rusqlite::Connection::open("")?;
        // Nothing here outlives the process: no journal, no syncing, and one
        // transaction left open for the connection's life, never committed:
        // a statement in a transaction of its own would end it each time and
        // drop the page cache with it.
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -8192; \
             CREATE TABLE keys (set_id INTEGER NOT NULL, key TEXT NOT NULL, value INTEGER NOT NULL, \
             PRIMARY KEY (set_id, key)) WITHOUT ROWID; BEGIN;",
        )?;
        Ok(ScratchKeys { conn })
    }

    /// Adds `key` to `set` with `value`, unless it is there already; then
    /// returns the value it has.
    pub fn insert(&self, set: u8, key: &str, value: i64) -> Result<Option<i64>, StoreError> {
        let added = self
            .conn
            .prepare_cached("INSERT INTO keys (set_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")?
            .execute(rusqlite::params![set, key, value])?;
        if added == 1 { Ok(None) } else { self.get(set, key) }
    }

    /// The value of `key` in `set`, if it is there.
    pub fn get(&self, set: u8, key: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM keys WHERE set_id = ?1 AND key = ?2")?
            .query_row(rusqlite::params![set, key], |r| r.get(0))
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kept_per_set_with_their_first_value() {
        let keys = ScratchKeys::new().unwrap();
        assert_eq!(keys.insert(1, "H1", 2).unwrap(), None);
        assert_eq!(keys.insert(1, "H1", 9).unwrap(), Some(2));
        assert_eq!(keys.insert(2, "H1", 5).unwrap(), None);
        assert_eq!(keys.get(2, "H1").unwrap(), Some(5));
        assert_eq!(keys.get(1, "H2").unwrap(), None);
    }
}
