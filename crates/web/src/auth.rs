//! Authentication at the edge: a bearer token or a session cookie becomes
//! an [`Actor`]; what the actor may do is decided by the use cases.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use himaya_app::{Actor, ActorKind};

use crate::AppState;
use crate::problem::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "himaya_session";
/// The header a cookie-authenticated state-changing request must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sign-in attempts allowed per client address per minute.
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 10;

/// The authenticated caller of a request. Extracting it fails with 401
/// when there are no valid credentials.
pub struct Authenticated(pub Actor);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let actor = if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid-token",
                        "Authentication is required",
                        "send Authorization: Bearer TOKEN",
                    )
                })?;
            state.app.token_actor(token).await?
        } else if let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) {
            let actor = state.app.session_actor(&secret).await?;
            if !is_safe(&parts.method) {
                check_csrf(&parts.headers, &actor)?;
            }
            actor
        } else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication is required",
                "sign in (POST /api/v1/session) or send Authorization: Bearer TOKEN",
            ));
        };
        if let ActorKind::Agency { id, rate_limit } = actor.kind() {
            state.limits.agencies.check(id, *rate_limit)?;
        }
        Ok(Authenticated(actor))
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A cookie-authenticated request that changes something must echo the
/// session's CSRF token in a header, which another site's page cannot read
/// or set.
fn check_csrf(headers: &HeaderMap, actor: &Actor) -> Result<(), ApiError> {
    let given = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let expected = actor.csrf_token().unwrap_or_default();
    if !expected.is_empty() && constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf-failed",
            "Not allowed",
            "a signed-in request that changes something must carry the session's X-CSRF-Token header",
        ))
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of one cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The client's address, for per-address limits; `None` when the server
/// was started without connection information. Behind a trusted proxy, the
/// address the proxy saw, from `X-Forwarded-For`.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(ClientIp(peer.map(|peer| {
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",");
            client_address(peer, &forwarded, &state.trusted_proxies)
        })))
    }
}

/// Walks `X-Forwarded-For` from the right, past our own trusted proxies, to
/// the first address a trusted proxy saw. Entries left of that were written
/// by the client and prove nothing.
pub fn client_address(peer: IpAddr, forwarded_for: &str, trusted: &[IpAddr]) -> IpAddr {
    let mut client = peer;
    if !trusted.contains(&peer) {
        return client;
    }
    for hop in forwarded_for.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted.contains(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// Token buckets keyed by client: `per_minute` requests a minute, in bursts
/// of up to a minute's worth. Kept in memory: each server limits what it
/// serves (a load balancer multiplies the limit by the number of servers).
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets kept before idle ones are swept.
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    /// Takes one request from `key`'s bucket, or says how long to wait.
    pub fn check(&self, key: &str, per_minute: u32) -> Result<(), ApiError> {
        let capacity = f64::from(per_minute.max(1));
        let rate = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, b| now.duration_since(b.at) < Duration::from_secs(60));
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / rate).ceil() as u64;
            Err(ApiError {
                retry_after: Some(wait.max(1)),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "Too many requests",
                    format!(
                        "the limit is {per_minute} requests a minute; try again in {} s",
                        wait.max(1)
                    ),
                )
            })
        }
    }
}

/// The rate limiters of one server.
#[derive(Default)]
pub struct Limits {
    pub agencies: RateLimiter,
    pub logins: RateLimiter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refuses_past_its_capacity() {
        let l = RateLimiter::default();
        for _ in 0..3 {
            assert!(l.check("a", 3).is_ok());
        }
        let e = l.check("a", 3).unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(e.retry_after.is_some_and(|s| s >= 1));
        assert!(l.check("b", 3).is_ok(), "another client has its own bucket");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxy = [ip("10.0.0.5")];
        assert_eq!(client_address(ip("10.0.0.5"), "203.0.113.7", &proxy), ip("203.0.113.7"));
        // A client's own claim to the left is ignored.
        assert_eq!(
            client_address(ip("10.0.0.5"), "1.2.3.4, 203.0.113.7", &proxy),
            ip("203.0.113.7")
        );
        // An untrusted peer's header is ignored.
        assert_eq!(
            client_address(ip("198.51.100.1"), "1.2.3.4", &proxy),
            ip("198.51.100.1")
        );
        // Junk stops the walk at the last address known.
        assert_eq!(client_address(ip("10.0.0.5"), "junk", &proxy), ip("10.0.0.5"));
        assert_eq!(client_address(ip("10.0.0.5"), "", &proxy), ip("10.0.0.5"));
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; himaya_session=xyz; b=2".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
