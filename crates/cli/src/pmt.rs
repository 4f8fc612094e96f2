//! `himaya pmt`: proxy means test models fitted on, and measured against, a
//! synthetic household survey whose true welfare is known.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use himaya_domain::Country;
use himaya_domain::attributes::{AttributeType, Attributes};
use himaya_domain::config::Deployment;
use himaya_domain::pmt::{self, PmtModel};
use himaya_synth::Generator;

#[derive(Subcommand)]
pub enum PmtCommand {
    /// Fit a model by least squares on a synthetic survey, and write it as TOML.
    Fit(FitArgs),
    /// Score a synthetic population with a model; report who is left unscored
    /// and the inclusion and exclusion errors at a threshold.
    Evaluate(EvaluateArgs),
    /// Score the registry's active households whose score is missing or stale
    /// (another model version, or the household changed since).
    Score(ScoreArgs),
}

#[derive(Args)]
pub struct ScoreArgs {
    /// The deployment configuration (TOML), which names the model, or `demo:pk` (bd, jo, ps).
    #[arg(long, env = "HIMAYA_CONFIG")]
    config: String,
    /// Only this area and those below it.
    #[arg(long)]
    area: Option<String>,
    #[command(flatten)]
    db: crate::DbArgs,
}

#[derive(Args)]
pub struct FitArgs {
    /// pk, bd, jo or ps: the country's example configuration.
    #[arg(long, value_parser = crate::parse_country)]
    country: Country,
    /// Households in the survey.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    households: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The attributes the model weighs (comma-separated); by default every
    /// number, yes/no and choice attribute of the deployment.
    #[arg(long, value_delimiter = ',')]
    inputs: Vec<String>,
    /// The model's version, recorded with every score it gives.
    #[arg(long)]
    version: String,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub struct EvaluateArgs {
    /// The model (TOML), as `pmt fit` writes it.
    #[arg(long)]
    model: PathBuf,
    #[arg(long, value_parser = crate::parse_country)]
    country: Country,
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    households: u64,
    /// Another seed than the fit's, so that the model meets households it was not fitted on.
    #[arg(long, default_value_t = 2)]
    seed: u64,
    /// Households scoring at or under this are selected (0–100).
    #[arg(long, value_parser = parse_score)]
    threshold: f64,
    /// The share of households counted as truly poor, by true welfare.
    #[arg(long, default_value_t = 0.25, value_parser = parse_share)]
    poor_share: f64,
}

fn parse_score(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a score between 0 and 100")),
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!("{s:?} is not a share between 0 and 1 (0.25 for 25 %)")),
    }
}

pub async fn run(command: PmtCommand) -> Result<()> {
    match command {
        PmtCommand::Fit(args) => fit(args),
        PmtCommand::Evaluate(args) => evaluate(args),
        PmtCommand::Score(args) => score(args).await,
    }
}

async fn score(args: ScoreArgs) -> Result<()> {
    let deployment = crate::load_config(&args.config)?;
    if deployment.pmt.is_none() {
        bail!("the configuration names no proxy means test model: add pmt_model_file to it");
    }
    let app = args.db.open_existing(deployment).await?;
    let actor = himaya_app::Actor::system("pmt-score");
    let started = Instant::now();
    let run = app
        .score_households(&actor, args.area.as_deref(), |r| {
            eprintln!("{} households scored, {} not scored", r.scored, r.not_scored);
        })
        .await?;
    app.flush_audit().await?;
    let secs = started.elapsed().as_secs_f64();
    let n = run.scored + run.not_scored;
    println!(
        "Scored {} households with {} in {secs:.1} s ({:.0} households/s: reading {:.1} s, scoring {:.1} s, \
         writing {:.1} s); {} not scored for a missing input{}. Peak memory {:.0} MiB.",
        run.scored,
        run.model_version,
        n as f64 / secs.max(1e-9),
        run.reading.as_secs_f64(),
        run.scoring.as_secs_f64(),
        run.writing.as_secs_f64(),
        run.not_scored,
        if run.missing.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                run.missing
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        crate::bench::peak_rss_mib()
    );
    Ok(())
}

fn generator(country: Country, seed: u64) -> Result<Generator> {
    let deployment = crate::load_config(&format!("demo:{}", country.code()))?;
    // No duplicates: a survey counts each household once.
    Ok(Generator::new(deployment, seed, 0.0, chrono::Utc::now().date_naive())?)
}

