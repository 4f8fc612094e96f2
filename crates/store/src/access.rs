//! Accounts, sessions, bearer tokens, partner agencies and the audit trail.

use chrono::{DateTime, Utc};
use himaya_domain::audit::{EntryContent, chain_hash};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::{Store, StoreError, parse_time, time_text};

/// A staff account as stored.
#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub roles: Vec<String>,
    pub areas: Vec<String>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub failed_logins: i64,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The language the user chose for the pages, if any.
    pub language: Option<String>,
}

/// A partner agency as stored.
#[derive(Clone, Debug)]
pub struct AgencyRow {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub fields: Vec<String>,
    pub areas: Vec<String>,
    pub rate_limit: i64,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A bearer token as stored (its secret only as a hash).
#[derive(Clone, Debug)]
pub struct TokenRow {
    pub id: String,
    pub user_id: Option<String>,
    pub agency_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Whose a bearer token is, read in the same query as the token.
#[derive(Clone, Debug)]
pub enum TokenOwner {
    User(UserRow),
    Agency(AgencyRow),
}

#[derive(Clone, Debug)]
pub struct SessionRow {
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// An audit entry to append.
#[derive(Clone, Debug)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub record_type: Option<String>,
    pub record_id: Option<String>,
    /// JSON text.
    pub detail: String,
    /// Other records the entry showed, indexed for search by record.
    pub subjects: Vec<String>,
}

/// An audit entry as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    pub seq: i64,
    /// Stored text (fixed-width RFC 3339), exactly as hashed.
    pub at: String,
    pub actor: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    #[serde(skip)]
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    pub fn content(&self) -> EntryContent<'_> {
        EntryContent {
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            action: &self.action,
            record_type: self.record_type.as_deref(),
            record_id: self.record_id.as_deref(),
            detail: &self.detail,
        }
    }
}

/// Filters of an audit search; all given must match.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub record_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Entries before this sequence number (newest first paging).
    pub before: Option<i64>,
}

fn list(s: &str) -> Vec<String> {
    s.split(',').filter(|x| !x.is_empty()).map(str::to_owned).collect()
}

fn joined(items: &[String]) -> String {
    items.join(",")
}

fn opt_time(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.try_get::<Option<String>, _>(col)?
        .as_deref()
        .map(parse_time)
        .transpose()
}

fn user_from_row(row: &AnyRow, prefix: &str) -> Result<UserRow, StoreError> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(UserRow {
        id: row.try_get(c("id").as_str())?,
        username: row.try_get(c("username").as_str())?,
        password_hash: row.try_get(c("password_hash").as_str())?,
        roles: list(&row.try_get::<String, _>(c("roles").as_str())?),
        areas: list(&row.try_get::<String, _>(c("areas").as_str())?),
        disabled: row.try_get::<i64, _>(c("disabled").as_str())? != 0,
        must_change_password: row.try_get::<i64, _>(c("must_change_password").as_str())? != 0,
        failed_logins: row.try_get(c("failed_logins").as_str())?,
        locked_until: opt_time(row, &c("locked_until"))?,
        created_at: parse_time(&row.try_get::<String, _>(c("created_at").as_str())?)?,
        language: row.try_get(c("language").as_str())?,
    })
}

fn agency_from_row(row: &AnyRow, prefix: &str) -> Result<AgencyRow, StoreError> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(AgencyRow {
        id: row.try_get(c("id").as_str())?,
        name: row.try_get(c("name").as_str())?,
        scopes: list(&row.try_get::<String, _>(c("scopes").as_str())?),
        fields: list(&row.try_get::<String, _>(c("fields").as_str())?),
        areas: list(&row.try_get::<String, _>(c("areas").as_str())?),
        rate_limit: row.try_get(c("rate_limit").as_str())?,
        disabled: row.try_get::<i64, _>(c("disabled").as_str())? != 0,
        created_at: parse_time(&row.try_get::<String, _>(c("created_at").as_str())?)?,
    })
}

fn token_from_row(row: &AnyRow) -> Result<TokenRow, StoreError> {
    Ok(TokenRow {
        id: row.try_get("t_id")?,
        user_id: row.try_get("t_user_id")?,
        agency_id: row.try_get("t_agency_id")?,
        created_at: parse_time(&row.try_get::<String, _>("t_created_at")?)?,
        expires_at: parse_time(&row.try_get::<String, _>("t_expires_at")?)?,
        revoked_at: opt_time(row, "t_revoked_at")?,
    })
}

fn audit_from_row(row: &AnyRow) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        record_type: row.try_get("record_type")?,
        record_id: row.try_get("record_id")?,
        detail: row.try_get("detail")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

