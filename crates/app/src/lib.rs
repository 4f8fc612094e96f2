//! Use cases: every action a user can trigger — from a page, the API or the
//! command line — checked, carried out and recorded once, here.
//!
//! Architecture invariant: no SQL (that is the store's) and no HTTP (that is
//! the web crate's). Inputs arrive as drafts and requests; outputs are domain
//! records; errors are [`AppError`].

pub mod demo;
mod error;
pub mod json;
mod registry;

use std::collections::HashSet;
use std::sync::Arc;

use himaya_domain::config::Deployment;
use himaya_store::Store;

pub use error::AppError;
pub use registry::*;

/// Who is acting. Until accounts exist this is the name a caller gives;
/// every version records it.
#[derive(Clone, Debug)]
pub struct Actor {
    pub name: String,
}

impl Actor {
    pub fn new(name: impl Into<String>) -> Actor {
        Actor { name: name.into() }
    }
}

/// The application: a store and a deployment. Cheap to clone.
#[derive(Clone)]
pub struct App {
    store: Store,
    deployment: Arc<Deployment>,
    area_codes: Arc<HashSet<String>>,
}

impl App {
    /// Migrates the store, saves the configuration's areas and returns the app.
    pub async fn open(store: Store, deployment: Deployment) -> Result<App, AppError> {
        store.migrate().await?;
        store.save_areas(&deployment.areas).await?;
        let area_codes = store.areas().await?.into_iter().map(|a| a.code).collect();
        Ok(App {
            store,
            deployment: Arc::new(deployment),
            area_codes: Arc::new(area_codes),
        })
    }

    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn area_known(&self, code: &str) -> bool {
        self.area_codes.contains(code)
    }

    /// Whether the database answers.
    pub async fn health(&self) -> Result<(), AppError> {
        Ok(self.store.ping().await?)
    }
}
