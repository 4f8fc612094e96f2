//! Bulk loading of new households and their people, for imports: the rows
//! the registry writes for a registration, written through each database's
//! fast path. SQLite gets a connection of its own with cached prepared
//! statements (one row per step, nothing to parse or name-resolve per
//! batch); PostgreSQL gets COPY. Each batch is one transaction, with the
//! import's source keys in it, so a crash leaves whole batches or nothing.

use std::time::Duration;

use himaya_domain::household::{HouseholdId, HouseholdRecord};
use himaya_domain::person::{PersonId, PersonRecord};
use sqlx::Connection;

use crate::registry::{
    WriteMeta, household_attributes, household_data, identifier_taken, member_facts, name_tokens, person_data,
    person_facts,
};
use crate::{Backend, Store, StoreError, time_text};

/// A new household with its members and source keys, as stored text: built
/// before the write starts (and in parallel), so that building holds no lock.
pub struct LoadHousehold {
    id: String,
    key: String,
    area: String,
    status: &'static str,
    at: String,
    actor: String,
    source: &'static str,
    change: &'static str,
    reason: Option<String>,
    data: String,
    attributes: String,
    member_facts: String,
    persons: Vec<LoadPerson>,
}

struct LoadPerson {
    id: String,
    key: String,
    status: &'static str,
    phone: Option<String>,
    data: String,
    facts: String,
    tokens: Vec<String>,
    identifiers: Vec<(&'static str, String)>,
    active: bool,
}

impl LoadHousehold {
    /// A household created at version 1 with its members (each with its
    /// source key), in order.
    pub fn new(
        id: HouseholdId,
        key: &str,
        record: &HouseholdRecord,
        meta: &WriteMeta,
        members: &[(PersonId, &PersonRecord, &str)],
    ) -> LoadHousehold {
        let ids: Vec<PersonId> = members.iter().map(|m| m.0).collect();
        let persons: Vec<LoadPerson> = members
            .iter()
            .map(|(person_id, person, key)| LoadPerson {
                id: person_id.to_string(),
                key: (*key).to_owned(),
                status: person.status.code(),
                phone: person.phone.as_ref().map(|p| p.as_str().to_owned()),
                data: person_data(id, person),
                facts: person_facts(person),
                tokens: name_tokens(person),
                identifiers: person
                    .identifiers
                    .iter()
                    .map(|i| (i.id_type.code(), i.value.clone()))
                    .collect(),
                active: person.is_active(),
            })
            .collect();
        let member_facts = member_facts(
            persons
                .iter()
                .filter(|p| p.active)
                .map(|p| (p.id.as_str(), p.facts.as_str())),
        );
        LoadHousehold {
            id: id.to_string(),
            key: key.to_owned(),
            area: record.area.clone(),
            status: record.status.code(),
            at: time_text(meta.at),
            actor: meta.actor.clone(),
            source: meta.source.code(),
            change: meta.change.code(),
            reason: meta.reason.clone(),
            data: household_data(record, &ids),
            attributes: household_attributes(record),
            member_facts,
            persons,
        }
    }
}

/// The connection bulk loads go through, opened on first use.
pub(crate) enum Loader {
    Sqlite(rusqlite::Connection),
    Postgres(sqlx::PgConnection),
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Loader::Sqlite(_) => "Loader::Sqlite",
            Loader::Postgres(_) => "Loader::Postgres",
        })
    }
}

/// The file of a `sqlite:` URL.
fn sqlite_path(url: &str) -> &str {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or(rest)
}

/// The file a `sqlite:` URL names; `None` for another database or an in-memory one.
pub fn sqlite_file_of(url: &str) -> Option<&str> {
    let path = sqlite_path(url);
    (url.starts_with("sqlite:") && !path.is_empty() && !path.starts_with(":memory:")).then_some(path)
}

pub(crate) fn open_sqlite(url: &str) -> Result<rusqlite::Connection, StoreError> {
    let path = sqlite_path(url);
    if path.is_empty() || path.starts_with(":memory:") {
        // A second connection would open a different, empty database.
        return Err(StoreError::Sqlite(
            "bulk loading needs a database file, not an in-memory one".into(),
        ));
    }
    let conn = rusqlite::Connection::open(path)?;
    // Another writer (the audit trail) may hold the lock for a moment.
    conn.busy_timeout(Duration::from_secs(60))?;
    // A larger page cache than the pool's: the indexes being filled are
    // touched all over, and each batch is written by this one connection.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 10000;",
    )?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Pages the bulk writer's log may reach before its own commit copies them