async fn insert_token(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    token_hash: &str,
    t: &TokenRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_tokens (id, token_hash, user_id, agency_id, created_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL)",
    )
    .bind(t.id.clone())
    .bind(token_hash.to_owned())
    .bind(t.user_id.clone())
    .bind(t.agency_id.clone())
    .bind(time_text(t.created_at))
    .bind(time_text(t.expires_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const USER_COLUMNS: &str = "u.id AS u_id, u.username AS u_username, u.password_hash AS u_password_hash, \
    u.roles AS u_roles, u.areas AS u_areas, u.disabled AS u_disabled, \
    u.must_change_password AS u_must_change_password, u.failed_logins AS u_failed_logins, \
    u.locked_until AS u_locked_until, u.created_at AS u_created_at, u.language AS u_language";

const AGENCY_COLUMNS: &str = "a.id AS a_id, a.name AS a_name, a.scopes AS a_scopes, a.fields AS a_fields, \
    a.areas AS a_areas, a.rate_limit AS a_rate_limit, a.disabled AS a_disabled, a.created_at AS a_created_at";

const AUDIT_COLUMNS: &str = "seq, at, actor, action, record_type, record_id, detail, prev_hash, hash";

impl Store {
    /// How many enabled accounts hold the administrator role.
    pub async fn count_administrators(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) FROM users WHERE disabled = 0 AND (',' || roles || ',') LIKE '%,administrator,%'",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?)
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// Adds an account; `Ok(false)` when the username is taken.
    pub async fn insert_user(&self, u: &UserRow) -> Result<bool, StoreError> {
        let now = time_text(u.created_at);
        let result = sqlx::query(
            "INSERT INTO users (id, username, password_hash, roles, areas, disabled, must_change_password, \
             failed_logins, locked_until, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, NULL, $8, $8)",
        )
        .bind(u.id.clone())
        .bind(u.username.clone())
        .bind(u.password_hash.clone())
        .bind(joined(&u.roles))
        .bind(joined(&u.areas))
        .bind(i64::from(u.disabled))
        .bind(i64::from(u.must_change_password))
        .bind(now)
        .execute(&self.writer)
        .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if crate::registry::is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(username.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| user_from_row(r, "u_")).transpose()
    }

    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.username");
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(|r| user_from_row(r, "u_")).collect()
    }

    /// Replaces an account's roles and areas.
    pub async fn set_user_roles(&self, id: &str, roles: &[String], areas: &[String]) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET roles = $1, areas = $2, updated_at = $3 WHERE id = $4")
            .bind(joined(roles))
            .bind(joined(areas))
            .bind(time_text(Utc::now()))
            .bind(id.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Disables or re-enables (and unlocks) an account; disabling ends its sessions.
    pub async fn set_user_disabled(&self, id: &str, disabled: bool) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        // Enabling also lifts a lock: an administrator has looked at the account.
        sqlx::query(
            "UPDATE users SET disabled = $1, updated_at = $2, \
             failed_logins = CASE WHEN $1 = 0 THEN 0 ELSE failed_logins END, \
             locked_until = CASE WHEN $1 = 0 THEN NULL ELSE locked_until END WHERE id = $3",
        )
        .bind(i64::from(disabled))
        .bind(time_text(Utc::now()))
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Counts a failed sign-in, locking the account until `lock_until` once
    /// `max_failures` have been reached; a lock that has run out starts the
    /// count again. Returns the new count. One statement, so concurrent
    /// failures all count.
    pub async fn record_failed_login(
        &self,
        id: &str,
        max_failures: i64,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "UPDATE users SET \
             failed_logins = CASE WHEN locked_until <= $1 THEN 1 ELSE failed_logins + 1 END, \
             locked_until = CASE WHEN locked_until <= $1 THEN NULL \
                                 WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END \
             WHERE id = $4 RETURNING failed_logins",
        )
        .bind(time_text(now))
        .bind(max_failures)
        .bind(time_text(lock_until))
        .bind(id.to_owned())
        .fetch_one(&self.writer)
        .await?;
        Ok(row.try_get(0)?)
    }

    pub async fn clear_failed_logins(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1 AND failed_logins <> 0")
            .bind(id.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Keeps the language a user chose for the pages.
    pub async fn set_user_language(&self, id: &str, language: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET language = $1, updated_at = $2 WHERE id = $3")
            .bind(language.to_owned())
            .bind(time_text(Utc::now()))
            .bind(id.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Sets a new password hash; ends every session of the account except `keep`.
    pub async fn set_password(
        &self,
        id: &str,
        password_hash: &str,
        must_change: bool,
        keep_session: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE users SET password_hash = $1, must_change_password = $2, failed_logins = 0, \
             locked_until = NULL, updated_at = $3 WHERE id = $4",
        )
        .bind(password_hash.to_owned())
        .bind(i64::from(must_change))
        .bind(time_text(Utc::now()))
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(id.to_owned())
            .bind(keep_session.unwrap_or_default().to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_session(
        &self,
        token_hash: &str,
        user_id: &str,
        csrf_token: &str,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Expired sessions of the same user go with each new sign-in, so the
        // table holds live sessions only.
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND expires_at < $2")
            .bind(user_id.to_owned())
            .bind(time_text(created_at))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash.to_owned())
        .bind(user_id.to_owned())
        .bind(csrf_token.to_owned())
        .bind(time_text(created_at))
        .bind(time_text(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A session and its account, in one query.
    pub async fn session(&self, token_hash: &str) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
        let sql = format!(
            "SELECT s.csrf_token, s.expires_at, {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1"
        );
        let Some(row) = sqlx::query(AssertSqlSafe(sql))
            .bind(token_hash.to_owned())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let session = SessionRow {
            csrf_token: row.try_get("csrf_token")?,
            expires_at: parse_time(&row.try_get::<String, _>("expires_at")?)?,
        };
        Ok(Some((session, user_from_row(&row, "u_")?)))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn insert_token(&self, token_hash: &str, t: &TokenRow) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        insert_token(&mut tx, token_hash, t).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A bearer token and its owner, in one query.
    pub async fn token(&self, token_hash: &str) -> Result<Option<(TokenRow, TokenOwner)>, StoreError> {
        let sql = format!(
            "SELECT t.id AS t_id, t.user_id AS t_user_id, t.agency_id AS t_agency_id, t.created_at AS t_created_at, \
             t.expires_at AS t_expires_at, t.revoked_at AS t_revoked_at, {USER_COLUMNS}, {AGENCY_COLUMNS} \
             FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id LEFT JOIN agencies a ON a.id = t.agency_id \
             WHERE t.token_hash = $1"
        );
        let Some(row) = sqlx::query(AssertSqlSafe(sql))
            .bind(token_hash.to_owned())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let token = token_from_row(&row)?;
        let owner = if token.user_id.is_some() {
            TokenOwner::User(user_from_row(&row, "u_")?)
        } else {
            TokenOwner::Agency(agency_from_row(&row, "a_")?)
        };
        Ok(Some((token, owner)))
    }

    /// Every token with its owner's name (`agency:NAME` for an agency's), oldest first.
    pub async fn tokens(&self) -> Result<Vec<(TokenRow, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id AS t_id, t.user_id AS t_user_id, t.agency_id AS t_agency_id, \
             t.created_at AS t_created_at, t.expires_at AS t_expires_at, t.revoked_at AS t_revoked_at, \
             COALESCE(u.username, 'agency:' || a.name) AS owner \
             FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id LEFT JOIN agencies a ON a.id = t.agency_id \
             ORDER BY t.created_at, t.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((token_from_row(r)?, r.try_get::<String, _>("owner")?)))
            .collect()
    }

    /// Revokes a token by its id; `Ok(false)` when there is no such live token.
    pub async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(time_text(at))
            .bind(id.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds an agency with its first token, in one transaction; `Ok(false)`
    /// (and nothing written) when the name is taken.
    pub async fn insert_agency(&self, a: &AgencyRow, token_hash: &str, token: &TokenRow) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let result = sqlx::query(
            "INSERT INTO agencies (id, name, scopes, fields, areas, rate_limit, disabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(a.id.clone())
        .bind(a.name.clone())
        .bind(joined(&a.scopes))
        .bind(joined(&a.fields))
        .bind(joined(&a.areas))
        .bind(a.rate_limit)
        .bind(i64::from(a.disabled))
        .bind(time_text(a.created_at))
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {}
            Err(e) if crate::registry::is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        insert_token(&mut tx, token_hash, token).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn agency_by_name(&self, name: &str) -> Result<Option<AgencyRow>, StoreError> {
        let sql = format!("SELECT {AGENCY_COLUMNS} FROM agencies a WHERE a.name = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| agency_from_row(r, "a_")).transpose()
    }

    pub async fn agencies(&self) -> Result<Vec<AgencyRow>, StoreError> {
        let sql = format!("SELECT {AGENCY_COLUMNS} FROM agencies a ORDER BY a.name");
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(|r| agency_from_row(r, "a_")).collect()
    }

    /// Changes what an agency may do and see.
    pub async fn update_agency(&self, a: &AgencyRow) -> Result<(), StoreError> {
        sqlx::query("UPDATE agencies SET scopes = $1, fields = $2, areas = $3, rate_limit = $4 WHERE id = $5")
            .bind(joined(&a.scopes))
            .bind(joined(&a.fields))
            .bind(joined(&a.areas))
            .bind(a.rate_limit)
            .bind(a.id.clone())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Gives a withdrawn agency its access back with a new token (its old
    /// ones stay revoked), both or neither; false if it was not withdrawn.
    pub async fn restore_agency(&self, id: &str, token_hash: &str, token: &TokenRow) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let restored = sqlx::query("UPDATE agencies SET disabled = 0 WHERE id = $1 AND disabled = 1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if restored != 1 {
            return Ok(false);
        }
        insert_token(&mut tx, token_hash, token).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Disables an agency and revokes all its tokens.
    pub async fn disable_agency(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("UPDATE agencies SET disabled = 1 WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE agency_id = $2 AND revoked_at IS NULL")
            .bind(time_text(at))
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends entries to the audit chain in one transaction and returns
    /// their sequence numbers. The chain head is locked first (a write on
    /// both backends), so appenders in other processes queue behind it.
    pub async fn append_audit(&self, entries: &[NewAuditEntry]) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.writer.begin().await?;
        // Writing the head row first takes the write lock, then reads it.
        let head = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *tx)
            .await?;
        let mut seq: i64 = head.try_get(0)?;
        let mut prev: String = head.try_get(1)?;
        let mut rows = Vec::with_capacity(entries.len());
        for e in entries {
            seq += 1;
            let at = time_text(e.at);
            let hash = chain_hash(
                &prev,
                &EntryContent {
                    seq,
                    at: &at,
                    actor: &e.actor,
                    action: &e.action,
                    record_type: e.record_type.as_deref(),
                    record_id: e.record_id.as_deref(),
                    detail: &e.detail,
                },
            );
            rows.push((seq, at, e, std::mem::replace(&mut prev, hash.clone()), hash));
        }
        crate::registry::insert_many(&mut tx, self.backend, "audit_log", 9, &rows, |q, (seq, at, e, p, h)| {
            q.bind(*seq)
                .bind(at.as_str())
                .bind(e.actor.as_str())
                .bind(e.action.as_str())
                .bind(e.record_type.as_deref())
                .bind(e.record_id.as_deref())
                .bind(e.detail.as_str())
                .bind(p.as_str())
                .bind(h.as_str())
        })
        .await?;
        // A record shown twice by one read (a person in two listed pairs) is one subject of it.
        let subjects: Vec<(&str, i64)> = rows
            .iter()
            .flat_map(|(seq, _, e, _, _)| {
                let mut shown: Vec<&str> = e.subjects.iter().map(String::as_str).collect();
                shown.sort_unstable();
                shown.dedup();
                shown.into_iter().map(move |s| (s, *seq))
            })
            .collect();
        crate::registry::insert_many(&mut tx, self.backend, "audit_subjects", 2, &subjects, |q, (id, seq)| {
            q.bind(*id).bind(*seq)
        })
        .await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(prev)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows.iter().map(|r| r.0).collect())
    }

    /// The chain head: the last entry's sequence number and hash.
    pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Entries after `after`, in chain order, at most `limit`: for walking the chain.
    pub async fn audit_entries(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    /// Entries matching every filter, newest first, at most `limit`.
    pub async fn search_audit(&self, f: &AuditFilter, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if f.actor.is_some() {
            sql.push_str(&format!(" AND actor = ${}", next()));
        }
        if f.record_id.is_some() {
            // The entries about the record, and those that showed it.
            let r = next();
            sql.push_str(&format!(
                " AND (record_id = ${r} OR seq IN (SELECT seq FROM audit_subjects WHERE record_id = ${r}))"
            ));
        }
        if f.action.is_some() {
            sql.push_str(&format!(" AND action = ${}", next()));
        }
        if f.from.is_some() {
            sql.push_str(&format!(" AND at >= ${}", next()));
        }
        if f.to.is_some() {
            sql.push_str(&format!(" AND at < ${}", next()));
        }
        if f.before.is_some() {
            sql.push_str(&format!(" AND seq < ${}", next()));
        }
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", limit.max(1)));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for v in [&f.actor, &f.record_id, &f.action].into_iter().flatten() {
            q = q.bind(v.clone());
        }
        for t in [f.from, f.to].into_iter().flatten() {
            q = q.bind(time_text(t));
        }
        if let Some(b) = f.before {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(audit_from_row).collect()
    }
}
