//! All of Himaya's SQL, for SQLite (the embedded default) and PostgreSQL.
//!
//! Architecture invariant: no other crate writes SQL. The backend is chosen
//! once, from the database URL, when the store is opened; callers see one
//! [`Store`] whichever it is. Queries use `$n` placeholders, which both
//! backends accept, so one text serves both; where they differ (DDL) each
//! backend has its own migration files.

mod access;
mod bulk;
mod dashboard;
mod dedup;
mod grievances;
mod match_jobs;
mod migrate;
mod payments;
mod programmes;
mod registry;
mod scores;
mod scratch;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use access::{AgencyRow, AuditFilter, AuditRow, NewAuditEntry, SessionRow, TokenOwner, TokenRow, UserRow};
pub use bulk::{BaselineTiming, LoadHousehold, sqlite_file_of};
pub use dashboard::{AreaCounts, PaymentCounts};
pub use dedup::{DedupRunRow, DedupSource, FoundPair, Moved, PairDecisionRow, PairFilter, PairRow};
pub use grievances::{GrievanceEventRow, GrievanceFilter, GrievanceRow};
pub use match_jobs::{MatchJobResultRow, MatchJobRow};
pub use payments::{
    AccountRow, Applied, ApprovalRefusal, BatchPayment, BatchRow, CycleCounts, CycleEventRow, CycleRow, EntitlementRow,
    FundingLineRow, HouseholdEntitlementRow, IssueOutcome, ProviderSpec, ReconciliationError, ReconciliationFile,
    StatusUpdate,
};
pub use programmes::{
    Admission, AttributesRead, ComplianceRow, DecisionRow, EnrolmentEvent, EnrolmentRow, Moves, NotificationRow,
    ProgrammeRow, RunRow, TargetingCursor, TargetingUnit,
};
pub use registry::name_tokens;
pub use registry::{
    HouseholdFilter, HouseholdWrite, PersonFilter, PersonWrite, PreparedPerson, Tx, VersionRow, WriteMeta,
};
pub use scores::{ScoreRow, ToScore};
pub use scratch::ScratchKeys;

/// Which database the store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL {0:?} is neither sqlite:// nor postgres://")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("the record was changed by someone else (now at version {current})")]
    VersionConflict { current: i64 },
    #[error("an identifier already belongs to another active person")]
    IdentifierTaken,
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("targeting run {0} is no longer running: it held its lease too long and another run may have started")]
    LeaseLost(String),
    #[error("the database schema is at migration {found}, newer than this program knows ({known}); upgrade himaya")]
    SchemaTooNew { found: i64, known: i64 },
}

impl StoreError {
    /// A deadlock or serialisation failure between concurrent transactions:
    /// nothing was written, and the same request may simply be retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(d)) => {
                matches!(d.code().as_deref(), Some("40P01" | "40001"))
            }
            _ => false,
        }
    }
}

/// A handle on the registry database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// Reads, and writes on PostgreSQL.
    pool: AnyPool,
    /// Writes. On SQLite a single connection, so write transactions queue
    /// in the process instead of failing with SQLITE_BUSY.
    writer: AnyPool,
    /// The connection bulk loads use, opened on first use (see [`Store::load`]).
    loader: std::sync::Arc<tokio::sync::Mutex<Option<bulk::Loader>>>,
    /// On SQLite, a connection for batch reads of many rows, opened on first use.
    reader: std::sync::Arc<tokio::sync::Mutex<Option<rusqlite::Connection>>>,
    /// On SQLite, the thread that checkpoints bulk writes, started on first use.
    checkpointer: std::sync::Arc<std::sync::OnceLock<Option<bulk::Checkpointer>>>,
    url: std::sync::Arc<str>,
}

