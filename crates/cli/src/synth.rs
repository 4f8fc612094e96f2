//! `himaya synth`: a synthetic population written to a directory.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use himaya_domain::Country;
use himaya_synth::{Format, Generator, write_population};

#[derive(Args)]
pub struct SynthArgs {
    /// pk, bd, jo or ps: the country's example configuration, names and identifiers.
    #[arg(long, value_parser = crate::parse_country)]
    country: Country,
    /// How many households (about 4–7 people each, by country).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    households: u64,
    /// The same seed always gives the same population.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The share of person records registered a second time, corrupted (0 to 1).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    duplicates: f64,
    /// The directory to write households, persons, truth and household_truth files to.
    #[arg(long)]
    out: PathBuf,
    /// csv or jsonl.
    #[arg(long, default_value = "csv", value_parser = parse_format)]
    format: Format,
    /// A deployment configuration to generate for, instead of the country's example.
    #[arg(long)]
    config: Option<String>,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a share between 0 and 1 (0.05 for 5 %)")),
    }
}

fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "csv" => Ok(Format::Csv),
        "jsonl" => Ok(Format::Jsonl),
        _ => Err(format!("{s:?} is not a format: use csv or jsonl")),
    }
}

pub fn run(args: SynthArgs) -> Result<()> {
    let deployment = match &args.config {
        Some(c) => crate::load_config(c)?,
        None => crate::load_config(&format!("demo:{}", args.country.code()))?,
    };
    anyhow::ensure!(
        deployment.country == args.country,
        "the configuration is for {}, not {}",
        deployment.country.code(),
        args.country.code()
    );
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let ext = args.format.extension();
    let open = |name: &str| -> Result<BufWriter<File>> {
        let path = args.out.join(format!("{name}.{ext}"));
        let path = if name.ends_with("truth") {
            args.out.join(format!("{name}.csv"))
        } else {
            path
        };
        Ok(BufWriter::with_capacity(
            1 << 20,
            File::create(&path).with_context(|| format!("cannot write {}", path.display()))?,
        ))
    };
    let mut outputs = himaya_synth::write::Outputs {
        households: open("households")?,
        persons: open("persons")?,
        truth: open("truth")?,
        household_truth: open("household_truth")?,
    };
    let today = chrono::Utc::now().date_naive();
    let generator = Generator::new(deployment, args.seed, args.duplicates, today)?;
    let started = Instant::now();
    let summary = write_population(&generator, args.households, args.format, &mut outputs)
        .with_context(|| format!("cannot write to {}", args.out.display()))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "Wrote {} households and {} person records ({} of them duplicates) to {} in {secs:.1} s \
         ({:.0} persons/s, peak memory {:.0} MiB).",
        summary.households,
        summary.persons,
        summary.duplicates,
        args.out.display(),
        summary.persons as f64 / secs,
        crate::bench::peak_rss_mib()
    );
    Ok(())
}
