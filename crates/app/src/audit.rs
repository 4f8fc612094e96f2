//! The audit trail: who read or changed what, and when, appended to a hash
//! chain that `verify` walks to find any entry edited, deleted or
//! reordered behind the application's back.
//!
//! Entries go through one appender task per process, which writes whatever
//! has queued in one transaction (group commit). A change waits for its
//! entry to be committed before it answers. A read queues its entry and
//! answers at once: the queue is bounded (a full queue makes readers wait,
//! it never drops an entry), it is flushed before the trail is searched or
//! verified and when the server stops, and so only a crash of the process
//! can lose the last few milliseconds of read entries. Waiting for each
//! read's commit would more than double the cost of a fetch.

use chrono::{DateTime, Utc};
use himaya_domain::access::Permission;
use himaya_domain::audit::{GENESIS, chain_hash};
use himaya_store::{AuditFilter, AuditRow, NewAuditEntry, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::{Actor, App, AppError};

type Ack = Option<oneshot::Sender<Result<(), String>>>;

/// The most entries written in one transaction.
const MAX_BATCH: usize = 2_000;
/// How long queued read entries wait for others before they are written.
const LINGER: std::time::Duration = std::time::Duration::from_millis(50);

/// Sends entries to the appender task.
#[derive(Clone, Debug)]
pub(crate) struct AuditSink {
    tx: mpsc::Sender<(Vec<NewAuditEntry>, Ack)>,
}

impl AuditSink {
    pub(crate) fn start(store: Store) -> AuditSink {
        let (tx, mut rx) = mpsc::channel::<(Vec<NewAuditEntry>, Ack)>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut waited = first.1.is_some();
                let mut entries = first.0;
                let mut acks = vec![first.1];
                // Queued reads wait a little for company, so that a busy
                // server commits hundreds of entries at a time; anyone
                // waiting for a commit ends the wait.
                let deadline = tokio::time::Instant::now() + LINGER;
                while entries.len() < MAX_BATCH {
                    let next = if waited {
                        rx.try_recv().ok()
                    } else {
                        tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten()
                    };
                    let Some((more, ack)) = next else { break };
                    waited |= ack.is_some();
                    entries.extend(more);
                    acks.push(ack);
                }
                let result = if entries.is_empty() {
                    Ok(())
                } else {
                    store
                        .append_audit(&entries)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                };
                if let Err(e) = &result {
                    tracing::error!(error = %e, "audit entries could not be written");
                }
                for ack in acks.into_iter().flatten() {
                    let _ = ack.send(result.clone());
                }
            }
        });
        AuditSink { tx }
    }

    /// Writes the entries and waits until they, and every entry queued
    /// before them, are committed. With no entries, a flush.
    pub(crate) async fn write(&self, entries: Vec<NewAuditEntry>) -> Result<(), AppError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send((entries, Some(ack)))
            .await
            .map_err(|_| AppError::Internal("the audit appender has stopped".into()))?;
        done.await
            .map_err(|_| AppError::Internal("the audit appender has stopped".into()))?
            .map_err(|e| AppError::Internal(format!("audit entry not written: {e}")))
    }
}

impl AuditSink {
    /// Queues entries to be committed shortly, without waiting for the commit.
    pub(crate) async fn queue(&self, entries: Vec<NewAuditEntry>) -> Result<(), AppError> {
        self.tx
            .send((entries, None))
            .await
            .map_err(|_| AppError::Internal("the audit appender has stopped".into()))
    }
}

/// What an audit entry is about.
pub(crate) struct Record {
    pub kind: &'static str,
    pub id: String,
}

impl Record {
    pub(crate) fn new(kind: &'static str, id: impl std::fmt::Display) -> Record {
        Record {
            kind,
            id: id.to_string(),
        }
    }
}

pub(crate) fn entry(actor: &Actor, action: &str, record: Option<Record>, detail: Value) -> NewAuditEntry {
    NewAuditEntry {
        at: Utc::now(),
        actor: actor.name.clone(),
        action: action.to_owned(),
        record_type: record.as_ref().map(|r| r.kind.to_owned()),
        record_id: record.map(|r| r.id),
        detail: detail.to_string(),
        subjects: Vec::new(),
    }
}

/// Filters of an audit search, as given.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub record: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Entries before this sequence number (the next page of a newest-first list).
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

/// One audit entry as shown to auditors.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntryView {
    #[serde(flatten)]
    pub row: AuditRow,
    pub detail: Value,
}

#[derive(Clone, Debug, Serialize)]
pub struct AuditPage {
    pub items: Vec<AuditEntryView>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<i64>,
}

