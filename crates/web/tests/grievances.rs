//! Grievances over the API, against a real server and database: recorded,
//! read (audited), settled and reopened by the lifecycle's table; bad input
//! named field by field and changing nothing; area scopes and roles.

mod common;

use common::{household, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn complaint(household_id: &str) -> Value {
    json!({"household_id": household_id, "category": "payment", "channel": "in_person",
           "complainant": "شازیہ بی بی", "phone": "۰۳۰۰۱۲۳۴۵۶۷",
           "description": "The Kafalat payment of the last quarter did not arrive."})
}

#[tokio::test]
async fn a_grievance_is_recorded_read_settled_and_reopened() {
    let t = spawn().await;
    let h = t.register(household("3520212345671")).await;
    let r = t.post("/api/v1/grievances", complaint(&id(&h))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let g = r.body;
    let gid = id(&g);
    assert_eq!(r.location.unwrap(), format!("/api/v1/grievances/{gid}"));
    assert_eq!(g["status"], "open");
    assert_eq!(g["area_code"], "PK-PB-MUL-SDR", "the household's area");
    assert_eq!(g["phone"], "+923001234567", "any digits, stored in E.164");
    assert_eq!(g["events"].as_array().unwrap().len(), 1);

    // Someone the registry does not hold: the area where it was received.
    let r = t
        .post(
            "/api/v1/grievances",
            json!({"area": "PK-SD-HYD", "category": "eligibility", "channel": "phone",
                   "complainant": "Rashida", "description": "Left out of the survey"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(r.body["household_id"], Value::Null);

    let open = t.get("/api/v1/grievances").await;
    assert_eq!(open.status, StatusCode::OK, "{:#}", open.body);
    assert_eq!(open.body["total"], 2);
    let mine = t.get(&format!("/api/v1/grievances?household_id={}", id(&h))).await;
    assert_eq!(mine.body["total"], 1);
    assert_eq!(mine.body["grievances"][0]["id"], gid.as_str());

    let step = |to: &str, note: &str| json!({"to": to, "note": note});
    let path = format!("/api/v1/grievances/{gid}/transitions");
    let r = t
        .post(&path, step("resolved", "Paid in the retry batch of 12 November"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["status"], "resolved");
    assert_eq!(r.body["resolution"], "Paid in the retry batch of 12 November");
    assert_eq!(t.get("/api/v1/grievances").await.body["total"], 1, "one still open");
    assert_eq!(t.get("/api/v1/grievances?status=resolved").await.body["total"], 1);
    assert_eq!(t.get("/api/v1/grievances?status=all").await.body["total"], 2);

    // The table decides: a resolved grievance is not dismissed, only reopened.
    let r = t.post(&path, step("dismissed", "changed my mind")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:#}", r.body);
    assert_eq!(r.body["code"], "illegal-transition");
    let r = t.post(&path, step("open", "She came back: the amount was short")).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["status"], "open");
    assert_eq!(r.body["resolution"], Value::Null);
    let events: Vec<&str> = r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["open", "resolved", "open"]);

    let read = t.get(&format!("/api/v1/grievances/{gid}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["events"][1]["note"], "Paid in the retry batch of 12 November");
    assert_eq!(
        t.get("/api/v1/grievances/0190f0f0-0000-7000-8000-000000000000")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/api/v1/grievances/not-an-id").await.status,
        StatusCode::NOT_FOUND
    );

    // Every read and every change is in the audit trail.
    let audit = t.get(&format!("/api/v1/audit?record={gid}")).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "grievance.record",
        "grievance.resolve",
        "grievance.reopen",
        "grievance.read",
        "grievance.list",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn a_bad_grievance_is_refused_naming_each_field_and_records_nothing() {
    let t = spawn().await;
    let h = id(&t.register(household("3520212345671")).await);
    let r = t.post("/api/v1/grievances", json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:#}", r.body);
    assert_eq!(
        r.field_errors(),
        [
            "area=required",
            "category=required",
            "channel=required",
            "complainant=required",
            "description=required"
        ]
    );
    let long = "x".repeat(2_001);
    let cases = [
        (json!({"category": "food"}), "category=not-allowed"),
        (json!({"channel": "pigeon"}), "channel=not-allowed"),
        (json!({"phone": "12"}), "phone=phone-invalid"),
        (json!({"household_id": "nope"}), "household_id=invalid"),
        (
            json!({"household_id": "0190f0f0-0000-7000-8000-000000000000"}),
            "household_id=household-unknown",
        ),
        (json!({"area": "PK-SD-HYD"}), "area=not-allowed"),
        (json!({"description": long}), "description=too-long"),
        (json!({"complainant": "Shazia\u{0}"}), "complainant=invalid-character"),
    ];
    for (change, expected) in cases {
        let mut body = complaint(&h);
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = t.post("/api/v1/grievances", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{expected}: {:#}", r.body);
        assert_eq!(r.field_errors(), [expected], "{:#}", r.body);
    }
    let mut no_area = complaint(&h);
    no_area.as_object_mut().unwrap().remove("household_id");
    no_area["area"] = json!("PK-XX");
    let r = t.post("/api/v1/grievances", no_area).await;
    assert_eq!(r.field_errors(), ["area=area-unknown"]);
    let mut unknown = complaint(&h);
    unknown["priority"] = json!("high");
    let r = t.post("/api/v1/grievances", unknown).await;
    assert!(r.status.is_client_error(), "{:#}", r.body);
    assert_eq!(
        t.get("/api/v1/grievances?status=all").await.body["total"],
        0,
        "nothing recorded"
    );

    let g = id(&t.post("/api/v1/grievances", complaint(&h)).await.body);
    let path = format!("/api/v1/grievances/{g}/transitions");
    let r = t.post(&path, json!({"to": "resolved"})).await;
    assert_eq!(r.field_errors(), ["note=required"]);
    let r = t.post(&path, json!({"to": "closed", "note": "done"})).await;
    assert_eq!(r.field_errors(), ["to=not-allowed"]);
    for bad in [
        "status=closed",
        "limit=0",
        "limit=201",
        "area=PK-XX",
        "household_id=nope",
    ] {
        let r = t.get(&format!("/api/v1/grievances?{bad}")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {:#}", r.body);
    }
    let r = t.get(&format!("/api/v1/grievances/{g}")).await;
    assert_eq!(r.body["status"], "open", "a refused move changes nothing");
    assert_eq!(r.body["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn grievances_stay_within_the_officers_areas_and_roles() {
    let t = spawn().await;
    let h = id(&t.register(household("3520212345671")).await);
    let multan = t.user("officer.multan", &["district_officer"], &["PK-PB-MUL"]).await;
    let hyderabad = t
        .user("officer.hyderabad", &["grievance_officer"], &["PK-SD-HYD"])
        .await;
    let payer = t.user("payer", &["payment_officer"], &[]).await;
    let caseworker = t.user("caseworker", &["case_worker"], &[]).await;

    let r = t
        .send_as(&multan, Method::POST, "/api/v1/grievances", Some(complaint(&h)), &[])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let g = id(&r.body);
    let r = t
        .send_as(&hyderabad, Method::POST, "/api/v1/grievances", Some(complaint(&h)), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:#}", r.body);
    assert_eq!(r.body["code"], "outside-area");
    // Refused before its body is checked: nothing said of the household's area.
    let r = t
        .send_as(
            &hyderabad,
            Method::POST,
            "/api/v1/grievances",
            Some(json!({"household_id": h, "area": "PK-SD-HYD"})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:#}", r.body);
    assert!(!r.body.to_string().contains("PK-PB-MUL-SDR"), "{:#}", r.body);
    let r = t
        .send_as(&hyderabad, Method::GET, &format!("/api/v1/grievances/{g}"), None, &[])
        .await;
    assert_eq!(r.body["code"], "outside-area");
    let r = t
        .send_as(&hyderabad, Method::GET, "/api/v1/grievances?status=all", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["total"], 0, "another district's grievances are not listed");
    let r = t
        .send_as(&hyderabad, Method::GET, "/api/v1/grievances?area=PK-PB-MUL", None, &[])
        .await;
    assert_eq!(r.body["code"], "outside-area");
    let step = json!({"to": "dismissed", "note": "not founded"});
    let path = format!("/api/v1/grievances/{g}/transitions");
    let r = t
        .send_as(&hyderabad, Method::POST, &path, Some(step.clone()), &[])
        .await;
    assert_eq!(r.body["code"], "outside-area");
    let r = t.send_as(&payer, Method::GET, "/api/v1/grievances", None, &[]).await;
    assert_eq!(r.body["code"], "permission-denied");
    // A case worker reads them and changes none.
    let r = t
        .send_as(&caseworker, Method::GET, &format!("/api/v1/grievances/{g}"), None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t
        .send_as(&caseworker, Method::POST, &path, Some(step.clone()), &[])
        .await;
    assert_eq!(r.body["code"], "permission-denied");
    assert_eq!(t.get(&format!("/api/v1/grievances/{g}")).await.body["status"], "open");
}

#[tokio::test]
async fn two_officers_settling_one_grievance_at_once_make_one_move() {
    let t = spawn().await;
    let h = id(&t.register(household("3520212345671")).await);
    let g = id(&t.post("/api/v1/grievances", complaint(&h)).await.body);
    let path = format!("/api/v1/grievances/{g}/transitions");
    let send = |to: &str, who: &str| {
        t.send(
            Method::POST,
            &path,
            Some(json!({"to": to, "note": format!("settled by {who}")})),
            &[],
        )
    };
    let (a, b, c, d) = tokio::join!(
        send("resolved", "one"),
        send("dismissed", "two"),
        send("resolved", "three"),
        send("dismissed", "four")
    );
    let replies = [a, b, c, d];
    let ok = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(ok, 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!(r.status, StatusCode::CONFLICT, "{:#}", r.body);
    }
    let events = t.get(&format!("/api/v1/grievances/{g}")).await.body["events"].clone();
    assert_eq!(events.as_array().unwrap().len(), 2, "{events:#}");
}

#[tokio::test]
async fn a_households_grievances_move_with_it_to_its_new_district() {
    let t = spawn().await;
    let h = id(&t.register(household("3520212345671")).await);
    let multan = t.user("officer.multan", &["grievance_officer"], &["PK-PB-MUL"]).await;
    let lahore = t.user("officer.lahore", &["grievance_officer"], &["PK-PB-LHR"]).await;
    let g = id(&t.post("/api/v1/grievances", complaint(&h)).await.body);
    let r = t
        .post_if(
            &format!("/api/v1/households/{h}/move"),
            "1",
            json!({"changes": {"area": "PK-PB-LHR-CTY", "address": "Flat 3"}, "reason": "work"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let r = t
        .send_as(&lahore, Method::GET, &format!("/api/v1/grievances/{g}"), None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["area_code"], "PK-PB-LHR-CTY");
    let listed = t.send_as(&lahore, Method::GET, "/api/v1/grievances", None, &[]).await;
    assert_eq!(listed.body["total"], 1, "{:#}", listed.body);
    let r = t
        .send_as(&multan, Method::GET, &format!("/api/v1/grievances/{g}"), None, &[])
        .await;
    assert_eq!(r.body["code"], "outside-area", "{:#}", r.body);
    let listed = t.send_as(&multan, Method::GET, "/api/v1/grievances", None, &[]).await;
    assert_eq!(listed.body["total"], 0, "{:#}", listed.body);
}

#[tokio::test]
async fn a_complaint_and_a_note_keep_their_lines() {
    let t = spawn().await;
    let h = id(&t.register(household("3520212345671")).await);
    let mut body = complaint(&h);
    body["description"] = json!("The payment did not arrive.\r\n\tThe agent asked for a fee.");
    let r = t.post("/api/v1/grievances", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(
        r.body["description"],
        "The payment did not arrive.\n\tThe agent asked for a fee."
    );
    let path = format!("/api/v1/grievances/{}/transitions", id(&r.body));
    let r = t
        .post(
            &path,
            json!({"to": "resolved", "note": "Paid again.\nThe agent was warned."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["resolution"], "Paid again.\nThe agent was warned.");
    // Other control characters are still refused.
    let mut body = complaint(&h);
    body["description"] = json!("bell\u{7}");
    let r = t.post("/api/v1/grievances", body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:#}", r.body);
    assert_eq!(r.field_errors(), ["description=invalid-character"], "{:#}", r.body);
}

#[tokio::test]
async fn a_move_made_on_what_someone_has_since_changed_is_refused() {
    let t = spawn().await;
    let h = id(&t.register(household("3520212345671")).await);
    let g = id(&t.post("/api/v1/grievances", complaint(&h)).await.body);
    let path = format!("/api/v1/grievances/{g}/transitions");
    let step = |to: &str, seen: usize| json!({"to": to, "note": format!("to {to}"), "seen": seen});
    let r = t.post(&path, step("resolved", 0)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:#}", r.body);
    assert_eq!(r.field_errors(), ["seen=invalid"], "{:#}", r.body);
    let r = t.post(&path, step("resolved", 1)).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let r = t.post(&path, step("open", 2)).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    // Open again, as the officer saw it two moves ago: refused all the same.
    let r = t.post(&path, step("dismissed", 1)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:#}", r.body);
    assert_eq!(r.body["code"], "grievance-changed");
    let now = t.get(&format!("/api/v1/grievances/{g}")).await.body;
    assert_eq!(now["status"], "open");
    assert_eq!(now["events"].as_array().unwrap().len(), 3);
    let r = t.post(&path, step("dismissed", 3)).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["status"], "dismissed");
}
