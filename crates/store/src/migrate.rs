//! Schema migrations: numbered SQL files per backend, applied in order, each
//! in its own transaction. A released migration is never edited; changes
//! come as new files.

use sqlx::Row;

use crate::{Backend, Store, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
    /// Data the migration's new columns need, computed from the stored
    /// versions in the migration's own transaction.
    fill: Option<Fill>,
}

#[derive(Clone, Copy)]
enum Fill {
    RuleFacts,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "registry",
        sqlite: include_str!("migrations/sqlite/0001_registry.sql"),
        postgres: include_str!("migrations/postgres/0001_registry.sql"),
        fill: None,
    },
    Migration {
        version: 2,
        name: "access",
        sqlite: include_str!("migrations/sqlite/0002_access.sql"),
        postgres: include_str!("migrations/postgres/0002_access.sql"),
        fill: None,
    },
    Migration {
        version: 3,
        name: "import",
        sqlite: include_str!("migrations/sqlite/0003_import.sql"),
        postgres: include_str!("migrations/postgres/0003_import.sql"),
        fill: None,
    },
    Migration {
        version: 4,
        name: "scores",
        sqlite: include_str!("migrations/sqlite/0004_scores.sql"),
        postgres: include_str!("migrations/postgres/0004_scores.sql"),
        fill: None,
    },
    Migration {
        version: 5,
        name: "programmes",
        sqlite: include_str!("migrations/sqlite/0005_programmes.sql"),
        postgres: include_str!("migrations/postgres/0005_programmes.sql"),
        fill: None,
    },
    Migration {
        version: 6,
        name: "compliance",
        sqlite: include_str!("migrations/sqlite/0006_compliance.sql"),
        postgres: include_str!("migrations/postgres/0006_compliance.sql"),
        fill: None,
    },
    Migration {
        version: 7,
        name: "rule_facts",
        sqlite: include_str!("migrations/sqlite/0007_rule_facts.sql"),
        postgres: include_str!("migrations/postgres/0007_rule_facts.sql"),
        fill: Some(Fill::RuleFacts),
    },
    Migration {
        version: 8,
        name: "enrolment_status",
        sqlite: include_str!("migrations/sqlite/0008_enrolment_status.sql"),
        postgres: include_str!("migrations/postgres/0008_enrolment_status.sql"),
        fill: None,
    },
    Migration {
        version: 9,
        name: "payments",
        sqlite: include_str!("migrations/sqlite/0009_payments.sql"),
        postgres: include_str!("migrations/postgres/0009_payments.sql"),
        fill: None,
    },
    Migration {
        version: 10,
        name: "dedup",
        sqlite: include_str!("migrations/sqlite/0010_dedup.sql"),
        postgres: include_str!("migrations/postgres/0010_dedup.sql"),
        fill: None,
    },
    Migration {
        version: 11,
        name: "user_language",
        sqlite: include_str!("migrations/sqlite/0011_user_language.sql"),
        postgres: include_str!("migrations/postgres/0011_user_language.sql"),
        fill: None,
    },
    Migration {
        version: 12,
        name: "household_entitlements",
        sqlite: include_str!("migrations/sqlite/0012_household_entitlements.sql"),
        postgres: include_str!("migrations/postgres/0012_household_entitlements.sql"),
        fill: None,
    },
    Migration {
        version: 13,
        name: "match_jobs",
        sqlite: include_str!("migrations/sqlite/0013_match_jobs.sql"),
        postgres: include_str!("migrations/postgres/0013_match_jobs.sql"),
        fill: None,
    },
    Migration {
        version: 14,
        name: "superseded_payments",
        sqlite: include_str!("migrations/sqlite/0014_superseded_payments.sql"),
        postgres: include_str!("migrations/postgres/0014_superseded_payments.sql"),
        fill: None,
    },
    Migration {
        version: 15,
        name: "entitlements_by_cycle",
        sqlite: include_str!("migrations/sqlite/0015_entitlements_by_cycle.sql"),
        postgres: include_str!("migrations/postgres/0015_entitlements_by_cycle.sql"),
        fill: None,
    },
    Migration {
        version: 16,
        name: "member_entitlements_by_household",
        sqlite: include_str!("migrations/sqlite/0016_member_entitlements_by_household.sql"),
        postgres: include_str!("migrations/postgres/0016_member_entitlements_by_household.sql"),
        fill: None,
    },
    Migration {
        version: 17,
        name: "household_versions_rowid",
        sqlite: include_str!("migrations/sqlite/0017_household_versions_rowid.sql"),
        postgres: include_str!("migrations/postgres/0017_household_versions_rowid.sql"),
        fill: None,
    },
    Migration {
        version: 18,
        name: "household_attributes",
        sqlite: include_str!("migrations/sqlite/0018_household_attributes.sql"),
        postgres: include_str!("migrations/postgres/0018_household_attributes.sql"),
        fill: None,
    },
    Migration {
        version: 19,
        name: "active_enrolments_by_household",
        sqlite: include_str!("migrations/sqlite/0019_active_enrolments_by_household.sql"),
        postgres: include_str!("migrations/postgres/0019_active_enrolments_by_household.sql"),
        fill: None,
    },
    Migration {
        version: 20,
        name: "grievances",
        sqlite: include_str!("migrations/sqlite/0020_grievances.sql"),
        postgres: include_str!("migrations/postgres/0020_grievances.sql"),
        fill: None,
    },
];

pub(crate) async fn run(store: &Store, until: Option<i64>) -> Result<(), StoreError> {
    let mut conn = store.writer.acquire().await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    if store.backend == Backend::Postgres {
        // Two servers starting at once must not both migrate.
        sqlx::query("SELECT pg_advisory_lock(72631)")
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(store.backend, &mut conn, until).await;
    if store.backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock(72631)")
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(backend: Backend, conn: &mut sqlx::AnyConnection, until: Option<i64>) -> Result<(), StoreError> {
    use sqlx::Connection;
    let applied: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if applied > known {
        return Err(StoreError::SchemaTooNew { found: applied, known });
    }
    let wanted = |m: &&Migration| m.version > applied && until.is_none_or(|u| m.version <= u);
    for m in MIGRATIONS.iter().filter(wanted) {
        let sql = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        if let Some(Fill::RuleFacts) = m.fill {
            crate::registry::fill_rule_facts(&mut tx, backend).await?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(crate::time_text(chrono::Utc::now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    Ok(())
}
