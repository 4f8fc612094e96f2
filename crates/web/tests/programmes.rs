//! Programmes over HTTP: rules checked when saved, versions, dry runs beside
//! simulated parameters, runs that decide and enrol, the enrolment
//! lifecycle, explanations in the family's language, and runs refused while
//! another is going.

mod common;

use common::{TestApp, household, programme_json, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// A household with every input of the Pakistani model: poor, or not.
async fn scored_household(t: &TestApp, cnic: &str, poor: bool) -> Value {
    let mut h = household(cnic);
    h["household"]["attributes"] = if poor {
        json!({"wall_material": "unbaked_brick_or_mud", "floor_material": "earth_or_sand", "toilet_type": "none",
               "cooking_fuel": "wood", "has_refrigerator": false, "has_television": false, "has_motorcycle": false,
               "has_car": false, "rooms": 1, "urban_rural": "rural"})
    } else {
        json!({"wall_material": "baked_brick_or_block", "floor_material": "tiles_or_marble",
               "toilet_type": "flush_to_sewer", "cooking_fuel": "natural_gas", "has_refrigerator": true,
               "has_television": true, "has_motorcycle": true, "has_car": true, "rooms": 6, "urban_rural": "urban"})
    };
    t.register(h).await
}

async fn put(t: &TestApp, code: &str, body: Value) -> common::Reply {
    t.send(Method::PUT, &format!("/api/v1/programmes/{code}"), Some(body), &[])
        .await
}

#[tokio::test]
async fn rules_are_checked_when_saved_and_versions_kept() {
    let t = spawn().await;
    let kafalat = programme_json("pk-kafalat");
    let r = put(&t, "pk-kafalat", kafalat.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["version"], 1);
    // The same definition again keeps its version.
    assert_eq!(put(&t, "pk-kafalat", kafalat.clone()).await.body["version"], 1);
    let mut wider = kafalat.clone();
    wider["parameters"]["pmt_threshold"] = json!(35.0);
    assert_eq!(put(&t, "pk-kafalat", wider).await.body["version"], 2);

    // Refused with the key, a code and the position; nothing saved.
    let mut bad = kafalat.clone();
    bad["eligibility"][0]["rule"] = json!("household.pmt_score <= ");
    bad["eligibility"][2]["rule"] = json!("household.attributes.has_boat");
    bad["benefit"] = json!("household.size / 0");
    let r = put(&t, "pk-kafalat", bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:#}", r.body);
    assert_eq!(
        r.field_errors(),
        [
            "eligibility[0].rule=rule-syntax",
            "eligibility[2].rule=rule-unknown-field",
            "benefit=rule-divides-by-zero"
        ]
    );
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 1, column 25:")
    );
    assert_eq!(t.get("/api/v1/programmes/pk-kafalat").await.body["version"], 2);

    // A code that does not match the path, an unknown field: refused.
    let r = put(&t, "pk-other", kafalat.clone()).await;
    assert_eq!(r.field_errors(), ["code=mismatch"]);
    let mut extra = kafalat;
    extra["eligibilty"] = json!([]);
    let r = put(&t, "pk-kafalat", extra).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:#}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("eligibilty"),
        "{:#}",
        r.body
    );
    let list = t.get("/api/v1/programmes").await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_run_decides_enrols_and_explains() {
    let t = spawn().await;
    assert_eq!(
        put(&t, "pk-kafalat", programme_json("pk-kafalat")).await.status,
        StatusCode::OK
    );
    let poor = scored_household(&t, "3520212345671", true).await;
    let rich = scored_household(&t, "3520212345682", false).await;
    // Missing inputs: not scored, so not decided, and named in the report.
    let unscored = t.register(household("3520212345693")).await;

    let dry = t
        .post(
            "/api/v1/programmes/pk-kafalat/runs",
            json!({"dry_run": true, "parameters": {"pmt_threshold": 100, "pmt_threshold_disability": 100}}),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{:#}", dry.body);
    let current = &dry.body["current"];
    assert_eq!(current["eligible"], 1, "{:#}", dry.body);
    assert_eq!(current["failed"], 1);
    assert_eq!(current["cost_per_cycle"], 1_350_000);
    assert_eq!(current["people_by_sex"], json!({"female": 1, "male": 1}));
    assert_eq!(current["error_examples"][0]["household_id"], id(&unscored));
    // The rich household has a car: excluded even at a threshold of 100.
    assert_eq!(dry.body["simulated"]["tally"]["eligible"], 1);
    assert_eq!(dry.body["run_id"], Value::Null);
    // A dry run wrote nothing.
    let e = t
        .get(&format!(
            "/api/v1/households/{}/programmes/pk-kafalat/eligibility",
            id(&poor)
        ))
        .await;
    assert_eq!(e.status, StatusCode::OK, "{:#}", e.body);
    assert_eq!(e.body["enrolment"], Value::Null);

    // Overrides belong to dry runs; unknown parameters and areas are named.
    let r = t
        .post(
            "/api/v1/programmes/pk-kafalat/runs",
            json!({"parameters": {"pmt_threshold": 40}}),
        )
        .await;
    assert_eq!(r.field_errors(), ["parameters=dry-run-only"]);
    let r = t
        .post(
            "/api/v1/programmes/pk-kafalat/runs",
            json!({"dry_run": true, "parameters": {"threshold": 40}}),
        )
        .await;
    assert_eq!(r.field_errors(), ["parameters.threshold=unknown"]);
    let r = t
        .post(
            "/api/v1/programmes/pk-kafalat/runs",
            json!({"dry_run": true, "area": "PK-XX"}),
        )
        .await;
    assert_eq!(r.field_errors(), ["area=unknown"]);

    let run = t
        .post("/api/v1/programmes/pk-kafalat/runs", json!({"enrol": true}))
        .await;
    assert_eq!(run.status, StatusCode::CREATED, "{:#}", run.body);
    assert_eq!(run.body["enrolled"], 1);
    assert!(run.body["run_id"].is_string());

    let path = format!("/api/v1/households/{}/programmes/pk-kafalat/eligibility", id(&poor));
    let e = t.get(&path).await;
    assert_eq!(e.body["decision"]["eligible"], true, "{:#}", e.body);
    assert_eq!(e.body["enrolment"]["status"], "enrolled");
    assert_eq!(e.body["enrolment"]["programme_version"], 1);
    assert_eq!(e.body["enrolment"]["recipient_id"], id(&poor["members"][1]));
    assert_eq!(e.body["history"][0]["to_status"], "enrolled");
    assert!(!e.body["pmt"]["contributions"].as_array().unwrap().is_empty());
    let clauses: Vec<&Value> = e.body["decision"]["clauses"].as_array().unwrap().iter().collect();
    assert_eq!(clauses.len(), 4);
    assert!(clauses.iter().all(|c| c["holds"] == true));

    // The rich household: told which clauses fail, in Urdu on paper.
    let letter = t
        .send(
            Method::GET,
            &format!(
                "/api/v1/households/{}/programmes/pk-kafalat/eligibility?lang=ur&format=text",
                id(&rich)
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(letter.status, StatusCode::OK);
    assert!(letter.content_type.starts_with("text/plain"));
    let text = letter.body.as_str().unwrap();
    assert!(text.contains("فیصلہ: اہل نہیں"), "{text}");
    assert!(text.contains("✗ کار، جیپ"), "{text}");
    let r = t.get(&format!("{path}?lang=fr")).await;
    assert_eq!(r.field_errors(), ["lang=unknown"]);

    // The SMS was queued in Urdu for the woman who receives the payment.
    let household_id = himaya_domain::household::HouseholdId(uuid::Uuid::parse_str(&id(&poor)).unwrap());
    let notes = t.app.store().household_notifications(household_id).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].0, "ur");
    assert!(notes[0].1.contains("13,500.00"), "{}", notes[0].1);

    // The lifecycle: a pause needs a reason; an illegal move is refused.
    let move_to = |to: &str, reason: Option<&str>| {
        let body = match reason {
            Some(r) => json!({"to": to, "reason": r}),
            None => json!({"to": to}),
        };
        let path = format!("/api/v1/programmes/pk-kafalat/enrolments/{}/transitions", id(&poor));
        let t = &t;
        async move { t.post(&path, body).await }
    };
    assert_eq!(move_to("paused", None).await.field_errors(), ["reason=invalid"]);
    let r = move_to("paused", Some("investigation")).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["status"], "paused");
    let r = move_to("eligible", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "illegal-transition");
    assert_eq!(move_to("exited", Some("duplicate")).await.body["status"], "exited");
    let r = move_to("enrolled", None).await;
    assert_eq!(r.body["code"], "illegal-transition", "{:#}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("exited is final"));
    let e = t.get(&path).await;
    let moves: Vec<String> = e.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{}>{}",
                h["from_status"].as_str().unwrap(),
                h["to_status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(moves, ["eligible>enrolled", "enrolled>paused", "paused>exited"]);

    // A second run leaves the exited household where it is.
    let run = t
        .post("/api/v1/programmes/pk-kafalat/runs", json!({"enrol": true}))
        .await;
    assert_eq!(run.body["enrolled"], 0, "{:#}", run.body);
    assert_eq!(t.get(&path).await.body["enrolment"]["status"], "exited");
}

#[tokio::test]
async fn a_run_is_refused_while_another_is_going() {
    let t = spawn().await;
    put(&t, "pk-kafalat", programme_json("pk-kafalat")).await;
    let now = chrono::Utc::now();
    let running = himaya_store::RunRow {
        id: uuid::Uuid::now_v7().to_string(),
        programme_code: "pk-kafalat".into(),
        programme_version: 1,
        area_code: None,
        actor: "someone".into(),
        status: "running".into(),
        started_at: now,
        finished_at: None,
        report: None,
    };
    let blocked = t
        .app
        .store()
        .start_run(&running, now + chrono::Duration::minutes(10))
        .await
        .unwrap();
    assert!(blocked.is_none());
    let r = t.post("/api/v1/programmes/pk-kafalat/runs", json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:#}", r.body);
    assert_eq!(r.body["code"], "run-in-progress");
    // Dry runs write nothing and are not held up.
    let r = t
        .post("/api/v1/programmes/pk-kafalat/runs", json!({"dry_run": true}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);

    // A run whose process died (its lease ran out) no longer blocks.
    let mut stale = running.clone();
    stale.id = uuid::Uuid::now_v7().to_string();
    stale.programme_code = "pk-other".into();
    t.app
        .store()
        .start_run(&stale, now - chrono::Duration::minutes(1))
        .await
        .unwrap();
    let mut next = stale.clone();
    next.id = uuid::Uuid::now_v7().to_string();
    assert!(
        t.app
            .store()
            .start_run(&next, now + chrono::Duration::minutes(10))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn programmes_for_people_decide_each_member() {
    let t = spawn().await;
    put(&t, "pk-kafalat", programme_json("pk-kafalat")).await;
    let r = put(&t, "pk-nashonuma", programme_json("pk-nashonuma")).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let h = scored_household(&t, "3520212345671", true).await;
    let baby = json!({"person": {"given_name": {"latin": "Zara"}, "sex": "female",
                     "date_of_birth": (chrono::Utc::now().date_naive() - chrono::Duration::days(200)).to_string(),
                     "relationship": "child"}});
    let r = t
        .post_if(&format!("/api/v1/households/{}/members", id(&h)), "\"1\"", baby)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let zara = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["given_name"]["latin"] == "Zara")
        .map(id)
        .unwrap();
    // Before the family is in Kafalat, no one is eligible for Nashonuma.
    let dry = t
        .post("/api/v1/programmes/pk-nashonuma/runs", json!({"dry_run": true}))
        .await;
    assert_eq!(dry.body["units"], 3, "{:#}", dry.body);
    assert_eq!(dry.body["current"]["eligible"], 0);
    t.post("/api/v1/programmes/pk-kafalat/runs", json!({"enrol": true}))
        .await;
    let run = t
        .post("/api/v1/programmes/pk-nashonuma/runs", json!({"enrol": true}))
        .await;
    assert_eq!(run.body["current"]["eligible"], 1, "{:#}", run.body);
    assert_eq!(run.body["enrolled"], 1);
    let e = t
        .get(&format!(
            "/api/v1/households/{}/programmes/pk-nashonuma/eligibility?person={zara}",
            id(&h)
        ))
        .await;
    assert_eq!(e.status, StatusCode::OK, "{:#}", e.body);
    assert_eq!(e.body["decision"]["amount"], 350_000);
    // The girl's benefit goes to her mother.
    assert_eq!(e.body["decision"]["recipient"], id(&h["members"][1]));
    let r = t
        .get(&format!(
            "/api/v1/households/{}/programmes/pk-nashonuma/eligibility",
            id(&h)
        ))
        .await;
    assert_eq!(r.field_errors(), ["person=required"]);
}

#[tokio::test]
async fn compliance_is_checked_recorded_and_read_by_conditions() {
    let t = spawn().await;
    put(&t, "pk-kafalat", programme_json("pk-kafalat")).await;
    let r = put(&t, "pk-taleemi-wazaif", programme_json("pk-taleemi-wazaif")).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let h = scored_household(&t, "3520212345671", true).await;
    let child = json!({"person": {"given_name": {"latin": "Bilal"}, "sex": "male", "date_of_birth": "2017-02-01",
                      "relationship": "child", "school": {"level": "primary"},
                      "identifiers": [{"type": "birth_registration", "value": "3520212345699"}]}});
    let r = t
        .post_if(&format!("/api/v1/households/{}/members", id(&h)), "\"1\"", child)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let bilal = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["given_name"]["latin"] == "Bilal")
        .map(id)
        .unwrap();
    t.post("/api/v1/programmes/pk-kafalat/runs", json!({"enrol": true}))
        .await;

    // Every fault is named, and nothing is written.
    let r = t
        .post(
            "/api/v1/compliance",
            json!({"records": [
                {"person_id": bilal, "kind": "school_attendance", "period": "2026-Q2", "value": 64},
                {"person_id": bilal, "kind": "attendance", "period": "2026-Q5", "value": 101},
                {"person_id": "0190f0f0-0000-7000-8000-000000000000", "kind": "health_visits", "period": "2026-Q1", "value": 1.5}
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:#}", r.body);
    assert_eq!(
        r.field_errors(),
        [
            "records[1].kind=unknown",
            "records[1].period=invalid",
            "records[2].value=out-of-range",
            "records[2].person_id=unknown"
        ]
    );
    let path = format!(
        "/api/v1/households/{}/programmes/pk-taleemi-wazaif/eligibility?person={bilal}",
        id(&h)
    );
    let e = t.get(&path).await;
    assert_eq!(e.status, StatusCode::OK, "{:#}", e.body);
    assert_eq!(e.body["decision"]["eligible"], true, "{:#}", e.body);
    assert_eq!(e.body["decision"]["amount"], 250_000);
    assert_eq!(e.body["decision"]["conditions"][0]["holds"], false);

    let r = t
        .post(
            "/api/v1/compliance",
            json!({"source": "", "records": [
                {"person_id": bilal, "kind": "school_attendance", "period": "2026-Q2", "value": 64}]}),
        )
        .await;
    assert_eq!(r.field_errors(), ["source=invalid"]);
    // 64 % in the second quarter, then 85 % in the third: the latest counts.
    for (period, value) in [("2026-Q2", 64), ("2026-Q3", 85)] {
        let r = t
            .post(
                "/api/v1/compliance",
                json!({"source": "school_census", "records": [
                    {"person_id": bilal, "kind": "school_attendance", "period": period, "value": value}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
        assert_eq!(r.body["recorded"], 1);
    }
    let e = t.get(&path).await;
    assert_eq!(e.body["decision"]["conditions"][0]["holds"], true, "{:#}", e.body);
    let dry = t
        .post("/api/v1/programmes/pk-taleemi-wazaif/runs", json!({"dry_run": true}))
        .await;
    assert_eq!(dry.body["current"]["eligible"], 1, "{:#}", dry.body);
    assert_eq!(dry.body["current"]["meeting_conditions"], 1);
}

#[tokio::test]
async fn pages_of_an_area_hold_each_of_its_households_once() {
    let t = spawn().await;
    let mut expected = std::collections::BTreeSet::new();
    for (i, area) in ["PK-PB-MUL-SDR", "PK-PB-MUL-SHJ", "PK-PB-MUL-JPW", "PK-SD-HYD"]
        .iter()
        .cycle()
        .take(22)
        .enumerate()
    {
        let mut h = household(&format!("35202{:07}1", 1_000_000 + i));
        h["household"]["area"] = json!(area);
        h["members"][0]["identifiers"] = json!([]);
        let body = t.register(h).await;
        if area.starts_with("PK-PB-MUL") {
            expected.insert(id(&body));
        }
    }
    for area in [Some("PK-PB-MUL"), None] {
        let mut seen = Vec::new();
        for u in &every_unit(&t, area, 4).await {
            let members: Vec<Value> = serde_json::from_str(&u.member_facts).unwrap();
            assert_eq!(members.len(), 2, "each household comes with its members");
            seen.push(u.id.to_string());
        }
        let unique: std::collections::BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "no household twice");
        match area {
            Some(_) => assert_eq!(unique, expected),
            None => assert_eq!(unique.len(), 22),
        }
    }
}

#[tokio::test]
async fn enrolment_respects_the_quota_and_exclusive_programmes() {
    let t = spawn().await;
    let mut kafalat = programme_json("pk-kafalat");
    kafalat["quota"] = json!(1);
    assert_eq!(put(&t, "pk-kafalat", kafalat.clone()).await.status, StatusCode::OK);
    // Another programme for the same families that excludes Kafalat's.
    let mut other = kafalat.clone();
    other["code"] = json!("pk-other");
    other["quota"] = json!(10);
    other["exclusive_with"] = json!(["pk-kafalat"]);
    assert_eq!(put(&t, "pk-other", other).await.status, StatusCode::OK);
    let a = scored_household(&t, "3520212345671", true).await;
    let b = scored_household(&t, "3520212345682", true).await;

    // pk-other decides both eligible but enrols no one yet.
    let r = t.post("/api/v1/programmes/pk-other/runs", json!({})).await;
    assert_eq!(r.body["current"]["eligible"], 2, "{:#}", r.body);
    // Kafalat's quota of one: one enrolled, poorest first; the other waits.
    let r = t
        .post("/api/v1/programmes/pk-kafalat/runs", json!({"enrol": true}))
        .await;
    assert_eq!(r.body["current"]["eligible"], 2, "{:#}", r.body);
    assert_eq!(r.body["current"]["within_limits"], 1);
    assert_eq!(r.body["enrolled"], 1);
    let enrolled = |h: &Value| {
        let path = format!("/api/v1/households/{}/programmes/pk-kafalat/eligibility", id(h));
        let t = &t;
        async move {
            t.get(&path).await.body["enrolment"]["status"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (inside, waiting) = if enrolled(&a).await == "enrolled" {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert_eq!(enrolled(waiting).await, "eligible");
    let r = t
        .post(
            &format!("/api/v1/programmes/pk-kafalat/enrolments/{}/transitions", id(waiting)),
            json!({"to": "enrolled"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:#}", r.body);
    assert_eq!(r.body["code"], "quota-reached");

    // The household now in Kafalat cannot be enrolled in pk-other, though
    // pk-other decided it eligible before; the other one can.
    let r = t
        .post(
            &format!("/api/v1/programmes/pk-other/enrolments/{}/transitions", id(inside)),
            json!({"to": "enrolled"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:#}", r.body);
    assert_eq!(r.body["code"], "excluded-programme");
    let r = t
        .post(
            &format!("/api/v1/programmes/pk-other/enrolments/{}/transitions", id(waiting)),
            json!({"to": "enrolled"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["status"], "enrolled");

    // A decision made under an older version is not enrolled by hand.
    let mut v2 = kafalat;
    v2["quota"] = json!(5);
    assert_eq!(put(&t, "pk-kafalat", v2).await.body["version"], 2);
    let r = t
        .post(
            &format!("/api/v1/programmes/pk-kafalat/enrolments/{}/transitions", id(waiting)),
            json!({"to": "enrolled"}),
        )
        .await;
    assert_eq!(r.body["code"], "stale-decision", "{:#}", r.body);
}

#[tokio::test]
async fn households_whose_data_is_too_old_are_listed_for_resurvey_in_scope() {
    let t = spawn().await;
    put(&t, "pk-kafalat", programme_json("pk-kafalat")).await;
    let multan = scored_household(&t, "3520212345671", true).await;
    let mut h = household("4210112345673");
    h["household"]["attributes"] = json!({"wall_material": "unbaked_brick_or_mud", "floor_material": "earth_or_sand",
        "toilet_type": "none", "cooking_fuel": "wood", "has_refrigerator": false, "has_television": false,
        "has_motorcycle": false, "has_car": false, "rooms": 1, "urban_rural": "rural"});
    h["household"]["area"] = json!("PK-SD-HYD");
    t.register(h).await;
    let r = t
        .post("/api/v1/programmes/pk-kafalat/runs", json!({"enrol": true}))
        .await;
    assert_eq!(r.body["enrolled"], 2, "{:#}", r.body);
    // Fresh data: nothing is due.
    let due = t.get("/api/v1/programmes/pk-kafalat/recertification").await;
    assert_eq!(due.body["items"], json!([]), "{:#}", due.body);
    // Kafalat recertifies after 36 months: both surveyed four years ago.
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&t.url).await.unwrap();
        sqlx::query("UPDATE households SET updated_at = '2022-01-01T00:00:00.000000Z'")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let due = t.get("/api/v1/programmes/pk-kafalat/recertification").await;
    let ids: Vec<&str> = due.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["household_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{:#}", due.body);
    // A district officer in Multan sees only Multan's.
    let officer = t.user("officer.multan", &["district_officer"], &["PK-PB-MUL"]).await;
    let r = t
        .send_as(
            &officer,
            Method::GET,
            "/api/v1/programmes/pk-kafalat/recertification",
            None,
            &[],
        )
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{:#}", r.body);
    assert_eq!(r.body["items"][0]["household_id"], id(&multan));
}

#[tokio::test]
async fn registration_order_enrols_the_earliest_registered_first() {
    let t = spawn().await;
    let mut kafalat = programme_json("pk-kafalat");
    kafalat["quota"] = json!(1);
    kafalat["priority"] = json!("registration_order");
    assert_eq!(put(&t, "pk-kafalat", kafalat).await.status, StatusCode::OK);
    let first = scored_household(&t, "3520212345671", true).await;
    let second = scored_household(&t, "3520212345682", true).await;
    let r = t
        .post("/api/v1/programmes/pk-kafalat/runs", json!({"enrol": true}))
        .await;
    assert_eq!(r.body["enrolled"], 1, "{:#}", r.body);
    let status = |h: &Value| {
        let path = format!("/api/v1/households/{}/programmes/pk-kafalat/eligibility", id(h));
        let t = &t;
        async move { t.get(&path).await.body["enrolment"]["status"].clone() }
    };
    assert_eq!(status(&first).await, "enrolled");
    assert_eq!(status(&second).await, "eligible");
}

/// Every unit targeting reads in `area` (or everywhere), paging by `limit`.
async fn every_unit(t: &TestApp, area: Option<&str>, limit: u32) -> Vec<himaya_store::TargetingUnit> {
    let (mut units, mut after) = (Vec::new(), None::<himaya_store::TargetingCursor>);
    loop {
        let page = t
            .app
            .store()
            .targeting_page(himaya_store::AttributesRead::Yes, area, after.as_ref(), limit)
            .await
            .unwrap();
        let Some(last) = page.last() else { return units };
        after = Some(himaya_store::TargetingCursor {
            area_code: last.area_code.clone(),
            id: last.id,
        });
        units.extend(page);
    }
}

/// Every active household's stored rule facts are what its current records say.
async fn assert_rule_facts_current(t: &TestApp) {
    for u in &every_unit(t, None, 100).await {
        let household = t.app.store().household(u.id).await.unwrap().unwrap();
        let attributes: Value = serde_json::from_str(&u.attributes).unwrap();
        assert_eq!(attributes, json!(household.record.attributes), "attributes of {}", u.id);
        let expected: Vec<(String, himaya_domain::programme::PersonFacts)> = t
            .app
            .store()
            .household_members(u.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.record.is_active())
            .map(|p| (p.id.to_string(), himaya_domain::programme::PersonFacts::of(&p.record)))
            .collect();
        let stored: Vec<(String, himaya_domain::programme::PersonFacts)> =
            serde_json::from_str(&u.member_facts).unwrap();
        assert_eq!(stored, expected, "member facts of {}", u.id);
    }
}

#[tokio::test]
async fn rule_facts_follow_every_change_to_a_household_and_its_members() {
    let t = spawn().await;
    let a = t.register(household("35202-1234567-1")).await;
    let b = t.register(household("35202-7654321-3")).await;
    let (a_id, b_id) = (id(&a), id(&b));
    let wife = a["members"][1]["id"].as_str().unwrap().to_owned();
    let b_wife = b["members"][1]["id"].as_str().unwrap().to_owned();
    assert_rule_facts_current(&t).await;

    let r = t
        .patch(
            &format!("/api/v1/persons/{wife}"),
            "1",
            json!({"changes": {"maternal_status": "pregnant", "disability": {"walking": "cannot_do_at_all"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let r = t
        .patch(
            &format!("/api/v1/households/{a_id}"),
            "1",
            json!({"changes": {"attributes": {"rooms": 5, "urban_rural": "rural"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_rule_facts_current(&t).await;
    let page = t
        .app
        .store()
        .targeting_page(himaya_store::AttributesRead::Yes, None, None, 10)
        .await
        .unwrap();
    let stored = page.iter().find(|u| u.id.to_string() == a_id).unwrap();
    assert!(stored.member_facts.contains("\"pregnant\""), "{}", stored.member_facts);
    assert!(
        stored.member_facts.contains("\"disability\":true"),
        "{}",
        stored.member_facts
    );

    // She moves to the other household; that household's wife dies.
    let r = t
        .post_if(
            &format!("/api/v1/persons/{wife}/transfer"),
            "2",
            json!({"to_household": b_id, "relationship": "other_relative"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let r = t
        .patch(
            &format!("/api/v1/persons/{b_wife}"),
            "1",
            json!({"changes": {"status": "deceased", "status_date": "2025-01-10"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_rule_facts_current(&t).await;
    let page = t
        .app
        .store()
        .targeting_page(himaya_store::AttributesRead::Yes, None, None, 10)
        .await
        .unwrap();
    let count = |hid: &str| {
        let u = page.iter().find(|u| u.id.to_string() == hid).unwrap();
        serde_json::from_str::<Vec<Value>>(&u.member_facts).unwrap().len()
    };
    assert_eq!((count(&a_id), count(&b_id)), (1, 2));
}
