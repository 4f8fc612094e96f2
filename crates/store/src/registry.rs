//! Households, people, their versions, identifiers and the name index.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use himaya_domain::config::Area;
use himaya_domain::household::{Household, HouseholdId, HouseholdRecord};
use himaya_domain::name::search_tokens;
use himaya_domain::person::{Person, PersonId, PersonRecord};
use himaya_domain::programme::PersonFacts;
use himaya_domain::vocab::{ChangeKind, HouseholdStatus, PersonStatus, Source};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use crate::{Backend, Store, StoreError, parse_time, time_text};

/// Who made a change, when, from where and why: written with every version.
#[derive(Clone, Debug)]
pub struct WriteMeta {
    pub actor: String,
    pub source: Source,
    pub change: ChangeKind,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// A household version to write. `version` is the new version: 1 creates.
pub struct HouseholdWrite<'a> {
    pub id: HouseholdId,
    pub registration_number: &'a str,
    pub version: i64,
    pub record: &'a HouseholdRecord,
    /// Every person linked to the household after the change.
    pub members: &'a [PersonId],
    pub meta: &'a WriteMeta,
}

/// A person version to write. `version` is the new version: 1 creates.
pub struct PersonWrite<'a> {
    pub id: PersonId,
    pub household_id: HouseholdId,
    pub area: &'a str,
    pub version: i64,
    pub record: &'a PersonRecord,
    pub meta: &'a WriteMeta,
}

/// One stored version of a record, with its content as JSON.
#[derive(Clone, Debug)]
pub struct VersionRow {
    pub version: i64,
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub source: String,
    pub change: String,
    pub reason: Option<String>,
    pub data: Value,
}

/// Filters of a person search; all given filters must match.
#[derive(Clone, Debug, Default)]
pub struct PersonFilter {
    /// `(type code or None for any type, canonical value)`.
    pub identifier: Option<(Option<String>, String)>,
    /// E.164.
    pub phone: Option<String>,
    /// Normalised name tokens; each must prefix one of the person's tokens.
    pub name_tokens: Vec<String>,
    /// An area code: the area and everything below it.
    pub area: Option<String>,
    pub status: Option<PersonStatus>,
    /// The caller's area scope: these areas and everything below them; `None` for everywhere.
    pub within: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default)]
pub struct HouseholdFilter {
    pub area: Option<String>,
    pub status: Option<HouseholdStatus>,
    pub registration_number: Option<String>,
    /// The caller's area scope, as in [`PersonFilter::within`].
    pub within: Option<Vec<String>>,
}

/// The most bound values in one statement: under SQLite's 32,766 and
/// PostgreSQL's 65,535, and small enough that one statement stays cheap to prepare.
const MAX_PARAMS: usize = 10_000;

/// Statements built for a number of rows or values are not kept prepared
/// (`persistent(false)`): each length is another text, and every connection
/// would keep hundreds of large prepared statements.
///
/// `($1, $2, $3), ($4, $5, $6)…` for `rows` rows of `cols` columns. SQLite
/// gets plain `?`: it resolves each `$n` name by a scan of all names, which
/// makes large statements quadratic.
pub(crate) fn values_clause(backend: Backend, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 6);
    let mut n = 0;
    for r in 0..rows {
        s.push_str(if r > 0 { ", (" } else { "(" });
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            n += 1;
            match backend {
                Backend::Sqlite => s.push('?'),
                Backend::Postgres => {
                    s.push('$');
                    s.push_str(&n.to_string());
                }
            }
        }
        s.push(')');
    }
    s
}

/// `$first, $first+1, …` for `count` values in a list. SQLite gets plain
/// `?` for the same reason as in [`values_clause`]; callers put the list
/// after every other parameter, so the numbering agrees.
pub(crate) fn list_params(backend: Backend, first: usize, count: usize) -> String {
    let mut s = String::with_capacity(count * 4);
    for n in first..first + count {
        if n > first {
            s.push_str(", ");
        }
        match backend {
            Backend::Sqlite => s.push('?'),
            Backend::Postgres => {
                s.push('$');
                s.push_str(&n.to_string());
            }
        }
    }
    s
}