/// Synthetic households, generated block by block as they are used:
/// attributes with true welfare.
fn survey(generator: &Generator, households: u64) -> impl Iterator<Item = (Attributes, f64)> + '_ {
    const BLOCK: u64 = 10_000;
    let names = generator.deployment().household_attributes.names();
    (0..households.div_ceil(BLOCK)).flat_map(move |b| {
        let first = b * BLOCK;
        let block = generator.block(first, BLOCK.min(households - first));
        let names = names.clone();
        block.households.into_iter().map(move |h| {
            let attributes: Attributes = names
                .iter()
                .zip(h.attributes)
                .filter_map(|(n, v)| Some((n.clone(), v?)))
                .collect();
            (attributes, h.welfare)
        })
    })
}

fn fit(args: FitArgs) -> Result<()> {
    let generator = generator(args.country, args.seed)?;
    let deployment: &Deployment = generator.deployment();
    let schema = &deployment.household_attributes;
    let inputs: Vec<String> = if args.inputs.is_empty() {
        schema
            .defs()
            .iter()
            .filter(|d| !matches!(d.kind, AttributeType::Date | AttributeType::Text))
            .map(|d| d.name.clone())
            .collect()
    } else {
        args.inputs.clone()
    };
    if args.version.trim().is_empty() {
        bail!("--version: a model needs a version");
    }
    pmt::check_inputs(schema, &inputs).context("--inputs")?;
    let started = Instant::now();
    let report = pmt::fit(&args.version, schema, &inputs, survey(&generator, args.households)).with_context(|| {
        format!(
            "cannot fit a model on {} synthetic households (--households)",
            args.households
        )
    })?;
    let mut model = report.model;
    model.description = format!(
        "Illustrative: fitted by least squares on {} synthetic households of the {} example (seed {}), \
         whose welfare is known; not a national model.",
        report.used,
        args.country.alpha2(),
        args.seed
    );
    let text = format!(
        "# A proxy means test model. Written by: himaya pmt fit --country {} --households {} --seed {} --version {}{}\n{}",
        args.country.code(),
        args.households,
        args.seed,
        args.version,
        if args.inputs.is_empty() {
            String::new()
        } else {
            format!(" --inputs {}", args.inputs.join(","))
        },
        model.to_toml()
    );
    std::fs::write(&args.out, text).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "Fitted {} on {} households ({} left out for a missing input) in {:.1} s: {} terms, scale {:.4}–{:.4}; wrote {}.",
        model.version,
        report.used,
        report.skipped,
        started.elapsed().as_secs_f64(),
        model.terms.len(),
        model.scale.low,
        model.scale.high,
        args.out.display()
    );
    Ok(())
}

fn evaluate(args: EvaluateArgs) -> Result<()> {
    let generator = generator(args.country, args.seed)?;
    let text = std::fs::read_to_string(&args.model).with_context(|| format!("cannot read {}", args.model.display()))?;
    let model = PmtModel::from_toml(&text, &generator.deployment().household_attributes)
        .with_context(|| format!("{} is not a usable model", args.model.display()))?;
    let mut scored: Vec<(Option<f64>, f64)> = Vec::new();
    let mut missing: std::collections::BTreeMap<String, u64> = Default::default();
    let mut scoring = std::time::Duration::ZERO;
    let started = Instant::now();
    for (a, w) in survey(&generator, args.households) {
        let t = Instant::now();
        let result = model.score(&a);
        scoring += t.elapsed();
        match result {
            Ok(s) => scored.push((Some(s.score), w)),
            Err(m) => {
                for name in m.0 {
                    *missing.entry(name).or_default() += 1;
                }
                scored.push((None, w));
            }
        }
    }
    let total = started.elapsed();
    let q = pmt::targeting_quality(&scored, args.threshold, args.poor_share);
    let pct = |n: usize| 100.0 * n as f64 / q.households as f64;
    println!(
        "Model {} on {} synthetic households ({}, seed {}), threshold {}, the poorest {:.0} % counted as poor:",
        model.version,
        q.households,
        args.country.alpha2(),
        args.seed,
        args.threshold,
        args.poor_share * 100.0
    );
    println!(
        "  not scored for a missing input: {} ({:.1} %){}",
        q.not_scored,
        pct(q.not_scored),
        if missing.is_empty() {
            String::new()
        } else {
            format!(
                " — {}",
                missing
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    println!("  selected: {} ({:.1} %)", q.selected, pct(q.selected));
    println!(
        "  inclusion error: {:.1} % of the selected are not among the poor",
        q.inclusion_error * 100.0
    );
    println!(
        "  exclusion error: {:.1} % of the poor are not selected",
        q.exclusion_error * 100.0
    );
    println!(
        "  scored {:.0} households/s ({:.2} s in scoring, {:.2} s in all with generation); peak memory {:.0} MiB",
        q.households as f64 / scoring.as_secs_f64().max(1e-9),
        scoring.as_secs_f64(),
        total.as_secs_f64(),
        crate::bench::peak_rss_mib()
    );
    Ok(())
}