/// into the database file (256 MiB): a backstop, as the [`Checkpointer`]
/// copies them meanwhile. The log restarts from its beginning only after a
/// checkpoint no write raced, which this commit is.
const LOADER_WAL_PAGES: u32 = 65_536;

/// The bulk writer's connection: [`open_sqlite`]'s, leaving most
/// checkpoints to the [`Checkpointer`].
fn open_sqlite_loader(url: &str) -> Result<rusqlite::Connection, StoreError> {
    let conn = open_sqlite(url)?;
    conn.pragma_update(None, "wal_autocheckpoint", LOADER_WAL_PAGES)?;
    Ok(conn)
}

/// Copies the write-ahead log into the database file on a thread of its
/// own while bulk writes go on, so that their commits do not wait for the
/// file to be written and synced: at a million entitlements, commits
/// waited four seconds for it.
pub(crate) struct Checkpointer(std::sync::mpsc::SyncSender<()>);

impl Checkpointer {
    pub(crate) fn start(url: &str) -> Result<Checkpointer, StoreError> {
        let conn = rusqlite::Connection::open(sqlite_path(url))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let (nudge, nudged) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                // Ends with the store, when the last nudging handle is dropped.
                while nudged.recv().is_ok() {
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!(error = %e, "copying the write-ahead log into the database failed");
                    }
                }
            })
            .map_err(|e| StoreError::Sqlite(format!("starting the checkpoint thread failed: {e}")))?;
        Ok(Checkpointer(nudge))
    }

    /// After a bulk commit. Nudges while a checkpoint runs make one more.
    fn nudge(&self) {
        let _ = self.0.try_send(());
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Sqlite(e.to_string())
    }
}

pub(crate) fn sqlite_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

impl Store {
    /// Writes a batch of new households with their people and source keys
    /// in one transaction; returns their registration numbers, `number` of
    /// the next values of the registration counter, in order.
    /// An identifier already held by an active person fails the whole batch
    /// with [`StoreError::IdentifierTaken`]. `batch` is left as it was, so a
    /// failed batch can be sifted and written again.
    pub async fn load(
        &self,
        batch: &mut Vec<LoadHousehold>,
        number: impl Fn(i64) -> String + Send + Sync + 'static,
    ) -> Result<Vec<String>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut slot = self.loader.lock().await;
        let loader = match slot.take() {
            Some(l) => l,
            None => match self.backend {
                Backend::Sqlite => {
                    let url = self.url.clone();
                    tokio::task::spawn_blocking(move || open_sqlite_loader(&url).map(Loader::Sqlite))
                        .await
                        .map_err(|e| StoreError::Sqlite(e.to_string()))??
                }
                Backend::Postgres => Loader::Postgres(sqlx::PgConnection::connect(&self.url).await?),
            },
        };
        match loader {
            Loader::Sqlite(mut conn) => {
                // Hold the pool's one writer meanwhile: other writes queue in
                // the process, as they always do, instead of meeting a second
                // writer's lock in the file.
                let _writer = self.writer.acquire().await?;
                let owned = std::mem::take(batch);
                let (conn, owned, result) = tokio::task::spawn_blocking(move || {
                    let result = load_sqlite(&mut conn, &owned, &number);
                    (conn, owned, result)
                })
                .await
                .map_err(|e| StoreError::Sqlite(e.to_string()))?;
                *batch = owned;
                *slot = Some(Loader::Sqlite(conn));
                self.checkpoint_soon();
                result
            }
            Loader::Postgres(mut conn) => {
                let result = load_postgres(&mut conn, batch, &number).await;
                // A connection whose COPY failed is not reused.
                if result.is_ok() {
                    *slot = Some(Loader::Postgres(conn));
                }
                result
            }
        }
    }
}

/// Registration numbers for `n` households from the counter's value `first` on.
fn numbers(number: &(dyn Fn(i64) -> String + Sync), first: i64, n: usize) -> Vec<String> {
    (first..first + n as i64).map(number).collect()
}

