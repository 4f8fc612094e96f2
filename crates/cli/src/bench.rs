//! `himaya bench`: the registry's workloads on a fresh database, one
//! markdown table row each (records, seconds, records/s, latency, peak RSS).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use himaya_app::demo::Generator;
use himaya_app::{Actor, NewHousehold, PersonQuery};
use himaya_domain::Country;
use himaya_domain::config::Deployment;
use himaya_domain::household::HouseholdId;
use tokio::sync::Mutex;

#[derive(Args)]
pub struct BenchArgs {
    /// Households to create (about five people each).
    #[arg(long, default_value_t = 100_000)]
    pub households: usize,
    /// Households per transaction.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=50_000))]
    pub batch: u64,
    /// Tasks registering batches at once, as concurrent clients would.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: u64,
    /// Lookups to time for each read workload.
    #[arg(long, default_value_t = 10_000)]
    pub lookups: usize,
    #[arg(long, default_value = "pk", value_parser = crate::parse_country)]
    pub country: Country,
    /// Which workloads to run (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "registry,import")]
    pub workloads: Vec<Workload>,
    /// The database to fill; by default a new SQLite file in a temporary directory.
    #[arg(long, env = "HIMAYA_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// For the targeting workload: an existing registry of the same country
    /// to run on (its decisions are rewritten), instead of importing a new one.
    #[arg(long)]
    pub registry: Option<String>,
    /// With --registry: the synthetic population's household_truth.csv, to
    /// measure the programme's decisions against true welfare.
    #[arg(long, requires = "registry")]
    pub truth: Option<std::path::PathBuf>,
    /// For the link workload: a Python with Splink installed, to run Splink on the same files.
    #[arg(long)]
    pub splink: Option<std::path::PathBuf>,
    /// For the link workload: keep the files in this directory.
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Registration in batches, lookups, searches, sign-in and tokens.
    Registry,
    /// A synthetic population imported from CSV (`--households` ÷ 5
    /// households), beside the database's own bulk load of the same rows.
    Import,
    /// The country's programmes over a registry of `--households`
    /// households (or the one `--registry` names): a run that writes its
    /// decisions, a dry run of the largest district, a run for people.
    Targeting,
    /// A payment cycle over every household of a registry of `--households`
    /// households (or the one `--registry` names): compute, approve, issue
    /// its pain.001, reconcile a pain.002 with a line per payment.
    Payments,
    /// Record linkage in all four countries: `--households` households with
    /// 5 % duplicates deduplicated, and matched across scripts; precision,
    /// recall and F1 against the truth (with `--splink`, Splink's too).
    Link,
}

/// Starts counting peak resident memory afresh (Linux), so that a row's
/// peak is its own workload's rather than the highest of the run so far.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of this process, in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// Resident memory of this process now, in MiB (Linux; 0 elsewhere): what
/// a step starts from, which its peak includes.
pub fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

pub fn row(workload: &str, records: usize, elapsed: Duration, latencies: Option<&mut Vec<Duration>>) {
    let secs = elapsed.as_secs_f64();
    let (p50, p99) = match latencies {
        Some(l) => {
            l.sort();
            (
                format!("{:.3}", percentile(l, 0.5)),
                format!("{:.3}", percentile(l, 0.99)),
            )
        }
        None => ("–".into(), "–".into()),
    };
    println!(
        "| {workload} | {records} | {secs:.2} | {:.0} | {p50} | {p99} | {:.0} |",
        records as f64 / secs,
        peak_rss_mib()
    );
}

