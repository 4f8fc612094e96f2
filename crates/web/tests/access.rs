//! Who may do what, where: the authorisation matrix over every route,
//! sign-in and sessions, tokens, partner agencies' field sets and rate
//! limits, area scope, and the audit trail with its hash chain.

mod common;

use std::collections::BTreeSet;

use common::{PASSWORD, Reply, TestApp, household, spawn};
use himaya_app::{Actor, NewAgency};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// The matrix's own copy of who may call what: if a route is added without
/// a line here, [`every_route_is_authorised_for_every_role`] fails.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Policy {
    /// Anyone, signed in or not.
    Public,
    /// Any authenticated caller.
    Signed,
    /// Staff accounts only (their own password).
    Staff,
    /// Callers whose roles (or agency scopes) grant this permission.
    Needs(&'static str),
    /// Staff whose roles grant this permission; never agencies.
    StaffNeeds(&'static str),
}

fn policy(method: &Method, path: &str) -> Option<Policy> {
    use Policy::*;
    Some(match (method.as_str(), path) {
        ("GET", "/") | ("GET", "/health") | ("GET", "/api/v1/openapi.json") | ("POST", "/api/v1/session") => Public,
        ("GET", "/api/v1/session") | ("DELETE", "/api/v1/session") => Signed,
        ("POST", "/api/v1/session/password") => Staff,
        ("GET", "/api/v1/audit") => Needs("audit.read"),
        ("GET", "/api/v1/areas") => Needs("areas.read"),
        ("GET", "/api/v1/households") | ("GET", "/api/v1/households/{id}") => Needs("households.read"),
        ("GET", "/api/v1/households/{id}/score") => StaffNeeds("households.read"),
        ("GET", "/api/v1/households/{id}/history") => Needs("households.history"),
        ("POST", "/api/v1/households")
        | ("PATCH", "/api/v1/households/{id}")
        | ("POST", "/api/v1/households/{id}/members")
        | ("POST", "/api/v1/households/{id}/move")
        | ("POST", "/api/v1/households/{id}/split")
        | ("POST", "/api/v1/households/{id}/merge")
        | ("POST", "/api/v1/households/{id}/head")
        | ("POST", "/api/v1/households/{id}/inactivate")
        | ("POST", "/api/v1/households/{id}/reactivate") => Needs("households.write"),
        ("GET", "/api/v1/persons") | ("GET", "/api/v1/persons/{id}") => Needs("persons.read"),
        ("PATCH", "/api/v1/persons/{id}")
        | ("POST", "/api/v1/persons/{id}/transfer")
        | ("POST", "/api/v1/compliance") => Needs("persons.write"),
        ("GET", "/api/v1/persons/{id}/history") => Needs("persons.history"),
        ("GET", "/api/v1/programmes")
        | ("GET", "/api/v1/programmes/{code}")
        | ("GET", "/api/v1/programmes/{code}/recertification") => Needs("programmes.read"),
        ("PUT", "/api/v1/programmes/{code}") => Needs("programmes.manage"),
        ("POST", "/api/v1/programmes/{code}/runs") => Needs("targeting.run"),
        ("POST", "/api/v1/programmes/{code}/enrolments/{beneficiary}/transitions") => Needs("enrolments.manage"),
        ("GET", "/api/v1/households/{id}/programmes/{code}/eligibility") => StaffNeeds("programmes.read"),
        ("GET", "/api/v1/persons/{id}/accounts") => Needs("accounts.read"),
        ("POST", "/api/v1/persons/{id}/accounts") | ("PATCH", "/api/v1/accounts/{id}") => Needs("accounts.write"),
        ("PUT", "/api/v1/funding-lines/{code}") => Needs("funding.manage"),
        ("GET", "/api/v1/funding-lines")
        | ("GET", "/api/v1/cycles")
        | ("GET", "/api/v1/cycles/{id}")
        | ("GET", "/api/v1/cycles/{id}/events")
        | ("GET", "/api/v1/cycles/{id}/batches")
        | ("GET", "/api/v1/cycles/{id}/reconciliation-errors")
        | ("GET", "/api/v1/cycles/{id}/report")
        | ("GET", "/api/v1/entitlements/{id}")
        | ("GET", "/api/v1/households/{id}/entitlements") => Needs("payments.read"),
        ("POST", "/api/v1/cycles")
        | ("POST", "/api/v1/cycles/{id}/compute")
        | ("POST", "/api/v1/cycles/{id}/submit")
        | ("POST", "/api/v1/cycles/{id}/cancel")
        | ("POST", "/api/v1/cycles/{id}/issue")
        | ("POST", "/api/v1/cycles/{id}/close")
        | ("POST", "/api/v1/cycles/{id}/expire")
        | ("GET", "/api/v1/cycles/{id}/batches/{batch}/file")
        | ("POST", "/api/v1/cycles/{id}/reconciliations") => Needs("payments.manage"),
        ("POST", "/api/v1/cycles/{id}/approve") | ("POST", "/api/v1/cycles/{id}/reject") => Needs("payments.approve"),
        ("GET", "/api/v1/dedup/pairs") | ("GET", "/api/v1/dedup/pairs/{pair}") => Needs("dedup.read"),
        ("POST", "/api/v1/dedup/runs") | ("POST", "/api/v1/dedup/pairs/{pair}/decision") => Needs("dedup.review"),
        ("POST", "/api/v1/dedup/pairs/{pair}/merge") => Needs("dedup.merge"),
        ("POST", "/api/v1/dedup/check") => StaffNeeds("persons.read"),
        ("GET", "/api/v1/grievances") | ("GET", "/api/v1/grievances/{id}") => Needs("grievances.read"),
        ("POST", "/api/v1/grievances") | ("POST", "/api/v1/grievances/{id}/transitions") => Needs("grievances.manage"),
        ("POST", "/api/v1/matches")
        | ("POST", "/api/v1/matches/jobs")
        | ("GET", "/api/v1/matches/jobs/{id}")
        | ("GET", "/api/v1/matches/jobs/{id}/results") => Needs("persons.match"),
        _ => return None,
    })
}

/// The matrix's own copy of what each role grants.
fn grants(role: &str) -> &'static [&'static str] {
    const REGISTER: &[&str] = &[
        "areas.read",
        "households.read",
        "persons.read",
        "households.history",
        "persons.history",
        "households.write",
        "persons.write",
        "programmes.read",
        "dedup.read",
        "dedup.review",
        "grievances.read",
        "grievances.manage",
    ];
    const REGISTER_ACCOUNTS: &[&str] = &[
        "areas.read",
        "households.read",
        "persons.read",
        "households.history",
        "persons.history",
        "households.write",
        "persons.write",
        "programmes.read",
        "accounts.read",
        "accounts.write",
        "dedup.read",
        "dedup.review",
        "dedup.merge",
        "persons.match",
    ];
    match role {
        "administrator" => &[
            "areas.read",
            "households.read",
            "persons.read",
            "households.history",
            "persons.history",
            "households.write",
            "persons.write",
            "audit.read",
            "users.manage",
            "programmes.read",
            "programmes.manage",
            "targeting.run",
            "enrolments.manage",
            "accounts.read",
            "accounts.write",
            "payments.read",
            "payments.manage",
            "payments.approve",
            "funding.manage",
            "dedup.read",
            "dedup.review",
            "dedup.merge",
            "persons.match",
            "grievances.read",
            "grievances.manage",
        ],
        "registrar" => REGISTER_ACCOUNTS,
        "district_officer" => REGISTER,
        "grievance_officer" => &[
            "areas.read",
            "households.read",
            "persons.read",
            "households.history",
            "persons.history",
            "programmes.read",
            "grievances.read",
            "grievances.manage",
        ],
        "case_worker" => &[
            "areas.read",
            "households.read",
            "persons.read",
            "households.history",
            "persons.history",
            "programmes.read",
            "grievances.read",
        ],
        "programme_officer" => &[
            "areas.read",
            "households.read",
            "persons.read",
            "programmes.read",
            "programmes.manage",
            "targeting.run",
            "enrolments.manage",
        ],
        "approver" => &[
            "areas.read",
            "households.read",
            "persons.read",
            "programmes.read",
            "accounts.read",
            "payments.read",
            "payments.approve",
        ],
        "payment_officer" => &[
            "areas.read",
            "households.read",
            "persons.read",
            "programmes.read",
            "accounts.read",
            "accounts.write",
            "payments.read",
            "payments.manage",
        ],
        "auditor" => &[
            "areas.read",
            "households.read",
            "persons.read",
            "households.history",
            "persons.history",
            "audit.read",
            "programmes.read",
            "accounts.read",
            "payments.read",
            "dedup.read",
            "grievances.read",
        ],
        other => panic!("role {other} has no line in the matrix"),
    }
}

