//! A cycle's entitlements written in bulk: every row lands as given, several
//! to a statement; and on SQLite what the bulk writer commits is copied into
//! the database file by the checkpoint thread, not left in the log until the
//! writer's own commits stop to do it. On SQLite and, when
//! HIMAYA_TEST_POSTGRES_URL names a server, on PostgreSQL.

use himaya_domain::payment::EntitlementStatus;
use himaya_store::testing::TestDatabase;
use himaya_store::{EntitlementRow, Store};

/// Entitlement `i` of cycle `c`: every third withheld without a recipient.
fn entitlement(i: usize) -> EntitlementRow {
    let withheld = i % 3 == 2;
    EntitlementRow {
        id: format!("{i:032x}"),
        cycle_id: "c".into(),
        programme_code: "pk-kafalat".into(),
        beneficiary_id: format!("b{i:06}"),
        household_id: format!("h{:06}", i / 2),
        recipient_id: (!withheld).then(|| format!("p{i:06}")),
        area_code: "PK-PB-LHR-CTY".into(),
        recipient_sex: (!withheld).then(|| "female".into()),
        status: if withheld {
            EntitlementStatus::Withheld
        } else {
            EntitlementStatus::Computed
        },
        reason: withheld.then(|| "no-recipient".into()),
        formula_amount: 1_000 + i as i64,
        arrears: (i % 5) as i64,
        amount: if withheld { 0 } else { 1_000 + i as i64 + (i % 5) as i64 },
        facts: format!(r#"{{"household.size":{}}}"#, i % 9),
        provider: None,
        payee_account: None,
        payee_name: None,
        attempt: 0,
        batch_id: None,
        provider_status: None,
        provider_reason: None,
        reconciled_by: None,
        settled_by: None,
    }
}

#[tokio::test]
async fn entitlements_written_in_bulk_read_back_as_given_and_reach_the_database_file() {
    let db = TestDatabase::fresh("bulk-writes").await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let file = db.file.clone();
    let before = file.as_ref().map(|f| std::fs::metadata(f).unwrap().len());
    // Two pages, neither a whole number of statements' rows.
    let rows: Vec<EntitlementRow> = (0..3_005).map(entitlement).collect();
    store.insert_entitlements(rows[..1_999].to_vec()).await.unwrap();
    store.insert_entitlements(rows[1_999..].to_vec()).await.unwrap();
    for i in [0, 1, 2, 63, 64, 1_998, 1_999, 3_004] {
        let stored = store.entitlement(&rows[i].id).await.unwrap();
        assert_eq!(stored.as_ref(), Some(&rows[i]), "entitlement {i}");
    }
    assert_eq!(store.entitlement(&format!("{:032x}", 3_005)).await.unwrap(), None);

    if let (Some(f), Some(before)) = (&file, before) {
        // About a megabyte: far below the size at which any connection's own
        // commit would copy the log into the file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::fs::metadata(f).unwrap().len() <= before {
            assert!(
                std::time::Instant::now() < deadline,
                "the entitlements are still only in the write-ahead log"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    store.close().await;
    db.remove();
}