pub async fn run(args: BenchArgs) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("himaya-bench-{}", std::process::id()));
    let url = match &args.database_url {
        Some(u) => u.clone(),
        None => {
            std::fs::create_dir_all(&dir)?;
            format!("sqlite://{}", dir.join("bench.db").display())
        }
    };
    let deployment = himaya_app::demo::deployment(args.country)?;
    let app = crate::open(&url, deployment.clone()).await?;
    let backend = format!("{:?}", app.store().backend());
    println!(
        "Himaya registry benchmark: {} households ({}), {backend}, batches of {}",
        args.households,
        args.country.alpha2(),
        args.batch
    );
    println!();
    println!("| workload | records | seconds | records/s | p50 ms | p99 ms | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|");

    if args.workloads.contains(&Workload::Registry) {
        registry_workloads(&args, &app, deployment).await?;
    }
    app.store().close().await;
    if args.workloads.contains(&Workload::Import) {
        import_workloads(&args, &url).await?;
    }
    if args.workloads.contains(&Workload::Targeting) {
        targeting_workloads(&args).await?;
    }
    if args.workloads.contains(&Workload::Payments) {
        let (url, _, made) = registry_to_run_on(&args).await?;
        crate::bench_payments::run(&args, &url).await?;
        if let Some(dir) = made {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    if args.workloads.contains(&Workload::Link) {
        crate::link::bench(args.households as u64, args.splink.as_deref(), args.keep.as_deref())?;
    }
    if args.database_url.is_none() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    Ok(())
}

/// Writes a synthetic population of the country's example deployment to
/// `dir`: households.csv, persons.csv, truth.csv and household_truth.csv.
pub fn synthesise(
    dir: &std::path::Path,
    country: Country,
    households: u64,
    seed: u64,
    duplicates: f64,
) -> Result<himaya_synth::Summary> {
    let deployment = himaya_app::demo::deployment(country)?;
    let generator = himaya_synth::Generator::new(deployment, seed, duplicates, chrono::Utc::now().date_naive())?;
    let file = |name: &str| -> Result<std::io::BufWriter<std::fs::File>> {
        Ok(std::io::BufWriter::new(std::fs::File::create(dir.join(name))?))
    };
    let mut outputs = himaya_synth::write::Outputs {
        households: file("households.csv")?,
        persons: file("persons.csv")?,
        truth: file("truth.csv")?,
        household_truth: file("household_truth.csv")?,
    };
    Ok(himaya_synth::write_population(
        &generator,
        households,
        himaya_synth::Format::Csv,
        &mut outputs,
    )?)
}

/// The top-level areas, so a district officer's scope covers every generated household.
fn deployment_areas_top(app: &himaya_app::App) -> Vec<String> {
    app.deployment()
        .areas
        .iter()
        .filter(|a| a.parent.is_none())
        .map(|a| a.code.clone())
        .collect()
}

/// Registration, lookups, searches and sign-in on the registry.
async fn registry_workloads(args: &BenchArgs, app: &himaya_app::App, deployment: Deployment) -> Result<()> {
    let lookups = args.lookups;
    // A producer thread generates batches into a short queue (memory stays
    // bounded) while `concurrency` tasks register them, as an importer or
    // several clients would: one batch is validated while another is written.
    // The clock runs from the first registration to the last commit.
    let actor = Actor::system("bench");
    let mut generator = Generator::new(args.country, deployment, 42)?;
    let (households, batch) = (args.households, args.batch as usize);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<NewHousehold>>(args.concurrency as usize * 2);
    let producer = std::thread::spawn(move || {
        let mut generated = 0;
        while generated < households {
            let n = batch.min(households - generated);
            if sender
                .blocking_send((0..n).map(|_| generator.household()).collect())
                .is_err()
            {
                break;
            }
            generated += n;
        }
    });
    let receiver = Arc::new(Mutex::new(receiver));
    let first_batch = Arc::new(std::sync::OnceLock::new());
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (app, actor, receiver, first_batch) =
                (app.clone(), actor.clone(), receiver.clone(), first_batch.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                let mut identifiers = Vec::new();
                let mut persons = 0;
                loop {
                    let Some(batch) = receiver.lock().await.recv().await else {
                        break;
                    };
                    first_batch.get_or_init(Instant::now);
                    let views = app
                        .register_households(&actor, batch)
                        .await
                        .map_err(|(i, e)| anyhow::anyhow!("household {i} of a batch: {e}"))?;
                    for v in views {
                        ids.push(v.household.id);
                        persons += v.members.len();
                        // Keep a sample of identifiers to look up later.
                        if identifiers.len() < lookups {
                            let found = v.members.iter().flat_map(|m| m.record.identifiers.iter());
                            identifiers.extend(found.map(|i| (i.id_type.code().to_owned(), i.value.clone())));
                        }
                    }
                }
                anyhow::Ok((ids, identifiers, persons))
            })
        })
        .collect();
    let mut ids: Vec<HouseholdId> = Vec::with_capacity(households);
    let mut identifiers: Vec<(String, String)> = Vec::new();
    let mut persons = 0;
    for w in workers {
        let (i, idents, p) = w.await??;
        ids.extend(i);
        identifiers.extend(idents);
        persons += p;
    }
    let spent = first_batch.get().map_or(Duration::ZERO, |t| t.elapsed());
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("the generator thread failed"))?;
    identifiers.truncate(args.lookups);
    row(
        &format!("create households ({persons} people)"),
        households,
        spent,
        None,
    );

    // As after any bulk load, refresh the planner's statistics.
    app.store().analyze().await?;

    // Spread the sampled reads over the whole registry.
    let step = (ids.len() / args.lookups.max(1)).max(1);
    let sample: Vec<HouseholdId> = ids.iter().step_by(step).take(args.lookups).copied().collect();

    // The same fetch two ways: the store's reads alone, and as a signed-in
    // API client gets it (token, permission and area checks, audit entry).
    // The two alternate over three rounds and the best round of each
    // counts, so that a cold cache or a background checkpoint does not
    // decide the comparison; a checked round ends when its last audit
    // entry is committed, not queued.
    app.add_user(
        &actor,
        himaya_app::NewUser {
            username: "bench.officer".into(),
            roles: vec!["district_officer".into()],
            areas: deployment_areas_top(app),
            password: Some("a benchmark passphrase".into()),
        },
    )
    .await?;
    let token = app.create_user_token(&actor, "bench.officer", 1).await?.secret;
    let clients = 4;
    let fetch_all = |checked: bool, clients: usize| {
        let (app, sample, token) = (app.clone(), sample.clone(), token.clone());
        async move {
            let started = Instant::now();
            let tasks: Vec<_> = (0..clients)
                .map(|c| {
                    let (app, sample, token) = (app.clone(), sample.clone(), token.clone());
                    tokio::spawn(async move {
                        let mut latencies = Vec::with_capacity(sample.len() / clients + 1);
                        for id in sample.iter().skip(c).step_by(clients) {
                            let t = Instant::now();
                            if checked {
                                let officer = app.token_actor(&token).await?;
                                std::hint::black_box(app.household(&officer, *id).await?);
                            } else {
                                let household = app.store().household(*id).await?.context("household gone")?;
                                let members = app.store().household_members(*id).await?;
                                std::hint::black_box(himaya_app::HouseholdView::new(household, members));
                            }
                            latencies.push(t.elapsed());
                        }
                        anyhow::Ok(latencies)
                    })
                })
                .collect();
            let mut latencies = Vec::new();
            for t in tasks {
                latencies.extend(t.await??);
            }
            app.flush_audit().await?;
            anyhow::Ok((started.elapsed(), latencies))
        }
    };
    for clients in [1, clients] {
        let mut best: [Option<(Duration, Vec<Duration>)>; 2] = [None, None];
        for _round in 0..3 {
            for (i, checked) in [false, true].into_iter().enumerate() {
                let (elapsed, latencies) = fetch_all(checked, clients).await?;
                if best[i].as_ref().is_none_or(|(b, _)| elapsed < *b) {
                    best[i] = Some((elapsed, latencies));
                }
            }
        }
        let [Some((bare, mut bare_latencies)), Some((checked, mut checked_latencies))] = best else {
            anyhow::bail!("no rounds ran");
        };
        let who = if clients == 1 {
            "1 client".to_owned()
        } else {
            format!("{clients} clients at once")
        };
        row(
            &format!("fetch household with members by id, {who} (reads alone)"),
            sample.len(),
            bare,
            Some(&mut bare_latencies),
        );
        row(
            &format!("fetch household with members by id, {who} (token, authorise, audit)"),
            sample.len(),
            checked,
            Some(&mut checked_latencies),
        );
        println!(
            "| overhead of authentication, authorisation and audit, {who} | {:+.1}% | | | | | |",
            (checked.as_secs_f64() / bare.as_secs_f64() - 1.0) * 100.0
        );
    }

    let mut latencies = Vec::with_capacity(identifiers.len());
    let started = Instant::now();
    for (t, v) in identifiers.iter().take(args.lookups) {
        let q = PersonQuery {
            identifier: Some(v.clone()),
            identifier_type: Some(t.clone()),
            ..Default::default()
        };
        let tm = Instant::now();
        let page = app.search_persons(&actor, &q).await?;
        latencies.push(tm.elapsed());
        anyhow::ensure!(
            page.items.len() == 1,
            "identifier {t} {v} found {} people",
            page.items.len()
        );
    }
    row(
        "search person by identifier",
        latencies.len(),
        started.elapsed(),
        Some(&mut latencies),
    );

    // Password hashing: what one sign-in costs the server.
    let hashes = 20;
    let mut latencies = Vec::with_capacity(hashes);
    let started = Instant::now();
    for i in 0..hashes {
        let t = Instant::now();
        std::hint::black_box(himaya_app::hash_password(&format!("benchmark passphrase {i}"))?);
        latencies.push(t.elapsed());
    }
    row(
        &format!(
            "hash a password (Argon2id, m={} KiB, t={})",
            himaya_app::PASSWORD_M_COST_KIB,
            himaya_app::PASSWORD_T_COST
        ),
        hashes,
        started.elapsed(),
        Some(&mut latencies),
    );

    Ok(())
}

