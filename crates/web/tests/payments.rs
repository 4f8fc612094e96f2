//! Payments over HTTP: accounts, funding lines, a cycle from opening to
//! closing with maker and checker, payment files checked against the ISO
//! 20022 schema and written the same twice, status files applied once,
//! failed payments issued again, arrears carried to a later cycle, and
//! concurrent approvals and issues that pay no one twice.

mod common;

use common::{TestApp, household, spawn};
use himaya_payfiles::simulate::{Pain002Version, ReportFacts, ReportedPayment, write_status_report};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// A poor household whose wife receives Kafalat.
fn poor_household(cnic: &str) -> Value {
    let mut h = household(cnic);
    h["household"]["attributes"] = json!({"wall_material": "unbaked_brick_or_mud", "floor_material": "earth_or_sand",
        "toilet_type": "none", "cooking_fuel": "wood", "has_refrigerator": false, "has_television": false,
        "has_motorcycle": false, "has_car": false, "rooms": 1, "urban_rural": "rural"});
    h
}

struct Setup {
    t: TestApp,
    maker: String,
    checker: String,
    /// The women who receive the payments, by household.
    recipients: Vec<String>,
}

/// Five enrolled Kafalat households; the first four recipients have a
/// JazzCash wallet, the fifth has none; a treasury line of `allocated`.
async fn setup(allocated: i64) -> Setup {
    let t = spawn().await;
    let mut recipients = Vec::new();
    for i in 0..5 {
        let h = t.register(poor_household(&format!("3520212345{:02}1", 10 + i))).await;
        recipients.push(id(&h["members"][1]));
    }
    t.save_programme("pk-kafalat").await;
    let r = t
        .post("/api/v1/programmes/pk-kafalat/runs", json!({"enrol": true}))
        .await;
    assert_eq!(r.body["enrolled"], 5, "{:#}", r.body);
    for (i, p) in recipients.iter().take(4).enumerate() {
        let r = t
            .post(
                &format!("/api/v1/persons/{p}/accounts"),
                json!({"kind": "mobile_wallet", "provider": "jazzcash", "msisdn": format!("0300 12345{i:02}"), "verified": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
        assert_eq!(r.body["primary"], true);
    }
    let r = t
        .send(
            Method::PUT,
            "/api/v1/funding-lines/treasury",
            Some(json!({"name": "Treasury FY2026", "allocated": allocated})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let maker = t.user("maker", &["payment_officer"], &[]).await;
    let checker = t.user("checker", &["approver"], &[]).await;
    Setup {
        t,
        maker,
        checker,
        recipients,
    }
}

impl Setup {
    async fn as_maker(&self, method: Method, path: &str, body: Option<Value>) -> common::Reply {
        self.t.send_as(&self.maker, method, path, body, &[]).await
    }

    async fn as_checker(&self, method: Method, path: &str, body: Option<Value>) -> common::Reply {
        self.t.send_as(&self.checker, method, path, body, &[]).await
    }

    async fn open(&self, period: &str, plan: Value) -> String {
        let r = self
            .as_maker(
                Method::POST,
                "/api/v1/cycles",
                Some(json!({"programme": "pk-kafalat", "period": period, "plan": plan})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
        id(&r.body)
    }

    async fn step(&self, cycle: &str, step: &str, body: Option<Value>) -> common::Reply {
        let path = format!("/api/v1/cycles/{cycle}/{step}");
        if matches!(step, "approve" | "reject") {
            self.as_checker(Method::POST, &path, body).await
        } else {
            self.as_maker(Method::POST, &path, body).await
        }
    }

    /// Opens, computes, submits and approves a cycle.
    async fn approved(&self, period: &str, plan: Value) -> String {
        let c = self.open(period, plan).await;
        for s in ["compute", "submit", "approve"] {
            let r = self.step(&c, s, None).await;
            assert_eq!(r.status, StatusCode::OK, "{s}: {:#}", r.body);
        }
        c
    }

    /// Uploads a status file as the maker.
    async fn reconcile(&self, cycle: &str, bytes: Vec<u8>, provider: Option<&str>) -> (StatusCode, Value) {
        let mut url = format!("{}/api/v1/cycles/{cycle}/reconciliations?file_name=status", self.t.base);
        if let Some(p) = provider {
            url.push_str(&format!("&provider={p}"));
        }
        let r = self
            .t
            .bare
            .post(url)
            .header("authorization", format!("Bearer {}", self.maker))
            .header("content-type", "application/xml")
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn file(&self, cycle: &str, batch: &str) -> (String, String) {
        let r = self
            .t
            .bare
            .get(format!("{}/api/v1/cycles/{cycle}/batches/{batch}/file", self.t.base))
            .header("authorization", format!("Bearer {}", self.maker))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        (etag, r.text().await.unwrap())
    }

    async fn totals(&self, cycle: &str) -> Value {
        self.as_maker(Method::GET, &format!("/api/v1/cycles/{cycle}"), None)
            .await
            .body["totals"]
            .clone()
    }
}

/// `xmllint --noout --schema` on a file, against a schema of ../shared/specs.
fn validates(xml: &str, schema: &str) {
    let xsd = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../../shared/specs/iso20022/{schema}"));
    let have = std::process::Command::new("xmllint").arg("--version").output().is_ok() && xsd.exists();
    if !have {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must validate payment files: install libxml2-utils and put shared/specs beside the repository"
        );
        eprintln!("SKIPPED schema validation: xmllint or {} missing", xsd.display());
        return;
    }
    let file = std::env::temp_dir().join(format!("himaya-pain-{}.xml", uuid::Uuid::now_v7()));
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A pain.002 answering a pain.001: each end-to-end id with its status.
fn status_report(pain001: &str, statuses: &[(&str, &str)]) -> Vec<u8> {
    let message_id = pain001.split("<MsgId>").nth(1).unwrap().split('<').next().unwrap();
    let currency = himaya_payfiles::Currency::new("PKR", 2).unwrap();
    let facts = ReportFacts {
        message_id: "STATUS-1",
        created_at: chrono::Utc::now(),
        original_message_id: message_id,
        original_message_name: "pain.001.001.09",
        payment_information_id: message_id,
        currency: &currency,
    };
    let payments = statuses.iter().map(|(e, s)| ReportedPayment {
        end_to_end_id: e,
        status: s,
        reason: (*s == "RJCT").then_some("AC04"),
        amount: None,
    });
    write_status_report(Vec::new(), Pain002Version::V10, &facts, None, payments).unwrap()
}

fn end_to_end_ids(pain001: &str) -> Vec<String> {
    pain001
        .split("<EndToEndId>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_cycle_goes_from_opening_to_closing_with_maker_and_checker() {
    let s = setup(100_000_000).await;
    let c = s.open("2026-Q3", json!({"funding": ["treasury"]})).await;

    // Nothing moves out of turn.
    let r = s.step(&c, "submit", None).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("illegal-transition"))
    );
    let r = s.step(&c, "compute", None).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["payable"], 5);
    assert_eq!(r.body["amount"], 5 * 1_350_000);

    // The entitlement keeps what its rules read: the recipient rule read the wife's sex.
    let e = s
        .as_maker(Method::GET, &format!("/api/v1/cycles/{c}/report"), None)
        .await;
    assert_eq!(e.status, StatusCode::OK);
    let r = s.step(&c, "submit", None).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    // The maker cannot check their own work; the checker can, once.
    let r = s
        .as_maker(Method::POST, &format!("/api/v1/cycles/{c}/approve"), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:#}", r.body);
    let admin_self =
        s.t.send(Method::POST, &format!("/api/v1/cycles/{c}/approve"), None, &[])
            .await;
    assert_eq!(
        admin_self.status,
        StatusCode::OK,
        "another user may approve: {:#}",
        admin_self.body
    );
    let again = s.step(&c, "approve", None).await;
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("illegal-transition"))
    );
    let lines = s.as_maker(Method::GET, "/api/v1/funding-lines", None).await;
    assert_eq!(lines.body["items"][0]["committed"], 5 * 1_350_000);

    // Issue: four wallets in one batch, the fifth fails for want of an account.
    let r = s.step(&c, "issue", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        (r.body["issued"].as_u64(), r.body["no_account"].as_u64()),
        (Some(4), Some(1))
    );
    let batch = id(&r.body["batches"][0]);
    let (etag, xml) = s.file(&c, &batch).await;
    validates(&xml, "pain.001.001.09.xsd");
    assert!(
        xml.contains("<NbOfTxs>4</NbOfTxs>") && xml.contains("<CtrlSum>54000.00</CtrlSum>"),
        "{xml}"
    );
    assert!(
        xml.contains("<Prxy><Id>token:"),
        "JazzCash takes financial addresses: {xml}"
    );
    let (etag_again, xml_again) = s.file(&c, &batch).await;
    assert_eq!(
        (etag, xml.clone()),
        (etag_again, xml_again),
        "the same batch gives the same bytes"
    );
    // Issuing again issues nothing twice.
    let r = s.step(&c, "issue", Some(json!({}))).await;
    assert_eq!(r.body["issued"], 0, "{:#}", r.body);
    assert_eq!(s.totals(&c).await["issued"]["count"], 5);

    // The provider pays three and refuses one.
    let ids = end_to_end_ids(&xml);
    let report = status_report(
        &xml,
        &[
            (&ids[0], "ACSC"),
            (&ids[1], "ACSC"),
            (&ids[2], "ACCC"),
            (&ids[3], "RJCT"),
        ],
    );
    validates(std::str::from_utf8(&report).unwrap(), "pain.002.001.10.xsd");
    let (status, body) = s.reconcile(&c, report.clone(), None).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["applied"], 4);
    let (status, body) = s.reconcile(&c, report, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("file-already-reconciled"))
    );
    let totals = s.totals(&c).await;
    assert_eq!(
        (totals["paid"]["count"].as_u64(), totals["failed"]["count"].as_u64()),
        (Some(3), Some(2))
    );
    // A report on another registry's file, a duplicate line, an unknown id: named, not applied.
    let foreign = xml.replace(
        &xml.split("<MsgId>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned(),
        "SOMEONE-ELSES",
    );
    let (status, body) = s
        .reconcile(&c, status_report(&foreign, &[(&ids[0], "ACSC")]), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("wrong-cycle")),
        "{body:#}"
    );
    let bogus = "0".repeat(32);
    let (_, body) = s
        .reconcile(
            &c,
            status_report(&xml, &[(&ids[1], "ACSC"), (&ids[1], "ACSC"), (&bogus, "ACSC")]),
            None,
        )
        .await;
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["duplicate", "duplicate", "unknown-id"], "{body:#}");

    // The fifth gets a wallet, the refused one a new one: issued again, paid, closed.
    for p in [&s.recipients[4], &s.recipients[3]] {
        let r = s
            .as_maker(
                Method::POST,
                &format!("/api/v1/persons/{p}/accounts"),
                Some(
                    json!({"kind": "mobile_wallet", "provider": "jazzcash", "msisdn": "0301 7654321", "primary": true}),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    }
    let r = s.step(&c, "issue", Some(json!({"retry": true}))).await;
    assert_eq!(
        (r.body["round"].as_u64(), r.body["issued"].as_u64()),
        (Some(2), Some(2)),
        "{:#}",
        r.body
    );
    let retry_batch = id(&r.body["batches"][0]);
    let (_, retry_xml) = s.file(&c, &retry_batch).await;
    let retry_ids = end_to_end_ids(&retry_xml);
    assert!(retry_ids.iter().any(|e| e.ends_with("R2")), "{retry_ids:?}");
    // The first file, sent before the retry, still reads as it was sent.
    let (_, first_again) = s.file(&c, &batch).await;
    assert_eq!(first_again, xml, "the first batch's file after the retry");
    let r = s.step(&c, "close", Some(json!({}))).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("payments-pending"))
    );
    let statuses: Vec<(&str, &str)> = retry_ids.iter().map(|e| (e.as_str(), "ACSC")).collect();
    let (status, body) = s.reconcile(&c, status_report(&retry_xml, &statuses), None).await;
    assert_eq!(
        (status, body["applied"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{body:#}"
    );
    let r = s.step(&c, "close", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["status"], "closed");
    assert_eq!(r.body["totals"]["paid"], json!({"count": 5, "amount": 5 * 1_350_000}));

    // The report balances and names every step.
    let report =
        s.t.send_as(
            &s.maker,
            Method::GET,
            &format!("/api/v1/cycles/{c}/report?format=csv"),
            None,
            &[],
        )
        .await;
    let csv = report.body.as_str().unwrap().to_owned();
    assert!(
        csv.starts_with("provider,area,sex,status,count,amount_minor\n"),
        "{csv}"
    );
    assert!(csv.contains("jazzcash,PK-PB-MUL-SDR,female,paid,5,6750000"), "{csv}");
    let events = s
        .as_maker(Method::GET, &format!("/api/v1/cycles/{c}/events"), None)
        .await;
    let who: Vec<(String, String)> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["to_status"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        who.contains(&("submitted".into(), "maker".into())) && who.contains(&("approved".into(), "admin".into())),
        "{who:?}"
    );
}

#[tokio::test]
async fn approval_needs_the_funds_and_the_cycle_as_submitted() {
    let s = setup(2_000_000).await;
    let c = s.open("2026-Q3", json!({"funding": ["treasury"]})).await;
    for step in ["compute", "submit"] {
        assert_eq!(s.step(&c, step, None).await.status, StatusCode::OK);
    }
    let r = s.step(&c, "approve", None).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("insufficient-funds")),
        "{:#}",
        r.body
    );
    assert!(
        r.body["detail"].as_str().unwrap().contains("47,500.00 short"),
        "{:#}",
        r.body
    );
    // Nothing was committed or approved.
    assert_eq!(s.totals(&c).await["awaiting"]["count"], 5);
    let lines = s.as_maker(Method::GET, "/api/v1/funding-lines", None).await;
    assert_eq!(lines.body["items"][0]["committed"], 0);
    // Sent back, computed again and submitted: the first submission cannot be approved.
    assert_eq!(
        s.step(&c, "reject", Some(json!({"reason": "over budget"})))
            .await
            .status,
        StatusCode::OK
    );
    let r =
        s.t.send(
            Method::PUT,
            "/api/v1/funding-lines/treasury",
            Some(json!({"name": "Treasury", "allocated": 10_000_000})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for step in ["compute", "submit", "approve"] {
        let r = s.step(&c, step, None).await;
        assert_eq!(r.status, StatusCode::OK, "{step}: {:#}", r.body);
    }
    // An allocation below what is committed is refused.
    let r =
        s.t.send(
            Method::PUT,
            "/api/v1/funding-lines/treasury",
            Some(json!({"name": "Treasury", "allocated": 1})),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("funding-committed"))
    );
    // A second cycle for the same period is refused; bad plans are named.
    let r = s
        .as_maker(
            Method::POST,
            "/api/v1/cycles",
            Some(json!({"programme": "pk-kafalat", "period": "2026-Q3", "plan": {"funding": ["treasury"]}})),
        )
        .await;
    assert_eq!(r.body["code"], "cycle-exists");
    let r = s
        .as_maker(
            Method::POST,
            "/api/v1/cycles",
            Some(json!({"programme": "pk-kafalat", "period": "Q3!", "plan": {"funding": ["nowhere"], "share_percent": 0, "areas": ["XX"]}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:#}", r.body);
    assert_eq!(r.field_errors(), ["period=invalid"]);
    let r = s
        .as_maker(
            Method::POST,
            "/api/v1/cycles",
            Some(json!({"programme": "pk-kafalat", "period": "2026-Q4", "plan": {"funding": ["nowhere"], "share_percent": 0, "areas": ["XX"]}})),
        )
        .await;
    assert_eq!(
        r.field_errors(),
        [
            "plan.share_percent=invalid",
            "plan.areas[0]=invalid",
            "plan.funding[0]=not-found"
        ]
    );
}

#[tokio::test]
async fn a_skipped_cycle_is_owed_and_paid_as_arrears_by_the_next() {
    let s = setup(100_000_000).await;
    let skipped = s
        .approved("2026-Q1", json!({"funding": ["treasury"], "skip": true}))
        .await;
    assert_eq!(s.totals(&skipped).await["deferred"]["count"], 5);
    // Half the formula next quarter, plus what the skipped one owes.
    let next = s
        .open("2026-Q2", json!({"funding": ["treasury"], "share_percent": 50}))
        .await;
    let r = s.step(&next, "compute", None).await;
    assert_eq!(r.body["arrears"], 5 * 1_350_000, "{:#}", r.body);
    assert_eq!(r.body["amount"], 5 * (675_000 + 1_350_000));
    for step in ["submit", "approve"] {
        assert_eq!(s.step(&next, step, None).await.status, StatusCode::OK);
    }
    // Once paid, the arrears are owed no more.
    let third = s.open("2026-Q3", json!({"funding": ["treasury"]})).await;
    let r = s.step(&third, "compute", None).await;
    assert_eq!(r.body["arrears"], 0, "{:#}", r.body);
    // A top-up to one area only, a flat amount.
    let topup = s
        .open(
            "2026-Q3-flood",
            json!({"funding": ["treasury"], "flat_amount": 500_000, "areas": ["PK-SD"]}),
        )
        .await;
    let r = s.step(&topup, "compute", None).await;
    assert_eq!(r.body["entitlements"], 0, "no one lives in Sindh here: {:#}", r.body);
}

#[tokio::test]
async fn a_benefit_that_reads_the_score_and_the_attributes_is_computed_from_them() {
    // A cycle prepares the score and the attributes only for rules that
    // read them: here the benefit does, and each amount must come from them.
    let s = setup(100_000_000).await;
    let mut def = common::programme_json("pk-kafalat");
    def["benefit"] = json!("int(household.pmt_score * 100.0) * 10 + household.attributes.rooms * 7");
    let r =
        s.t.send(Method::PUT, "/api/v1/programmes/pk-kafalat", Some(def), &[])
            .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let cycle = s.open("2026-Q1", json!({"funding": ["treasury"]})).await;
    let r = s.step(&cycle, "compute", None).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["payable"], 5, "{:#}", r.body);
    let recipient = s
        .as_maker(Method::GET, &format!("/api/v1/persons/{}", s.recipients[0]), None)
        .await;
    let household = recipient.body["household_id"].as_str().unwrap().to_owned();
    let listed = s
        .as_checker(
            Method::GET,
            &format!("/api/v1/households/{household}/entitlements"),
            None,
        )
        .await;
    let item = &listed.body["items"][0];
    let e = s
        .as_checker(Method::GET, &format!("/api/v1/entitlements/{}", id(item)), None)
        .await;
    assert_eq!(e.status, StatusCode::OK, "{:#}", e.body);
    let score = e.body["facts"]["household.pmt_score"]
        .as_f64()
        .unwrap_or_else(|| panic!("the score is frozen with the entitlement: {:#}", e.body));
    assert_eq!(e.body["facts"]["household.attributes.rooms"], 1, "{:#}", e.body);
    assert!(score > 0.0, "{:#}", e.body);
    assert_eq!(
        e.body["formula_amount"],
        (score * 100.0) as i64 * 10 + 7,
        "{:#}",
        e.body
    );
}

#[tokio::test]
async fn a_household_lists_its_entitlements_in_every_cycle_to_those_who_may_read_payments() {
    let s = setup(100_000_000).await;
    let skipped = s
        .approved("2026-Q1", json!({"funding": ["treasury"], "skip": true}))
        .await;
    let next = s.approved("2026-Q2", json!({"funding": ["treasury"]})).await;
    let recipient = s
        .as_maker(Method::GET, &format!("/api/v1/persons/{}", s.recipients[0]), None)
        .await;
    let household = recipient.body["household_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/households/{household}/entitlements");
    // A member's own entitlement in an earlier programme's cycle (a person
    // programme: the member is the beneficiary) belongs to the list too;
    // another household's does not.
    let mut db = s.t.raw().await;
    sqlx::query(
        "INSERT INTO cycles (id, programme_code, period, plan, currency, status, version, opened_by, opened_at, \
         changed_at) VALUES ('c-member', 'pk-nashonuma', '2025-12', '{}', 'PKR', 'closed', 1, 'x', \
         '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
    )
    .execute(&mut db)
    .await
    .unwrap();
    for (entitlement, beneficiary, of) in [
        ("e-member", s.recipients[0].as_str(), household.as_str()),
        ("e-other", s.recipients[1].as_str(), "another-household"),
    ] {
        sqlx::query(
            "INSERT INTO entitlements (id, cycle_id, programme_code, beneficiary_id, household_id, recipient_id, \
             area_code, status, formula_amount, arrears, amount, facts, attempt, changed_at) VALUES ($1, 'c-member', \
             'pk-nashonuma', $2, $3, $2, 'PK-PB-LHR-CTY', 'paid', 250000, 0, 250000, '{}', 1, \
             '2026-01-01T00:00:00.000000Z')",
        )
        .bind(entitlement)
        .bind(beneficiary)
        .bind(of)
        .execute(&mut db)
        .await
        .unwrap();
    }

    // The latest cycle first: this quarter's benefit with the skipped one's arrears.
    let r = s.as_checker(Method::GET, &path, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{:#}", r.body);
    assert_eq!(items[2]["id"], "e-member", "{:#}", r.body);
    assert_eq!(items[2]["beneficiary_id"], s.recipients[0].as_str());
    assert_eq!(items[0]["cycle_id"], next.as_str());
    assert_eq!(items[0]["period"], "2026-Q2");
    assert_eq!(items[0]["status"], "approved");
    assert_eq!(items[0]["arrears"], 1_350_000);
    assert_eq!(items[0]["amount"], 2 * 1_350_000);
    assert_eq!(items[0]["currency"], "PKR");
    assert_eq!(items[0]["recipient_id"], s.recipients[0].as_str());
    assert_eq!(items[1]["cycle_id"], skipped.as_str());
    assert_eq!(items[1]["status"], "deferred");
    // The read is on the audit trail, under the household and its recipient.
    let trail = s.t.get(&format!("/api/v1/audit?record={household}")).await;
    assert!(
        trail.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "checker" && e["action"] == "household.entitlements"),
        "{:#}",
        trail.body
    );

    // No such household, or no household id at all: not found.
    let missing = s
        .as_checker(
            Method::GET,
            "/api/v1/households/00000000-0000-7000-8000-000000000000/entitlements",
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{:#}", missing.body);
    let garbled = s
        .as_checker(Method::GET, "/api/v1/households/not-a-household/entitlements", None)
        .await;
    assert_eq!(garbled.status, StatusCode::NOT_FOUND, "{:#}", garbled.body);

    // Without payments.read, or outside one's areas: refused, with the reason's code.
    let registrar = s.t.user("registrar", &["registrar"], &["PK-PB"]).await;
    let r = s.t.send_as(&registrar, Method::GET, &path, None, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:#}", r.body);
    assert_eq!(r.body["code"], "permission-denied");
    let sindh = s.t.user("sindh", &["approver"], &["PK-SD"]).await;
    let r = s.t.send_as(&sindh, Method::GET, &path, None, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:#}", r.body);
    assert_eq!(r.body["code"], "outside-area");
}

#[tokio::test]
async fn concurrent_approvals_and_issues_pay_no_one_twice() {
    let s = setup(100_000_000).await;
    let c = s.open("2026-Q3", json!({"funding": ["treasury"]})).await;
    for step in ["compute", "submit"] {
        assert_eq!(s.step(&c, step, None).await.status, StatusCode::OK);
    }
    let second_checker = s.t.user("checker2", &["approver"], &[]).await;
    let path = format!("/api/v1/cycles/{c}/approve");
    let (a, b) = tokio::join!(
        s.t.send_as(&s.checker, Method::POST, &path, None, &[]),
        s.t.send_as(&second_checker, Method::POST, &path, None, &[])
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{:#} {:#}",
        a.body,
        b.body
    );
    let lines = s.as_maker(Method::GET, "/api/v1/funding-lines", None).await;
    assert_eq!(lines.body["items"][0]["committed"], 5 * 1_350_000, "committed once");
    let issue = format!("/api/v1/cycles/{c}/issue");
    let officer2 = s.t.user("maker2", &["payment_officer"], &[]).await;
    let (a, b) = tokio::join!(
        s.t.send_as(&s.maker, Method::POST, &issue, Some(json!({})), &[]),
        s.t.send_as(&officer2, Method::POST, &issue, Some(json!({})), &[])
    );
    let issued = a.body["issued"].as_u64().unwrap_or(0) + b.body["issued"].as_u64().unwrap_or(0);
    assert_eq!(issued, 4, "{:#} {:#}", a.body, b.body);
    let batches = s
        .as_maker(Method::GET, &format!("/api/v1/cycles/{c}/batches"), None)
        .await;
    let payments: u64 = batches.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["payments"].as_u64().unwrap())
        .sum();
    assert_eq!(payments, 4, "{:#}", batches.body);
    assert_eq!(s.totals(&c).await["issued"]["count"], 5);
}

#[tokio::test]
async fn accounts_are_checked_and_their_changes_kept() {
    let s = setup(1).await;
    let p = &s.recipients[4];
    let add = |body: Value| {
        let t = &s.t;
        let path = format!("/api/v1/persons/{p}/accounts");
        async move { t.post(&path, body).await }
    };
    let r = add(json!({"kind": "bank_account", "provider": "hbl", "iban": "PK36SCBL0000001123456703"})).await;
    assert_eq!(r.field_errors(), ["iban=iban-invalid"]);
    let r = add(json!({"kind": "bank_account", "provider": "jazzcash", "iban": "PK36SCBL0000001123456702"})).await;
    assert_eq!(r.field_errors(), ["provider=provider-kind"]);
    let r = add(json!({"kind": "wallet", "provider": "nowhere"})).await;
    assert_eq!(r.field_errors(), ["kind=not-allowed", "provider=provider-unknown"]);
    let r = add(json!({"kind": "mobile_wallet", "provider": "jazzcash", "msisdn": "12"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r =
        add(json!({"kind": "mobile_wallet", "provider": "jazzcash", "msisdn": "0300 1234567", "pin": "1234"})).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused: {:#}",
        r.body
    );
    let listed = s.t.get(&format!("/api/v1/persons/{p}/accounts")).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was recorded");
    let bank = add(json!({"kind": "bank_account", "provider": "hbl", "iban": "pk36 scbl 0000 0011 2345 6702"})).await;
    assert_eq!(bank.status, StatusCode::CREATED, "{:#}", bank.body);
    assert_eq!(
        (bank.body["number"].as_str(), bank.body["primary"].as_bool()),
        (Some("PK36SCBL0000001123456702"), Some(true))
    );
    let wallet = add(json!({"kind": "mobile_wallet", "provider": "jazzcash", "msisdn": "+92 300 7654321"})).await;
    assert_eq!(wallet.body["primary"], false, "the first stays primary");
    let r =
        s.t.send(
            Method::PATCH,
            &format!("/api/v1/accounts/{}", id(&wallet.body)),
            Some(json!({"primary": true})),
            &[],
        )
        .await;
    assert_eq!(r.body["primary"], true);
    let listed = s.t.get(&format!("/api/v1/persons/{p}/accounts")).await;
    let primaries: Vec<bool> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["primary"].as_bool().unwrap())
        .collect();
    assert_eq!(primaries, [false, true]);
    let r =
        s.t.send(
            Method::PATCH,
            &format!("/api/v1/accounts/{}", id(&wallet.body)),
            Some(json!({"closed": true})),
            &[],
        )
        .await;
    assert_eq!(
        (r.body["status"].as_str(), r.body["primary"].as_bool()),
        (Some("closed"), Some(false))
    );
    let r =
        s.t.send(
            Method::PATCH,
            &format!("/api/v1/accounts/{}", id(&wallet.body)),
            Some(json!({"verified": true})),
            &[],
        )
        .await;
    assert_eq!(r.body["code"], "account-closed");
}

#[tokio::test]
async fn payments_unclaimed_past_the_validity_period_expire_and_a_late_report_is_refused() {
    let s = setup(100_000_000).await;
    // Computed under rules without a validity period: nothing expires on its own.
    let plain = s.approved("2026-Q1", json!({"funding": ["treasury"]})).await;
    assert_eq!(s.step(&plain, "issue", Some(json!({}))).await.status, StatusCode::OK);
    let mut def = common::programme_json("pk-kafalat");
    def["payment_validity_days"] = json!(30);
    let r =
        s.t.send(Method::PUT, "/api/v1/programmes/pk-kafalat", Some(def), &[])
            .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let r = s.step(&plain, "expire", None).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("no-validity-period")),
        "a cycle keeps the rules it was computed with: {:#}",
        r.body
    );

    let c = s.approved("2026-Q2", json!({"funding": ["treasury"]})).await;
    let r = s.step(&c, "expire", None).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("cycle-not-issued")),
        "{:#}",
        r.body
    );
    let r = s.step(&c, "issue", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let (_, xml) = s.file(&c, &id(&r.body["batches"][0])).await;
    let ids = end_to_end_ids(&xml);
    let (status, body) = s.reconcile(&c, status_report(&xml, &[(&ids[0], "ACSC")]), None).await;
    assert_eq!((status, body["paid"].as_i64()), (StatusCode::OK, Some(1)), "{body:#}");

    // Within the period nothing expires, and closing is refused, saying when they will.
    let r = s.step(&c, "expire", None).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        (r.body["expired"]["count"].as_u64(), r.body["still_pending"].as_u64()),
        (Some(0), Some(3)),
        "{:#}",
        r.body
    );
    assert!(r.body["next_expiry"].is_string(), "{:#}", r.body);
    let r = s.step(&c, "close", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:#}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("expire on"), "{:#}", r.body);

    // Thirty-one days on, as the database would hold it.
    let mut conn = s.t.raw().await;
    sqlx::query("UPDATE payment_batches SET created_at = '2020-01-01T00:00:00.000000Z' WHERE cycle_id = $1")
        .bind(&c)
        .execute(&mut conn)
        .await
        .unwrap();
    let r = s.step(&c, "expire", None).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        r.body["expired"],
        json!({"count": 3, "amount": 3 * 1_350_000}),
        "{:#}",
        r.body
    );
    assert_eq!(r.body["still_pending"], 0);
    assert!(r.body["next_expiry"].is_null(), "{:#}", r.body);
    let again = s.step(&c, "expire", None).await;
    assert_eq!(again.body["expired"]["count"], 0, "{:#}", again.body);
    let totals = s.totals(&c).await;
    assert_eq!(
        (
            totals["paid"]["count"].as_u64(),
            totals["expired"]["count"].as_u64(),
            totals["pending"]["count"].as_u64()
        ),
        (Some(1), Some(3), Some(0)),
        "{totals:#}"
    );
    // The provider reporting one of them paid afterwards is listed, never applied.
    let (status, body) = s.reconcile(&c, status_report(&xml, &[(&ids[1], "ACSC")]), None).await;
    assert_eq!(
        (status, body["applied"].as_i64()),
        (StatusCode::OK, Some(0)),
        "{body:#}"
    );
    assert_eq!(body["errors"][0]["code"], "expired", "{body:#}");
    assert_eq!(s.totals(&c).await["expired"]["count"], 3);
    let r = s.step(&c, "close", Some(json!({}))).await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (StatusCode::OK, Some("closed")),
        "{:#}",
        r.body
    );

    // Closing expires what is past the period by itself.
    let late = s.approved("2026-Q3", json!({"funding": ["treasury"]})).await;
    assert_eq!(s.step(&late, "issue", Some(json!({}))).await.status, StatusCode::OK);
    sqlx::query("UPDATE payment_batches SET created_at = '2020-01-01T00:00:00.000000Z' WHERE cycle_id = $1")
        .bind(&late)
        .execute(&mut conn)
        .await
        .unwrap();
    let r = s.step(&late, "close", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        (
            r.body["totals"]["expired"]["count"].as_u64(),
            r.body["totals"]["written_off"]["count"].as_u64()
        ),
        (Some(4), Some(1)),
        "{:#}",
        r.body
    );
    let trail = s.t.get("/api/v1/audit?actor=maker&limit=500").await;
    let expiries = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "cycle.expire")
        .count();
    assert_eq!(expiries, 3, "each expiry is on record: {:#}", trail.body);
}

#[tokio::test]
async fn a_bank_notification_reconciles_payments_made_and_returned() {
    use himaya_payfiles::simulate::{Camt054Version, NotificationFacts, NotifiedPayment, write_notification};
    let s = setup(100_000_000).await;
    let c = s.approved("2026-Q1", json!({"funding": ["treasury"]})).await;
    let r = s.step(&c, "issue", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let (_, xml) = s.file(&c, &id(&r.body["batches"][0])).await;
    let message_id = xml.split("<MsgId>").nth(1).unwrap().split('<').next().unwrap();
    let ids = end_to_end_ids(&xml);
    let currency = himaya_payfiles::Currency::new("PKR", 2).unwrap();
    let facts = NotificationFacts {
        message_id: "NTF-1",
        created_at: chrono::Utc::now(),
        booking_date: chrono::Utc::now().date_naive(),
        account_iban: "PK36SCBL0000001123456702",
        currency: &currency,
        original_message_id: message_id,
        payment_information_id: message_id,
    };
    // The bank books two payments, one of another amount, and takes one back.
    let notified = [
        NotifiedPayment {
            end_to_end_id: &ids[0],
            amount: 1_350_000,
            returned: None,
        },
        NotifiedPayment {
            end_to_end_id: &ids[1],
            amount: 1_350_000,
            returned: None,
        },
        NotifiedPayment {
            end_to_end_id: &ids[2],
            amount: 1_350_001,
            returned: None,
        },
    ];
    let camt = write_notification(Vec::new(), Camt054Version::V08, &facts, notified).unwrap();
    validates(std::str::from_utf8(&camt).unwrap(), "camt.054.001.08.xsd");
    let (status, body) = s.reconcile(&c, camt.clone(), None).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(
        (body["paid"].as_i64(), body["applied"].as_i64()),
        (Some(2), Some(2)),
        "{body:#}"
    );
    assert_eq!(body["errors"][0]["code"], "amount-mismatch", "{body:#}");
    let (status, body) = s.reconcile(&c, camt, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("file-already-reconciled"))
    );
    let returned = [NotifiedPayment {
        end_to_end_id: &ids[1],
        amount: 1_350_000,
        returned: Some("AC04"),
    }];
    let facts = NotificationFacts {
        message_id: "NTF-2",
        ..facts
    };
    let camt = write_notification(Vec::new(), Camt054Version::V02, &facts, returned).unwrap();
    validates(std::str::from_utf8(&camt).unwrap(), "camt.054.001.02.xsd");
    let (status, body) = s.reconcile(&c, camt, None).await;
    assert_eq!(
        (status, body["returned"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{body:#}"
    );
    let totals = s.totals(&c).await;
    assert_eq!(
        (
            totals["paid"]["count"].as_u64(),
            totals["returned"]["count"].as_u64(),
            totals["pending"]["count"].as_u64()
        ),
        (Some(1), Some(1), Some(2)),
        "{totals:#}"
    );
}