/// Runs `INSERT INTO {head} VALUES …` over `items` in as few statements as
/// the parameter limit allows; `bind` binds one item's `cols` values.
pub(crate) async fn insert_many<T>(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    head: &str,
    cols: usize,
    items: &[T],
    bind: impl for<'q> Fn(
        sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
        &'q T,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
) -> Result<(), sqlx::Error> {
    let per = (MAX_PARAMS / cols).max(1);
    for chunk in items.chunks(per) {
        let sql = format!(
            "INSERT INTO {head} VALUES {}",
            values_clause(backend, chunk.len(), cols)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        for item in chunk {
            q = bind(q, item);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The unique index on active identifiers refused a row: a typed error, so
/// that the caller can find which identifier and name it.
pub(crate) fn identifier_taken(e: sqlx::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::IdentifierTaken
    } else {
        e.into()
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation()
                || d.message().contains("UNIQUE constraint failed")
                || d.code().as_deref() == Some("23505")
        }
        _ => false,
    }
}

fn json_text<T: serde::Serialize>(v: &T) -> String {
    // Serialising our own plain structs cannot fail.
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// The stored content of a person version: the record and its household.
pub(crate) fn person_data(household_id: HouseholdId, record: &PersonRecord) -> String {
    with_field(json_text(record), "household_id", &format!("\"{household_id}\""))
}

pub(crate) fn household_data(record: &HouseholdRecord, members: &[PersonId]) -> String {
    with_field(json_text(record), "members", &json_text(&members))
}

/// A household's attributes, as rules read them from the current row.
pub(crate) fn household_attributes(record: &HouseholdRecord) -> String {
    json_text(&record.attributes)
}

/// A person's facts, as rules read them from the current row.
pub(crate) fn person_facts(record: &PersonRecord) -> String {
    json_text(&PersonFacts::of(record))
}

/// The facts of a household's active members together, as
/// [`member_facts_update`] makes them in SQL: `[["id",facts],…]` in id order.
pub(crate) fn member_facts<'a>(members: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut members: Vec<(&str, &str)> = members.into_iter().collect();
    members.sort_unstable();
    let mut s = String::from("[");
    for (i, (id, facts)) in members.into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("[\"");
        s.push_str(id);
        s.push_str("\",");
        s.push_str(facts);
        s.push(']');
    }
    s.push(']');
    s
}

/// `SET member_facts = …` for the households an `UPDATE households` names:
/// the facts of their active members, from the persons' rows.
fn member_facts_update(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "UPDATE households SET member_facts = (SELECT json_group_array(json_array(p.id, json(p.facts)) ORDER BY p.id) \
             FROM persons p WHERE p.household_id = households.id AND p.status = 'active')"
        }
        Backend::Postgres => {
            "UPDATE households SET member_facts = COALESCE((SELECT json_agg(json_build_array(p.id, p.facts::json) \
             ORDER BY p.id)::text FROM persons p WHERE p.household_id = households.id AND p.status = 'active'), '[]')"
        }
    }
}

/// Fills the columns of migration 0007 from the current versions, page by page.
pub(crate) async fn fill_rule_facts(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<(), StoreError> {
    const PAGE: i64 = 2_000;
    for (select, table) in [
        (
            "SELECT p.id, v.data FROM persons p JOIN person_versions v ON v.person_id = p.id AND v.version = p.version \
             WHERE p.id > $1 ORDER BY p.id LIMIT $2",
            "persons SET facts",
        ),
        (
            "SELECT h.id, v.data FROM households h JOIN household_versions v ON v.household_id = h.id \
             AND v.version = h.version WHERE h.id > $1 ORDER BY h.id LIMIT $2",
            "households SET attributes",
        ),
    ] {
        let mut after = String::new();
        loop {
            let rows = sqlx::query(select)
                .bind(after.as_str())
                .bind(PAGE)
                .fetch_all(&mut *conn)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("id")?;
            let values: Vec<(String, String)> = rows
                .iter()
                .map(|row| {
                    let id: String = row.try_get("id")?;
                    let text = if table.starts_with("persons") {
                        person_facts(&parse_data::<PersonRecord>(row)?)
                    } else {
                        household_attributes(&parse_data::<HouseholdRecord>(row)?)
                    };
                    Ok((id, text))
                })
                .collect::<Result<_, StoreError>>()?;
            // VALUES columns are column1, column2… on both backends.
            let sql = format!(
                "UPDATE {table} = v.column2 FROM (VALUES {}) AS v WHERE id = v.column1",
                values_clause(backend, values.len(), 2)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for (id, text) in &values {
                q = q.bind(id.as_str()).bind(text.as_str());
            }
            q.execute(&mut *conn).await?;
        }
    }
    sqlx::query(member_facts_update(backend)).execute(&mut *conn).await?;
    Ok(())
}

/// Adds a field to a serialised JSON object, without building a value tree.
fn with_field(object: String, name: &str, value_json: &str) -> String {
    match object.strip_prefix('{') {
        Some(rest) if rest != "}" => format!("{{\"{name}\":{value_json},{rest}"),
        Some(_) => format!("{{\"{name}\":{value_json}}}"),
        None => object,
    }
}

pub(crate) fn uuid_of(row: &AnyRow, col: &str) -> Result<uuid::Uuid, StoreError> {
    let s: String = row.try_get(col)?;
    uuid::Uuid::parse_str(&s).map_err(|e| StoreError::Corrupt(format!("{col} {s:?}: {e}")))
}

fn parse_data<T: serde::de::DeserializeOwned>(row: &AnyRow) -> Result<T, StoreError> {
    let data: String = row.try_get("data")?;
    serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(format!("record data: {e}")))
}

const HOUSEHOLD_SELECT: &str = "SELECT h.id, h.registration_number, h.version, h.created_at, h.updated_at, v.data \
     FROM households h JOIN household_versions v ON v.household_id = h.id AND v.version = h.version";

const PERSON_SELECT: &str = "SELECT p.id, p.household_id, p.version, p.created_at, p.updated_at, v.data \
     FROM persons p JOIN person_versions v ON v.person_id = p.id AND v.version = p.version";

fn household_from_row(row: &AnyRow) -> Result<Household, StoreError> {
    Ok(Household {
        id: HouseholdId(uuid_of(row, "id")?),
        registration_number: row.try_get("registration_number")?,
        version: row.try_get("version")?,
        record: parse_data(row)?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
    })
}

fn person_from_row(row: &AnyRow) -> Result<Person, StoreError> {
    Ok(Person {
        id: PersonId(uuid_of(row, "id")?),
        household_id: HouseholdId(uuid_of(row, "household_id")?),
        version: row.try_get("version")?,
        record: parse_data(row)?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
    })
}

fn version_from_row(row: &AnyRow) -> Result<VersionRow, StoreError> {
    Ok(VersionRow {
        version: row.try_get("version")?,
        recorded_at: parse_time(&row.try_get::<String, _>("recorded_at")?)?,
        actor: row.try_get("actor")?,
        source: row.try_get("source")?,
        change: row.try_get("change")?,
        reason: row.try_get("reason")?,
        data: parse_data(row)?,
    })
}

/// Reads through a pool or inside a transaction alike.
async fn fetch_household<'e>(
    db: impl sqlx::Executor<'e, Database = Any>,
    id: HouseholdId,
) -> Result<Option<Household>, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!("{HOUSEHOLD_SELECT} WHERE h.id = $1")))
        .bind(id.to_string())
        .fetch_optional(db)
        .await?;
    row.as_ref().map(household_from_row).transpose()
}