fn load_sqlite(
    conn: &mut rusqlite::Connection,
    batch: &[LoadHousehold],
    number: &(dyn Fn(i64) -> String + Sync),
) -> Result<Vec<String>, StoreError> {
    use rusqlite::params;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let n = batch.len();
    let last: i64 = tx.query_row(
        "INSERT INTO counters (name, value) VALUES ('household_registration', ?1) \
         ON CONFLICT (name) DO UPDATE SET value = counters.value + ?1 RETURNING value",
        [n as i64],
        |r| r.get(0),
    )?;
    let first = last - n as i64 + 1;
    let numbers = numbers(number, first, n);
    {
        let mut household = tx.prepare_cached(
            "INSERT INTO households (id, registration_number, area_code, status, version, created_at, updated_at, \
             member_facts) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5, ?6)",
        )?;
        let mut attributes =
            tx.prepare_cached("INSERT INTO household_attributes (household_id, attributes) VALUES (?1, ?2)")?;
        let mut version = tx.prepare_cached(
            "INSERT INTO household_versions (household_id, version, recorded_at, actor, source, change, reason, data) \
             VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut key = tx.prepare_cached("INSERT INTO import_keys (kind, source_key, record_id) VALUES (?1, ?2, ?3)")?;
        for (h, number) in batch.iter().zip(&numbers) {
            household.execute(params![h.id, number, h.area, h.status, h.at, h.member_facts])?;
            attributes.execute(params![h.id, h.attributes])?;
            version.execute(params![h.id, h.at, h.actor, h.source, h.change, h.reason, h.data])?;
            key.execute(params!["household", h.key, h.id])?;
        }
    }
    {
        let mut person = tx.prepare_cached(
            "INSERT INTO persons (id, household_id, area_code, status, phone, version, created_at, updated_at, facts) \
             VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6, ?7)",
        )?;
        let mut version = tx.prepare_cached(
            "INSERT INTO person_versions (person_id, version, household_id, recorded_at, actor, source, change, reason, data) \
             VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut identifier = tx.prepare_cached(
            "INSERT INTO person_identifiers (person_id, household_id, id_type, value, active) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut token = tx.prepare_cached("INSERT INTO person_name_tokens (token, person_id) VALUES (?1, ?2)")?;
        let mut key = tx.prepare_cached("INSERT INTO import_keys (kind, source_key, record_id) VALUES (?1, ?2, ?3)")?;
        // Table by table, and each index's keys in order: each page of an
        // index is then visited once per batch instead of at random.
        let persons = || batch.iter().flat_map(|h| h.persons.iter().map(move |p| (h, p)));
        for (h, p) in persons() {
            person.execute(params![p.id, h.id, h.area, p.status, p.phone, h.at, p.facts])?;
        }
        for (h, p) in persons() {
            version.execute(params![p.id, h.id, h.at, h.actor, h.source, h.change, h.reason, p.data])?;
        }
        let mut identifiers: Vec<(&str, &str, &str, &str, bool)> = persons()
            .flat_map(|(h, p)| {
                p.identifiers
                    .iter()
                    .map(move |(t, v)| (v.as_str(), *t, p.id.as_str(), h.id.as_str(), p.active))
            })
            .collect();
        identifiers.sort_unstable();
        for (value, id_type, person_id, household_id, active) in identifiers {
            identifier
                .execute(params![person_id, household_id, id_type, value, i64::from(active)])
                .map_err(|e| {
                    if sqlite_unique_violation(&e) {
                        StoreError::IdentifierTaken
                    } else {
                        e.into()
                    }
                })?;
        }
        let mut tokens: Vec<(&str, &str)> = persons()
            .flat_map(|(_, p)| p.tokens.iter().map(move |t| (t.as_str(), p.id.as_str())))
            .collect();
        tokens.sort_unstable();
        for (t, person_id) in tokens {
            token.execute(params![t, person_id])?;
        }
        for (_, p) in persons() {
            key.execute(params!["person", p.key, p.id])?;
        }
    }
    tx.commit()?;
    Ok(numbers)
}

/// Appends one field of COPY's text format: `\N` for NULL, and the
/// characters COPY gives meaning to escaped.
fn copy_field(buf: &mut String, value: Option<&str>) {
    let Some(value) = value else {
        buf.push_str("\\N");
        return;
    };
    for c in value.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

fn copy_row(buf: &mut String, fields: &[Option<&str>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            buf.push('\t');
        }
        copy_field(buf, *f);
    }
    buf.push('\n');
}

async fn copy_in(conn: &mut sqlx::PgConnection, table: &str, rows: String) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut copy = conn.copy_in_raw(&format!("COPY {table} FROM STDIN")).await?;
    copy.send(rows.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

async fn load_postgres(
    conn: &mut sqlx::PgConnection,
    batch: &[LoadHousehold],
    number: &(dyn Fn(i64) -> String + Sync),
) -> Result<Vec<String>, StoreError> {
    let n = batch.len();
    // Text for every table first, so the transaction only streams.
    let (mut households, mut attributes, mut household_versions, mut keys) =
        (String::new(), String::new(), String::new(), String::new());
    for h in batch {
        copy_row(&mut attributes, &[Some(&h.id), Some(&h.attributes)]);
        copy_row(
            &mut household_versions,
            &[
                Some(&h.id),
                Some("1"),
                Some(&h.at),
                Some(&h.actor),
                Some(h.source),
                Some(h.change),
                h.reason.as_deref(),
                Some(&h.data),
            ],
        );
        copy_row(&mut keys, &[Some("household"), Some(&h.key), Some(&h.id)]);
    }
    let (mut persons, mut person_versions, mut identifiers, mut tokens) =
        (String::new(), String::new(), String::new(), String::new());
    for (h, p) in batch.iter().flat_map(|h| h.persons.iter().map(move |p| (h, p))) {
        copy_row(
            &mut persons,
            &[
                Some(&p.id),
                Some(&h.id),
                Some(&h.area),
                Some(p.status),
                p.phone.as_deref(),
                Some("1"),
                Some(&h.at),
                Some(&h.at),
                Some(&p.facts),
            ],
        );
        copy_row(
            &mut person_versions,
            &[
                Some(&p.id),
                Some("1"),
                Some(&h.id),
                Some(&h.at),
                Some(&h.actor),
                Some(h.source),
                Some(h.change),
                h.reason.as_deref(),
                Some(&p.data),
            ],
        );
        let active = if p.active { "1" } else { "0" };
        for (id_type, value) in &p.identifiers {
            copy_row(
                &mut identifiers,
                &[Some(&p.id), Some(&h.id), Some(id_type), Some(value), Some(active)],
            );
        }
        for t in &p.tokens {
            copy_row(&mut tokens, &[Some(t), Some(&p.id)]);
        }
        copy_row(&mut keys, &[Some("person"), Some(&p.key), Some(&p.id)]);
    }

    let mut tx = conn.begin().await?;
    let last: i64 = sqlx::query_scalar(
        "INSERT INTO counters (name, value) VALUES ('household_registration', $1) \
         ON CONFLICT (name) DO UPDATE SET value = counters.value + $1 RETURNING value",
    )
    .bind(n as i64)
    .fetch_one(&mut *tx)
    .await?;
    let first = last - n as i64 + 1;
    let numbers = numbers(number, first, n);
    for (h, number) in batch.iter().zip(&numbers) {
        copy_row(
            &mut households,
            &[
                Some(&h.id),
                Some(number),
                Some(&h.area),
                Some(h.status),
                Some("1"),
                Some(&h.at),
                Some(&h.at),
                Some(&h.member_facts),
            ],
        );
    }
    // In the order of LOADED_TABLES, whose columns the rows follow.
    let texts = [
        households,
        attributes,
        household_versions,
        persons,
        person_versions,
        identifiers,
        tokens,
        keys,
    ];
    for ((table, columns, _), rows) in LOADED_TABLES.iter().zip(texts) {
        let copied = copy_in(&mut tx, &format!("{table} ({columns})"), rows).await;
        copied.map_err(|e| {
            if *table == "person_identifiers" {
                identifier_taken(e)
            } else {
                e.into()
            }
        })?;
    }
    tx.commit().await?;
    Ok(numbers)
}

/// The tables a load fills: name, columns, and which rows an import wrote.
const LOADED_TABLES: [(&str, &str, &str); 8] = [
    (
        "households",
        "id, registration_number, area_code, status, version, created_at, updated_at, member_facts",
        "id IN (SELECT record_id FROM import_keys WHERE kind = 'household')",
    ),
    (
        "household_attributes",
        "household_id, attributes",
        "household_id IN (SELECT record_id FROM import_keys WHERE kind = 'household')",
    ),
    (
        "household_versions",
        "household_id, version, recorded_at, actor, source, change, reason, data",
        "household_id IN (SELECT record_id FROM import_keys WHERE kind = 'household')",
    ),
    (
        "persons",
        "id, household_id, area_code, status, phone, version, created_at, updated_at, facts",
        "id IN (SELECT record_id FROM import_keys WHERE kind = 'person')",
    ),
    (
        "person_versions",
        "person_id, version, household_id, recorded_at, actor, source, change, reason, data",
        "person_id IN (SELECT record_id FROM import_keys WHERE kind = 'person')",
    ),
    (
        "person_identifiers",
        "person_id, household_id, id_type, value, active",
        "person_id IN (SELECT record_id FROM import_keys WHERE kind = 'person')",
    ),
    (
        "person_name_tokens",
        "token, person_id",
        "person_id IN (SELECT record_id FROM import_keys WHERE kind = 'person')",
    ),
    ("import_keys", "kind, source_key, record_id", "1 = 1"),
];

/// How long the database's own bulk path takes to load rows an import wrote.
#[derive(Clone, Copy, Debug)]
pub struct BaselineTiming {
    /// Rows of every table loaded.
    pub rows: u64,
    /// Rows of `persons` among them.
    pub people: u64,
    /// Reading the rows alone.
    pub read: Duration,
    /// Reading them and writing them.
    pub read_and_write: Duration,
}

impl BaselineTiming {
    /// The writing alone.
    pub fn write(&self) -> Duration {
        self.read_and_write.saturating_sub(self.read)
    }
}

impl Store {
    /// The yardstick for [`Store::load`]: copies the rows imports wrote
    /// into empty tables of the same definition (indexes and
    /// constraints included) through the database's own bulk path, without
    /// any checking — on SQLite prepared INSERTs in one transaction into the
    /// freshly migrated database `sqlite_target`, on PostgreSQL COPY in one
    /// transaction into `baseline_*` copies of the tables, dropped afterwards.
    /// Reading is timed on its own too, so that it can be taken out.
    pub async fn bulk_baseline(&self, sqlite_target: Option<&Store>) -> Result<BaselineTiming, StoreError> {
        match self.backend {
            Backend::Sqlite => {
                let target = sqlite_target
                    .filter(|t| t.backend == Backend::Sqlite)
                    .ok_or_else(|| StoreError::Sqlite("the SQLite baseline needs an empty SQLite database".into()))?;
                let (source, target) = (self.url.clone(), target.url.clone());
                tokio::task::spawn_blocking(move || sqlite_baseline(&source, &target))
                    .await
                    .map_err(|e| StoreError::Sqlite(e.to_string()))?
            }
            Backend::Postgres => postgres_baseline(&self.url).await,
        }
    }
}

fn sqlite_baseline(source: &str, target: &str) -> Result<BaselineTiming, StoreError> {
    use rusqlite::types::ToSqlOutput;
    let source = open_sqlite(source)?;
    let mut target = open_sqlite(target)?;
    let (mut rows, mut people) = (0u64, 0u64);
    let started = std::time::Instant::now();
    for (table, columns, imported) in LOADED_TABLES {
        let mut select = source.prepare(&format!("SELECT {columns} FROM {table} WHERE {imported}"))?;
        let n = select.column_count();
        let mut read = select.query([])?;
        while let Some(row) = read.next()? {
            for c in 0..n {
                std::hint::black_box(row.get_ref(c)?);
            }
            rows += 1;
            people += u64::from(table == "persons");
        }
    }
    let read = started.elapsed();
    let started = std::time::Instant::now();
    let tx = target.transaction()?;
    for (table, columns, imported) in LOADED_TABLES {
        let mut select = source.prepare(&format!("SELECT {columns} FROM {table} WHERE {imported}"))?;
        let n = select.column_count();
        let params = vec!["?"; n].join(", ");
        let mut insert = tx.prepare(&format!("INSERT INTO {table} ({columns}) VALUES ({params})"))?;
        let mut read = select.query([])?;
        while let Some(row) = read.next()? {
            let values: Vec<ToSqlOutput<'_>> = (0..n)
                .map(|c| row.get_ref(c).map(ToSqlOutput::Borrowed))
                .collect::<Result<_, _>>()?;
            insert.execute(rusqlite::params_from_iter(values))?;
        }
    }
    tx.commit()?;
    Ok(BaselineTiming {
        rows,
        people,
        read,
        read_and_write: started.elapsed(),
    })
}

async fn postgres_baseline(url: &str) -> Result<BaselineTiming, StoreError> {
    use futures_util::StreamExt;
    let mut source = sqlx::PgConnection::connect(url).await?;
    let mut target = sqlx::PgConnection::connect(url).await?;
    for (table, _, _) in LOADED_TABLES {
        for sql in [
            format!("DROP TABLE IF EXISTS baseline_{table}"),
            format!("CREATE TABLE baseline_{table} (LIKE {table} INCLUDING ALL)"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut target).await?;
        }
    }
    let (mut rows, mut people) = (0u64, 0u64);
    let started = std::time::Instant::now();
    for (table, columns, imported) in LOADED_TABLES {
        let mut out = source
            .copy_out_raw(&format!(
                "COPY (SELECT {columns} FROM {table} WHERE {imported}) TO STDOUT"
            ))
            .await?;
        while let Some(chunk) = out.next().await {
            // Text format escapes newlines inside values: one per row.
            let n = chunk?.iter().filter(|b| **b == b'\n').count() as u64;
            rows += n;
            if table == "persons" {
                people += n;
            }
        }
    }
    let read = started.elapsed();
    let started = std::time::Instant::now();
    let mut tx = target.begin().await?;
    for (table, columns, imported) in LOADED_TABLES {
        let mut out = source
            .copy_out_raw(&format!(
                "COPY (SELECT {columns} FROM {table} WHERE {imported}) TO STDOUT"
            ))
            .await?;
        let mut copy = tx
            .copy_in_raw(&format!("COPY baseline_{table} ({columns}) FROM STDIN"))
            .await?;
        while let Some(chunk) = out.next().await {
            copy.send(chunk?).await?;
        }
        drop(out);
        copy.finish().await?;
    }
    tx.commit().await?;
    let read_and_write = started.elapsed();
    for (table, _, _) in LOADED_TABLES {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE baseline_{table}")))
            .execute(&mut target)
            .await?;
    }
    Ok(BaselineTiming {
        rows,
        people,
        read,
        read_and_write,
    })
}

impl Store {
    /// Runs `write` on the SQLite bulk connection while holding the pool's
    /// one writer, so other writes queue in the process as they always do.
    pub(crate) async fn with_sqlite_writer<T: Send + 'static>(
        &self,
        write: impl FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut slot = self.loader.lock().await;
        let mut conn = match slot.take() {
            Some(Loader::Sqlite(conn)) => conn,
            _ => {
                let url = self.url.clone();
                tokio::task::spawn_blocking(move || open_sqlite_loader(&url))
                    .await
                    .map_err(|e| StoreError::Sqlite(e.to_string()))??
            }
        };
        let _writer = self.writer.acquire().await?;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = write(&mut conn);
            (conn, result)
        })
        .await
        .map_err(|e| StoreError::Sqlite(e.to_string()))?;
        *slot = Some(Loader::Sqlite(conn));
        self.checkpoint_soon();
        result
    }

    /// Starts a checkpoint of what the bulk writer committed, on the
    /// store's checkpoint thread (started on first use). Without the thread
    /// the writer's own commits checkpoint, past [`LOADER_WAL_PAGES`].
    fn checkpoint_soon(&self) {
        let checkpointer = self.checkpointer.get_or_init(|| match Checkpointer::start(&self.url) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "bulk writes will checkpoint as they commit");
                None
            }
        });
        if let Some(c) = checkpointer {
            c.nudge();
        }
    }

    /// Whether this is SQLite in a file, which a second connection can open.
    pub(crate) fn sqlite_file(&self) -> bool {
        sqlite_file_of(&self.url).is_some()
    }

    /// Runs `read` on the store's SQLite read connection, off the async
    /// threads; the connection is opened on first use and kept. Reads of
    /// thousands of rows go several times faster this way than through the pool.
    pub(crate) async fn with_reader<T: Send + 'static>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut slot = self.reader.lock().await;
        let conn = match slot.take() {
            Some(conn) => conn,
            None => {
                let url = self.url.clone();
                tokio::task::spawn_blocking(move || open_sqlite(&url))
                    .await
                    .map_err(|e| StoreError::Sqlite(format!("opening the read connection failed: {e}")))??
            }
        };
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = read(&conn);
            (conn, result)
        })
        .await
        .map_err(|e| StoreError::Sqlite(format!("reading failed: {e}")))?;
        *slot = Some(conn);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_copy_reads_specially() {
        let mut buf = String::new();
        copy_row(&mut buf, &[Some("a\tb\\c\nd\re"), None, Some("")]);
        assert_eq!(buf, "a\\tb\\\\c\\nd\\re\t\\N\t\n");
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite://data/r.db?mode=rwc"), "data/r.db");
        assert_eq!(sqlite_path("sqlite:r.db"), "r.db");
        assert_eq!(sqlite_file_of("sqlite://data/r.db?mode=rwc"), Some("data/r.db"));
        assert_eq!(sqlite_file_of("sqlite::memory:"), None);
        assert_eq!(sqlite_file_of("postgres://h/db"), None);
    }
}
