//! Migrations applied to data written before them, on SQLite and, when
//! HIMAYA_TEST_POSTGRES_URL names a server, on PostgreSQL.

use himaya_domain::programme::PersonFacts;
use himaya_store::testing::TestDatabase;
use himaya_store::{Store, TargetingCursor};
use serde_json::{Value, json};

/// A fresh database: its store, and a plain connection pool for writing
/// rows as older versions did.
async fn fresh_store() -> (Store, sqlx::AnyPool, TestDatabase) {
    let test = TestDatabase::fresh("migration").await.unwrap();
    let store = Store::connect(&test.url).await.unwrap();
    let db = sqlx::AnyPool::connect(&test.url).await.unwrap();
    (store, db, test)
}

/// The area every household of these tests lives in.
async fn insert_country(db: &sqlx::AnyPool) {
    sqlx::query(
        "INSERT INTO areas (code, parent, level, names, path, position) VALUES ('PK', NULL, 'country', '{}', '/PK/', 0)",
    )
    .execute(db)
    .await
    .unwrap();
}

/// A household with two members (one deceased) and a second with one, as
/// the registry stored them before migration 0007: content in the versions only.
async fn write_before_rule_facts(db: &sqlx::AnyPool) -> [String; 2] {
    let (h1, h2) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    let people = [
        (
            uuid::Uuid::now_v7().to_string(),
            &h1,
            "active",
            json!({
            "household_id": h1, "given_name": {"latin": "Shazia"}, "sex": "female", "date_of_birth": "1990-05",
            "relationship": "head", "marital_status": "widowed", "maternal_status": "lactating",
            "disability": {"walking": "a_lot_of_difficulty"}, "school": {"level": "primary", "school_name": "GPS"},
            "identifiers": [{"type": "pk_cnic", "value": "3520212345671"}], "status": "active"}),
        ),
        (
            uuid::Uuid::now_v7().to_string(),
            &h1,
            "deceased",
            json!({
            "household_id": h1, "given_name": {"latin": "Aslam"}, "sex": "male", "relationship": "spouse",
            "status": "deceased", "status_date": "2024-01-02"}),
        ),
        (
            uuid::Uuid::now_v7().to_string(),
            &h2,
            "active",
            json!({
            "household_id": h2, "given_name": {"latin": "Bilal"}, "sex": "male", "date_of_birth": "1970",
            "relationship": "head", "status": "active"}),
        ),
    ];
    let at = "2025-01-01T00:00:00.000000Z";
    sqlx::query(
        "INSERT INTO areas (code, parent, level, names, path, position) VALUES \
         ('PK', NULL, 'country', '{}', '/PK/', 0), ('PK-PB', 'PK', 'province', '{}', '/PK/PK-PB/', 1)",
    )
    .execute(db)
    .await
    .unwrap();
    for (id, attributes) in [(&h1, json!({"rooms": 2, "has_car": false})), (&h2, json!({"rooms": 4}))] {
        let members: Vec<&String> = people.iter().filter(|p| p.1 == id).map(|p| &p.0).collect();
        let data = json!({"members": members, "area": "PK-PB", "status": "active", "attributes": attributes});
        sqlx::query(
            "INSERT INTO households (id, registration_number, area_code, status, version, created_at, updated_at) \
             VALUES ($1, $2, 'PK-PB', 'active', 1, $3, $3)",
        )
        .bind(id.as_str())
        .bind(format!("PK-{id}"))
        .bind(at)
        .execute(db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO household_versions (household_id, version, recorded_at, actor, source, change, data) \
             VALUES ($1, 1, $2, 'test', 'import', 'create', $3)",
        )
        .bind(id.as_str())
        .bind(at)
        .bind(data.to_string())
        .execute(db)
        .await
        .unwrap();
    }
    for (id, household, status, data) in &people {
        sqlx::query(
            "INSERT INTO persons (id, household_id, area_code, status, version, created_at, updated_at) \
             VALUES ($1, $2, 'PK-PB', $3, 1, $4, $4)",
        )
        .bind(id.as_str())
        .bind(household.as_str())
        .bind(*status)
        .bind(at)
        .execute(db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO person_versions (person_id, version, household_id, recorded_at, actor, source, change, data) \
             VALUES ($1, 1, $2, $3, 'test', 'import', 'create', $4)",
        )
        .bind(id.as_str())
        .bind(household.as_str())
        .bind(at)
        .bind(data.to_string())
        .execute(db)
        .await
        .unwrap();
    }
    [h1, h2]
}