const ROLES: &[&str] = &[
    "administrator",
    "registrar",
    "district_officer",
    "programme_officer",
    "approver",
    "payment_officer",
    "grievance_officer",
    "case_worker",
    "auditor",
];

/// A household in Multan without identifiers, so that many can be registered.
fn plain_household() -> Value {
    let mut h = household("3520212345671");
    for m in h["members"].as_array_mut().unwrap() {
        m.as_object_mut().unwrap().remove("identifiers");
    }
    h
}

fn member() -> Value {
    json!({"person": {"given_name": {"latin": "Ayesha"}, "sex": "female", "date_of_birth": "2015",
                      "relationship": "child"}})
}

/// A request for a route that passes the body's shape checks, so that the
/// use case decides; the fixtures' versions are never "999", so an allowed
/// write stops at the version check and changes nothing.
fn request_for(
    method: &Method,
    path: &str,
    h: &str,
    p: &str,
    other: &str,
    account: &str,
    grievance: &str,
) -> (String, Option<Value>, Vec<(&'static str, &'static str)>) {
    let nobody = "0190f0f0-0000-7000-8000-000000000000";
    let concrete = path
        .replace("/households/{id}", &format!("/households/{h}"))
        .replace("/persons/{id}", &format!("/persons/{p}"))
        .replace("/accounts/{id}", &format!("/accounts/{account}"))
        .replace("/grievances/{id}", &format!("/grievances/{grievance}"))
        .replace("/cycles/{id}", &format!("/cycles/{nobody}"))
        .replace("/entitlements/{id}", &format!("/entitlements/{nobody}"))
        .replace("/jobs/{id}", &format!("/jobs/{nobody}"))
        .replace("{batch}", nobody)
        .replace("{pair}", nobody)
        .replace("{code}", "pk-kafalat")
        .replace("{beneficiary}", h);
    let stale = vec![("if-match", "\"999\"")];
    let (body, headers) = match (method.as_str(), path) {
        ("POST", "/api/v1/session") => (Some(json!({"username": "admin", "password": PASSWORD})), vec![]),
        ("POST", "/api/v1/session/password") => (
            Some(json!({"current_password": "not the password", "new_password": "a brand new passphrase"})),
            vec![],
        ),
        ("POST", "/api/v1/households") => (Some(plain_household()), vec![]),
        ("PATCH", "/api/v1/households/{id}") | ("POST", "/api/v1/households/{id}/move") => {
            (Some(json!({"changes": {"address": "House 1"}})), stale)
        }
        ("POST", "/api/v1/households/{id}/members") => (Some(member()), stale),
        ("POST", "/api/v1/households/{id}/split") => (
            Some(json!({"members": [nobody], "head": nobody, "reason": "marriage"})),
            vec![],
        ),
        ("POST", "/api/v1/households/{id}/merge") => (Some(json!({"from": nobody, "reason": "duplicate"})), vec![]),
        ("POST", "/api/v1/households/{id}/head") => (Some(json!({"person": nobody})), vec![]),
        ("POST", "/api/v1/households/{id}/inactivate") | ("POST", "/api/v1/households/{id}/reactivate") => {
            (Some(json!({"reason": "left the area"})), stale)
        }
        ("PATCH", "/api/v1/persons/{id}") => (Some(json!({"changes": {"phone": null}})), stale),
        ("PUT", "/api/v1/programmes/{code}") => (Some(common::programme_json("pk-kafalat")), vec![]),
        // A quarter in the future: refused after the permission and area checks, so nothing is written.
        ("POST", "/api/v1/compliance") => (
            Some(json!({"records": [{"person_id": p, "kind": "school_attendance", "period": "2999-Q1", "value": 80}]})),
            vec![],
        ),
        ("POST", "/api/v1/programmes/{code}/runs") => (Some(json!({"dry_run": true, "area": "PK-PB-MUL"})), vec![]),
        ("POST", "/api/v1/programmes/{code}/enrolments/{beneficiary}/transitions") => {
            (Some(json!({"to": "paused", "reason": "investigation"})), vec![])
        }
        ("POST", "/api/v1/persons/{id}/transfer") => (
            Some(json!({"to_household": other, "relationship": "other_relative"})),
            stale,
        ),
        // A provider the deployment does not have: refused after the checks of who and where.
        ("POST", "/api/v1/persons/{id}/accounts") => (
            Some(json!({"kind": "mobile_wallet", "provider": "no-such-provider", "msisdn": "03001234567"})),
            vec![],
        ),
        ("PATCH", "/api/v1/accounts/{id}") => (Some(json!({"verified": true, "closed": true})), vec![]),
        // Less than approved cycles committed is refused; nothing is, so zero is allowed: a line no cycle names.
        ("PUT", "/api/v1/funding-lines/{code}") => (Some(json!({"name": "Matrix line", "allocated": 0})), vec![]),
        ("POST", "/api/v1/cycles") => (
            Some(json!({"programme": "pk-kafalat", "period": "2999-Q1", "plan": {"funding": ["no-such-line"]}})),
            vec![],
        ),
        ("POST", "/api/v1/cycles/{id}/issue") | ("POST", "/api/v1/cycles/{id}/close") => (Some(json!({})), vec![]),
        ("POST", "/api/v1/cycles/{id}/reject") => (Some(json!({"reason": "matrix"})), vec![]),
        ("POST", "/api/v1/cycles/{id}/reconciliations") => (Some(json!({"not": "a status file"})), vec![]),
        // An area outside every caller's scope but the national ones: refused, or too few people to compare.
        ("POST", "/api/v1/dedup/runs") => (Some(json!({"area": "PK-PB-MUL", "threshold": 0.9})), vec![]),
        ("POST", "/api/v1/dedup/pairs/{pair}/decision") => (Some(json!({"decision": "different_people"})), vec![]),
        ("POST", "/api/v1/dedup/pairs/{pair}/merge") => (Some(json!({"survivor": nobody})), vec![]),
        ("POST", "/api/v1/dedup/check") => (
            Some(
                json!({"person": {"given_name": {"latin": "Ayesha"}, "sex": "female", "date_of_birth": "2015",
                                   "relationship": "child"}}),
            ),
            vec![],
        ),
        ("POST", "/api/v1/matches") => (
            Some(json!({"rows": [{"given_name": "Ayesha", "date_of_birth": "2015"}]})),
            vec![],
        ),
        // A row with nothing to match on: refused after the permission check, and nothing is queued.
        ("POST", "/api/v1/matches/jobs") => (Some(json!({"rows": [{"sex": "female"}]})), vec![]),
        ("POST", "/api/v1/grievances") => (
            Some(json!({"household_id": h, "category": "payment", "channel": "in_person",
                        "complainant": "Shazia Bibi", "description": "The payment did not come"})),
            vec![],
        ),
        // Open to open is not a move: refused after the checks of who and where, and nothing changes.
        ("POST", "/api/v1/grievances/{id}/transitions") => (Some(json!({"to": "open", "note": "matrix"})), vec![]),
        _ => (None, vec![]),
    };
    (concrete, body, headers)
}