/// Everyone linked to the household, active or not, in registration order.
async fn fetch_members<'e>(
    db: impl sqlx::Executor<'e, Database = Any>,
    id: HouseholdId,
) -> Result<Vec<Person>, StoreError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{PERSON_SELECT} WHERE p.household_id = $1 ORDER BY p.id"
    )))
    .bind(id.to_string())
    .fetch_all(db)
    .await?;
    rows.iter().map(person_from_row).collect()
}

async fn fetch_person<'e>(
    db: impl sqlx::Executor<'e, Database = Any>,
    id: PersonId,
) -> Result<Option<Person>, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!("{PERSON_SELECT} WHERE p.id = $1")))
        .bind(id.to_string())
        .fetch_optional(db)
        .await?;
    row.as_ref().map(person_from_row).transpose()
}

/// Appends ` AND …` conditions for an area filter on `column`.
/// Limits `column` to the given areas and their descendants (an empty list matches nothing).
pub(crate) fn push_within(sql: &mut String, column: &str, n: &mut usize, count: usize) {
    if count == 0 {
        sql.push_str(" AND 1 = 0");
        return;
    }
    let placeholders: Vec<String> = (0..count)
        .map(|_| {
            *n += 1;
            format!("${n}")
        })
        .collect();
    sql.push_str(&format!(
        " AND {column} IN (SELECT d.code FROM areas d, areas a \
           WHERE a.code IN ({}) AND substr(d.path, 1, length(a.path)) = a.path)",
        placeholders.join(", ")
    ));
}

pub(crate) fn push_area(sql: &mut String, column: &str, n: &mut usize) {
    *n += 1;
    sql.push_str(&format!(
        " AND {column} IN (SELECT d.code FROM areas d, areas a \
           WHERE a.code = ${n} AND substr(d.path, 1, length(a.path)) = a.path)"
    ));
}