// By hand: the URL may carry a password.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens `url` (`sqlite://FILE` or `postgres://…`), creating a SQLite file
    /// if needed. Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                let options = AnyConnectOptions::from_str(&url)?;
                fn pragmas<'c>(
                    conn: &'c mut sqlx::AnyConnection,
                    _meta: sqlx::pool::PoolConnectionMetadata,
                ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'c>>
                {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA cache_size = -16384; \
                             PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 10000;",
                        )
                        .await?;
                        Ok(())
                    })
                }
                let writer = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(60))
                    .after_connect(pragmas)
                    .connect_with(options.clone())
                    .await?;
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(pragmas)
                    .connect_with(options)
                    .await?;
                Ok(Store {
                    backend,
                    pool,
                    writer,
                    loader: Default::default(),
                    reader: Default::default(),
                    checkpointer: Default::default(),
                    url: url.into(),
                })
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await?;
                Ok(Store {
                    backend,
                    writer: pool.clone(),
                    pool,
                    loader: Default::default(),
                    reader: Default::default(),
                    checkpointer: Default::default(),
                    url: url.into(),
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate::run(self, None).await
    }

    /// Brings the schema up to migration `version` and no further: for
    /// tests of a migration on data written before it.
    pub async fn migrate_to(&self, version: i64) -> Result<(), StoreError> {
        migrate::run(self, Some(version)).await
    }

    /// Answers whether the database is reachable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Refreshes the query planner's statistics: run after a bulk load, so
    /// the planner knows the tables are no longer empty.
    pub async fn analyze(&self) -> Result<(), StoreError> {
        sqlx::query("ANALYZE").execute(&self.writer).await?;
        Ok(())
    }

    /// Refreshes PostgreSQL's statistics of the tables a load grows, so that
    /// its lookups keep using their indexes: a plan made while a table was
    /// nearly empty scans it whole, and a growing table makes that slower
    /// with every batch. (SQLite's planner uses the indexes regardless.)
    pub async fn refresh_load_statistics(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query("ANALYZE import_keys, person_identifiers, households, persons, household_versions")
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(Tx::new(self.writer.begin().await?, self.backend))
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Times are stored as fixed-width RFC 3339 text in UTC, which sorts in time
/// order on both backends.
pub(crate) fn time_text(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| StoreError::Corrupt(format!("time {s:?}: {e}")))
}

/// Fresh, isolated databases for tests.
pub mod testing {
    use sqlx::{AnyConnection, AssertSqlSafe, Connection};

    use crate::StoreError;

    /// Creates an empty database on the PostgreSQL server of `admin_url` and
    /// returns its URL.
    pub async fn fresh_postgres_database(admin_url: &str) -> Result<String, StoreError> {
        sqlx::any::install_default_drivers();
        let name = format!("himaya_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = AnyConnection::connect(admin_url).await?;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
        Ok(format!("{base}/{name}"))
    }

    /// An empty database for a test: on the PostgreSQL server that
    /// HIMAYA_TEST_POSTGRES_URL names, or else a new SQLite file.
    pub struct TestDatabase {
        pub url: String,
        /// The SQLite file, to remove when the test is done.
        pub file: Option<std::path::PathBuf>,
    }

    impl TestDatabase {
        /// `label` names the SQLite file, so that one left behind says which test made it.
        pub async fn fresh(label: &str) -> Result<TestDatabase, StoreError> {
            Ok(match std::env::var("HIMAYA_TEST_POSTGRES_URL") {
                Ok(admin) => TestDatabase {
                    url: fresh_postgres_database(&admin).await?,
                    file: None,
                },
                Err(_) => {
                    let f = std::env::temp_dir().join(format!("himaya-{label}-{}.db", uuid::Uuid::now_v7()));
                    TestDatabase {
                        url: format!("sqlite://{}", f.display()),
                        file: Some(f),
                    }
                }
            })
        }

        /// Removes the SQLite file with its log, if there is one.
        pub fn remove(self) {
            if let Some(f) = self.file {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
                }
            }
        }
    }
}