/// A synthetic population with 5 % duplicates written to CSV, imported
/// (rejects included), then the same rows loaded by the database's own bulk
/// path, for comparison.
async fn import_workloads(args: &BenchArgs, url: &str) -> Result<()> {
    // Import: a synthetic population with 5 % duplicates written to CSV,
    // then imported into a fresh SQLite registry (rejects included).
    let import_dir = std::env::temp_dir().join(format!("himaya-bench-import-{}", std::process::id()));
    std::fs::create_dir_all(&import_dir)?;
    let synth_households = (args.households as u64 / 5).max(1_000);
    let started = Instant::now();
    let written = synthesise(&import_dir, args.country, synth_households, 7, 0.05)?;
    row(
        &format!("synthesise people ({} households, 5 % duplicates)", written.households),
        written.persons as usize,
        started.elapsed(),
        None,
    );
    // On PostgreSQL the benchmark's database; on SQLite a file of its own.
    let import_url = if url.starts_with("sqlite:") {
        format!("sqlite://{}", import_dir.join("import.db").display())
    } else {
        url.to_owned()
    };
    let started = Instant::now();
    crate::import::import(crate::import::ImportArgs::of_files(
        import_dir.join("households.csv"),
        import_dir.join("persons.csv"),
        import_dir.join("rejects.csv"),
        format!("demo:{}", args.country.code()),
        import_url.clone(),
    ))
    .await?;
    let import = started.elapsed();
    let source = himaya_store::Store::connect(&import_url).await?;
    let backend = source.backend();
    row(
        &format!("import people from CSV (checks, history, audit; {backend:?})"),
        written.persons as usize,
        import,
        None,
    );
    let baseline = match backend {
        himaya_store::Backend::Sqlite => {
            let target =
                himaya_store::Store::connect(&format!("sqlite://{}", import_dir.join("baseline.db").display())).await?;
            target.migrate().await?;
            let timing = source.bulk_baseline(Some(&target)).await?;
            target.close().await;
            timing
        }
        himaya_store::Backend::Postgres => source.bulk_baseline(None).await?,
    };
    source.close().await;
    let path = match backend {
        himaya_store::Backend::Sqlite => "prepared INSERTs in one transaction",
        himaya_store::Backend::Postgres => "COPY in one transaction",
    };
    row(
        &format!(
            "the same people loaded by the database's own bulk path ({path}, no checks; {} rows in all, \
             reading them took {:.2} s and is left out)",
            baseline.rows,
            baseline.read.as_secs_f64()
        ),
        baseline.people as usize,
        baseline.write(),
        None,
    );
    println!(
        "| import time ÷ bulk-path time | – | {:.2} | – | – | – | – |",
        import.as_secs_f64() / baseline.write().as_secs_f64().max(1e-9)
    );

    // Scoring the imported registry with the proxy means test.
    let app = crate::open(&import_url, himaya_app::demo::deployment(args.country)?).await?;
    let started = Instant::now();
    let run = app
        .score_households(&himaya_app::Actor::system("bench"), None, |_| {})
        .await?;
    let elapsed = started.elapsed();
    row(
        &format!(
            "score households with the proxy means test ({} not scored; reading {:.1} s, scoring {:.1} s, writing {:.1} s)",
            run.not_scored,
            run.reading.as_secs_f64(),
            run.scoring.as_secs_f64(),
            run.writing.as_secs_f64()
        ),
        (run.scored + run.not_scored) as usize,
        elapsed,
        None,
    );
    app.store().close().await;
    std::fs::remove_dir_all(&import_dir).with_context(|| format!("cannot remove {}", import_dir.display()))?;

    Ok(())
}