impl Store {
    /// Replaces the administrative areas with the configuration's (codes that
    /// disappear from the configuration stay, so old records keep their area).
    pub async fn save_areas(&self, areas: &[Area]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut paths: HashMap<&str, String> = HashMap::new();
        for (i, a) in areas.iter().enumerate() {
            let parent_path = a
                .parent
                .as_deref()
                .and_then(|p| paths.get(p))
                .cloned()
                .unwrap_or_else(|| "/".to_owned());
            let path = format!("{parent_path}{}/", a.code);
            sqlx::query(
                "INSERT INTO areas (code, parent, level, names, path, position) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (code) DO UPDATE SET parent = excluded.parent, level = excluded.level, \
                 names = excluded.names, path = excluded.path, position = excluded.position",
            )
            .bind(&a.code)
            .bind(a.parent.as_deref())
            .bind(&a.level)
            .bind(json_text(&a.names))
            .bind(&path)
            .bind(i as i64)
            .execute(&mut *tx)
            .await?;
            paths.insert(&a.code, path);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every area, parents before children.
    pub async fn areas(&self) -> Result<Vec<Area>, StoreError> {
        let rows = sqlx::query("SELECT code, parent, level, names FROM areas ORDER BY position, code")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let names: String = r.try_get("names")?;
                Ok(Area {
                    code: r.try_get("code")?,
                    parent: r.try_get("parent")?,
                    level: r.try_get("level")?,
                    names: serde_json::from_str(&names).map_err(|e| StoreError::Corrupt(format!("area names: {e}")))?,
                })
            })
            .collect()
    }

    /// Every area's code and path (`/PK/PK-PB/PK-PB-LHR/`).
    pub async fn area_paths(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT code, path FROM areas")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("code")?, r.try_get("path")?)))
            .collect()
    }

    pub async fn household(&self, id: HouseholdId) -> Result<Option<Household>, StoreError> {
        fetch_household(&self.pool, id).await
    }

    /// Everyone linked to the household, active or not, in registration order.
    pub async fn household_members(&self, id: HouseholdId) -> Result<Vec<Person>, StoreError> {
        fetch_members(&self.pool, id).await
    }

    /// Everyone linked to these households, by household then registration order.
    pub async fn members_of(&self, ids: &[HouseholdId]) -> Result<Vec<Person>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_PARAMS) {
            let list = list_params(self.backend, 1, chunk.len());
            let sql = format!("{PERSON_SELECT} WHERE p.household_id IN ({list}) ORDER BY p.household_id, p.id");
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for id in chunk {
                q = q.bind(id.to_string());
            }
            for row in q.fetch_all(&self.pool).await? {
                out.push(person_from_row(&row)?);
            }
        }
        Ok(out)
    }

    pub async fn person(&self, id: PersonId) -> Result<Option<Person>, StoreError> {
        fetch_person(&self.pool, id).await
    }

    pub async fn household_history(&self, id: HouseholdId) -> Result<Vec<VersionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, recorded_at, actor, source, change, reason, data FROM household_versions \
             WHERE household_id = $1 ORDER BY version",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    pub async fn person_history(&self, id: PersonId) -> Result<Vec<VersionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, recorded_at, actor, source, change, reason, data FROM person_versions \
             WHERE person_id = $1 ORDER BY version",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// People matching every filter, in id order, after `after`, at most `limit`.
    pub async fn search_persons(
        &self,
        filter: &PersonFilter,
        after: Option<PersonId>,
        limit: u32,
    ) -> Result<Vec<Person>, StoreError> {
        let mut sql = format!("{PERSON_SELECT} WHERE 1 = 1");
        let mut n = 0;
        if let Some((id_type, _)) = &filter.identifier {
            n += 1;
            if id_type.is_some() {
                sql.push_str(&format!(
                    " AND p.id IN (SELECT person_id FROM person_identifiers WHERE value = ${n} AND id_type = ${})",
                    n + 1
                ));
                n += 1;
            } else {
                sql.push_str(&format!(
                    " AND p.id IN (SELECT person_id FROM person_identifiers WHERE value = ${n})"
                ));
            }
        }
        if filter.phone.is_some() {
            n += 1;
            sql.push_str(&format!(" AND p.phone = ${n}"));
        }
        for _ in &filter.name_tokens {
            sql.push_str(&format!(
                " AND p.id IN (SELECT person_id FROM person_name_tokens WHERE token >= ${} AND token < ${})",
                n + 1,
                n + 2
            ));
            n += 2;
        }
        if filter.area.is_some() {
            push_area(&mut sql, "p.area_code", &mut n);
        }
        if filter.status.is_some() {
            n += 1;
            sql.push_str(&format!(" AND p.status = ${n}"));
        }
        if let Some(w) = &filter.within {
            push_within(&mut sql, "p.area_code", &mut n, w.len());
        }
        if after.is_some() {
            n += 1;
            sql.push_str(&format!(" AND p.id > ${n}"));
        }
        sql.push_str(&format!(" ORDER BY p.id LIMIT {}", limit.max(1)));

        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some((id_type, value)) = &filter.identifier {
            q = q.bind(value.clone());
            if let Some(t) = id_type {
                q = q.bind(t.clone());
            }
        }
        if let Some(p) = &filter.phone {
            q = q.bind(p.clone());
        }
        for t in &filter.name_tokens {
            q = q.bind(t.clone()).bind(format!("{t}\u{10FFFF}"));
        }
        if let Some(a) = &filter.area {
            q = q.bind(a.clone());
        }
        if let Some(s) = filter.status {
            q = q.bind(s.code());
        }
        for code in filter.within.iter().flatten() {
            q = q.bind(code.clone());
        }
        if let Some(a) = after {
            q = q.bind(a.to_string());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(person_from_row).collect()
    }

    pub async fn list_households(
        &self,
        filter: &HouseholdFilter,
        after: Option<HouseholdId>,
        limit: u32,
    ) -> Result<Vec<Household>, StoreError> {
        let mut sql = format!("{HOUSEHOLD_SELECT} WHERE 1 = 1");
        let mut n = 0;
        if filter.registration_number.is_some() {
            n += 1;
            sql.push_str(&format!(" AND h.registration_number = ${n}"));
        }
        if filter.area.is_some() {
            push_area(&mut sql, "h.area_code", &mut n);
        }
        if filter.status.is_some() {
            n += 1;
            sql.push_str(&format!(" AND h.status = ${n}"));
        }
        if let Some(w) = &filter.within {
            push_within(&mut sql, "h.area_code", &mut n, w.len());
        }
        if after.is_some() {
            n += 1;
            sql.push_str(&format!(" AND h.id > ${n}"));
        }
        sql.push_str(&format!(" ORDER BY h.id LIMIT {}", limit.max(1)));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(r) = &filter.registration_number {
            q = q.bind(r.clone());
        }
        if let Some(a) = &filter.area {
            q = q.bind(a.clone());
        }
        if let Some(s) = filter.status {
            q = q.bind(s.code());
        }
        for code in filter.within.iter().flatten() {
            q = q.bind(code.clone());
        }
        if let Some(a) = after {
            q = q.bind(a.to_string());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(household_from_row).collect()
    }
}

impl Store {
    /// Which of `keys` an import has already written as `kind`.
    pub async fn imported_keys(
        &self,
        kind: &str,
        keys: &[&str],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut found = std::collections::HashSet::new();
        for chunk in keys.chunks(MAX_PARAMS / 2) {
            let list = list_params(self.backend, 2, chunk.len());
            let first = list_params(self.backend, 1, 1);
            let sql = format!("SELECT source_key FROM import_keys WHERE kind = {first} AND source_key IN ({list})");
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false).bind(kind.to_owned());
            for k in chunk {
                q = q.bind(*k);
            }
            for row in q.fetch_all(&self.pool).await? {
                found.insert(row.try_get("source_key")?);
            }
        }
        Ok(found)
    }

    /// The active holders of the given `(type, value)` identifiers, read
    /// outside any write transaction.
    pub async fn identifier_holders(
        &self,
        keys: &[(&str, &str)],
    ) -> Result<HashMap<(String, String), PersonId>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        identifier_holders(&mut conn, self.backend, keys).await
    }
}

