//! `himaya bench --workloads payments`: a payment cycle over every household
//! of a registry — enrolment in a universal cash programme, an account for
//! each recipient, then the cycle's compute, approval, issue (its pain.001
//! file) and the reconciliation of a status file with a line per payment.

use std::time::Instant;

use anyhow::{Context, Result};
use himaya_app::{Actor, NewAccount, NewUser, OpenCycle, TargetRequest};
use himaya_domain::account::AccountDraft;
use himaya_domain::payment::CyclePlan;
use himaya_domain::programme::ProgrammeDef;
use himaya_payfiles::simulate::{Pain002Version, ReportFacts, ReportedPayment, write_status_report};

use crate::bench::{BenchArgs, peak_rss_mib, reset_peak_rss, row, rss_mib};

/// A programme that takes every household in: the cycle pays them all.
const PROGRAMME: &str = r#"
code = "bench-cash"
name = { en = "Benchmark cash transfer", ur = "بینچ مارک نقد امداد" }
target = "household"
frequency = "monthly"
currency = "PKR"
budget_year = "FY2026"
benefit = "200000 + 50000 * household.size"

[[eligibility]]
rule = "household.size > 0"
label = { en = "Any household", ur = "ہر گھرانہ" }
"#;

/// Wallets recorded per call while setting up.
const ACCOUNT_CHUNK: usize = 50_000;

