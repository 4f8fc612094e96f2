//! `himaya dedup run`: a deduplication run over the registry (or one area)
//! from the server's command line, the same use case the API and the pages
//! call, with its figures.

use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};
use himaya_app::DedupRunRequest;

#[derive(Subcommand)]
pub enum DedupCommand {
    /// Find likely duplicates among the active people and put new pairs in the review queue.
    Run(RunArgs),
}

#[derive(Args)]
pub struct RunArgs {
    /// The deployment configuration (TOML), or `demo:pk` (bd, jo, ps).
    #[arg(long, env = "HIMAYA_CONFIG")]
    config: String,
    /// Only this area and those below it.
    #[arg(long)]
    area: Option<String>,
    /// Pairs at or above this match probability are stored (default 0.8).
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<f64>,
    #[command(flatten)]
    db: crate::DbArgs,
}

pub async fn run(command: DedupCommand) -> Result<()> {
    let DedupCommand::Run(args) = command;
    let deployment = crate::load_config(&args.config)?;
    let app = args.db.open_existing(deployment).await?;
    let actor = himaya_app::Actor::system("dedup-run");
    let started = Instant::now();
    let run = app
        .run_dedup(
            &actor,
            DedupRunRequest {
                area: args.area,
                threshold: args.threshold,
            },
        )
        .await?;
    app.flush_audit().await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "Compared {} people ({} candidate pairs) in {secs:.1} s ({:.0} people/s): {} pairs at or above {}, \
         {} new in the review queue, {} already decided and not proposed again. Run {}. Peak memory {:.0} MiB.",
        run.persons,
        run.compared,
        run.persons as f64 / secs.max(1e-9),
        run.pairs_found,
        run.threshold,
        run.pairs_new,
        run.pairs_decided,
        run.id,
        crate::bench::peak_rss_mib(),
    );
    Ok(())
}