async fn identifier_holders(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    keys: &[(&str, &str)],
) -> Result<HashMap<(String, String), PersonId>, StoreError> {
    let mut found = HashMap::new();
    // Look up by value (indexed) in chunks, then keep exact type matches.
    let mut values: Vec<&str> = keys.iter().map(|k| k.1).collect();
    values.sort_unstable();
    values.dedup();
    let wanted: std::collections::HashSet<(&str, &str)> = keys.iter().copied().collect();
    for chunk in values.chunks(MAX_PARAMS / 2) {
        let list = list_params(backend, 1, chunk.len());
        let sql =
            format!("SELECT id_type, value, person_id FROM person_identifiers WHERE active = 1 AND value IN ({list})");
        let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        for v in chunk {
            q = q.bind(*v);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let key: (String, String) = (row.try_get("id_type")?, row.try_get("value")?);
            if wanted.contains(&(key.0.as_str(), key.1.as_str())) {
                found.insert(key, PersonId(uuid_of(&row, "person_id")?));
            }
        }
    }
    Ok(found)
}

/// A write transaction. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    pub(crate) tx: Transaction<'static, Any>,
    backend: Backend,
    /// Households whose members were written: their member facts are
    /// refreshed before the transaction commits.
    touched: BTreeSet<String>,
}

