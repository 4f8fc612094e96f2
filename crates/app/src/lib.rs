//! Use cases: every action a user can trigger — from a page, the API or the
//! command line — checked, carried out and recorded once, here.
//!
//! Architecture invariant: no SQL (that is the store's) and no HTTP (that is
//! the web crate's). Inputs arrive as drafts and requests; outputs are domain
//! records; errors are [`AppError`].

mod access;
mod accounts;
mod audit;
mod compliance;
mod dashboard;
mod dedup;
pub mod demo;
mod error;
mod export;
mod grievances;
mod import;
pub mod json;
mod match_jobs;
mod payfile;
mod payments;
mod programmes;
mod registry;
mod scores;

use std::collections::HashMap;
use std::sync::Arc;

use himaya_domain::config::Deployment;
use himaya_store::Store;

pub use access::{Actor, ActorKind};
pub use accounts::*;
pub use audit::{AuditEntryView, AuditPage, AuditQuery, ChainReport};
pub use compliance::{COMPLIANCE_BATCH, ComplianceInput};
pub use dashboard::{Dashboard, PaymentFigures};
pub use dedup::{
    DedupRunRequest, DedupRunView, Evidence, IntakeCheck, IntakeMatch, IntakeView, MAX_MATCH_ROWS, MatchRequest,
    MatchResult, MatchRow, MatchView, MergeView, PairDecision, PairMerge, PairQuery, PairView, ProgrammeStatus,
    REGISTRY_ROLES, RegistryLink,
};
pub use error::AppError;
pub use grievances::{GrievanceMove, GrievancePage, GrievanceQuery, GrievanceView, MAX_GRIEVANCE_PAGE, NewGrievance};
pub use himaya_store::{
    AccountRow, AgencyRow, BatchRow, CycleEventRow, CycleRow, EnrolmentRow, FundingLineRow, GrievanceEventRow,
    GrievanceRow, HouseholdEntitlementRow, IssueOutcome, ReconciliationError,
};
pub use import::{ImportOutcome, KeyedHousehold};
pub use match_jobs::{MAX_MATCH_JOB_ROWS, MAX_RESULT_PAGE, MatchJobView, MatchResultsPage, MatchResultsQuery};
pub use payments::{
    AccountChange, ComputeReport, CycleBreakdown, CycleView, ExpiryReport, NewAccount, OpenCycle, ReconcileReport,
    ReportRow,
};
pub use programmes::{
    DistrictTally, EligibilityView, ErrorExample, PmtPart, ProgrammeView, ResurveyDue, RunReport, Simulation, Tally,
    TargetRequest, Timing, money,
};
pub use registry::*;
pub use scores::{ScoreRun, ScoreView};

/// The application: a store and a deployment. Cheap to clone.
#[derive(Clone)]
pub struct App {
    store: Store,
    deployment: Arc<Deployment>,
    /// Area code → path (`/PK/PK-PB/PK-PB-LHR/`), for scope checks without a query.
    area_paths: Arc<HashMap<String, String>>,
    audit_sink: audit::AuditSink,
    credentials: Arc<accounts::CredentialCache>,
    /// The background worker that runs agency match jobs, once started.
    match_jobs: Arc<match_jobs::MatchJobs>,
}

impl App {
    /// Migrates the store, saves the configuration's areas and returns the app.
    pub async fn open(store: Store, deployment: Deployment) -> Result<App, AppError> {
        store.migrate().await?;
        // Another country's configuration would add its areas to this
        // registry for good: a registry whose areas the configuration names
        // none of is refused.
        let registered: Vec<(String, String)> = store.area_paths().await?;
        if !registered.is_empty()
            && !deployment
                .areas
                .iter()
                .any(|a| registered.iter().any(|(code, _)| *code == a.code))
        {
            let theirs: Vec<&str> = registered.iter().take(3).map(|(c, _)| c.as_str()).collect();
            let ours: Vec<&str> = deployment.areas.iter().take(3).map(|a| a.code.as_str()).collect();
            return Err(AppError::conflict(
                "wrong-configuration",
                format!(
                    "the registry's areas ({}, …) are none of this configuration's ({}, …): \
                     is it the configuration this registry was made with?",
                    theirs.join(", "),
                    ours.join(", ")
                ),
            ));
        }
        store.save_areas(&deployment.areas).await?;
        let area_paths = store.area_paths().await?.into_iter().collect();
        Ok(App {
            audit_sink: audit::AuditSink::start(store.clone()),
            credentials: Arc::default(),
            match_jobs: Arc::default(),
            store,
            deployment: Arc::new(deployment),
            area_paths: Arc::new(area_paths),
        })
    }

    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn area_known(&self, code: &str) -> bool {
        self.area_paths.contains_key(code)
    }

    pub(crate) fn area_path(&self, code: &str) -> Option<&str> {
        self.area_paths.get(code).map(String::as_str)
    }

    /// Whether the database answers.
    pub async fn health(&self) -> Result<(), AppError> {
        Ok(self.store.ping().await?)
    }
}