#[tokio::test]
async fn rule_facts_are_filled_from_the_versions_written_before_them() {
    let (store, db, test) = fresh_store().await;
    store.migrate_to(6).await.unwrap();
    let [h1, h2] = write_before_rule_facts(&db).await;
    store.migrate().await.unwrap();

    let mut units = store
        .targeting_page(himaya_store::AttributesRead::Yes, None, None, 10)
        .await
        .unwrap();
    units.sort_by_key(|u| u.id.to_string());
    assert_eq!(units.len(), 2);
    assert_eq!(units[0].id.to_string(), h1);
    let attributes: Value = serde_json::from_str(&units[0].attributes).unwrap();
    assert_eq!(attributes, json!({"rooms": 2, "has_car": false}));
    let members: Vec<(String, PersonFacts)> = serde_json::from_str(&units[0].member_facts).unwrap();
    assert_eq!(members.len(), 1, "the deceased member is not among the facts");
    let facts = serde_json::to_value(&members[0].1).unwrap();
    assert_eq!(
        facts,
        json!({"sex": "female", "date_of_birth": "1990-05", "relationship": "head", "marital_status": "widowed",
               "maternal_status": "lactating", "disability": true, "school_level": "primary",
               "identifier_types": ["pk_cnic"]})
    );
    assert_eq!(units[1].id.to_string(), h2);
    let members: Vec<(String, PersonFacts)> = serde_json::from_str(&units[1].member_facts).unwrap();
    assert_eq!(
        serde_json::to_value(&members[0].1).unwrap(),
        json!({"sex": "male", "date_of_birth": "1970", "relationship": "head"})
    );
    // A page for rules that read no attributes leaves them out, and nothing else.
    let mut bare = store
        .targeting_page(himaya_store::AttributesRead::No, None, None, 10)
        .await
        .unwrap();
    bare.sort_by_key(|u| u.id.to_string());
    assert_eq!(bare.len(), 2);
    for (with, without) in units.iter().zip(&bare) {
        assert_eq!(without.attributes, "{}");
        assert_eq!((without.id, &without.member_facts), (with.id, &with.member_facts));
        assert_eq!(
            (&without.area_code, without.updated_at),
            (&with.area_code, with.updated_at)
        );
    }
    // Paging by area reads the same facts.
    let cursor = TargetingCursor {
        area_code: "PK-PB".into(),
        id: units[0].id,
    };
    assert_eq!(
        store
            .targeting_page(himaya_store::AttributesRead::Yes, Some("PK"), Some(&cursor), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store.close().await;
    db.close().await;
    test.remove();
}

/// A read that showed one record twice (a person in two listed pairs) is
/// written, with the record once among its subjects, and found by it.
#[tokio::test]
async fn an_audit_entry_showing_a_record_twice_is_written_once_per_record() {
    let (store, _db, test) = fresh_store().await;
    store.migrate().await.unwrap();
    let person = uuid::Uuid::now_v7().to_string();
    let other = uuid::Uuid::now_v7().to_string();
    let entry = himaya_store::NewAuditEntry {
        at: chrono::Utc::now(),
        actor: "officer".into(),
        action: "dedup.pairs_read".into(),
        record_type: None,
        record_id: None,
        detail: "{}".into(),
        subjects: vec![person.clone(), other.clone(), person.clone()],
    };
    let seqs = store.append_audit(&[entry]).await.unwrap();
    assert_eq!(seqs.len(), 1);
    let found = store
        .search_audit(
            &himaya_store::AuditFilter {
                record_id: Some(person),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    store.close().await;
    test.remove();
}

/// Migration 0017 moves SQLite's household versions out of a WITHOUT ROWID
/// table, where a kilobyte's version spilled onto a page of its own: every
/// version written before it reads back the same, and a version cannot be
/// written twice.
#[tokio::test]
async fn household_versions_keep_their_rows_and_their_key_through_migration_17() {
    let (store, db, test) = fresh_store().await;
    store.migrate_to(16).await.unwrap();
    let household = uuid::Uuid::now_v7();
    // About the size of a real household's version: over SQLite's limit for
    // a WITHOUT ROWID row kept on its page.
    let attributes: serde_json::Map<String, Value> =
        (0..60).map(|i| (format!("attribute_{i:02}"), json!(i * 7))).collect();
    let insert = "INSERT INTO household_versions (household_id, version, recorded_at, actor, source, change, reason, data) \
                  VALUES ($1, $2, $3, 'officer', 'api', $4, $5, $6)";
    for (version, change, reason) in [(1_i64, "create", None), (2, "update", Some("moved house"))] {
        let data = json!({"version": version, "attributes": attributes}).to_string();
        assert!(data.len() > 1_100, "the version is as long as a real one");
        sqlx::query(insert)
            .bind(household.to_string())
            .bind(version)
            .bind(format!("2025-0{version}-01T00:00:00.000000Z"))
            .bind(change)
            .bind(reason)
            .bind(data)
            .execute(&db)
            .await
            .unwrap();
    }
    store.migrate().await.unwrap();

    let history = store
        .household_history(himaya_domain::household::HouseholdId(household))
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (
            history[0].version,
            history[0].change.as_str(),
            history[0].reason.as_deref()
        ),
        (1, "create", None)
    );
    assert_eq!(
        (
            history[1].version,
            history[1].change.as_str(),
            history[1].reason.as_deref()
        ),
        (2, "update", Some("moved house"))
    );
    assert_eq!(history[1].data, json!({"version": 2, "attributes": attributes}));
    assert_eq!(history[0].recorded_at.to_rfc3339(), "2025-01-01T00:00:00+00:00");
    let again = sqlx::query(insert)
        .bind(household.to_string())
        .bind(2_i64)
        .bind("2025-03-01T00:00:00.000000Z")
        .bind("update")
        .bind(None::<String>)
        .bind("{}")
        .execute(&db)
        .await;
    assert!(again.is_err(), "a household's version is written once");
    if store.backend() == himaya_store::Backend::Sqlite {
        let definition: String =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'household_versions'")
                .fetch_one(&db)
                .await
                .unwrap();
        assert!(!definition.contains("WITHOUT ROWID"), "{definition}");
    }
    store.close().await;
    db.close().await;
    test.remove();
}

/// Migration 0018 moves households' attributes into a table of their own:
/// a household written before it keeps its attributes, its facts and its
/// unique registration number, and the households table keeps its index.
#[tokio::test]
async fn household_attributes_move_to_a_table_of_their_own_through_migration_18() {
    let (store, db, test) = fresh_store().await;
    store.migrate_to(17).await.unwrap();
    insert_country(&db).await;
    let household = uuid::Uuid::now_v7().to_string();
    let person = uuid::Uuid::now_v7().to_string();
    let member_facts = json!([[person, {"sex": "female", "relationship": "head"}]]).to_string();
    sqlx::query(
        "INSERT INTO households (id, registration_number, area_code, status, version, created_at, updated_at, \
         attributes, member_facts) VALUES ($1, 'PK-1', 'PK', 'active', 3, $2, $2, $3, $4)",
    )
    .bind(household.as_str())
    .bind("2025-01-01T00:00:00.000000Z")
    .bind(json!({"rooms": 3, "has_car": true}).to_string())
    .bind(member_facts.as_str())
    .execute(&db)
    .await
    .unwrap();
    store.migrate().await.unwrap();

    let units = store
        .targeting_page(himaya_store::AttributesRead::Yes, None, None, 10)
        .await
        .unwrap();
    assert_eq!(units.len(), 1);
    assert_eq!(units[0].id.to_string(), household);
    assert_eq!(
        serde_json::from_str::<Value>(&units[0].attributes).unwrap(),
        json!({"rooms": 3, "has_car": true})
    );
    assert_eq!(units[0].member_facts, member_facts);
    assert_eq!(units[0].updated_at.to_rfc3339(), "2025-01-01T00:00:00+00:00");
    let by_area = store
        .targeting_page(himaya_store::AttributesRead::Yes, Some("PK"), None, 10)
        .await
        .unwrap();
    assert_eq!(by_area.len(), 1);
    assert_eq!(by_area[0].attributes, units[0].attributes);

    let again = sqlx::query(
        "INSERT INTO households (id, registration_number, area_code, status, version, created_at, updated_at) \
         VALUES ($1, 'PK-1', 'PK', 'active', 1, $2, $2)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind("2025-01-01T00:00:00.000000Z")
    .execute(&db)
    .await;
    assert!(again.is_err(), "a registration number is still given once");
    let column = match store.backend() {
        himaya_store::Backend::Sqlite => {
            "SELECT COUNT(*) FROM pragma_table_info('households') WHERE name = 'attributes'"
        }
        himaya_store::Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'households' AND column_name = 'attributes'"
        }
    };
    let left: i64 = sqlx::query_scalar(column).fetch_one(&db).await.unwrap();
    assert_eq!(left, 0, "households no longer carry their attributes");
    if store.backend() == himaya_store::Backend::Sqlite {
        let index: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'households_area'")
                .fetch_one(&db)
                .await
                .unwrap();
        assert_eq!(index, 1, "the households table keeps its area index");
    }
    store.close().await;
    db.close().await;
    test.remove();
}

#[tokio::test]
async fn a_page_still_reads_each_households_active_enrolments_after_migration_19() {
    let (store, db, test) = fresh_store().await;
    store.migrate_to(18).await.unwrap();
    insert_country(&db).await;
    let households: Vec<String> = (0..2).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    for (i, household) in households.iter().enumerate() {
        sqlx::query(
            "INSERT INTO households (id, registration_number, area_code, status, version, created_at, updated_at, \
             member_facts) VALUES ($1, $2, 'PK', 'active', 1, $3, $3, '[]')",
        )
        .bind(household.as_str())
        .bind(format!("PK-{i}"))
        .bind("2025-01-01T00:00:00.000000Z")
        .execute(&db)
        .await
        .unwrap();
    }
    // The first household: one programme of each status; the second: none active.
    let enrolments = [
        ("pk-kafalat", &households[0], "enrolled"),
        ("pk-nashonuma", &households[0], "paused"),
        ("pk-taleemi-wazaif", &households[0], "eligible"),
        ("bench-cash", &households[0], "exited"),
        ("pk-kafalat", &households[1], "not_eligible"),
    ];
    for (programme, household, status) in enrolments {
        sqlx::query(
            "INSERT INTO enrolments (programme_code, beneficiary_id, household_id, area_code, status, \
             programme_version, decided_at, changed_at) VALUES ($1, $2, $2, 'PK', $3, 1, $4, $4)",
        )
        .bind(programme)
        .bind(household.as_str())
        .bind(status)
        .bind("2025-01-01T00:00:00.000000Z")
        .execute(&db)
        .await
        .unwrap();
    }
    store.migrate().await.unwrap();

    for area in [None, Some("PK")] {
        let mut units = store
            .targeting_page(himaya_store::AttributesRead::No, area, None, 10)
            .await
            .unwrap();
        assert_eq!(units.len(), 2, "{area:?}");
        units.sort_by_key(|u| u.id.to_string());
        let mut active = units[0].enrolments.clone();
        active.sort();
        assert_eq!(
            active,
            vec![
                ("pk-kafalat".to_owned(), households[0].clone()),
                ("pk-nashonuma".to_owned(), households[0].clone())
            ],
            "{area:?}"
        );
        assert_eq!(
            units[0].paused,
            vec![("pk-nashonuma".to_owned(), households[0].clone())]
        );
        assert!(units[1].enrolments.is_empty() && units[1].paused.is_empty(), "{area:?}");
    }
    store.close().await;
    db.close().await;
    test.remove();
}