struct Principal {
    label: String,
    token: Option<String>,
    permissions: Vec<&'static str>,
    staff: bool,
    in_area: bool,
}

#[tokio::test]
async fn every_route_is_authorised_for_every_role() {
    let t = spawn().await;
    let a = t.register(household("3520212345671")).await;
    let b = t.register(household("4210112345673")).await;
    let (hid, pid, other) = (id(&a), id(&a["members"][1]), id(&b));
    let account = t
        .app
        .add_account(
            &Actor::system("test"),
            &pid,
            himaya_app::NewAccount {
                draft: serde_json::from_value(
                    json!({"kind": "mobile_wallet", "provider": "jazzcash", "msisdn": "03001234567"}),
                )
                .unwrap(),
                holder_name: None,
            },
        )
        .await
        .unwrap()
        .id;
    let grievance = t
        .app
        .record_grievance(
            &Actor::system("test"),
            serde_json::from_value(json!({"household_id": hid, "category": "payment", "channel": "phone",
                                          "complainant": "Shazia Bibi", "description": "Not paid"}))
            .unwrap(),
        )
        .await
        .unwrap()
        .grievance
        .id;

    let mut principals = vec![Principal {
        label: "anonymous".into(),
        token: None,
        permissions: vec![],
        staff: false,
        in_area: true,
    }];
    for role in ROLES {
        let areas: &[&str] = if *role == "district_officer" {
            &["PK-PB-MUL"]
        } else {
            &[]
        };
        principals.push(Principal {
            label: (*role).into(),
            token: Some(
                t.user(&format!("{}.user", role.replace('_', "-")), &[role], areas)
                    .await,
            ),
            permissions: grants(role).to_vec(),
            staff: true,
            in_area: true,
        });
    }
    principals.push(Principal {
        label: "registrar of another district".into(),
        token: Some(t.user("registrar.hyderabad", &["registrar"], &["PK-SD-HYD"]).await),
        permissions: grants("registrar").to_vec(),
        staff: true,
        in_area: false,
    });
    let agency = t
        .app
        .add_agency(
            &Actor::system("test"),
            NewAgency {
                name: "school-programme".into(),
                scopes: vec!["households.read".into(), "persons.read".into()],
                fields: vec!["person.given_name".into()],
                areas: vec![],
                rate_limit: 10_000,
                expires_days: 1,
            },
        )
        .await
        .unwrap();
    principals.push(Principal {
        label: "agency".into(),
        token: Some(agency.secret),
        permissions: vec!["households.read", "persons.read"],
        staff: false,
        in_area: true,
    });

    let mut checked = 0;
    for (method, path) in himaya_web::route_table() {
        let policy = policy(&method, path)
            .unwrap_or_else(|| panic!("{method} {path} has no policy in the authorisation matrix: add one"));
        for who in &principals {
            if policy == Policy::Public && who.token.is_some() {
                continue;
            }
            let (url, body, headers) = request_for(&method, path, &hid, &pid, &other, &account, &grievance);
            let r = match &who.token {
                Some(token) => t.send_as(token, method.clone(), &url, body, &headers).await,
                None => {
                    t.send(
                        method.clone(),
                        &url,
                        body,
                        &[&[("authorization", "")][..], &headers].concat(),
                    )
                    .await
                }
            };
            let context = format!("{method} {path} as {}: {} {:#}", who.label, r.status, r.body);
            assert_ne!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{context}");
            assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "{context}");
            let allowed = match policy {
                Policy::Public => true,
                Policy::Signed => who.token.is_some(),
                Policy::Staff => who.token.is_some() && who.staff,
                Policy::Needs(p) => who.permissions.contains(&p),
                Policy::StaffNeeds(p) => who.staff && who.permissions.contains(&p),
            };
            if who.token.is_none() && policy != Policy::Public {
                assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{context}");
            } else if !allowed {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{context}");
                assert_eq!(r.body["code"], "permission-denied", "{context}");
            // A match job belongs to whoever submitted it, not to an area.
            } else if !who.in_area && path.contains("{id}") && !path.starts_with("/api/v1/matches/jobs/")
                || !who.in_area && method == Method::POST && path == "/api/v1/households"
                || !who.in_area && method == Method::POST && path == "/api/v1/compliance"
                || !who.in_area && method == Method::POST && path == "/api/v1/dedup/runs"
            {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{context}");
                assert_eq!(r.body["code"], "outside-area", "{context}");
            } else {
                assert!(
                    r.status != StatusCode::UNAUTHORIZED && r.status != StatusCode::FORBIDDEN,
                    "{context}"
                );
                if !who.in_area && method == Method::GET && r.status == StatusCode::OK {
                    let shown = r.body.to_string();
                    assert!(!shown.contains(&hid) && !shown.contains(&pid), "{context}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 250, "{checked} checks");
}

async fn login(t: &TestApp, username: &str, password: &str) -> Reply {
    t.send(
        Method::POST,
        "/api/v1/session",
        Some(json!({"username": username, "password": password})),
        &[("authorization", "")],
    )
    .await
}

/// The session cookie a sign-in set, as a `Cookie` header value.
async fn sign_in(t: &TestApp, username: &str, password: &str) -> (String, String) {
    let r = t
        .bare
        .post(format!("{}/api/v1/session", t.base))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    (cookie, body["csrf_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn sign_in_sessions_csrf_and_lockout() {
    let t = spawn().await;
    t.user("amina", &["registrar"], &["PK-PB-MUL"]).await;

    let wrong = login(&t, "amina", "not her password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body["code"], "invalid-credentials");
    let unknown = login(&t, "nobody", "not her password").await;
    assert_eq!(
        unknown.body["code"], "invalid-credentials",
        "same answer whether the account exists"
    );

    let (cookie, csrf) = sign_in(&t, "Amina", PASSWORD).await;
    let me = t
        .send(Method::GET, "/api/v1/session", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["name"], "amina");
    assert_eq!(me.body["areas"], json!(["PK-PB-MUL"]));
    assert_eq!(me.body["csrf_token"], csrf.as_str());

    // A change through the cookie needs the CSRF token; a read does not.
    let no_csrf = t
        .send(
            Method::POST,
            "/api/v1/households",
            Some(plain_household()),
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    assert_eq!(no_csrf.body["code"], "csrf-failed");
    let wrong_csrf = t
        .send(
            Method::POST,
            "/api/v1/households",
            Some(plain_household()),
            &[("cookie", &cookie), ("x-csrf-token", "0000")],
        )
        .await;
    assert_eq!(wrong_csrf.body["code"], "csrf-failed");
    let created = t
        .send(
            Method::POST,
            "/api/v1/households",
            Some(plain_household()),
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let history = t
        .get(&format!("/api/v1/households/{}/history", id(&created.body)))
        .await;
    assert_eq!(
        history.body["items"][0]["actor"], "amina",
        "versions record the signed-in user"
    );

    // Sign out: the cookie no longer opens anything.
    let out = t
        .send(
            Method::DELETE,
            "/api/v1/session",
            None,
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after = t
        .send(Method::GET, "/api/v1/session", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.body["code"], "session-expired");

    // Five wrong passwords lock the account, even against the right one.
    for _ in 0..5 {
        assert_eq!(
            login(&t, "amina", "still not it").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = login(&t, "amina", PASSWORD).await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(locked.body["code"], "account-locked", "{:#}", locked.body);

    // Every attempt is on the audit trail.
    let trail = t.get("/api/v1/audit?actor=amina&limit=500").await;
    assert_eq!(trail.status, StatusCode::OK, "{:#}", trail.body);
    let actions: Vec<&str> = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "session.login_failed").count(),
        7,
        "{actions:?}"
    );
    for expected in ["session.login", "session.logout", "household.create"] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
}

#[tokio::test]
async fn a_lock_runs_out_and_the_count_starts_again() {
    let t = spawn().await;
    t.user("karim", &["case_worker"], &[]).await;
    for _ in 0..5 {
        login(&t, "karim", "not the password").await;
    }
    assert_eq!(login(&t, "karim", PASSWORD).await.body["code"], "account-locked");
    // Fifteen minutes later, as the database would hold it.
    let mut conn = t.raw().await;
    sqlx::query("UPDATE users SET locked_until = '2020-01-01T00:00:00.000000Z' WHERE username = 'karim'")
        .execute(&mut conn)
        .await
        .unwrap();
    let wrong = login(&t, "karim", "not the password").await;
    assert_eq!(
        wrong.body["code"], "invalid-credentials",
        "one more mistake does not lock it again"
    );
    assert_eq!(login(&t, "karim", PASSWORD).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_address() {
    let t = spawn().await;
    // Ten a minute, refilled one every six seconds: on a loaded machine
    // the attempts may earn a refill, but they outpace it, so the limit
    // answers within a few more.
    let mut statuses = Vec::new();
    while statuses.len() < 30 && statuses.last() != Some(&StatusCode::TOO_MANY_REQUESTS) {
        statuses.push(login(&t, "nobody", "some password here").await.status);
    }
    assert!(
        statuses[..10].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_first() {
    let t = spawn().await;
    let (_, one_time) = t
        .app
        .add_user(
            &Actor::system("test"),
            himaya_app::NewUser {
                username: "bilal".into(),
                roles: vec!["registrar".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let one_time = one_time.expect("a one-time password");
    let (cookie, csrf) = sign_in(&t, "bilal", &one_time).await;
    let blocked = t
        .send(Method::GET, "/api/v1/households", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(blocked.status, StatusCode::FORBIDDEN);
    assert_eq!(blocked.body["code"], "password-change-required");

    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let headers = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let r = t
        .send(
            Method::POST,
            "/api/v1/session/password",
            Some(change("wrong", "a long new passphrase")),
            &headers,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field_errors(), ["current_password=wrong-password"]);
    let r = t
        .send(
            Method::POST,
            "/api/v1/session/password",
            Some(change(&one_time, "short")),
            &headers,
        )
        .await;
    assert_eq!(r.field_errors(), ["new_password=weak-password"]);
    let r = t
        .send(
            Method::POST,
            "/api/v1/session/password",
            Some(change(&one_time, "bilal's own phrase 2026")),
            &headers,
        )
        .await;
    assert_eq!(
        r.field_errors(),
        ["new_password=weak-password"],
        "it may not contain the username"
    );
    let r = t
        .send(
            Method::POST,
            "/api/v1/session/password",
            Some(change(&one_time, &one_time)),
            &headers,
        )
        .await;
    assert_eq!(
        r.field_errors(),
        ["new_password=weak-password"],
        "the one-time password cannot be kept"
    );
    let r = t
        .send(
            Method::POST,
            "/api/v1/session/password",
            Some(change(&one_time, "a long new passphrase")),
            &headers,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:#}", r.body);
    let open = t
        .send(Method::GET, "/api/v1/households", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(open.status, StatusCode::OK);
    assert_eq!(login(&t, "bilal", &one_time).await.status, StatusCode::UNAUTHORIZED);
    sign_in(&t, "bilal", "a long new passphrase").await;
}

#[tokio::test]
async fn expired_revoked_and_disabled_tokens_are_refused() {
    let t = spawn().await;
    let operator = Actor::system("test");
    let token = t.user("farah", &["auditor"], &[]).await;
    assert_eq!(
        t.send_as(&token, Method::GET, "/api/v1/areas", None, &[]).await.status,
        StatusCode::OK
    );

    let other = t.app.create_user_token(&operator, "farah", 1).await.unwrap();
    t.app.revoke_token(&operator, &other.id).await.unwrap();
    let r = t.send_as(&other.secret, Method::GET, "/api/v1/areas", None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["code"], "token-revoked");
    assert!(t.app.revoke_token(&operator, &other.id).await.is_err(), "revoked once");

    // An expired token, as the database would hold it after its time.
    let mut conn = t.raw().await;
    let secret = "hmy_expired0000000000000000000000000000000000000000000000000000000";
    let user_id: String = sqlx::Row::get(
        &sqlx::query("SELECT id FROM users WHERE username = 'farah'")
            .fetch_one(&mut conn)
            .await
            .unwrap(),
        0,
    );
    sqlx::query(
        "INSERT INTO api_tokens (id, token_hash, user_id, agency_id, created_at, expires_at, revoked_at) \
         VALUES ('expired-token', $1, $2, NULL, '2020-01-01T00:00:00.000000Z', '2020-01-02T00:00:00.000000Z', NULL)",
    )
    .bind(himaya_domain::audit::token_hash(secret))
    .bind(user_id)
    .execute(&mut conn)
    .await
    .unwrap();
    let r = t.send_as(secret, Method::GET, "/api/v1/areas", None, &[]).await;
    assert_eq!(r.body["code"], "token-expired");

    let r = t.send_as("hmy_madeup", Method::GET, "/api/v1/areas", None, &[]).await;
    assert_eq!(r.body["code"], "invalid-token");
    assert!(r.body.to_string().len() < 400);

    // The last administrator cannot be disabled or demoted.
    let last = t.app.set_user_disabled(&operator, "admin", true).await.unwrap_err();
    assert_eq!(last.code(), "last-administrator");
    let last = t
        .app
        .set_user_roles(&operator, "admin", &["auditor".into()], &[])
        .await
        .unwrap_err();
    assert_eq!(last.code(), "last-administrator");

    t.app.set_user_disabled(&operator, "farah", true).await.unwrap();
    let r = t.send_as(&token, Method::GET, "/api/v1/areas", None, &[]).await;
    assert_eq!(r.body["code"], "account-disabled");
}

/// Every key anywhere in a JSON document.
fn keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone());
                keys(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn an_agency_sees_only_its_field_set_in_every_response() {
    let t = spawn().await;
    let a = t.register(household("3520212345671")).await;
    let (hid, pid) = (id(&a), id(&a["members"][0]));
    let token = t
        .app
        .add_agency(
            &Actor::system("test"),
            NewAgency {
                name: "Taleem-Foundation".into(),
                scopes: vec![
                    "households.read".into(),
                    "persons.read".into(),
                    "households.write".into(),
                ],
                fields: vec![
                    "person.given_name".into(),
                    "person.date_of_birth".into(),
                    "person.school".into(),
                    "household.area".into(),
                    "household.attributes.rooms".into(),
                ],
                areas: vec![],
                rate_limit: 1_000,
                expires_days: 30,
            },
        )
        .await
        .unwrap()
        .secret;
    let allowed: BTreeSet<String> = [
        "id",
        "household_id",
        "version",
        "given_name",
        "native",
        "latin",
        "date_of_birth",
        "school",
        "area",
        "attributes",
        "rooms",
        "members",
        "items",
        "next_cursor",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let mut from_feed = plain_household();
    from_feed.as_object_mut().unwrap().remove("source");
    let responses = [
        t.send_as(&token, Method::GET, &format!("/api/v1/households/{hid}"), None, &[])
            .await,
        t.send_as(&token, Method::GET, &format!("/api/v1/persons/{pid}"), None, &[])
            .await,
        t.send_as(&token, Method::GET, "/api/v1/persons?name=muhammad", None, &[])
            .await,
        t.send_as(&token, Method::GET, "/api/v1/households", None, &[]).await,
        t.send_as(&token, Method::POST, "/api/v1/households", Some(from_feed), &[])
            .await,
    ];
    for r in &responses {
        assert!(r.status.is_success(), "{} {:#}", r.status, r.body);
        let mut seen = BTreeSet::new();
        keys(&r.body, &mut seen);
        let extra: Vec<&String> = seen.difference(&allowed).collect();
        assert!(extra.is_empty(), "fields outside the set: {extra:?} in {:#}", r.body);
        let text = r.body.to_string();
        for secret in ["3520212345671", "+923001234567", "House 12", "monthly_income", "Aslam"] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }
    assert_eq!(responses[0].body["attributes"], json!({"rooms": 2}));
    assert_eq!(responses[0].body["members"][0]["given_name"]["latin"], "Muhammad");

    // It cannot find people by what it may not see.
    for query in ["identifier=3520212345671", "phone=03001234567"] {
        let r = t
            .send_as(&token, Method::GET, &format!("/api/v1/persons?{query}"), None, &[])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{query}");
        assert_eq!(r.body["code"], "permission-denied");
    }

    // An agency that may read households but not people gets no members.
    let households_only = t
        .app
        .add_agency(
            &Actor::system("test"),
            NewAgency {
                name: "housing-survey".into(),
                scopes: vec!["households.read".into()],
                fields: vec!["household.area".into(), "person.given_name".into()],
                areas: vec![],
                rate_limit: 100,
                expires_days: 1,
            },
        )
        .await
        .unwrap()
        .secret;
    let r = t
        .send_as(
            &households_only,
            Method::GET,
            &format!("/api/v1/households/{hid}"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.body, json!({"id": hid, "version": 1, "area": "PK-PB-MUL-SDR"}));

    // What an agency registers is recorded as coming from its feed, and it cannot say otherwise.
    let created = t
        .get(&format!("/api/v1/households/{}/history", id(&responses[4].body)))
        .await;
    assert_eq!(created.body["items"][0]["source"], "agency_feed");
    assert_eq!(created.body["items"][0]["actor"], "agency:taleem-foundation");
    let mut claimed = plain_household();
    claimed["source"] = json!("field_survey");
    let r = t
        .send_as(&token, Method::POST, "/api/v1/households", Some(claimed), &[])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field_errors(), ["source=not-allowed"]);

    // No history (older versions would show other fields), no writes it was not given.
    let r = t
        .send_as(
            &token,
            Method::GET,
            &format!("/api/v1/households/{hid}/history"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .send_as(
            &token,
            Method::PATCH,
            &format!("/api/v1/persons/{pid}"),
            Some(json!({"changes": {}})),
            &[("if-match", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Its reads are on the audit trail under its name.
    let trail = t.get(&format!("/api/v1/audit?record={pid}")).await;
    assert!(
        trail.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "agency:taleem-foundation" && e["action"] == "person.read")
    );

    // Registering an agency checks every field, scope and area.
    let bad = t
        .app
        .add_agency(
            &Actor::system("test"),
            NewAgency {
                name: "x".into(),
                scopes: vec!["audit.read".into()],
                fields: vec!["household.attributes.salary".into()],
                areas: vec!["PK-XX".into()],
                rate_limit: 0,
                expires_days: 30,
            },
        )
        .await
        .unwrap_err();
    let himaya_app::AppError::Invalid(p) = bad else {
        panic!("{bad:?}")
    };
    let fields: Vec<&str> = p.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["name", "scope", "field", "area", "rate_limit"]);
    // A refused agency leaves nothing behind, even when only its token's expiry is wrong.
    let expiry = t
        .app
        .add_agency(
            &Actor::system("test"),
            NewAgency {
                name: "late-agency".into(),
                scopes: vec!["areas.read".into()],
                rate_limit: 10,
                expires_days: 0,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(expiry, himaya_app::AppError::Invalid(_)), "{expiry:?}");
    let names: Vec<String> = t
        .app
        .agencies(&Actor::system("test"))
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert!(!names.contains(&"late-agency".to_owned()), "{names:?}");
}

#[tokio::test]
async fn an_agency_is_rate_limited() {
    let t = spawn().await;
    let token = t
        .app
        .add_agency(
            &Actor::system("test"),
            NewAgency {
                name: "slow-agency".into(),
                scopes: vec!["areas.read".into()],
                fields: vec![],
                areas: vec![],
                rate_limit: 3,
                expires_days: 1,
            },
        )
        .await
        .unwrap()
        .secret;
    for _ in 0..3 {
        assert_eq!(
            t.send_as(&token, Method::GET, "/api/v1/areas", None, &[]).await.status,
            StatusCode::OK
        );
    }
    let r = t
        .bare
        .get(format!("{}/api/v1/areas", t.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    // Staff are not slowed by an agency's limit.
    assert_eq!(t.get("/api/v1/areas").await.status, StatusCode::OK);
}

#[tokio::test]
async fn area_scope_holds_on_search_fetch_and_change() {
    let t = spawn().await;
    let multan = t.register(household("3520212345671")).await;
    let mut karachi = household("4210112345673");
    karachi["household"]["area"] = json!("PK-SD-HYD-CTY");
    let hyderabad = t.register(karachi).await;
    let officer = t.user("officer.multan", &["district_officer"], &["PK-PB-MUL"]).await;

    // Search and list show only Multan.
    let r = t
        .send_as(&officer, Method::GET, "/api/v1/persons?limit=500", None, &[])
        .await;
    let households: BTreeSet<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["household_id"].as_str().unwrap())
        .collect();
    assert_eq!(households, BTreeSet::from([multan["id"].as_str().unwrap()]));
    let r = t
        .send_as(
            &officer,
            Method::GET,
            "/api/v1/persons?identifier=4210112345673",
            None,
            &[],
        )
        .await;
    assert_eq!(r.body["items"], json!([]), "an identifier elsewhere finds no one");
    let r = t.send_as(&officer, Method::GET, "/api/v1/households", None, &[]).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);

    // Direct fetch by id and every change elsewhere are refused.
    let elsewhere = id(&hyderabad);
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/households/{elsewhere}"), None),
        (
            Method::GET,
            format!("/api/v1/persons/{}", id(&hyderabad["members"][0])),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/households/{elsewhere}"),
            Some(json!({"changes": {"address": "x"}})),
        ),
    ] {
        let r = t.send_as(&officer, method, &path, body, &[("if-match", "1")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(r.body["code"], "outside-area");
    }
    // Nor may a household be moved out of the officer's areas, or registered outside them.
    let r = t
        .send_as(
            &officer,
            Method::POST,
            &format!("/api/v1/households/{}/move", id(&multan)),
            Some(json!({"changes": {"area": "PK-SD-HYD-CTY"}})),
            &[("if-match", "1")],
        )
        .await;
    assert_eq!(r.body["code"], "outside-area");
    let mut outside = plain_household();
    outside["household"]["area"] = json!("PK-SD-HYD-CTY");
    let r = t
        .send_as(&officer, Method::POST, "/api/v1/households", Some(outside), &[])
        .await;
    assert_eq!(r.body["code"], "outside-area");
    // Moving within the district is fine.
    let r = t
        .send_as(
            &officer,
            Method::POST,
            &format!("/api/v1/households/{}/move", id(&multan)),
            Some(json!({"changes": {"area": "PK-PB-MUL-SHJ"}})),
            &[("if-match", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        t.get(&format!("/api/v1/households/{elsewhere}")).await.body["version"],
        1
    );
}

#[tokio::test]
async fn reads_and_changes_are_audited_and_searchable_by_auditors() {
    let t = spawn().await;
    let before = chrono::Utc::now();
    let h = t.register(household("3520212345671")).await;
    let (hid, pid) = (id(&h), id(&h["members"][0]));
    let viewer = t.user("viewer", &["programme_officer"], &[]).await;
    t.send_as(&viewer, Method::GET, &format!("/api/v1/persons/{pid}"), None, &[])
        .await;
    t.send_as(
        &viewer,
        Method::GET,
        "/api/v1/persons?identifier=35202-1234567-1",
        None,
        &[],
    )
    .await;
    t.patch(
        &format!("/api/v1/households/{hid}"),
        "1",
        json!({"changes": {"address": "House 14"}}),
    )
    .await;

    let auditor = t.user("auditor", &["auditor"], &[]).await;
    let by_user = t
        .send_as(&auditor, Method::GET, "/api/v1/audit?actor=viewer", None, &[])
        .await;
    assert_eq!(by_user.status, StatusCode::OK);
    let items = by_user.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{:#}", by_user.body);
    assert_eq!(items[0]["action"], "person.search", "newest first");
    assert_eq!(items[0]["detail"]["identifier"], "35202-1234567-1");
    assert_eq!(items[0]["detail"]["results"], json!([pid]));
    assert_eq!(items[1]["action"], "person.read");
    assert_eq!(items[1]["record_id"], pid.as_str());

    // "Who saw this person?" finds the reads of the person, and the
    // searches and household reads that showed them.
    t.send_as(&viewer, Method::GET, &format!("/api/v1/households/{hid}"), None, &[])
        .await;
    let by_person = t
        .send_as(
            &auditor,
            Method::GET,
            &format!("/api/v1/audit?record={pid}&actor=viewer"),
            None,
            &[],
        )
        .await;
    let actions: Vec<&str> = by_person.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["household.read", "person.search", "person.read"],
        "{:#}",
        by_person.body
    );

    let by_record = t
        .send_as(
            &auditor,
            Method::GET,
            &format!("/api/v1/audit?record={hid}&actor=admin"),
            None,
            &[],
        )
        .await;
    let actions: Vec<&str> = by_record.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["household.update", "household.create"]);

    let from = (before - chrono::Duration::seconds(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let r = t.send_as(&auditor, Method::GET, "/api/v1/audit", None, &[]).await;
    assert!(r.body["items"].as_array().unwrap().len() >= 5);
    let window = t
        .send_as(
            &auditor,
            Method::GET,
            &format!("/api/v1/audit?from={from}&to=2000-01-01&limit=10"),
            None,
            &[],
        )
        .await
        .body;
    assert_eq!(window["items"], json!([]), "{window:#}");
    let bad = t
        .send_as(&auditor, Method::GET, "/api/v1/audit?from=yesterday", None, &[])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.field_errors(), ["from=invalid-time"]);

    // Paging walks back through the trail without gaps.
    let mut seen = Vec::new();
    let mut before_seq: Option<i64> = None;
    loop {
        let path = match before_seq {
            Some(b) => format!("/api/v1/audit?limit=2&before={b}"),
            None => "/api/v1/audit?limit=2".into(),
        };
        let page = t.send_as(&auditor, Method::GET, &path, None, &[]).await;
        for e in page.body["items"].as_array().unwrap() {
            seen.push(e["seq"].as_i64().unwrap());
        }
        match page.body["next_before"].as_i64() {
            Some(b) => before_seq = Some(b),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);
    assert!(seen.windows(2).all(|w| w[0] == w[1] + 1), "{seen:?}");
    assert_eq!(seen.last(), Some(&1));
}

#[tokio::test]
async fn audit_verify_finds_edited_forged_deleted_and_truncated_entries() {
    let t = spawn().await;
    let h = t.register(household("3520212345671")).await;
    for _ in 0..3 {
        t.get(&format!("/api/v1/households/{}", id(&h))).await;
    }
    let report = t.app.verify_audit().await.unwrap();
    assert!(report.broken.is_none(), "{report:?}");
    let entries = report.entries;
    assert!(entries >= 5, "{entries}");

    let mut conn = t.raw().await;
    // The table refuses changes through SQL…
    let refused = sqlx::query("UPDATE audit_log SET actor = 'someone else' WHERE seq = 3")
        .execute(&mut conn)
        .await;
    assert!(refused.is_err(), "the audit log is append-only");
    // …so an attacker with the database drops the guard first.
    let postgres = t.url.starts_with("postgres");
    let drop_guards = if postgres {
        "DROP TRIGGER audit_log_no_change ON audit_log"
    } else {
        "DROP TRIGGER audit_log_no_update"
    };
    sqlx::query(drop_guards).execute(&mut conn).await.unwrap();
    if !postgres {
        sqlx::query("DROP TRIGGER audit_log_no_delete")
            .execute(&mut conn)
            .await
            .unwrap();
    }

    sqlx::query("UPDATE audit_log SET actor = 'someone else' WHERE seq = 3")
        .execute(&mut conn)
        .await
        .unwrap();
    let report = t.app.verify_audit().await.unwrap();
    let (seq, why) = report.broken.expect("an edited entry is found");
    assert_eq!(seq, 3);
    assert!(why.contains("edited"), "{why}");
    assert_eq!(report.entries, 2);

    // Restore the edit by recomputing that one hash: the next link breaks instead.
    let row = sqlx::query("SELECT at, action, record_type, record_id, detail, prev_hash FROM audit_log WHERE seq = 3")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    use sqlx::Row;
    let (at, action, rt, rid, detail, prev): (String, String, Option<String>, Option<String>, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
    let forged = himaya_domain::audit::chain_hash(
        &prev,
        &himaya_domain::audit::EntryContent {
            seq: 3,
            at: &at,
            actor: "someone else",
            action: &action,
            record_type: rt.as_deref(),
            record_id: rid.as_deref(),
            detail: &detail,
        },
    );
    sqlx::query("UPDATE audit_log SET hash = $1 WHERE seq = 3")
        .bind(forged)
        .execute(&mut conn)
        .await
        .unwrap();
    let (seq, why) = t.app.verify_audit().await.unwrap().broken.unwrap();
    assert_eq!(seq, 4, "a forged hash breaks the next link");
    assert!(why.contains("link"), "{why}");

    // Deleting an entry leaves a gap.
    sqlx::query("DELETE FROM audit_log WHERE seq IN (3, 4)")
        .execute(&mut conn)
        .await
        .unwrap();
    let (seq, why) = t.app.verify_audit().await.unwrap().broken.unwrap();
    assert_eq!(seq, 5);
    assert!(why.contains("deleted"), "{why}");

    // Cutting entries off the end disagrees with the chain's head.
    sqlx::query("DELETE FROM audit_log WHERE seq >= 3")
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, why) = t.app.verify_audit().await.unwrap().broken.unwrap();
    assert!(why.contains("cut off the end"), "{why}");
}
