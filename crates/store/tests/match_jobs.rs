//! Match jobs in the store: a job left running is queued again, and a run a
//! rerun took over neither writes results nor ends the job. On SQLite and,
//! when HIMAYA_TEST_POSTGRES_URL names a server, on PostgreSQL.

use chrono::{Duration, SubsecRound, Utc};
use himaya_store::testing::TestDatabase;
use himaya_store::{MatchJobRow, Store};

async fn fresh_store() -> (Store, TestDatabase) {
    let db = TestDatabase::fresh("match-jobs").await.unwrap();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    (store, db)
}

#[tokio::test]
async fn a_run_taken_over_by_a_rerun_neither_writes_nor_ends_the_job() {
    let (store, db) = fresh_store().await;
    let job = MatchJobRow {
        id: uuid::Uuid::now_v7().to_string(),
        owner_kind: "agency".into(),
        owner_id: "a1".into(),
        created_by: "agency:a1".into(),
        within: Some(vec!["PK-PB".into()]),
        threshold: 0.8,
        rows: 2,
        status: "queued".into(),
        reason: None,
        matched: None,
        created_at: Utc::now().trunc_subsecs(6),
        started_at: None,
        finished_at: None,
    };
    let rows = [
        r#"{"given_name":"Ali"}"#.to_owned(),
        r#"{"given_name":"Sana"}"#.to_owned(),
    ];
    store.insert_match_job(&job, &rows).await.unwrap();
    assert_eq!(store.match_job(&job.id).await.unwrap().unwrap(), job);

    let first = store.claim_match_job(Utc::now()).await.unwrap().unwrap();
    assert_eq!(first.status, "running");
    assert!(
        store.claim_match_job(Utc::now()).await.unwrap().is_none(),
        "one job, taken"
    );
    let old_run = first.started_at.unwrap();
    assert!(
        store
            .save_match_job_results(&job.id, old_run, &[(0, None, None)])
            .await
            .unwrap()
    );

    // A server starts: the job runs again, from scratch.
    assert_eq!(store.requeue_running_match_jobs().await.unwrap(), 1);
    let second = store
        .claim_match_job(Utc::now() + Duration::seconds(1))
        .await
        .unwrap()
        .unwrap();
    let new_run = second.started_at.unwrap();
    assert_ne!(new_run, old_run);
    assert!(
        store
            .match_job_results(&job.id, None, 10)
            .await
            .unwrap()
            .iter()
            .all(|r| r.probability.is_none()),
        "claiming cleared the first run's results"
    );
    assert!(
        !store
            .save_match_job_results(&job.id, old_run, &[(1, None, Some(0.9))])
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_match_job(&job.id, old_run, "done", None, Some(0), Utc::now())
            .await
            .unwrap()
    );
    assert!(
        store
            .save_match_job_results(&job.id, new_run, &[(0, None, Some(0.5)), (1, None, None)])
            .await
            .unwrap()
    );
    // Written again: replaced, not duplicated.
    assert!(
        store
            .save_match_job_results(&job.id, new_run, &[(0, None, Some(0.7))])
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_match_job(&job.id, new_run, "done", None, Some(0), Utc::now())
            .await
            .unwrap()
    );

    let results = store.match_job_results(&job.id, None, 10).await.unwrap();
    let got: Vec<(i64, Option<f64>)> = results.iter().map(|r| (r.row, r.probability)).collect();
    assert_eq!(got, [(0, Some(0.7)), (1, None)]);
    assert_eq!(results[1].data, rows[1]);
    let done = store.match_job(&job.id).await.unwrap().unwrap();
    assert_eq!((done.status.as_str(), done.matched), ("done", Some(0)));
    // Paging: after row 0, only row 1.
    let page = store.match_job_results(&job.id, Some(0), 10).await.unwrap();
    assert_eq!(page.iter().map(|r| r.row).collect::<Vec<_>>(), [1]);

    store.close().await;
    db.remove();
}
