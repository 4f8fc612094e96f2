//! `himaya compliance import`: school attendance and health visits from CSV.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use himaya_app::{Actor, AppError, COMPLIANCE_BATCH, ComplianceInput};

#[derive(Subcommand)]
pub enum ComplianceCommand {
    /// Record values from a CSV file with the columns person_id, kind
    /// (school_attendance or health_visits), period (2026-Q3) and value. Every
    /// row is checked before any is written: one bad row and nothing is.
    Import(ImportArgs),
}

#[derive(Args)]
pub struct ImportArgs {
    /// The CSV file.
    file: PathBuf,
    /// Where the values come from, recorded with each (`school_census`).
    #[arg(long, default_value = "import")]
    source: String,
    /// The deployment configuration (TOML), or `demo:pk` (bd, jo, ps).
    #[arg(long, env = "HIMAYA_CONFIG")]
    config: String,
    #[command(flatten)]
    db: crate::DbArgs,
}

pub async fn run(command: ComplianceCommand) -> Result<()> {
    let ComplianceCommand::Import(args) = command;
    let mut reader =
        csv::Reader::from_path(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h.trim() == name).with_context(|| {
            format!(
                "{} has no column {name:?} (it needs person_id, kind, period, value)",
                args.file.display()
            )
        })
    };
    let (person, kind, period, value) = (
        column("person_id")?,
        column("kind")?,
        column("period")?,
        column("value")?,
    );
    let mut records = Vec::new();
    let mut faults = Vec::new();
    for (i, row) in reader.records().enumerate() {
        // Line 1 is the header.
        let line = i + 2;
        let row = row.with_context(|| format!("line {line} cannot be read"))?;
        let cell = |n: usize| row.get(n).unwrap_or("").trim().to_owned();
        let number = cell(value);
        match number.parse::<f64>() {
            Ok(v) => records.push((
                line,
                ComplianceInput {
                    person_id: cell(person),
                    kind: cell(kind),
                    period: cell(period),
                    value: v,
                },
            )),
            Err(_) => faults.push(format!("line {line}, value: {number:?} is not a number")),
        }
    }
    if records.is_empty() && faults.is_empty() {
        bail!("{} has no rows", args.file.display());
    }
    let app = args.db.open_existing(crate::load_config(&args.config)?).await?;
    let actor = Actor::system("compliance-import");
    let mut checked = Vec::new();
    for part in records.chunks(COMPLIANCE_BATCH) {
        let inputs: Vec<ComplianceInput> = part.iter().map(|(_, r)| r.clone()).collect();
        match app.check_compliance(&actor, &inputs).await {
            Ok(rows) => checked.push(rows),
            Err(AppError::Invalid(p)) => {
                for e in p.errors {
                    // `records[3].value` → the file's line and column.
                    let (index, field) = e
                        .field
                        .strip_prefix("records[")
                        .and_then(|r| r.split_once("]."))
                        .and_then(|(i, f)| Some((i.parse::<usize>().ok()?, f.to_owned())))
                        .unwrap_or((0, e.field.clone()));
                    let line = part.get(index).map_or(0, |(l, _)| *l);
                    faults.push(format!("line {line}, {field}: {}", e.message));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !faults.is_empty() {
        faults.sort_by_key(|f| {
            f.split(',')
                .next()
                .and_then(|l| l.trim_start_matches("line ").parse::<usize>().ok())
        });
        bail!(
            "{} is refused, nothing was recorded ({} faults):\n  {}",
            args.file.display(),
            faults.len(),
            faults.join("\n  ")
        );
    }
    // One transaction for the whole file: all of it is recorded, or none.
    let rows: Vec<_> = checked.into_iter().flatten().collect();
    let recorded = app.save_compliance(&actor, &args.source, &rows).await?;
    app.flush_audit().await?;
    println!("Recorded {recorded} compliance values from {}.", args.file.display());
    Ok(())
}