pub async fn run(args: &BenchArgs, url: &str) -> Result<()> {
    let mut deployment = himaya_app::demo::deployment(args.country)?;
    if args.country != himaya_domain::Country::Pk {
        anyhow::bail!("the payments workload runs on the Pakistani example (--country pk)");
    }
    // One file for the whole cycle, so that its status report has a line per payment.
    for p in &mut deployment.payment_providers {
        p.chunk_size = u32::MAX;
    }
    let app = crate::open(url, deployment).await?;
    let system = Actor::system("bench");
    let def = ProgrammeDef::from_toml(PROGRAMME).map_err(|p| anyhow::anyhow!("bench programme: {p}"))?;
    app.save_programme(&system, def).await?;

    let started = Instant::now();
    let request = TargetRequest {
        programme: "bench-cash".into(),
        enrol: true,
        ..Default::default()
    };
    let run = app.target_run(&system, request, |_| {}).await?;
    row(
        &format!("enrol every household in bench-cash ({} newly enrolled)", run.enrolled),
        run.households as usize,
        started.elapsed(),
        None,
    );

    for (name, role) in [("bench-maker", "payment_officer"), ("bench-checker", "approver")] {
        if app.operator_as(name).await.is_err() {
            app.add_user(
                &system,
                NewUser {
                    username: name.into(),
                    roles: vec![role.into()],
                    areas: Vec::new(),
                    password: None,
                },
            )
            .await?;
        }
    }
    let maker = app.operator_as("bench-maker").await?;
    let checker = app.operator_as("bench-checker").await?;
    app.set_funding_line(&system, "bench", "Benchmark funding", i64::MAX / 4)
        .await?;

    let started = Instant::now();
    let without = app.recipients_without_account(&maker, "bench-cash").await?;
    // In chunks, as an operator's account files would come, so that setting
    // up a million wallets does not leave its peak behind for the steps measured.
    let mut accounts = 0;
    for (c, chunk) in without.chunks(ACCOUNT_CHUNK).enumerate() {
        let rows: Vec<(usize, String, NewAccount)> = chunk
            .iter()
            .enumerate()
            .map(|(j, person)| {
                let i = c * ACCOUNT_CHUNK + j;
                let draft = AccountDraft {
                    kind: Some("mobile_wallet".into()),
                    provider: Some("jazzcash".into()),
                    msisdn: Some(format!("0300{:07}", i % 10_000_000)),
                    primary: true,
                    verified: true,
                    ..Default::default()
                };
                let account = NewAccount {
                    draft,
                    holder_name: Some(format!("Recipient {i}")),
                };
                (i + 1, person.clone(), account)
            })
            .collect();
        accounts += app.import_accounts(&system, rows).await?;
    }
    drop(without);
    row(
        "record a mobile wallet for each recipient without one",
        accounts as usize,
        started.elapsed(),
        None,
    );

    let period = chrono::Utc::now().format("%Y-bench-%m%d%H%M%S").to_string();
    let cycle = app
        .open_cycle(
            &maker,
            OpenCycle {
                programme: "bench-cash".into(),
                period: period.clone(),
                plan: CyclePlan {
                    share_percent: 100,
                    flat_amount: None,
                    skip: false,
                    areas: Vec::new(),
                    funding: vec!["bench".into()],
                },
            },
        )
        .await?;
    let id = cycle.cycle.id.clone();
    reset_peak_rss();
    let from = rss_mib();
    let started = Instant::now();
    let computed = app.compute_cycle(&maker, &id).await?;
    row(
        &format!(
            "compute a cycle's entitlements (reading {:.2} s, rules {:.2} s, writing {:.2} s; from {from:.0} MiB)",
            computed.reading_seconds, computed.rules_seconds, computed.writing_seconds
        ),
        computed.entitlements as usize,
        started.elapsed(),
        None,
    );
    app.submit_cycle(&maker, &id).await?;
    reset_peak_rss();
    let from = rss_mib();
    let started = Instant::now();
    app.approve_cycle(&checker, &id).await?;
    row(
        &format!("approve it (budget check, commitment; from {from:.0} MiB)"),
        computed.payable as usize,
        started.elapsed(),
        None,
    );

    reset_peak_rss();
    let from = rss_mib();
    let started = Instant::now();
    let issued = app.issue_cycle(&maker, &id, false).await?;
    let assigned = started.elapsed();
    let assigned_rss = peak_rss_mib();
    let dir = std::env::temp_dir().join(format!("himaya-bench-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut bytes = 0u64;
    for b in &issued.batches {
        let path = dir.join(&b.file_name);
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        app.write_batch_file(&maker, &id, &b.id, &mut w).await?;
        std::io::Write::flush(&mut w)?;
        bytes += std::fs::metadata(&path)?.len();
    }
    row(
        &format!(
            "issue it: payments into batches ({:.2} s, peak {assigned_rss:.0} MiB) and their pain.001 files written ({:.2} s, {} MiB); from {from:.0} MiB",
            assigned.as_secs_f64(),
            (started.elapsed() - assigned).as_secs_f64(),
            bytes >> 20
        ),
        issued.issued as usize,
        started.elapsed(),
        None,
    );
    std::fs::remove_dir_all(&dir)?;

    // The provider's answer: every payment made but one in a hundred refused.
    let currency = himaya_payfiles::Currency::new("PKR", 2)?;
    for batch in &issued.batches {
        let (mut ids, mut after) = (Vec::new(), String::new());
        loop {
            let page = app.store().batch_payments(&batch.id, &after, 10_000).await?;
            let Some(last) = page.last() else { break };
            after.clone_from(&last.entitlement_id);
            ids.extend(page.iter().map(|p| {
                let id = uuid::Uuid::parse_str(&p.entitlement_id).unwrap_or_default();
                himaya_domain::payment::end_to_end_id(id, p.attempt as u32)
            }));
        }
        let facts = ReportFacts {
            message_id: "BENCH-STATUS",
            created_at: chrono::Utc::now(),
            original_message_id: &batch.message_id,
            original_message_name: "pain.001.001.09",
            payment_information_id: &batch.message_id,
            currency: &currency,
        };
        let statuses = ids.iter().enumerate().map(|(i, e)| ReportedPayment {
            end_to_end_id: e,
            status: if i % 100 == 99 { "RJCT" } else { "ACSC" },
            reason: (i % 100 == 99).then_some("AC04"),
            amount: None,
        });
        let report = write_status_report(Vec::new(), Pain002Version::V10, &facts, None, statuses)?;
        drop(ids);
        reset_peak_rss();
        let from = rss_mib();
        let started = Instant::now();
        let r = app
            .reconcile_cycle(&maker, &id, "bench-status.xml", None, &report)
            .await
            .context("reconciling the simulated status report")?;
        row(
            &format!(
                "reconcile a pain.002 of {} lines ({} MiB): {} applied, {} not; from {from:.0} MiB",
                r.lines,
                report.len() >> 20,
                r.applied,
                r.errors.len()
            ),
            r.lines as usize,
            started.elapsed(),
            None,
        );
    }
    app.flush_audit().await?;
    app.store().close().await;
    Ok(())
}