/// The outcome of walking the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    pub entries: i64,
    /// The first entry that does not fit the chain, and why.
    pub broken: Option<(i64, String)>,
}

fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, AppError> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        .map_err(|_| {
            AppError::invalid(
                field,
                "invalid-time",
                format!("{raw:?} is not a date (2026-11-23) or an RFC 3339 time"),
            )
        })
}

impl App {
    /// Records one entry and waits until it is written.
    pub(crate) async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        record: Option<Record>,
        detail: Value,
    ) -> Result<(), AppError> {
        self.audit_sink.write(vec![entry(actor, action, record, detail)]).await
    }

    pub(crate) async fn audit_many(&self, entries: Vec<NewAuditEntry>) -> Result<(), AppError> {
        self.audit_sink.write(entries).await
    }

    /// Records a read of personal data, and the other records it showed
    /// (members, results); see the module's note on why reads do not wait
    /// for the commit.
    pub(crate) async fn audit_read(
        &self,
        actor: &Actor,
        action: &str,
        record: Option<Record>,
        detail: Value,
        showed: Vec<String>,
    ) -> Result<(), AppError> {
        let entry = NewAuditEntry {
            subjects: showed,
            ..entry(actor, action, record, detail)
        };
        self.audit_sink.queue(vec![entry]).await
    }

    /// Waits until every audit entry queued so far is committed. The server
    /// calls it when it stops.
    pub async fn flush_audit(&self) -> Result<(), AppError> {
        self.audit_sink.write(Vec::new()).await
    }

    /// Audit entries matching the query, newest first. The search is itself audited.
    pub async fn search_audit(&self, actor: &Actor, q: &AuditQuery) -> Result<AuditPage, AppError> {
        actor.require(Permission::AuditRead)?;
        let limit = crate::registry::page_size(q.limit)?;
        let nonempty = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let filter = AuditFilter {
            actor: nonempty(&q.actor),
            record_id: nonempty(&q.record),
            action: nonempty(&q.action),
            from: nonempty(&q.from).map(|t| parse_time("from", &t)).transpose()?,
            to: nonempty(&q.to).map(|t| parse_time("to", &t)).transpose()?,
            before: q.before,
        };
        self.audit(
            actor,
            "audit.search",
            None,
            serde_json::json!({
                "actor": filter.actor, "record": filter.record_id, "action": filter.action,
                "from": q.from, "to": q.to, "before": q.before,
            }),
        )
        .await?;
        let rows = self.store().search_audit(&filter, i64::from(limit) + 1).await?;
        let more = rows.len() > limit as usize;
        let items: Vec<AuditEntryView> = rows
            .into_iter()
            .take(limit as usize)
            .map(|row| AuditEntryView {
                detail: serde_json::from_str(&row.detail).unwrap_or(Value::String(row.detail.clone())),
                row,
            })
            .collect();
        let next_before = if more { items.last().map(|i| i.row.seq) } else { None };
        Ok(AuditPage { items, next_before })
    }

    /// Walks the whole chain in order, recomputing every hash; reports the
    /// first entry that was edited, deleted, inserted or reordered, and a
    /// head that does not match the last entry (entries cut off the end).
    pub async fn verify_audit(&self) -> Result<ChainReport, AppError> {
        self.flush_audit().await?;
        let store = self.store();
        let (head_seq, head_hash) = store.audit_head().await?;
        let mut prev_seq = 0;
        let mut prev_hash = GENESIS.to_owned();
        loop {
            let rows = store.audit_entries(prev_seq, 5_000).await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let broken = |why: String| {
                    Ok(ChainReport {
                        entries: prev_seq,
                        broken: Some((row.seq, why)),
                    })
                };
                if row.seq != prev_seq + 1 {
                    return broken(format!(
                        "entry {} follows entry {prev_seq}: entries in between were deleted or renumbered",
                        row.seq
                    ));
                }
                if row.prev_hash != prev_hash {
                    return broken(
                        "its link to the previous entry does not match: entries were removed, \
                                   reordered or replaced"
                            .into(),
                    );
                }
                if chain_hash(&prev_hash, &row.content()) != row.hash {
                    return broken("its content does not match its hash: the entry was edited".into());
                }
                prev_seq = row.seq;
                prev_hash = row.hash.clone();
            }
        }
        if prev_seq != head_seq || prev_hash != head_hash {
            return Ok(ChainReport {
                entries: prev_seq,
                broken: Some((
                    prev_seq + 1,
                    format!(
                        "the chain ends at entry {prev_seq} but its head records entry {head_seq}: entries were cut off the end"
                    ),
                )),
            });
        }
        Ok(ChainReport {
            entries: prev_seq,
            broken: None,
        })
    }
}