/// The country's programmes over a registry: the first programme run for
/// real (decisions written), a dry run of its largest district, and a dry
/// run of the first programme for people.
/// The registry `--registry` names, or a new one imported from a synthetic
/// population of `--households` households: its URL, the population's
/// household truth, and the directory made for it (to remove afterwards).
async fn registry_to_run_on(
    args: &BenchArgs,
) -> Result<(String, Option<std::path::PathBuf>, Option<std::path::PathBuf>)> {
    let dir = std::env::temp_dir().join(format!("himaya-bench-registry-{}", std::process::id()));
    let mut truth = args.truth.clone();
    let url = match &args.registry {
        Some(url) => url.clone(),
        None => {
            // A registry of `--households` households, imported from a synthetic population.
            std::fs::create_dir_all(&dir)?;
            synthesise(&dir, args.country, args.households as u64, 11, 0.0)?;
            let url = format!("sqlite://{}", dir.join("registry.db").display());
            let started = Instant::now();
            crate::import::import(crate::import::ImportArgs::of_files(
                dir.join("households.csv"),
                dir.join("persons.csv"),
                dir.join("rejects.csv"),
                format!("demo:{}", args.country.code()),
                url.clone(),
            ))
            .await?;
            row(
                "import the registry to target (see the import workload)",
                args.households,
                started.elapsed(),
                None,
            );
            truth = Some(dir.join("household_truth.csv"));
            url
        }
    };
    let made = args.registry.is_none().then_some(dir);
    Ok((url, truth, made))
}