impl Tx {
    pub(crate) fn new(tx: Transaction<'static, Any>, backend: Backend) -> Tx {
        Tx {
            tx,
            backend,
            touched: BTreeSet::new(),
        }
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        let touched: Vec<String> = std::mem::take(&mut self.touched).into_iter().collect();
        for chunk in touched.chunks(MAX_PARAMS) {
            let sql = format!(
                "{} WHERE id IN ({})",
                member_facts_update(self.backend),
                list_params(self.backend, 1, chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for id in chunk {
                q = q.bind(id.as_str());
            }
            q.execute(&mut *self.tx).await?;
        }
        self.tx.commit().await?;
        Ok(())
    }

    /// Reserves `n` consecutive numbers of the counter `name`; returns the first.
    pub async fn next_numbers(&mut self, name: &str, n: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO counters (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = counters.value + $2 RETURNING value",
        )
        .bind(name)
        .bind(n)
        .fetch_one(&mut *self.tx)
        .await?;
        let last: i64 = row.try_get(0)?;
        Ok(last - n + 1)
    }

    /// The active holders of the given `(type, value)` identifiers, as this transaction sees them.
    pub async fn identifier_holders(
        &mut self,
        keys: &[(&str, &str)],
    ) -> Result<HashMap<(String, String), PersonId>, StoreError> {
        identifier_holders(&mut self.tx, self.backend, keys).await
    }

    /// Reads a household inside the transaction (for read-modify-write).
    /// Reads a household and, on PostgreSQL, locks its row until the
    /// transaction ends, so that checks of its members and the writes that
    /// follow see no concurrent change. (SQLite has one writer at a time.)
    pub async fn household(&mut self, id: HouseholdId) -> Result<Option<Household>, StoreError> {
        if self.backend == Backend::Postgres {
            // Lock alone first: a locking read that joins the versions would,
            // after waiting, re-check the join against the old version and
            // find nothing. The read that follows sees the committed row.
            sqlx::query("SELECT id FROM households WHERE id = $1 FOR UPDATE")
                .bind(id.to_string())
                .execute(&mut *self.tx)
                .await?;
        }
        fetch_household(&mut *self.tx, id).await
    }

    pub async fn household_members(&mut self, id: HouseholdId) -> Result<Vec<Person>, StoreError> {
        fetch_members(&mut *self.tx, id).await
    }

    pub async fn person(&mut self, id: PersonId) -> Result<Option<Person>, StoreError> {
        fetch_person(&mut *self.tx, id).await
    }

    /// Creates households (each write at version 1), in as few statements as possible.
    pub async fn insert_households(&mut self, writes: &[HouseholdWrite<'_>]) -> Result<(), StoreError> {
        let rows: Vec<HouseholdRow> = writes.iter().map(HouseholdRow::new).collect();
        self.touched.extend(rows.iter().map(|r| r.id.clone()));
        let pairs: Vec<(&HouseholdWrite, &HouseholdRow)> = writes.iter().zip(&rows).collect();
        insert_many(
            &mut self.tx,
            self.backend,
            "households (id, registration_number, area_code, status, version, created_at, updated_at)",
            7,
            &pairs,
            |q, (w, r)| {
                q.bind(r.id.as_str())
                    .bind(w.registration_number)
                    .bind(w.record.area.as_str())
                    .bind(w.record.status.code())
                    .bind(w.version)
                    .bind(r.at.as_str())
                    .bind(r.at.as_str())
            },
        )
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::VersionConflict { current: 1 }
            } else {
                e.into()
            }
        })?;
        insert_many(
            &mut self.tx,
            self.backend,
            "household_attributes (household_id, attributes)",
            2,
            &rows,
            |q, r| q.bind(r.id.as_str()).bind(r.attributes.as_str()),
        )
        .await?;
        self.insert_household_versions(&pairs).await
    }

