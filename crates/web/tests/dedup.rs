//! Deduplication in the registry over real HTTP: a run finds a seeded
//! duplicate, decisions are remembered, a merge moves what refers to the
//! merged record, intake warns, and agencies match their lists.

mod common;

use common::{TestApp, household, spawn};
use himaya_app::{Actor, NewAgency};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// The seeded duplicate of the test household's head: the same man
/// registered again in Lahore, without his CNIC, his date of birth a month
/// off and his name written only in Urdu script.
fn duplicate_household() -> Value {
    json!({
        "household": {"area": "PK-PB-LHR-CTY", "address": "Mohalla 3", "attributes": {"rooms": 1, "urban_rural": "urban", "has_electricity": false}},
        "members": [
            {
                "given_name": {"native": "محمد"},
                "family_name": {"native": "اسلم"},
                "father_name": {"latin": "Rashid"},
                "sex": "male",
                "date_of_birth": "1980-04-14",
                "relationship": "head",
                "phone": "0300 1234567"
            }
        ]
    })
}

/// A registry of synthetic households with the seeded pair in it.
async fn registry_with_duplicate(t: &TestApp) -> (Value, Value) {
    t.register_population_with_duplicates().await;
    let a = t.register(household("3520212345671")).await;
    let b = t.register(duplicate_household()).await;
    (a, b)
}

/// A matched row as the test agency's field set shows it: the name, not the
/// CNIC or phone; the household's Kafalat, not the person's Nashonuma.
fn within_the_field_set(row: &Value) {
    let shown: Vec<&String> = row["person"].as_object().unwrap().keys().collect();
    assert!(
        shown
            .iter()
            .all(|k| ["id", "household_id", "given_name"].contains(&k.as_str())),
        "{shown:?}"
    );
    assert_eq!(
        row["programmes"],
        json!([{"programme": "pk-kafalat", "status": "enrolled", "beneficiary": "household"}])
    );
}

async fn run(t: &TestApp, body: Value) -> Value {
    let r = t.post("/api/v1/dedup/runs", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    r.body
}

/// The stored pair of two people, whatever its status.
async fn pair_of(t: &TestApp, x: &str, y: &str, status: &str) -> Option<Value> {
    let r = t.get(&format!("/api/v1/dedup/pairs?status={status}&limit=500")).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            let (l, r) = (id(&p["left"]), id(&p["right"]));
            (l == x && r == y) || (l == y && r == x)
        })
        .cloned()
}

async fn raw(t: &TestApp) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&t.url).await.unwrap()
}