async fn targeting_workloads(args: &BenchArgs) -> Result<()> {
    let (url, truth, made) = registry_to_run_on(args).await?;
    let app = crate::open(&url, himaya_app::demo::deployment(args.country)?).await?;
    himaya_app::demo::load_programmes(&app, args.country).await?;
    let actor = Actor::system("bench");
    let programmes = himaya_app::demo::programme_texts(args.country);
    let household_programme = programmes[0].0;
    let request = |programme: &str, area: Option<String>, dry_run: bool| himaya_app::TargetRequest {
        programme: programme.to_owned(),
        area,
        dry_run,
        ..Default::default()
    };
    let describe = |r: &himaya_app::RunReport| {
        format!(
            "{} eligible, {} not decided; reading {:.2} s, preparing and scoring {:.2} s, rules (CEL) {:.2} s, writing {:.2} s",
            r.current.eligible,
            r.current.failed,
            r.timing.reading_seconds,
            r.timing.preparing_seconds,
            r.timing.rules_seconds,
            r.timing.writing_seconds
        )
    };
    let started = Instant::now();
    let full = app
        .target_run(&actor, request(household_programme, None, false), |_| {})
        .await?;
    row(
        &format!(
            "targeting run of {household_programme}, decisions written ({})",
            describe(&full)
        ),
        full.households as usize,
        started.elapsed(),
        None,
    );
    if let Some(file) = &truth {
        let q = decision_quality(&app, household_programme, file).await?;
        println!(
            "| targeting quality of {household_programme}'s decisions against true welfare (poorest 25 % poor): \
             {:.1} % selected, inclusion error {:.1} %, exclusion error {:.1} % | {} | – | – | – | – | – |",
            100.0 * q.selected as f64 / q.households.max(1) as f64,
            100.0 * q.inclusion_error,
            100.0 * q.exclusion_error,
            q.households
        );
    }
    let started = Instant::now();
    let dry = app
        .target_run(&actor, request(household_programme, None, true), |_| {})
        .await?;
    row(
        &format!("dry run of {household_programme}, whole country ({})", describe(&dry)),
        dry.households as usize,
        started.elapsed(),
        None,
    );
    if let Some((district, _)) = full.households_by_district.iter().max_by_key(|(_, n)| **n) {
        let mut latencies = Vec::new();
        let mut households = 0;
        let started = Instant::now();
        for _ in 0..3 {
            let t = Instant::now();
            let r = app
                .target_run(
                    &actor,
                    request(household_programme, Some(district.clone()), true),
                    |_| {},
                )
                .await?;
            latencies.push(t.elapsed());
            households = r.households as usize;
        }
        row(
            &format!("dry run of {household_programme} for its largest district, {district} (3 runs; latency per run)"),
            households * 3,
            started.elapsed(),
            Some(&mut latencies),
        );
    }
    if let Some((person_programme, _)) = programmes.iter().skip(1).find(|(code, _)| *code != household_programme) {
        let started = Instant::now();
        let r = app
            .target_run(&actor, request(person_programme, None, true), |_| {})
            .await?;
        row(
            &format!(
                "dry run of {person_programme} over {} people ({})",
                r.units,
                describe(&r)
            ),
            r.households as usize,
            started.elapsed(),
            None,
        );
    }
    app.flush_audit().await?;
    app.store().close().await;
    if let Some(dir) = made {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    Ok(())
}

/// A programme's stored decisions against the synthetic population's true
/// welfare (`household_truth.csv`: household_key, welfare).
async fn decision_quality(
    app: &himaya_app::App,
    programme: &str,
    truth: &std::path::Path,
) -> Result<himaya_domain::pmt::TargetingQuality> {
    let mut welfare = std::collections::HashMap::new();
    let mut reader = csv::Reader::from_path(truth).with_context(|| format!("cannot read {}", truth.display()))?;
    for row in reader.records() {
        let row = row?;
        let value: f64 = row
            .get(1)
            .unwrap_or("")
            .parse()
            .with_context(|| format!("{}: a welfare that is not a number", truth.display()))?;
        welfare.insert(row.get(0).unwrap_or("").to_owned(), value);
    }
    let selection = app.store().selection_by_source_key(programme).await?;
    let households: Vec<(bool, f64)> = selection
        .into_iter()
        .filter_map(|(key, selected)| welfare.get(&key).map(|w| (selected, *w)))
        .collect();
    anyhow::ensure!(
        !households.is_empty(),
        "no imported household of the registry is in {}",
        truth.display()
    );
    Ok(himaya_domain::pmt::selection_quality(&households, 0.25))
}
