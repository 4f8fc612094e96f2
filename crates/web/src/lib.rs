//! HTTP: the JSON API under `/api/v1` (described by `/api/v1/openapi.json`),
//! `/health`, and the staff pages (`pages`), in four languages (`i18n`),
//! with their style sheet, script and fonts compiled in (`assets`).
//!
//! Architecture invariant: handlers translate HTTP to use cases and back.
//! They validate nothing of the domain and write nothing to the store: that
//! is the app crate's job, so the CLI and pages get the same rules.

mod api;
pub mod assets;
pub mod auth;
mod grievances_api;
pub mod i18n;
mod pages;
mod payments_api;
mod problem;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use himaya_app::App;

pub use pages::page_table;
pub use problem::ApiError;

/// The largest request body accepted, in bytes.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub limits: Arc<auth::Limits>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<Vec<std::net::IpAddr>>,
}

/// The whole HTTP service, reached directly by its clients.
pub fn router(app: App) -> Router {
    router_behind(app, Vec::new())
}

/// The whole HTTP service behind the given reverse proxies.
pub fn router_behind(app: App, trusted_proxies: Vec<std::net::IpAddr>) -> Router {
    api::router(AppState {
        app,
        limits: Arc::new(auth::Limits::default()),
        trusted_proxies: Arc::new(trusted_proxies),
    })
}

/// Every (method, path) the router serves, for documentation checks and
/// the authorisation matrix test.
pub fn route_table() -> Vec<(Method, &'static str)> {
    api::routes().into_iter().map(|r| (r.method, r.path)).collect()
}

/// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests. The
/// server runs agency match jobs in the background meanwhile; a job still
/// running when it stops runs again when a server next starts.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    trusted_proxies: Vec<std::net::IpAddr>,
) -> std::io::Result<()> {
    app.start_match_jobs();
    axum::serve(
        listener,
        router_behind(app, trusted_proxies).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