#[tokio::test]
async fn a_run_finds_the_seeded_duplicate_and_a_rejected_pair_is_not_proposed_again() {
    let t = spawn().await;
    let (a, b) = registry_with_duplicate(&t).await;
    let (head, dup) = (id(&a["members"][0]), id(&b["members"][0]));

    let first = run(&t, json!({})).await;
    assert!(first["persons"].as_i64().unwrap() > 300, "{first:#}");
    assert!(first["pairs_new"].as_i64().unwrap() >= 1, "{first:#}");
    let pair = pair_of(&t, &head, &dup, "pending")
        .await
        .expect("the seeded duplicate is in the queue");
    assert!(pair["probability"].as_f64().unwrap() >= 0.8, "{pair:#}");
    // Both records side by side, with the evidence per comparison.
    assert_eq!(pair["left"]["id"].as_str().unwrap().len(), 36);
    let evidence: Vec<(String, String)> = pair["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["comparison"].as_str().unwrap().into(),
                e["level"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(evidence.contains(&("phone".into(), "exact".into())), "{evidence:?}");
    assert!(
        evidence.contains(&("father_name".into(), "exact".into())),
        "{evidence:?}"
    );
    assert!(
        evidence.contains(&("national_id".into(), "null".into())),
        "{evidence:?}"
    );

    // Filtered by area: the pair has one side in Lahore.
    let lahore = t.get("/api/v1/dedup/pairs?area=PK-PB-LHR").await;
    assert!(
        lahore.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == pair["id"])
    );
    let karachi = t.get("/api/v1/dedup/pairs?area=PK-SD-HYD").await;
    assert_eq!(karachi.status, StatusCode::OK, "{:#}", karachi.body);
    assert!(
        !karachi.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == pair["id"])
    );

    // A decision with a bad value changes nothing and names the field.
    let path = format!("/api/v1/dedup/pairs/{}/decision", id(&pair));
    let bad = t.post(&path, json!({"decision": "maybe"})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.field_errors(), ["decision=not-allowed"]);
    assert_eq!(
        t.get(&format!("/api/v1/dedup/pairs/{}", id(&pair))).await.body["status"],
        "pending"
    );

    let decided = t
        .post(
            &path,
            json!({"decision": "different_people", "reason": "father and son"}),
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK, "{:#}", decided.body);
    assert_eq!(decided.body["status"], "different_people");
    assert_eq!(decided.body["decided_by"], "admin");
    let again = t.post(&path, json!({"decision": "same_person"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["code"], "pair-decided");

    // A later run finds the pair again but does not propose it.
    let second = run(&t, json!({})).await;
    assert!(second["pairs_decided"].as_i64().unwrap() >= 1, "{second:#}");
    assert!(pair_of(&t, &head, &dup, "pending").await.is_none());
    let kept = pair_of(&t, &head, &dup, "different_people").await.unwrap();
    assert_eq!(kept["id"], pair["id"]);

    // The decision is in the audit trail.
    let audit = t.get("/api/v1/audit?action=dedup.decide").await;
    assert_eq!(audit.status, StatusCode::OK, "{:#}", audit.body);
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 1, "{:#}", audit.body);

    // Bad input to a run: a specific error, and no run.
    let r = t.post("/api/v1/dedup/runs", json!({"area": "PK-XX"})).await;
    assert_eq!(r.field_errors(), ["area=area-unknown"]);
    let r = t.post("/api/v1/dedup/runs", json!({"threshold": 1.5})).await;
    assert_eq!(r.field_errors(), ["threshold=out-of-range"]);
    let r = t.post("/api/v1/dedup/runs", json!({"areas": "PK-PB"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_merge_moves_identifiers_enrolments_and_accounts_and_keeps_both_histories() {
    let t = spawn().await;
    let (a, b) = registry_with_duplicate(&t).await;
    let (head, dup) = (id(&a["members"][0]), id(&b["members"][0]));
    run(&t, json!({})).await;
    let pair = pair_of(&t, &head, &dup, "pending").await.unwrap();

    // The duplicate has an enrolment of its own, an account and a compliance record.
    let mut db = raw(&t).await;
    for (programme, beneficiary) in [
        ("pk-taleemi-wazaif", &dup),
        ("pk-nashonuma", &dup),
        ("pk-nashonuma", &head),
    ] {
        sqlx::query(
            "INSERT INTO enrolments (programme_code, beneficiary_id, household_id, area_code, status, \
             programme_version, decided_at, changed_at) VALUES ($1, $2, 'h', 'PK-PB-LHR-CTY', 'enrolled', 1, \
             '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
        )
        .bind(programme)
        .bind(beneficiary.as_str())
        .execute(&mut db)
        .await
        .unwrap();
    }
    // Entitlements: the duplicate's own in two cycles (the survivor has one
    // in the first already), and as recipient of a payment not yet issued
    // in an open cycle and of one in a closed cycle, which stays history.
    for (cycle, status) in [("c-open", "computed"), ("c-closed", "closed")] {
        sqlx::query(
            "INSERT INTO cycles (id, programme_code, period, plan, currency, status, version, opened_by, opened_at, \
             changed_at) VALUES ($1, 'pk-nashonuma', $1, '{}', 'PKR', $2, 1, 'x', '2026-01-01T00:00:00.000000Z', \
             '2026-01-01T00:00:00.000000Z')",
        )
        .bind(cycle)
        .bind(status)
        .execute(&mut db)
        .await
        .unwrap();
    }
    for (entitlement, cycle, beneficiary, recipient) in [
        ("e1", "c-open", &dup, &dup),
        ("e2", "c-open", &head, &head),
        ("e3", "c-closed", &dup, &dup),
        ("e4", "c-open", &"h-other".to_owned(), &dup),
        ("e5", "c-closed", &"h-other".to_owned(), &dup),
    ] {
        sqlx::query(
            "INSERT INTO entitlements (id, cycle_id, programme_code, beneficiary_id, household_id, recipient_id, \
             area_code, status, formula_amount, arrears, amount, facts, attempt, changed_at) VALUES ($1, $2, \
             'pk-nashonuma', $3, 'h', $4, 'PK-PB-LHR-CTY', 'computed', 100, 0, 100, '{}', 1, \
             '2026-01-01T00:00:00.000000Z')",
        )
        .bind(entitlement)
        .bind(cycle)
        .bind(beneficiary.as_str())
        .bind(recipient.as_str())
        .execute(&mut db)
        .await
        .unwrap();
    }
    let account = t
        .post(
            &format!("/api/v1/persons/{dup}/accounts"),
            json!({"kind": "mobile_wallet", "provider": "jazzcash", "msisdn": "03001234567"}),
        )
        .await;
    assert_eq!(account.status, StatusCode::CREATED, "{:#}", account.body);

    // A survivor outside the pair is refused, and nothing changes.
    let path = format!("/api/v1/dedup/pairs/{}/merge", id(&pair));
    let bad = t.post(&path, json!({"survivor": id(&a["members"][1])})).await;
    assert_eq!(bad.field_errors(), ["survivor=not-allowed"]);
    assert_eq!(t.get(&format!("/api/v1/persons/{dup}")).await.body["status"], "active");

    let merged = t
        .post(&path, json!({"survivor": head, "reason": "registered twice"}))
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{:#}", merged.body);
    let m = &merged.body;
    assert_eq!(m["pair"]["status"], "merged");
    assert_eq!(m["pair"]["survivor"], head.as_str());
    assert_eq!(m["merged"]["status"], "merged");
    assert_eq!(m["merged"]["status_reason"], format!("merged into {head}"));
    // The survivor keeps its CNIC; the programmes it lacked moved, the one it had stayed.
    assert_eq!(m["survivor"]["identifiers"][0]["value"], "3520212345671");
    assert_eq!(m["moved"]["enrolments"], 1, "{m:#}");
    assert_eq!(m["moved"]["enrolments_kept"], 1, "{m:#}");
    assert_eq!(m["moved"]["accounts"], 1, "{m:#}");
    // e3 moved; e1 stayed, as the survivor is already owed in that cycle;
    // e1 and e4 (open cycle, not issued) now pay the survivor.
    assert_eq!(m["moved"]["entitlements"], 1, "{m:#}");
    assert_eq!(m["moved"]["entitlements_kept"], 1, "{m:#}");
    assert_eq!(m["moved"]["recipient_of"], 2, "{m:#}");
    let entitlements: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, beneficiary_id, recipient_id FROM entitlements ORDER BY id")
            .fetch_all(&mut db)
            .await
            .unwrap();
    let (h, d, o) = (head.as_str(), dup.as_str(), "h-other");
    let expected: Vec<(String, String, String)> =
        [("e1", d, h), ("e2", h, h), ("e3", h, d), ("e4", o, h), ("e5", o, d)]
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
    assert_eq!(entitlements, expected);

    let enrolments: Vec<(String, String)> = sqlx::query_as(
        "SELECT programme_code, beneficiary_id FROM enrolments WHERE beneficiary_id IN ($1, $2) ORDER BY 1, 2",
    )
    .bind(head.as_str())
    .bind(dup.as_str())
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut expected = vec![
        ("pk-nashonuma".to_owned(), head.clone()),
        ("pk-nashonuma".to_owned(), dup.clone()),
        ("pk-taleemi-wazaif".to_owned(), head.clone()),
    ];
    expected.sort();
    assert_eq!(enrolments, expected);
    let accounts = t.get(&format!("/api/v1/persons/{head}/accounts")).await;
    assert_eq!(
        accounts.body["items"].as_array().map_or(0, Vec::len),
        1,
        "{:#}",
        accounts.body
    );

    // Both histories remain readable; the merged record is not deleted.
    let dup_history = t.get(&format!("/api/v1/persons/{dup}/history")).await;
    let versions = dup_history.body["items"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions.last().unwrap()["change"], "merge");
    let head_history = t.get(&format!("/api/v1/persons/{head}/history")).await;
    assert!(!head_history.body["items"].as_array().unwrap().is_empty());
    // The household left with no active member ended; the survivor's phone stayed.
    let hb = t.get(&format!("/api/v1/households/{}", id(&b))).await;
    assert_eq!(hb.body["status"], "inactive");

    // The merged record cannot be merged or edited back to life.
    let again = t.post(&path, json!({"survivor": head})).await;
    assert_eq!(again.body["code"], "pair-decided");
    let next = run(&t, json!({})).await;
    assert!(pair_of(&t, &head, &dup, "pending").await.is_none(), "{next:#}");
    let audit = t.get("/api/v1/audit?action=dedup.merge").await;
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 1, "{:#}", audit.body);
}

#[tokio::test]
async fn intake_warns_of_a_near_duplicate_before_saving() {
    let t = spawn().await;
    registry_with_duplicate(&t).await;
    let newcomer = json!({"person": {
        "given_name": {"latin": "Muhammad"}, "family_name": {"latin": "Aslam"}, "father_name": {"latin": "Rashid"},
        "sex": "male", "date_of_birth": "1980", "birth_date_estimated": true, "relationship": "head",
        "phone": "03001234567"
    }, "area": "PK-PB-MUL-SDR"});

    // Before any run there is no model: nothing is compared, and the answer says so.
    let before = t.post("/api/v1/dedup/check", newcomer.clone()).await;
    assert_eq!(before.status, StatusCode::OK, "{:#}", before.body);
    assert_eq!(before.body["checked"], false);

    run(&t, json!({})).await;
    let r = t.post("/api/v1/dedup/check", newcomer.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["checked"], true);
    let matches = r.body["matches"].as_array().unwrap();
    assert!(!matches.is_empty(), "{:#}", r.body);
    assert_eq!(matches[0]["person"]["given_name"]["latin"], "Muhammad");
    assert!(matches[0]["probability"].as_f64().unwrap() >= 0.8);

    // Someone else entirely: no warning.
    let other = t
        .post(
            "/api/v1/dedup/check",
            json!({"person": {"given_name": {"latin": "Zarmeena"}, "family_name": {"latin": "Khattak"},
                              "sex": "female", "date_of_birth": "2001-11-02", "relationship": "head"}}),
        )
        .await;
    assert_eq!(other.body["matches"], json!([]), "{:#}", other.body);

    // Bad input names its field.
    let bad = t
        .post(
            "/api/v1/dedup/check",
            json!({"person": {"given_name": {"latin": "Ali"}, "sex": "x", "relationship": "head"}, "area": "nowhere"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = bad.field_errors();
    assert!(errors.contains(&"person.sex=not-allowed".to_owned()), "{errors:?}");
    assert!(errors.contains(&"area=area-unknown".to_owned()), "{errors:?}");
}

#[tokio::test]
async fn an_agency_matches_its_list_and_sees_only_its_programmes() {
    let t = spawn().await;
    let (a, _) = registry_with_duplicate(&t).await;
    let head = id(&a["members"][0]);
    run(&t, json!({})).await;
    let mut db = raw(&t).await;
    for programme in ["pk-kafalat", "pk-nashonuma"] {
        sqlx::query(
            "INSERT INTO enrolments (programme_code, beneficiary_id, household_id, area_code, status, \
             programme_version, decided_at, changed_at) VALUES ($1, $2, $3, 'PK-PB-MUL-SDR', 'enrolled', 1, \
             '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
        )
        .bind(programme)
        .bind(if programme == "pk-kafalat" {
            id(&a)
        } else {
            head.clone()
        })
        .bind(id(&a))
        .execute(&mut db)
        .await
        .unwrap();
    }
    let agency = |name: &str, scopes: &[&str], fields: &[&str]| NewAgency {
        name: name.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        fields: fields.iter().map(|s| s.to_string()).collect(),
        areas: vec![],
        rate_limit: 10_000,
        expires_days: 1,
    };
    let system = Actor::system("test");
    let nraf = t
        .app
        .add_agency(
            &system,
            agency(
                "jo-nraf",
                &["persons.match"],
                &["person.given_name", "programme.pk-kafalat"],
            ),
        )
        .await
        .unwrap()
        .secret;
    let reader = t
        .app
        .add_agency(&system, agency("reader", &["persons.read"], &["person.given_name"]))
        .await
        .unwrap()
        .secret;

    let body = json!({"rows": [
        {"ref": "A-1", "given_name": "Mohammad", "family_name": "Aslam", "father_name": "Rashid", "date_of_birth": "14/03/1980",
         "sex": "male", "national_id": "35202-1234567-1"},
        {"ref": "A-2", "given_name": "Zarmeena", "family_name": "Khattak", "date_of_birth": "2001-11-02"}
    ]});
    let r = t
        .send_as(&nraf, Method::POST, "/api/v1/matches", Some(body.clone()), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let rows = r.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["ref"], "A-1");
    assert_eq!(rows[0]["person_id"], head.as_str(), "{:#}", r.body);
    assert!(rows[0]["probability"].as_f64().unwrap() >= 0.8);
    within_the_field_set(&rows[0]);
    assert_eq!(rows[1]["person_id"], Value::Null);
    assert_eq!(r.body["matched"], 1);

    // Staff see every programme.
    let staff = t.post("/api/v1/matches", body.clone()).await;
    assert_eq!(
        staff.body["rows"][0]["programmes"].as_array().unwrap().len(),
        2,
        "{:#}",
        staff.body
    );

    // An agency without the scope is refused.
    let denied = t
        .send_as(&reader, Method::POST, "/api/v1/matches", Some(body), &[])
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.body["code"], "permission-denied");
    let denied = t.send_as(&nraf, Method::GET, "/api/v1/dedup/pairs", None, &[]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);

    // Bad rows are named; more than 100,000 are refused before any work.
    let bad = t
        .send_as(
            &nraf,
            Method::POST,
            "/api/v1/matches",
            Some(
                json!({"rows": [{"given_name": "Ali"}, {"given_name": "Omar", "date_of_birth": "31/31/1990"},
                                 {"sex": "male"}]}),
            ),
            &[],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{:#}", bad.body);
    assert_eq!(
        bad.field_errors(),
        ["rows[1].date_of_birth=date-format", "rows[2].given_name=required"]
    );
    let many: Vec<Value> = (0..100_001).map(|_| json!({"given_name": "A"})).collect();
    let too_many = t
        .send_as(
            &nraf,
            Method::POST,
            "/api/v1/matches",
            Some(json!({ "rows": many })),
            &[],
        )
        .await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY, "{:#}", too_many.body);
    assert_eq!(too_many.field_errors(), ["rows=too-many"]);
}

#[tokio::test]
async fn roles_without_dedup_permissions_are_refused() {
    let t = spawn().await;
    let officer = t.user("pay.officer", &["payment_officer"], &[]).await;
    let district = t.user("district.mul", &["district_officer"], &["PK-PB-MUL"]).await;
    let r = t.send_as(&officer, Method::GET, "/api/v1/dedup/pairs", None, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A district officer reviews but does not merge.
    let r = t
        .send_as(&district, Method::GET, "/api/v1/dedup/pairs", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let r = t
        .send_as(
            &district,
            Method::POST,
            "/api/v1/dedup/pairs/0190f0f0-0000-7000-8000-000000000000/merge",
            Some(json!({"survivor": "0190f0f0-0000-7000-8000-000000000000"})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["code"], "permission-denied");
    // A run outside the officer's district is refused.
    let r = t
        .send_as(
            &district,
            Method::POST,
            "/api/v1/dedup/runs",
            Some(json!({"area": "PK-PB-LHR"})),
            &[],
        )
        .await;
    assert_eq!(r.body["code"], "outside-area");
}

/// Polls a match job until it is done, as `token` (the administrator's if none).
async fn wait_done(t: &TestApp, location: &str, token: Option<&str>) -> Value {
    for _ in 0..600 {
        let r = match token {
            Some(k) => t.send_as(k, Method::GET, location, None, &[]).await,
            None => t.get(location).await,
        };
        assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
        match r.body["status"].as_str().unwrap() {
            "queued" | "running" => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            "done" => return r.body,
            other => panic!("the job ended {other}: {:#}", r.body),
        }
    }
    panic!("the job did not finish within a minute");
}

/// Every result row of a done job, read `limit` rows a page.
async fn job_results(t: &TestApp, location: &str, token: Option<&str>, limit: u32) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let path = match after {
            Some(a) => format!("{location}/results?limit={limit}&after={a}"),
            None => format!("{location}/results?limit={limit}"),
        };
        let r = match token {
            Some(k) => t.send_as(k, Method::GET, &path, None, &[]).await,
            None => t.get(&path).await,
        };
        assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
        let page = r.body["rows"].as_array().unwrap();
        assert!(page.len() <= limit as usize);
        rows.extend(page.iter().cloned());
        match r.body["next_after"].as_u64() {
            Some(a) => after = Some(a),
            None => return rows,
        }
    }
}

/// An agency's list: the seeded head (matched), someone unknown, and a
/// spread of the registry's own people written as an agency would.
async fn agency_list(t: &TestApp) -> Value {
    let persons = t.get("/api/v1/persons?limit=40").await;
    assert_eq!(persons.status, StatusCode::OK, "{:#}", persons.body);
    let mut rows = vec![
        json!({"ref": "A-1", "given_name": "Mohammad", "family_name": "Aslam", "father_name": "Rashid",
               "date_of_birth": "14/03/1980", "sex": "male", "national_id": "35202-1234567-1"}),
        json!({"ref": "A-2", "given_name": "Zarmeena", "family_name": "Khattak", "date_of_birth": "2001-11-02"}),
    ];
    for (i, p) in persons.body["items"].as_array().unwrap().iter().enumerate() {
        let name = |k: &str| p[k]["latin"].as_str().or(p[k]["native"].as_str()).map(str::to_owned);
        rows.push(
            json!({"ref": format!("R-{i}"), "given_name": name("given_name"), "family_name": name("family_name"),
                         "date_of_birth": p["date_of_birth"], "sex": p["sex"]}),
        );
    }
    json!({ "rows": rows })
}

async fn enrol(t: &TestApp, programme: &str, beneficiary: &str, household: &str) {
    let mut db = raw(t).await;
    sqlx::query(
        "INSERT INTO enrolments (programme_code, beneficiary_id, household_id, area_code, status, \
         programme_version, decided_at, changed_at) VALUES ($1, $2, $3, 'PK-PB-MUL-SDR', 'enrolled', 1, \
         '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
    )
    .bind(programme)
    .bind(beneficiary)
    .bind(household)
    .execute(&mut db)
    .await
    .unwrap();
}

fn agency(name: &str, scopes: &[&str], fields: &[&str]) -> NewAgency {
    NewAgency {
        name: name.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        fields: fields.iter().map(|s| s.to_string()).collect(),
        areas: vec![],
        rate_limit: 10_000,
        expires_days: 1,
    }
}

#[tokio::test]
async fn a_match_job_answers_as_the_synchronous_route_and_only_to_its_agency() {
    let t = spawn().await;
    let (a, _) = registry_with_duplicate(&t).await;
    let head = id(&a["members"][0]);
    run(&t, json!({})).await;
    enrol(&t, "pk-kafalat", &id(&a), &id(&a)).await;
    enrol(&t, "pk-nashonuma", &head, &id(&a)).await;
    let system = Actor::system("test");
    let fields = ["person.given_name", "programme.pk-kafalat"];
    let nraf = t
        .app
        .add_agency(&system, agency("jo-nraf", &["persons.match"], &fields))
        .await
        .unwrap()
        .secret;
    let rotated = t.app.create_agency_token(&system, "jo-nraf", 1).await.unwrap().secret;
    let other = t
        .app
        .add_agency(&system, agency("other", &["persons.match"], &["person.given_name"]))
        .await
        .unwrap()
        .secret;
    let body = agency_list(&t).await;
    let n = body["rows"].as_array().unwrap().len();

    let submitted = t
        .send_as(&nraf, Method::POST, "/api/v1/matches/jobs", Some(body.clone()), &[])
        .await;
    assert_eq!(submitted.status, StatusCode::ACCEPTED, "{:#}", submitted.body);
    assert_eq!(submitted.body["status"], "queued");
    assert_eq!(submitted.body["rows"], n);
    assert!(submitted.body["created_at"].is_string());
    let location = submitted.location.clone().unwrap();
    assert_eq!(location, format!("/api/v1/matches/jobs/{}", id(&submitted.body)));

    let done = wait_done(&t, &location, Some(&nraf)).await;
    assert!(
        done["started_at"].is_string() && done["finished_at"].is_string(),
        "{done:#}"
    );
    assert_eq!(done["created_at"], submitted.body["created_at"]);
    let job_rows = job_results(&t, &location, Some(&nraf), 7).await;
    assert_eq!(job_rows.len(), n);

    // The same rows, answered by the synchronous route, are the same answer.
    let sync = t
        .send_as(&nraf, Method::POST, "/api/v1/matches", Some(body.clone()), &[])
        .await;
    assert_eq!(sync.status, StatusCode::OK, "{:#}", sync.body);
    assert_eq!(Value::Array(job_rows.clone()), sync.body["rows"]);
    assert_eq!(done["matched"], sync.body["matched"]);
    assert!(done["matched"].as_u64().unwrap() >= 2, "{done:#}");

    assert_eq!(job_rows[0]["person_id"], head.as_str());
    within_the_field_set(&job_rows[0]);
    assert_eq!(job_rows[1]["person_id"], Value::Null);

    // Another token of the same agency sees the job; another agency and staff do not.
    let same = t.send_as(&rotated, Method::GET, &location, None, &[]).await;
    assert_eq!(same.status, StatusCode::OK, "{:#}", same.body);
    for path in [location.clone(), format!("{location}/results")] {
        let r = t.send_as(&other, Method::GET, &path, None, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {:#}", r.body);
        let r = t.get(&path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {:#}", r.body);
    }

    // Reading the results is audited with the people it revealed.
    let audit = t
        .get(&format!("/api/v1/audit?action=persons.match_job.results&record={head}"))
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{:#}", audit.body);
    let entries = audit.body["items"].as_array().unwrap();
    assert!(!entries.is_empty(), "{:#}", audit.body);
    assert!(
        entries.iter().all(|e| e["actor"] == "agency:jo-nraf"),
        "{:#}",
        audit.body
    );

    // A bad page is named.
    let bad = t
        .send_as(&nraf, Method::GET, &format!("{location}/results?limit=0"), None, &[])
        .await;
    assert_eq!(bad.field_errors(), ["limit=out-of-range"]);
}

#[tokio::test]
async fn a_match_job_with_a_bad_row_is_refused_and_nothing_is_queued() {
    let t = spawn().await;
    let bad = t
        .post(
            "/api/v1/matches/jobs",
            json!({"rows": [{"given_name": "Ali"}, {"given_name": "Omar", "date_of_birth": "31/31/1990"},
                             {"sex": "male"}, {"given_name": "Sana", "area": "PK-XX"}]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{:#}", bad.body);
    assert_eq!(
        bad.field_errors(),
        [
            "rows[1].date_of_birth=date-format",
            "rows[2].given_name=required",
            "rows[3].area=area-unknown"
        ]
    );
    let r = t
        .post("/api/v1/matches/jobs", json!({"rows": [], "threshold": 0.9}))
        .await;
    assert_eq!(r.field_errors(), ["rows=required"]);
    let r = t
        .post(
            "/api/v1/matches/jobs",
            json!({"rows": [{"given_name": "Ali"}], "threshold": 0}),
        )
        .await;
    assert_eq!(r.field_errors(), ["threshold=out-of-range"]);
    // More than a million rows: refused before any row is looked at.
    let many = format!(
        "{{\"rows\": [{}]}}",
        vec!["{\"given_name\":\"A\"}"; himaya_app::MAX_MATCH_JOB_ROWS + 1].join(",")
    );
    let r = t
        .client
        .post(format!("{}/api/v1/matches/jobs", t.base))
        .header("content-type", "application/json")
        .body(many)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "rows", "{problem:#}");
    assert_eq!(problem["errors"][0]["code"], "too-many", "{problem:#}");
    // A body over the synchronous route's own limit is told that limit.
    let r = t
        .post(
            "/api/v1/matches",
            json!({"rows": [{"given_name": "A".repeat(32 * 1024 * 1024)}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["detail"], "the limit is 32 MiB", "{:#}", r.body);

    let mut db = raw(&t).await;
    let (jobs, rows): (i64, i64) =
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM match_jobs), (SELECT COUNT(*) FROM match_job_rows)")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!((jobs, rows), (0, 0));
}

#[tokio::test]
async fn a_match_job_left_running_by_a_stopped_server_completes_after_a_restart() {
    let t = common::spawn_idle(himaya_domain::Country::Pk).await;
    let (a, _) = registry_with_duplicate(&t).await;
    run(&t, json!({})).await;
    let body = agency_list(&t).await;
    let n = body["rows"].as_array().unwrap().len() as i64;
    let submitted = t.post("/api/v1/matches/jobs", body.clone()).await;
    assert_eq!(submitted.status, StatusCode::ACCEPTED, "{:#}", submitted.body);
    let location = submitted.location.clone().unwrap();
    let job = id(&submitted.body);
    // No worker runs on this server: the job waits.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(t.get(&location).await.body["status"], "queued");
    let early = t.get(&format!("{location}/results")).await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert_eq!(early.body["code"], "job-not-done");

    // The server "stopped" halfway through: the job is running, with a wrong
    // result for its first row written.
    let mut db = raw(&t).await;
    sqlx::query("UPDATE match_jobs SET status = 'running', started_at = '2026-01-01T00:00:00.000000Z' WHERE id = $1")
        .bind(job.as_str())
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO match_job_results (job_id, row_no, person_id, probability) VALUES ($1, 0, $2, 0.5), ($1, 1, $2, 0.5)",
    )
    .bind(job.as_str())
    .bind(id(&a["members"][1]))
    .execute(&mut db)
    .await
    .unwrap();

    let after = t.restart(himaya_domain::Country::Pk).await;
    let done = wait_done(&after, &location, None).await;
    let rows = job_results(&after, &location, None, 1_000).await;
    let sync = after.post("/api/v1/matches", body).await;
    assert_eq!(sync.status, StatusCode::OK, "{:#}", sync.body);
    assert_eq!(Value::Array(rows), sync.body["rows"]);
    assert_eq!(done["matched"], sync.body["matched"]);
    // One result per row: the rerun replaced what the stopped run wrote.
    let (results, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT row_no) FROM match_job_results WHERE job_id = $1")
            .bind(job.as_str())
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!((results, distinct), (n, n));
}
