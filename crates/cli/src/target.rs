//! `himaya programme save|list|show` and `himaya target run`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use himaya_app::{Actor, App, RunReport, Tally, TargetRequest, money};
use himaya_domain::programme::ProgrammeDef;

#[derive(Subcommand)]
pub enum ProgrammeCommand {
    /// Check a programme file (TOML) and save it as the programme's next version.
    Save(SaveArgs),
    /// List the programmes in force.
    List(ConfigDb),
}

#[derive(Args)]
pub struct ConfigDb {
    /// The deployment configuration (TOML), or `demo:pk` (bd, jo, ps).
    #[arg(long, env = "HIMAYA_CONFIG")]
    config: String,
    #[command(flatten)]
    db: crate::DbArgs,
}

#[derive(Args)]
pub struct SaveArgs {
    /// Programme files to save, e.g. config/programmes/pk-kafalat.toml.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    target: ConfigDb,
}

#[derive(Subcommand)]
pub enum TargetCommand {
    /// Decide every household (or person) in scope against a programme.
    Run(RunArgs),
}

#[derive(Args)]
pub struct RunArgs {
    /// The programme's code, e.g. pk-kafalat.
    #[arg(long)]
    programme: String,
    /// Only this area and those below it.
    #[arg(long)]
    area: Option<String>,
    /// Report what the rules would do; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Enrol the eligible straight away, in priority order, within quota and budget.
    #[arg(long, conflicts_with = "dry_run")]
    enrol: bool,
    /// Simulate a parameter change side by side with the rules in force
    /// (dry runs only), e.g. --set pmt_threshold=35. May be repeated.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting, requires = "dry_run")]
    settings: Vec<(String, String)>,
    /// Print the whole report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: ConfigDb,
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() && !value.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("{s:?} is not NAME=VALUE (e.g. pmt_threshold=35)")),
    }
}

async fn open(target: &ConfigDb) -> Result<App> {
    let deployment = crate::load_config(&target.config)?;
    target.db.open_existing(deployment).await
}

pub async fn programme(command: ProgrammeCommand) -> Result<()> {
    match command {
        ProgrammeCommand::Save(args) => {
            let app = open(&args.target).await?;
            let actor = Actor::system("programme-save");
            let mut defs = Vec::new();
            // Every file is read and parsed before any is saved.
            for file in &args.files {
                let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
                let def = ProgrammeDef::from_toml(&text).map_err(|p| anyhow::anyhow!("{}: {p}", file.display()))?;
                defs.push((file, def));
            }
            for (file, def) in defs {
                let code = def.code.clone();
                match app.save_programme(&actor, def).await {
                    Ok(view) => println!("{code}: version {} in force ({})", view.version, file.display()),
                    Err(himaya_app::AppError::Invalid(p)) => {
                        let lines: Vec<String> = p
                            .errors
                            .iter()
                            .map(|e| format!("  {}: {}", e.field, e.message))
                            .collect();
                        bail!("{} is refused:\n{}", file.display(), lines.join("\n"));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            app.flush_audit().await?;
            Ok(())
        }
        ProgrammeCommand::List(target) => {
            let app = open(&target).await?;
            let language = app.deployment().default_language().to_owned();
            for p in app.programmes(&Actor::system("programme-list")).await? {
                println!(
                    "{:<20} v{:<3} {:<9} {:<9} {}",
                    p.code,
                    p.version,
                    format!("{:?}", p.definition.target).to_lowercase(),
                    format!("{:?}", p.definition.frequency).to_lowercase(),
                    p.definition.name_in(&language)
                );
            }
            Ok(())
        }
    }
}

pub async fn target(command: TargetCommand) -> Result<()> {
    let TargetCommand::Run(args) = command;
    let app = open(&args.target).await?;
    let actor = Actor::system("target-run");
    let started = Instant::now();
    let request = TargetRequest {
        programme: args.programme.clone(),
        area: args.area.clone(),
        dry_run: args.dry_run,
        enrol: args.enrol,
        overrides: args.settings.clone(),
    };
    let report = app
        .target_run(&actor, request, |households| {
            if households % 100_000 < 5_000 {
                eprintln!("{households} households read");
            }
        })
        .await?;
    app.flush_audit().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_report(&app, &report, started.elapsed().as_secs_f64());
    Ok(())
}

fn print_tally(app: &App, title: &str, t: &Tally) {
    let exponent = app.deployment().currency_exponent();
    let currency = &app.deployment().currency;
    println!(
        "{title}: {} eligible ({} people), {} not eligible, {} not decided; cost per cycle {currency} {}",
        t.eligible,
        t.people,
        t.not_eligible,
        t.failed,
        money(t.cost_per_cycle, exponent)
    );
    println!(
        "  within the quota and budget: {} at {currency} {} per cycle",
        t.within_limits,
        money(t.cost_within_limits, exponent)
    );
    for (why, n) in &t.refusals {
        println!("  not eligible: {why}: {n}");
    }
    for (message, n) in &t.errors {
        println!("  not decided: {message}: {n}");
    }
    let by_sex: Vec<String> = t.people_by_sex.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let by_age: Vec<String> = t.people_by_age.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("  eligible people by sex: {}", by_sex.join(", "));
    println!("  eligible people by age: {}", by_age.join(", "));
    let mut districts: Vec<_> = t.by_district.iter().collect();
    districts.sort_by_key(|d| std::cmp::Reverse(d.1.eligible));
    for (code, d) in districts.iter().take(10) {
        println!(
            "  {code:<14} {:>8} eligible {:>9} people  {currency} {}",
            d.eligible,
            d.people,
            money(d.cost_per_cycle, exponent)
        );
    }
    if districts.len() > 10 {
        println!(
            "  … and {} more districts (--json lists them all)",
            districts.len() - 10
        );
    }
}

fn print_report(app: &App, r: &RunReport, secs: f64) {
    println!(
        "{} {} v{}{}: {} households, {} {}s evaluated in {secs:.2} s ({:.0} households/s).",
        if r.dry_run { "Dry run of" } else { "Targeting run of" },
        r.programme,
        r.programme_version,
        r.area.as_deref().map(|a| format!(" in {a}")).unwrap_or_default(),
        r.households,
        r.units,
        format!("{:?}", r.target).to_lowercase(),
        r.households as f64 / secs.max(1e-9),
    );
    println!(
        "Time: reading {:.2} s, preparing and scoring {:.2} s, rules (CEL) {:.2} s, writing {:.2} s.",
        r.timing.reading_seconds, r.timing.preparing_seconds, r.timing.rules_seconds, r.timing.writing_seconds
    );
    print_tally(app, "Rules in force", &r.current);
    if let Some(s) = &r.simulated {
        let set: Vec<String> = s.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        print_tally(app, &format!("With {}", set.join(", ")), &s.tally);
    }
    if r.enrolled_now_not_eligible > 0 {
        println!(
            "{} enrolled units would no longer be eligible (left enrolled; see recertification).",
            r.enrolled_now_not_eligible
        );
    }
    if let Some(id) = &r.run_id {
        println!("Decisions written; run {id}.");
    }
    if r.enrolled > 0 {
        println!("Enrolled {}.", r.enrolled);
    }
    println!("Peak memory {:.0} MiB.", crate::bench::peak_rss_mib());
}