    async fn insert_household_versions(
        &mut self,
        pairs: &[(&HouseholdWrite<'_>, &HouseholdRow)],
    ) -> Result<(), StoreError> {
        insert_many(
            &mut self.tx,
            self.backend,
            "household_versions (household_id, version, recorded_at, actor, source, change, reason, data)",
            8,
            pairs,
            |q, (w, r)| {
                q.bind(r.id.as_str())
                    .bind(w.version)
                    .bind(r.at.as_str())
                    .bind(w.meta.actor.as_str())
                    .bind(w.meta.source.code())
                    .bind(w.meta.change.code())
                    .bind(w.meta.reason.as_deref())
                    .bind(r.data.as_str())
            },
        )
        .await?;
        Ok(())
    }

    /// Writes a new version of an existing household, if it is still at
    /// `write.version - 1`; otherwise refuses with the current version.
    pub async fn update_household(&mut self, write: &HouseholdWrite<'_>) -> Result<(), StoreError> {
        let row = HouseholdRow::new(write);
        let id = row.id.as_str();
        let done = sqlx::query(
            "UPDATE households SET version = $1, area_code = $2, status = $3, updated_at = $4 \
             WHERE id = $5 AND version = $6",
        )
        .bind(write.version)
        .bind(write.record.area.as_str())
        .bind(write.record.status.code())
        .bind(row.at.as_str())
        .bind(id)
        .bind(write.version - 1)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(self.household_conflict(id).await);
        }
        sqlx::query(
            "INSERT INTO household_attributes (household_id, attributes) VALUES ($1, $2) \
             ON CONFLICT (household_id) DO UPDATE SET attributes = excluded.attributes",
        )
        .bind(id)
        .bind(row.attributes.as_str())
        .execute(&mut *self.tx)
        .await?;
        // Members' area follows the household's, for area searches; so do
        // its enrolments' and grievances', for area scope: the officers of
        // the area it moved to take them over.
        for sql in [
            "UPDATE persons SET area_code = $1 WHERE household_id = $2 AND area_code <> $1",
            "UPDATE enrolments SET area_code = $1 WHERE household_id = $2 AND area_code <> $1",
            "UPDATE grievances SET area_code = $1 WHERE household_id = $2 AND area_code <> $1",
        ] {
            sqlx::query(sql)
                .bind(write.record.area.as_str())
                .bind(id)
                .execute(&mut *self.tx)
                .await?;
        }
        self.touched.insert(row.id.clone());
        self.insert_household_versions(&[(write, &row)]).await
    }

    async fn household_conflict(&mut self, id: &str) -> StoreError {
        let current = sqlx::query("SELECT version FROM households WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .ok()
            .flatten()
            .and_then(|r| r.try_get::<i64, _>(0).ok())
            .unwrap_or(0);
        StoreError::VersionConflict { current }
    }

    /// Creates people (each write at version 1) with their identifiers and name index.
    pub async fn insert_persons(&mut self, persons: &[PreparedPerson<'_>]) -> Result<(), StoreError> {
        let pairs: Vec<(&PersonWrite, &PersonRow)> = persons.iter().map(|p| (&p.write, &p.row)).collect();
        insert_many(
            &mut self.tx,
            self.backend,
            "persons (id, household_id, area_code, status, phone, version, created_at, updated_at, facts)",
            9,
            &pairs,
            |q, (w, r)| {
                q.bind(r.id.as_str())
                    .bind(r.household_id.as_str())
                    .bind(w.area)
                    .bind(w.record.status.code())
                    .bind(w.record.phone.as_ref().map(|p| p.as_str()))
                    .bind(w.version)
                    .bind(r.at.as_str())
                    .bind(r.at.as_str())
                    .bind(r.facts.as_str())
            },
        )
        .await?;
        self.touched.extend(pairs.iter().map(|(_, r)| r.household_id.clone()));
        self.insert_person_versions(&pairs).await?;
        self.insert_person_index(&pairs).await
    }

    async fn insert_person_versions(&mut self, pairs: &[(&PersonWrite<'_>, &PersonRow)]) -> Result<(), StoreError> {
        insert_many(
            &mut self.tx,
            self.backend,
            "person_versions (person_id, version, household_id, recorded_at, actor, source, change, reason, data)",
            9,
            pairs,
            |q, (w, r)| {
                q.bind(r.id.as_str())
                    .bind(w.version)
                    .bind(r.household_id.as_str())
                    .bind(r.at.as_str())
                    .bind(w.meta.actor.as_str())
                    .bind(w.meta.source.code())
                    .bind(w.meta.change.code())
                    .bind(w.meta.reason.as_deref())
                    .bind(r.data.as_str())
            },
        )
        .await?;
        Ok(())
    }

    /// Identifiers and name tokens of freshly written people.
    async fn insert_person_index(&mut self, pairs: &[(&PersonWrite<'_>, &PersonRow)]) -> Result<(), StoreError> {
        let identifiers: Vec<(&str, &str, &str, &str, i64)> = pairs
            .iter()
            .flat_map(|(w, r)| {
                let active = i64::from(w.record.is_active());
                w.record.identifiers.iter().map(move |i| {
                    (
                        r.id.as_str(),
                        r.household_id.as_str(),
                        i.id_type.code(),
                        i.value.as_str(),
                        active,
                    )
                })
            })
            .collect();
        insert_many(
            &mut self.tx,
            self.backend,
            "person_identifiers (person_id, household_id, id_type, value, active)",
            5,
            &identifiers,
            |q, i| q.bind(i.0).bind(i.1).bind(i.2).bind(i.3).bind(i.4),
        )
        .await
        .map_err(identifier_taken)?;
        let tokens: Vec<(&str, &String)> = pairs
            .iter()
            .flat_map(|(_, r)| r.tokens.iter().map(move |t| (r.id.as_str(), t)))
            .collect();
        insert_many(
            &mut self.tx,
            self.backend,
            "person_name_tokens (person_id, token)",
            2,
            &tokens,
            |q, t| q.bind(t.0).bind(t.1.as_str()),
        )
        .await?;
        Ok(())
    }

    /// Writes a new version of an existing person, if it is still at
    /// `write.version - 1`, and rebuilds its identifiers and name index.
    pub async fn update_person(&mut self, person: &PreparedPerson<'_>) -> Result<(), StoreError> {
        let (write, row) = (&person.write, &person.row);
        // The household the person leaves, if they move, needs its member facts refreshed too.
        let before: Option<String> = sqlx::query_scalar("SELECT household_id FROM persons WHERE id = $1")
            .bind(row.id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        self.touched.extend(before);
        self.touched.insert(row.household_id.clone());
        let done = sqlx::query(
            "UPDATE persons SET version = $1, household_id = $2, area_code = $3, status = $4, phone = $5, updated_at = $6, \
             facts = $7 WHERE id = $8 AND version = $9",
        )
        .bind(write.version)
        .bind(row.household_id.as_str())
        .bind(write.area)
        .bind(write.record.status.code())
        .bind(write.record.phone.as_ref().map(|p| p.as_str()))
        .bind(row.at.as_str())
        .bind(row.facts.as_str())
        .bind(row.id.as_str())
        .bind(write.version - 1)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() != 1 {
            let current = sqlx::query("SELECT version FROM persons WHERE id = $1")
                .bind(row.id.as_str())
                .fetch_optional(&mut *self.tx)
                .await?
                .map(|r| r.try_get::<i64, _>(0))
                .transpose()?
                .unwrap_or(0);
            return Err(StoreError::VersionConflict { current });
        }
        // A person who moved household takes their enrolments and compliance records along.
        sqlx::query(
            "UPDATE enrolments SET household_id = $1, area_code = $2 WHERE beneficiary_id = $3 \
             AND (household_id <> $1 OR area_code <> $2)",
        )
        .bind(row.household_id.as_str())
        .bind(write.area)
        .bind(row.id.as_str())
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("UPDATE compliance_records SET household_id = $1 WHERE person_id = $2 AND household_id <> $1")
            .bind(row.household_id.as_str())
            .bind(row.id.as_str())
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("DELETE FROM person_identifiers WHERE person_id = $1")
            .bind(row.id.as_str())
            .execute(&mut *self.tx)
            .await?;
        // The token table is keyed by token alone (one index, cheap bulk
        // inserts), so the old tokens come from the version being replaced.
        let previous: Option<PersonRecord> =
            sqlx::query("SELECT data FROM person_versions WHERE person_id = $1 AND version = $2")
                .bind(row.id.as_str())
                .bind(write.version - 1)
                .fetch_optional(&mut *self.tx)
                .await?
                .as_ref()
                .map(parse_data)
                .transpose()?;
        for token in previous.as_ref().map(name_tokens).unwrap_or_default() {
            sqlx::query("DELETE FROM person_name_tokens WHERE token = $1 AND person_id = $2")
                .bind(token)
                .bind(row.id.as_str())
                .execute(&mut *self.tx)
                .await?;
        }
        let pairs = [(write, row)];
        self.insert_person_versions(&pairs).await?;
        self.insert_person_index(&pairs).await
    }
}

/// A person write with its stored form computed: made before the
/// transaction starts, so the work does not hold the writer.
pub struct PreparedPerson<'a> {
    write: PersonWrite<'a>,
    row: PersonRow,
}

impl<'a> PersonWrite<'a> {
    pub fn prepare(self) -> PreparedPerson<'a> {
        let row = PersonRow::new(&self);
        PreparedPerson { write: self, row }
    }
}

/// A person write's values as bound text.
struct PersonRow {
    id: String,
    household_id: String,
    at: String,
    data: String,
    facts: String,
    tokens: Vec<String>,
}

impl PersonRow {
    fn new(w: &PersonWrite<'_>) -> PersonRow {
        let tokens = name_tokens(w.record);
        PersonRow {
            id: w.id.to_string(),
            household_id: w.household_id.to_string(),
            at: time_text(w.meta.at),
            data: person_data(w.household_id, w.record),
            facts: person_facts(w.record),
            tokens,
        }
    }
}

/// A household write's values as bound text.
struct HouseholdRow {
    id: String,
    at: String,
    data: String,
    attributes: String,
}

impl HouseholdRow {
    fn new(w: &HouseholdWrite<'_>) -> HouseholdRow {
        HouseholdRow {
            id: w.id.to_string(),
            at: time_text(w.meta.at),
            data: household_data(w.record, w.members),
            attributes: household_attributes(w.record),
        }
    }
}

/// The distinct normalised words of every spelling of a person's names.
pub fn name_tokens(record: &PersonRecord) -> Vec<String> {
    let mut tokens: Vec<String> = record.all_names().flat_map(search_tokens).collect();
    tokens.sort();
    tokens.dedup();
    tokens
}
