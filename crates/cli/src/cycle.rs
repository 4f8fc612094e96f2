//! `himaya cycle open|compute|submit|approve|reject|issue|reconcile|expire|close|show|report`,
//! `himaya funding set|list` and `himaya account import`: payments on the
//! command line, each step acting as a named user so that maker and
//! checker are on record.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use himaya_app::{Actor, App, CycleView, NewAccount, OpenCycle, money};
use himaya_domain::account::AccountDraft;
use himaya_domain::payment::CyclePlan;

#[derive(Args)]
pub struct Deployment {
    /// The deployment configuration (TOML), or `demo:pk` (bd, jo, ps).
    #[arg(long, env = "HIMAYA_CONFIG")]
    config: String,
    #[command(flatten)]
    db: crate::DbArgs,
}

#[derive(Args)]
pub struct Acting {
    /// The user this step is done as: their roles decide what they may do,
    /// and the record names them.
    #[arg(long)]
    user: String,
    #[command(flatten)]
    deployment: Deployment,
}

#[derive(Args)]
pub struct OnCycle {
    /// The cycle's id, as `cycle open` printed it.
    #[arg(long)]
    cycle: String,
    #[command(flatten)]
    acting: Acting,
}

#[derive(Subcommand)]
pub enum CycleCommand {
    /// Open a payment cycle of a programme for a period.
    Open {
        #[arg(long)]
        programme: String,
        /// 2026-07, 2026-Q3, or with a label: 2026-Q3-flood.
        #[arg(long)]
        period: String,
        /// The funding lines the cycle draws on, in order (repeatable).
        #[arg(long = "funding", required = true)]
        funding: Vec<String>,
        /// Pay this share of the benefit formula, in percent.
        #[arg(long, default_value_t = 100)]
        share: u32,
        /// Pay this amount in minor units instead of the formula (a top-up, an emergency payment).
        #[arg(long)]
        flat_amount: Option<i64>,
        /// Pay nothing this cycle; each amount is owed as arrears.
        #[arg(long)]
        skip: bool,
        /// Only beneficiaries in these areas (repeatable).
        #[arg(long = "area")]
        areas: Vec<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// Compute what each active beneficiary is owed.
    Compute(OnCycle),
    /// Submit a computed cycle for approval (the maker).
    Submit(OnCycle),
    /// Approve a submitted cycle (the checker: not the one who submitted it).
    Approve(OnCycle),
    /// Send a submitted cycle back.
    Reject {
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        on: OnCycle,
    },
    /// Give up a cycle that was never approved.
    Cancel(OnCycle),
    /// Put the approved payments into batches and write each batch's file into DIR.
    Issue {
        /// Where the payment files go.
        #[arg(long)]
        out: PathBuf,
        /// Also issue again the failed and returned payments whose account was fixed.
        #[arg(long)]
        retry: bool,
        #[command(flatten)]
        on: OnCycle,
    },
    /// Apply a provider's status file: pain.002, camt.054, or its CSV (with --provider).
    Reconcile {
        #[arg(long)]
        file: PathBuf,
        /// The provider whose CSV layout a CSV status file follows.
        #[arg(long)]
        provider: Option<String>,
        #[command(flatten)]
        on: OnCycle,
    },
    /// Expire the payments unclaimed past the programme's payment validity period.
    Expire(OnCycle),
    /// Close a cycle whose payments are all settled.
    Close {
        /// Owe the failed and returned payments to their beneficiaries in a later cycle (otherwise they are written off).
        #[arg(long)]
        carry_forward: bool,
        /// Let payments the provider never confirmed expire.
        #[arg(long)]
        expire_pending: bool,
        #[command(flatten)]
        on: OnCycle,
    },
    /// Show a cycle, its totals and its steps.
    Show(OnCycle),
    /// Counts and sums per provider, area, sex and status, as CSV.
    Report {
        /// Write the CSV here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        on: OnCycle,
    },
}

#[derive(Subcommand)]
pub enum FundingCommand {
    /// Create a funding line or change its allocation (minor units).
    Set {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        allocated: i64,
        #[command(flatten)]
        deployment: Deployment,
    },
    /// List the funding lines with what approved cycles committed.
    List(Deployment),
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Record financial accounts from a CSV file (person_id, kind, provider,
    /// msisdn, iban, bank_code, account_number, holder_name, verified); every
    /// row is checked before any is written.
    Import {
        file: PathBuf,
        #[command(flatten)]
        deployment: Deployment,
    },
}

async fn open(d: &Deployment) -> Result<App> {
    let deployment = crate::load_config(&d.config)?;
    d.db.open_existing(deployment).await
}

async fn acting(a: &Acting) -> Result<(App, Actor)> {
    let app = open(&a.deployment).await?;
    let actor = app
        .operator_as(&a.user)
        .await
        .with_context(|| format!("--user {}", a.user))?;
    Ok((app, actor))
}

fn print_cycle(app: &App, v: &CycleView) {
    let c = &v.cycle;
    let exponent = app.deployment().currency_exponent();
    println!("Cycle {} of {} for {}: {}", c.id, c.programme_code, c.period, c.status);
    let t = &v.totals;
    let line = |name: &str, tally: &himaya_domain::payment::Tally| {
        if tally.count > 0 {
            println!(
                "  {name:<16} {:>9}  {} {}",
                tally.count,
                c.currency,
                money(tally.amount, exponent)
            );
        }
    };
    line("entitled", &t.entitled);
    line("withheld", &t.withheld);
    line("deferred", &t.deferred);
    line("awaiting issue", &t.awaiting);
    line("issued", &t.issued);
    line("pending", &t.pending);
    line("paid", &t.paid);
    line("failed", &t.failed);
    line("returned", &t.returned);
    line("written off", &t.written_off);
    line("carried forward", &t.carried_forward);
    line("expired", &t.expired);
    line("cancelled", &t.cancelled);
}

pub async fn cycle(command: CycleCommand) -> Result<()> {
    match command {
        CycleCommand::Open {
            programme,
            period,
            funding,
            share,
            flat_amount,
            skip,
            areas,
            acting: a,
        } => {
            let (app, actor) = acting(&a).await?;
            let plan = CyclePlan {
                share_percent: share,
                flat_amount,
                skip,
                areas,
                funding,
            };
            let view = app
                .open_cycle(
                    &actor,
                    OpenCycle {
                        programme,
                        period,
                        plan,
                    },
                )
                .await?;
            app.flush_audit().await?;
            println!("{}", view.cycle.id);
            eprintln!(
                "Opened cycle {} of {} for {}.",
                view.cycle.id, view.cycle.programme_code, view.cycle.period
            );
        }
        CycleCommand::Compute(on) => {
            let (app, actor) = acting(&on.acting).await?;
            let r = app.compute_cycle(&actor, &on.cycle).await?;
            app.flush_audit().await?;
            let exponent = app.deployment().currency_exponent();
            println!(
                "Computed {} entitlements over {} households in {:.2} s: {} payable, {} {} (arrears {}), {} deferred.",
                r.entitlements,
                r.households,
                r.seconds,
                r.payable,
                app.deployment().currency,
                money(r.amount, exponent),
                money(r.arrears, exponent),
                r.deferred
            );
            println!(
                "Time: reading {:.2} s, rules {:.2} s, writing {:.2} s.",
                r.reading_seconds, r.rules_seconds, r.writing_seconds
            );
            for (why, n) in &r.withheld {
                println!("  withheld, {why}: {n}");
            }
            for (message, n) in &r.errors {
                println!("  rule error: {message}: {n}");
            }
            println!("Peak memory {:.0} MiB.", crate::bench::peak_rss_mib());
        }
        CycleCommand::Submit(on) => {
            let (app, actor) = acting(&on.acting).await?;
            let v = app.submit_cycle(&actor, &on.cycle).await?;
            app.flush_audit().await?;
            print_cycle(&app, &v);
        }
        CycleCommand::Approve(on) => {
            let (app, actor) = acting(&on.acting).await?;
            let v = app.approve_cycle(&actor, &on.cycle).await?;
            app.flush_audit().await?;
            print_cycle(&app, &v);
        }
        CycleCommand::Reject { reason, on } => {
            let (app, actor) = acting(&on.acting).await?;
            let v = app.reject_cycle(&actor, &on.cycle, &reason).await?;
            app.flush_audit().await?;
            print_cycle(&app, &v);
        }
        CycleCommand::Cancel(on) => {
            let (app, actor) = acting(&on.acting).await?;
            let v = app.cancel_cycle(&actor, &on.cycle).await?;
            app.flush_audit().await?;
            print_cycle(&app, &v);
        }
        CycleCommand::Issue { out, retry, on } => {
            let (app, actor) = acting(&on.acting).await?;
            std::fs::create_dir_all(&out).with_context(|| format!("--out {}", out.display()))?;
            let started = std::time::Instant::now();
            let outcome = app.issue_cycle(&actor, &on.cycle, retry).await?;
            let assigned = started.elapsed();
            println!(
                "Round {}: {} payments issued in {} new batches; {} failed for want of an account.",
                outcome.round,
                outcome.issued,
                outcome.batches.len(),
                outcome.no_account
            );
            // Every batch's file, new or not: writing one again gives the same bytes.
            for b in app.cycle_batches(&actor, &on.cycle).await? {
                let path = out.join(&b.file_name);
                // Written under a temporary name, then renamed: a file in DIR is whole.
                let partial = out.join(format!(".{}.partial", b.file_name));
                let file =
                    std::fs::File::create(&partial).with_context(|| format!("cannot write {}", partial.display()))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
                let (batch, sha) = app.write_batch_file(&actor, &on.cycle, &b.id, &mut w).await?;
                w.flush()?;
                w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                std::fs::rename(&partial, &path)?;
                println!("  {}  {} payments  sha256 {sha}", path.display(), batch.payments);
            }
            app.flush_audit().await?;
            eprintln!(
                "Assigned in {:.2} s, files written in {:.2} s; peak memory {:.0} MiB.",
                assigned.as_secs_f64(),
                (started.elapsed() - assigned).as_secs_f64(),
                crate::bench::peak_rss_mib()
            );
        }
        CycleCommand::Reconcile { file, provider, on } => {
            let (app, actor) = acting(&on.acting).await?;
            let bytes = std::fs::read(&file).with_context(|| format!("--file {}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let started = std::time::Instant::now();
            let r = app
                .reconcile_cycle(&actor, &on.cycle, &name, provider.as_deref(), &bytes)
                .await?;
            app.flush_audit().await?;
            println!(
                "Reconciled {}: {} lines, {} applied, {} still pending, {} not applied, in {:.2} s (peak memory {:.0} MiB).",
                file.display(),
                r.lines,
                r.applied,
                r.pending,
                r.errors.len(),
                started.elapsed().as_secs_f64(),
                crate::bench::peak_rss_mib()
            );
            for e in r.errors.iter().take(20) {
                println!(
                    "  line {}: {} {}: {}",
                    e.line,
                    e.end_to_end_id.as_deref().unwrap_or("-"),
                    e.code,
                    e.detail
                );
            }
            if r.errors.len() > 20 {
                println!(
                    "  … and {} more (GET /api/v1/cycles/{}/reconciliation-errors)",
                    r.errors.len() - 20,
                    on.cycle
                );
            }
        }
        CycleCommand::Expire(on) => {
            let (app, actor) = acting(&on.acting).await?;
            let r = app.expire_unclaimed(&actor, &on.cycle).await?;
            app.flush_audit().await?;
            let exponent = app.deployment().currency_exponent();
            let v = app.cycle(&actor, &on.cycle).await?;
            println!(
                "Expired {} payments ({} {}) issued on or before {}, more than {} days ago.",
                r.expired.count,
                v.cycle.currency,
                money(r.expired.amount, exponent),
                r.issued_before.format("%Y-%m-%d %H:%M UTC"),
                r.validity_days
            );
            if let Some(next) = r.next_expiry {
                println!(
                    "{} payments are still within their validity period; the first of them expire on {}.",
                    r.still_pending,
                    next.format("%Y-%m-%d %H:%M UTC")
                );
            }
            print_cycle(&app, &v);
        }
        CycleCommand::Close {
            carry_forward,
            expire_pending,
            on,
        } => {
            let (app, actor) = acting(&on.acting).await?;
            let v = app
                .close_cycle(&actor, &on.cycle, carry_forward, expire_pending)
                .await?;
            app.flush_audit().await?;
            print_cycle(&app, &v);
        }
        CycleCommand::Show(on) => {
            let (app, actor) = acting(&on.acting).await?;
            let v = app.cycle(&actor, &on.cycle).await?;
            print_cycle(&app, &v);
            for e in app.cycle_events(&actor, &on.cycle).await? {
                println!("  {}  {} → {}  by {}", e.at, e.from_status, e.to_status, e.actor);
            }
        }
        CycleCommand::Report { out, on } => {
            let (app, actor) = acting(&on.acting).await?;
            let (_, rows) = app.cycle_report(&actor, &on.cycle).await?;
            let sink: Box<dyn Write> = match &out {
                Some(path) => {
                    Box::new(std::fs::File::create(path).with_context(|| format!("--out {}", path.display()))?)
                }
                None => Box::new(std::io::stdout()),
            };
            let mut w = csv::Writer::from_writer(sink);
            w.write_record(["provider", "area", "sex", "status", "count", "amount_minor"])?;
            for r in rows {
                w.write_record([
                    r.provider,
                    r.area,
                    r.sex,
                    r.status.code().to_owned(),
                    r.count.to_string(),
                    r.amount.to_string(),
                ])?;
            }
            w.flush()?;
        }
    }
    Ok(())
}

pub async fn funding(command: FundingCommand) -> Result<()> {
    match command {
        FundingCommand::Set {
            code,
            name,
            allocated,
            deployment,
        } => {
            let app = open(&deployment).await?;
            let line = app
                .set_funding_line(&Actor::system("funding-set"), &code, &name, allocated)
                .await?;
            app.flush_audit().await?;
            println!(
                "{}: {} {} allocated, {} committed",
                line.code,
                line.currency,
                money(line.allocated, app.deployment().currency_exponent()),
                money(line.committed, app.deployment().currency_exponent())
            );
        }
        FundingCommand::List(deployment) => {
            let app = open(&deployment).await?;
            let exponent = app.deployment().currency_exponent();
            for l in app.funding_lines(&Actor::system("funding-list")).await? {
                println!(
                    "{:<24} {} {:>20} allocated {:>20} committed  {}",
                    l.code,
                    l.currency,
                    money(l.allocated, exponent),
                    money(l.committed, exponent),
                    l.name
                );
            }
        }
    }
    Ok(())
}

const ACCOUNT_COLUMNS: [&str; 9] = [
    "person_id",
    "kind",
    "provider",
    "msisdn",
    "iban",
    "bank_code",
    "account_number",
    "holder_name",
    "verified",
];

pub async fn account(command: AccountCommand) -> Result<()> {
    let AccountCommand::Import { file, deployment } = command;
    let app = open(&deployment).await?;
    let mut reader = csv::Reader::from_path(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let headers = reader.headers()?.clone();
    let position = |name: &str| headers.iter().position(|h| h.trim() == name);
    let Some(person_at) = position("person_id") else {
        bail!("{}: no person_id column", file.display());
    };
    for h in headers.iter() {
        if !ACCOUNT_COLUMNS.contains(&h.trim()) {
            bail!(
                "{}: unknown column {h:?}; the columns are {}",
                file.display(),
                ACCOUNT_COLUMNS.join(", ")
            );
        }
    }
    let mut rows = Vec::new();
    let mut faults = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                faults.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let cell = |name: &str| {
            position(name)
                .and_then(|p| record.get(p))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let verified = match cell("verified").as_deref() {
            None | Some("false" | "no" | "0") => false,
            Some("true" | "yes" | "1") => true,
            Some(other) => {
                faults.push(format!("line {line}: verified {other:?} is not yes or no"));
                continue;
            }
        };
        let draft = AccountDraft {
            kind: cell("kind"),
            provider: cell("provider"),
            msisdn: cell("msisdn"),
            iban: cell("iban"),
            bank_code: cell("bank_code"),
            account_number: cell("account_number"),
            primary: true,
            verified,
        };
        let person = record.get(person_at).unwrap_or_default().trim().to_owned();
        rows.push((
            line,
            person,
            NewAccount {
                draft,
                holder_name: cell("holder_name"),
            },
        ));
    }
    if !faults.is_empty() {
        bail!(
            "{} is refused; nothing was recorded:\n  {}",
            file.display(),
            faults.join("\n  ")
        );
    }
    let outcome = app.import_accounts(&Actor::system("account-import"), rows).await?;
    app.flush_audit().await?;
    println!("Recorded {} accounts from {}.", outcome, file.display());
    Ok(())
}
