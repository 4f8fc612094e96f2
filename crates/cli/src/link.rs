//! `himaya link dedupe | match`: record linkage on plain CSV files, with no
//! registry. Columns are given roles (`--field COL=ROLE`); the rest are
//! ignored. Every row is linked or written to the rejects file with its line
//! and reason; files that cannot be used are refused before any work.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use himaya_linkage::record::parse_date;
use himaya_linkage::{Outcome, Record, Role, Settings};
use rayon::prelude::*;

#[derive(Subcommand)]
pub enum LinkCommand {
    /// Find the records of one CSV file that are the same person: pairs.csv and clusters.csv.
    Dedupe(DedupeArgs),
    /// Find the records of a right CSV file that are the same people as records of a left one.
    Match(MatchArgs),
}

#[derive(Args)]
pub struct DedupeArgs {
    /// The CSV file (UTF-8, first row the header).
    #[arg(long)]
    pub input: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args)]
pub struct MatchArgs {
    /// The left CSV file.
    #[arg(long)]
    pub left: PathBuf,
    /// The right CSV file, with the same columns for the mapped fields; or
    /// `registry`, the registry's active people (with --config and the database).
    #[arg(long)]
    pub right: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
    /// With --right registry: the deployment configuration (TOML), or `demo:pk` (bd, jo, ps).
    #[arg(long, env = "HIMAYA_CONFIG")]
    pub config: Option<String>,
    /// With --right registry: only the people of this area and those below it.
    #[arg(long)]
    pub area: Option<String>,
    #[command(flatten)]
    pub db: crate::DbArgs,
}

impl MatchArgs {
    fn against_registry(&self) -> bool {
        self.right.as_os_str() == "registry"
    }
}

#[derive(Args, Clone)]
pub struct CommonArgs {
    /// The column that identifies each record (unique within a file).
    #[arg(long)]
    pub id_column: String,
    /// COLUMN=ROLE, repeatable; ROLE is one of given_name, family_name, full_name, father_name,
    /// date_of_birth, sex, national_id, phone, address, locality, postcode, area. Several columns may
    /// share a role (a name in two scripts). Columns not mapped are ignored.
    #[arg(long = "field", required = true, value_parser = parse_field)]
    pub fields: Vec<(String, Role)>,
    /// The directory to write pairs.csv, clusters.csv, model.csv and rejects.csv to.
    #[arg(long)]
    pub out: PathBuf,
    /// Pairs with at least this match probability are kept (0 to 1).
    #[arg(long, default_value_t = 0.5, value_parser = parse_probability, allow_negative_numbers = true)]
    pub threshold: f64,
    /// Blocks of more records than this are left out and reported.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(2..=1_000_000))]
    pub max_block: u64,
    /// Weigh exact name agreement the same whatever the name, and agreement on a year of birth
    /// the same whatever the year (no term-frequency adjustment).
    #[arg(long)]
    pub no_term_frequency: bool,
}

fn parse_field(s: &str) -> Result<(String, Role), String> {
    let Some((column, role)) = s.rsplit_once('=') else {
        return Err(format!("{s:?} is not COLUMN=ROLE"));
    };
    if column.is_empty() {
        return Err(format!("{s:?} names no column"));
    }
    let role = Role::from_code(role.trim()).ok_or_else(|| {
        let roles: Vec<&str> = Role::ALL.iter().map(|r| r.code()).collect();
        format!("unknown role {role:?}; use one of {}", roles.join(", "))
    })?;
    Ok((column.to_owned(), role))
}

fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}

impl CommonArgs {
    fn settings(&self) -> Settings {
        Settings {
            threshold: self.threshold,
            max_block: self.max_block as usize,
            term_frequency: !self.no_term_frequency,
            ..Settings::default()
        }
    }

    fn roles(&self) -> Vec<Role> {
        let mut roles: Vec<Role> = self.fields.iter().map(|f| f.1).collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// Refuses a mapping that names a column twice or the id column as a
    /// field, or from which no blocking rule can be made.
    fn check(&self) -> Result<()> {
        let mut seen: HashMap<&str, Role> = HashMap::new();
        for (column, role) in &self.fields {
            if column == &self.id_column {
                bail!("--field {column}={}: {column:?} is the --id-column", role.code());
            }
            if let Some(other) = seen.insert(column, *role) {
                bail!(
                    "--field: the column {column:?} is mapped twice ({} and {})",
                    other.code(),
                    role.code()
                );
            }
        }
        if himaya_linkage::block::default_rules(&self.roles()).is_empty() {
            bail!("--field: {}", himaya_linkage::LinkError::NoBlockingRule);
        }
        Ok(())
    }
}

/// Rows parsed together.
const BATCH: usize = 16_384;

/// One input file, read.
pub struct Table {
    pub ids: Vec<String>,
    pub records: Vec<Record>,
    pub rejected: u64,
}

/// The rejects file: every row not linked, with its line and reason.
struct Rejects {
    out: csv::Writer<BufWriter<File>>,
    rows: u64,
}

impl Rejects {
    fn create(path: &Path) -> Result<Rejects> {
        let mut out = csv::Writer::from_writer(BufWriter::new(
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        ));
        out.write_record(["file", "line", "id", "column", "reason"])?;
        Ok(Rejects { out, rows: 0 })
    }

    fn add(&mut self, file: &str, line: u64, id: &str, column: &str, reason: &str) -> Result<()> {
        self.out.write_record([file, &line.to_string(), id, column, reason])?;
        self.rows += 1;
        Ok(())
    }
}

/// The columns of the header a mapping reads, by position.
struct Layout {
    id: usize,
    fields: Vec<(usize, String, Role)>,
    width: usize,
}

fn layout(path: &Path, flag: &str, header: &csv::ByteRecord, common: &CommonArgs) -> Result<Layout> {
    let mut names = Vec::with_capacity(header.len());
    for (i, cell) in header.iter().enumerate() {
        let name = std::str::from_utf8(cell).map_err(|_| {
            anyhow::anyhow!(
                "{flag} {}: the header is not UTF-8 text (column {}); convert the file to UTF-8 first \
                 (field exports are often Windows-1256: iconv -f WINDOWS-1256 -t UTF-8)",
                path.display(),
                i + 1
            )
        })?;
        // A byte order mark before the first column name is not part of it.
        names.push(
            if i == 0 {
                name.trim_start_matches('\u{FEFF}')
            } else {
                name
            }
            .trim()
            .to_owned(),
        );
    }
    let position = |column: &str, what: &str| -> Result<usize> {
        let mut at = names.iter().enumerate().filter(|(_, n)| *n == column).map(|(i, _)| i);
        let Some(first) = at.next() else {
            // A file saved with semicolons reads as one column named by them all.
            let hint = if names.len() == 1 && names[0].contains(';') {
                "; its columns are separated by semicolons: save it with commas"
            } else {
                ""
            };
            bail!(
                "{what}: {} has no column {column:?} (its columns: {}){hint}",
                path.display(),
                names.join(", ")
            );
        };
        if let Some(second) = at.next() {
            bail!(
                "{what}: {} has the column {column:?} twice (columns {} and {}): which one to read is not known",
                path.display(),
                first + 1,
                second + 1
            );
        }
        Ok(first)
    };
    let id = position(&common.id_column, "--id-column")?;
    let mut fields = Vec::new();
    for (column, role) in &common.fields {
        let at = position(column, &format!("--field {column}={}", role.code()))?;
        fields.push((at, column.clone(), *role));
    }
    Ok(Layout {
        id,
        fields,
        width: names.len(),
    })
}

/// Reads a file's records; rows that cannot be used go to the rejects.
/// Refuses a file that cannot be read, has no header or no rows, lacks a
/// mapped column, or repeats an id.
fn read(path: &Path, flag: &str, common: &CommonArgs, rejects: &mut Rejects) -> Result<Table> {
    let file = File::open(path).with_context(|| format!("{flag}: cannot read {}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let name = path
        .file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut row = csv::ByteRecord::new();
    if !reader
        .read_byte_record(&mut row)
        .with_context(|| format!("{flag}: cannot read {}", path.display()))?
    {
        bail!(
            "{flag}: {} is empty: it needs a header row and at least one record",
            path.display()
        );
    }
    let layout = layout(path, flag, &row, common)?;
    let mut table = Table {
        ids: Vec::new(),
        records: Vec::new(),
        rejected: 0,
    };
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut rows = 0u64;
    let mut batch: Vec<(u64, csv::ByteRecord)> = Vec::with_capacity(BATCH);
    let mut done = false;
    while !done {
        // Rows are read in order, parsed on every core, then taken in order.
        batch.clear();
        while batch.len() < BATCH {
            let mut row = csv::ByteRecord::new();
            if !reader
                .read_byte_record(&mut row)
                .with_context(|| format!("{flag}: cannot read {}", path.display()))?
            {
                done = true;
                break;
            }
            // A blank line is not a record.
            if row.len() == 1 && row[0].is_empty() {
                continue;
            }
            rows += 1;
            batch.push((row.position().map_or(rows + 1, |p| p.line()), row));
        }
        let parsed: Vec<_> = batch.par_iter().map(|(_, row)| record(row, &layout)).collect();
        for ((line, _), result) in batch.iter().zip(parsed) {
            match result {
                Ok((id, record)) => {
                    if let Some(first) = seen.insert(id.clone(), *line) {
                        bail!(
                            "{flag}: {} repeats the id {id:?} (column {:?}) on lines {first} and {line}: ids must be unique",
                            path.display(),
                            common.id_column
                        );
                    }
                    table.ids.push(id);
                    table.records.push(record);
                }
                Err((id, column, reason)) => {
                    rejects.add(&name, *line, &id, &column, &reason)?;
                    table.rejected += 1;
                }
            }
        }
    }
    if rows == 0 {
        bail!("{flag}: {} has a header but no records", path.display());
    }
    Ok(table)
}

type Refusal = (String, String, String);

fn record(row: &csv::ByteRecord, layout: &Layout) -> std::result::Result<(String, Record), Refusal> {
    if row.len() != layout.width {
        return Err((
            String::new(),
            String::new(),
            format!("{} cells where the header has {}", row.len(), layout.width),
        ));
    }
    let cell = |i: usize| std::str::from_utf8(&row[i]);
    let id = cell(layout.id)
        .map_err(|_| (String::new(), String::new(), "the id is not UTF-8 text".to_owned()))?
        .trim()
        .to_owned();
    if id.is_empty() {
        return Err((String::new(), String::new(), "no id".to_owned()));
    }
    let mut values = Vec::with_capacity(layout.fields.len());
    for (at, column, role) in &layout.fields {
        let value = cell(*at).map_err(|_| {
            (
                id.clone(),
                column.clone(),
                "the text is not UTF-8 (a file of mixed encodings?)".to_owned(),
            )
        })?;
        if *role == Role::DateOfBirth
            && !value.trim().is_empty()
            && let Err(e) = parse_date(value)
        {
            return Err((id.clone(), column.clone(), e.to_string()));
        }
        values.push((*role, value));
    }
    let record = Record::parse(values).map_err(|e| (id.clone(), String::new(), e.to_string()))?;
    Ok((id, record))
}

/// Refuses an output directory that holds an input file (it would be overwritten).
/// The directory a run writes to. A run refused before it reads a row, or
/// that fails, leaves it as it was (created only for the run, it is removed
/// again); rejects are written aside and take their place only when the run
/// is done ([`OutDir::done`]) or no row could be read ([`OutDir::no_rows`]).
struct OutDir {
    dir: PathBuf,
    created: bool,
    settled: bool,
}

const OUTPUTS: [&str; 4] = ["pairs.csv", "clusters.csv", "model.csv", "rejects.csv"];

impl OutDir {
    fn prepare(out: &Path, inputs: &[&Path]) -> Result<OutDir> {
        for input in inputs {
            for name in OUTPUTS {
                if let (Ok(a), Ok(b)) = (out.join(name).canonicalize(), input.canonicalize())
                    && a == b
                {
                    bail!(
                        "--out: {} would overwrite the input {}",
                        out.join(name).display(),
                        input.display()
                    );
                }
            }
        }
        let created = !out.exists();
        std::fs::create_dir_all(out).with_context(|| format!("--out: cannot create {}", out.display()))?;
        Ok(OutDir {
            dir: out.to_path_buf(),
            created,
            settled: false,
        })
    }

    fn rejects(&self) -> PathBuf {
        self.dir.join("rejects.csv.partial")
    }

    /// The run is written: its rejects join its other files.
    fn done(&mut self) -> Result<()> {
        self.settled = true;
        std::fs::rename(self.rejects(), self.dir.join("rejects.csv"))
            .with_context(|| format!("cannot write {}", self.dir.join("rejects.csv").display()))
    }

    /// No row could be read: the rejects say why, and an earlier run's
    /// files go, so the directory never holds two runs' files.
    fn no_rows(&mut self) -> Result<()> {
        self.settled = true;
        for name in &OUTPUTS[..3] {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
        std::fs::rename(self.rejects(), self.dir.join("rejects.csv"))
            .with_context(|| format!("cannot write {}", self.dir.join("rejects.csv").display()))
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        if !self.settled {
            let _ = std::fs::remove_file(self.rejects());
            if self.created {
                // Only when empty: nothing but this run's own files is removed.
                let _ = std::fs::remove_dir(&self.dir);
            }
        }
    }
}

fn writer(path: &Path) -> Result<csv::Writer<BufWriter<File>>> {
    Ok(csv::Writer::from_writer(BufWriter::with_capacity(
        1 << 20,
        File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
    )))
}

/// Which records of the right list clusters.csv lists.
#[derive(Clone, Copy, PartialEq)]
enum RightRecords {
    All,
    /// Those in a cluster with a record of the left list (the right is the registry).
    Linked,
}

/// Writes pairs.csv, clusters.csv and model.csv.
fn write_outcome(
    out: &Path,
    outcome: &Outcome,
    left: &[String],
    right: Option<&[String]>,
    listed: RightRecords,
) -> Result<()> {
    let comparisons = &outcome.model.comparisons;
    let mut pairs = writer(&out.join("pairs.csv"))?;
    let mut head = vec!["left_id", "right_id", "match_probability", "match_weight"];
    head.extend(comparisons.iter().map(|c| c.code()));
    pairs.write_record(&head)?;
    let right_ids = right.unwrap_or(left);
    for p in &outcome.pairs {
        let mut row = vec![
            left[p.left as usize].clone(),
            right_ids[p.right as usize].clone(),
            format!("{:.6}", p.probability),
            format!("{:.3}", p.weight),
        ];
        row.extend(
            comparisons
                .iter()
                .zip(p.levels)
                .map(|(c, l)| c.level_name(l).to_owned()),
        );
        pairs.write_record(&row)?;
    }
    pairs.flush()?;

    // Clusters numbered from 1 in the order of their first record.
    let mut numbers: HashMap<u32, usize> = HashMap::new();
    let mut clusters = writer(&out.join("clusters.csv"))?;
    match right {
        None => clusters.write_record(["record_id", "cluster_id"])?,
        Some(_) => clusters.write_record(["record_id", "cluster_id", "list"])?,
    }
    let with_left: std::collections::HashSet<u32> = match listed {
        RightRecords::All => Default::default(),
        RightRecords::Linked => outcome.clusters[..left.len()].iter().copied().collect(),
    };
    for (i, c) in outcome.clusters.iter().enumerate() {
        if i >= left.len() && listed == RightRecords::Linked && !with_left.contains(c) {
            continue;
        }
        let next = numbers.len() + 1;
        let number = *numbers.entry(*c).or_insert(next);
        match right {
            None => clusters.write_record([left[i].as_str(), &number.to_string()])?,
            Some(_) if i < left.len() => clusters.write_record([left[i].as_str(), &number.to_string(), "left"])?,
            Some(r) => clusters.write_record([r[i - left.len()].as_str(), &number.to_string(), "right"])?,
        }
    }
    clusters.flush()?;

    let model = &outcome.model;
    let mut m = writer(&out.join("model.csv"))?;
    m.write_record(["comparison", "level", "m", "u", "match_weight"])?;
    m.write_record(["prior", "", "", "", &format!("{:.3}", model.prior_weight())])?;
    for (i, c) in comparisons.iter().enumerate() {
        for l in 0..=c.levels().len() {
            let level = if l == c.levels().len() {
                himaya_linkage::compare::NULL
            } else {
                l as u8
            };
            m.write_record([
                c.code(),
                c.level_name(level),
                &format!("{:.6}", model.m[i][l]),
                &format!("{:.3e}", model.u[i][l]),
                &format!("{:.3}", model.level_weight(i, level)),
            ])?;
        }
    }
    m.flush()?;
    Ok(())
}

/// What a run did, for the summary.
pub struct Summary {
    pub records: usize,
    pub rejected: u64,
    pub seconds: f64,
    pub outcome: Outcome,
}

/// The summary on standard output; the files are written, so a closed
/// output (a pipe into `head`) is no failure.
fn print_summary(s: &Summary, out: &Path) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = writeln!(
        o,
        "Linked {} records ({} rejected, see rejects.csv) in {:.1} s: {} candidate pairs compared, {} kept, \
         {} clusters of two or more records; peak memory {:.0} MiB.",
        s.records,
        s.rejected,
        s.seconds,
        s.outcome.compared(),
        s.outcome.pairs.len(),
        multi_clusters(&s.outcome.clusters),
        crate::bench::peak_rss_mib()
    );
    for r in &s.outcome.rules {
        let oversized = if r.oversized_blocks > 0 {
            format!(
                " ({} blocks of {} records over --max-block left out)",
                r.oversized_blocks, r.oversized_records
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "  blocking on {}: {} pairs compared, {} kept{oversized}",
            r.rule, r.compared, r.kept
        );
    }
    let _ = writeln!(o, "Wrote pairs.csv, clusters.csv and model.csv to {}.", out.display());
}

fn multi_clusters(clusters: &[u32]) -> usize {
    let mut sizes: HashMap<u32, usize> = HashMap::new();
    for c in clusters {
        *sizes.entry(*c).or_default() += 1;
    }
    sizes.values().filter(|n| **n > 1).count()
}

/// The one file of a run, its rejects written aside; refused when no row of
/// it could be read (the rejects then say why).
fn read_list(out: &mut OutDir, path: &Path, flag: &str, common: &CommonArgs) -> Result<Table> {
    let mut rejects = Rejects::create(&out.rejects())?;
    let table = read(path, flag, common, &mut rejects)?;
    rejects.out.flush()?;
    if table.records.is_empty() {
        out.no_rows()?;
        bail!("{flag}: no row of {} could be read; see rejects.csv", path.display());
    }
    Ok(table)
}

pub fn dedupe(args: &DedupeArgs) -> Result<Summary> {
    let common = &args.common;
    common.check()?;
    let mut out = OutDir::prepare(&common.out, &[&args.input])?;
    let started = Instant::now();
    let table = read_list(&mut out, &args.input, "--input", common)?;
    let outcome = himaya_linkage::dedupe(&table.records, &common.roles(), &common.settings())?;
    write_outcome(&common.out, &outcome, &table.ids, None, RightRecords::All)?;
    out.done()?;
    Ok(Summary {
        records: table.records.len(),
        rejected: table.rejected,
        seconds: started.elapsed().as_secs_f64(),
        outcome,
    })
}

pub fn link_lists(args: &MatchArgs) -> Result<Summary> {
    let common = &args.common;
    // Said, not ignored: a list matched against another file with --area
    // would otherwise look like a district's run.
    if args.area.is_some() {
        bail!("--area: only with --right registry (a CSV file is matched whole)");
    }
    if args.db.given() {
        bail!("--db: only with --right registry (two files need no database)");
    }
    common.check()?;
    let mut out = OutDir::prepare(&common.out, &[&args.left, &args.right])?;
    let mut rejects = Rejects::create(&out.rejects())?;
    let started = Instant::now();
    let mut left = read(&args.left, "--left", common, &mut rejects)?;
    let right = read(&args.right, "--right", common, &mut rejects)?;
    rejects.out.flush()?;
    if left.records.is_empty() || right.records.is_empty() {
        out.no_rows()?;
        bail!("no row of the left or of the right file could be read; see rejects.csv");
    }
    let right_from = left.records.len();
    let rejected = left.rejected + right.rejected;
    left.records.extend(right.records);
    let outcome = himaya_linkage::link(&left.records, right_from, &common.roles(), &common.settings())?;
    write_outcome(&common.out, &outcome, &left.ids, Some(&right.ids), RightRecords::All)?;
    out.done()?;
    Ok(Summary {
        records: left.records.len(),
        rejected,
        seconds: started.elapsed().as_secs_f64(),
        outcome,
    })
}

/// `himaya link match --right registry`: the left file against the
/// registry's active people, through the application (its permission,
/// area and audit rules), as an agency's list is matched.
pub async fn link_registry(args: &MatchArgs) -> Result<Summary> {
    let common = &args.common;
    let Some(config) = &args.config else {
        bail!("--right registry: give the deployment's --config (and the database with --db or --database-url)");
    };
    common.check()?;
    if let Some((column, role)) = common
        .fields
        .iter()
        .find(|(_, r)| !himaya_app::REGISTRY_ROLES.contains(r))
    {
        if *role == Role::FullName {
            bail!(
                "--field {column}=full_name: the registry keeps names in parts; against the registry give the \
                 given and family names columns of their own (given_name, family_name, father_name)"
            );
        }
        bail!(
            "--field {column}={}: the registry's people have no {}; against the registry map only {}",
            role.code(),
            role.code(),
            himaya_app::REGISTRY_ROLES.map(Role::code).join(", ")
        );
    }
    let deployment = crate::load_config(config)?;
    let mut out = OutDir::prepare(&common.out, &[&args.left])?;
    let app = args.db.open_existing(deployment).await?;
    let started = Instant::now();
    let left = read_list(&mut out, &args.left, "--left", common)?;
    let records = left.records.len();
    let actor = himaya_app::Actor::system("link-match");
    let linked = app
        .link_with_registry(
            &actor,
            left.records,
            &common.roles(),
            common.settings(),
            args.area.as_deref(),
        )
        .await
        .map_err(|e| match &e {
            // The only field the flags give the use case is the area.
            himaya_app::AppError::Invalid(p) => anyhow::anyhow!("--{p}"),
            _ => anyhow::anyhow!("--right registry: {e}"),
        })?;
    app.flush_audit().await?;
    let people: Vec<String> = linked.people.iter().map(ToString::to_string).collect();
    write_outcome(
        &common.out,
        &linked.outcome,
        &left.ids,
        Some(&people),
        RightRecords::Linked,
    )?;
    out.done()?;
    println!(
        "Matched against {} active people of the registry, with a model learnt from the list and them.",
        people.len()
    );
    Ok(Summary {
        records: records + people.len(),
        rejected: left.rejected,
        seconds: started.elapsed().as_secs_f64(),
        outcome: linked.outcome,
    })
}

pub async fn run(command: LinkCommand) -> Result<()> {
    match command {
        LinkCommand::Dedupe(args) => {
            let summary = dedupe(&args)?;
            print_summary(&summary, &args.common.out);
        }
        LinkCommand::Match(args) => {
            let summary = if args.against_registry() {
                link_registry(&args).await?
            } else {
                link_lists(&args)?
            };
            print_summary(&summary, &args.common.out);
        }
    }
    Ok(())
}

/// `himaya bench --workloads link`: for each country, a synthetic
/// population of `households` households with 5 % duplicates, deduplicated
/// as `himaya link dedupe` does it, and its registered people (native
/// script only) matched with its duplicates (Latin letters only); precision,
/// recall and F1 on pairs against the truth; with `splink`, the same files
/// through Splink.
pub fn bench(households: u64, splink: Option<&Path>, keep: Option<&Path>) -> Result<()> {
    let base = match keep {
        Some(dir) => dir.to_path_buf(),
        None => std::env::temp_dir().join(format!("himaya-bench-link-{}", std::process::id())),
    };
    let mut quality = Vec::new();
    for country in himaya_domain::Country::ALL {
        let dir = base.join(country.code());
        std::fs::create_dir_all(&dir)?;
        let written = crate::bench::synthesise(&dir, country, households, 7, 0.05)?;
        let cross = write_people(&dir)?;
        let records = written.persons as usize;

        let out = dir.join("dedupe");
        let started = Instant::now();
        let summary = dedupe(&DedupeArgs {
            input: dir.join("people.csv"),
            common: bench_args(&out),
        })?;
        let seconds = started.elapsed();
        let truth = read_truth(&dir)?;
        let q = evaluate(&truth, &out.join("pairs.csv"), true_pairs(&truth, None))?;
        crate::bench::row(
            &format!(
                "link dedupe {} ({} candidate pairs compared, {} kept; precision {:.4}, recall {:.4}, F1 {:.4})",
                country.code(),
                summary.outcome.compared(),
                summary.outcome.pairs.len(),
                q.precision,
                q.recall,
                q.f1
            ),
            records,
            seconds,
            None,
        );
        quality.push((country, "dedupe", "himaya", q, seconds.as_secs_f64()));

        let out = dir.join("match");
        let started = Instant::now();
        let summary = link_lists(&MatchArgs {
            left: dir.join("left.csv"),
            right: dir.join("right.csv"),
            common: bench_args(&out),
            config: None,
            area: None,
            db: crate::DbArgs::default(),
        })?;
        let seconds = started.elapsed();
        let sides = (key_set(&dir.join("left.csv"))?, key_set(&dir.join("right.csv"))?);
        let q = evaluate(&truth, &out.join("pairs.csv"), true_pairs(&truth, Some(&sides)))?;
        let both_named = cross_script_recall(&truth, &out.join("pairs.csv"), &cross)?;
        crate::bench::row(
            &format!(
                "link match {}, native script against Latin letters ({} pairs kept; precision {:.4}, recall {:.4}, F1 {:.4}; \
                 recall {:.4} of the {} pairs with a given name on both sides)",
                country.code(),
                summary.outcome.pairs.len(),
                q.precision,
                q.recall,
                q.f1,
                both_named,
                cross.len()
            ),
            summary.records,
            seconds,
            None,
        );
        quality.push((country, "match", "himaya", q, seconds.as_secs_f64()));

        if let Some(python) = splink {
            for mode in ["dedupe", "match"] {
                let q = match run_splink(python, mode, &dir) {
                    Ok(q) => q,
                    Err(e) => {
                        println!(
                            "| splink {mode} {} failed: {e:#} | – | – | – | – | – | – |",
                            country.code()
                        );
                        continue;
                    }
                };
                let n = if mode == "dedupe" { records } else { summary.records };
                println!(
                    "| splink {mode} {} (precision {:.4}, recall {:.4}, F1 {:.4}) | {n} | {:.2} | {:.0} | – | – | – |",
                    country.code(),
                    q.0.precision,
                    q.0.recall,
                    q.0.f1,
                    q.1,
                    n as f64 / q.1
                );
                quality.push((country, mode, "splink", q.0, q.1));
            }
        }
        if keep.is_none() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    println!();
    println!("| country | task | tool | true pairs | pairs kept | precision | recall | F1 | seconds |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (country, task, tool, q, seconds) in quality {
        println!(
            "| {} | {task} | {tool} | {} | {} | {:.4} | {:.4} | {:.4} | {seconds:.2} |",
            country.code(),
            q.true_pairs,
            q.kept,
            q.precision,
            q.recall,
            q.f1
        );
    }
    if keep.is_none() {
        let _ = std::fs::remove_dir(&base);
    }
    Ok(())
}

const BENCH_FIELDS: &[(&str, Role)] = &[
    ("given_name", Role::GivenName),
    ("given_name_latin", Role::GivenName),
    ("family_name", Role::FamilyName),
    ("family_name_latin", Role::FamilyName),
    ("father_name", Role::FatherName),
    ("father_name_latin", Role::FatherName),
    ("sex", Role::Sex),
    ("date_of_birth", Role::DateOfBirth),
    ("phone", Role::Phone),
    ("identifier", Role::NationalId),
    ("area", Role::Area),
    ("address", Role::Address),
];

fn bench_args(out: &Path) -> CommonArgs {
    CommonArgs {
        id_column: "person_key".to_owned(),
        fields: BENCH_FIELDS.iter().map(|(c, r)| ((*c).to_owned(), *r)).collect(),
        out: out.to_path_buf(),
        threshold: 0.5,
        max_block: 2_000,
        no_term_frequency: false,
    }
}

/// people.csv: each person with their household's area and address (the
/// persons file has neither); left.csv: the first registrations with names in native
/// script only; right.csv: the second registrations with names in Latin
/// letters only. Returns the second registrations that keep a given name
/// in Latin letters whose first registration has one in native script: the
/// pairs whose names can only be compared across scripts.
fn write_people(dir: &Path) -> Result<std::collections::HashSet<String>> {
    // Each household's area and address, the household context of its people.
    let mut homes: HashMap<String, (String, String)> = HashMap::new();
    let mut households = csv::Reader::from_path(dir.join("households.csv"))?;
    for row in households.records() {
        let row = row?;
        homes.insert(row[0].to_owned(), (row[1].to_owned(), row[2].to_owned()));
    }
    let truth = read_truth(dir)?;
    let mut persons = csv::Reader::from_path(dir.join("persons.csv"))?;
    let head: Vec<String> = persons.headers()?.iter().map(str::to_owned).collect();
    let at = |name: &str| {
        head.iter()
            .position(|h| h == name)
            .context(format!("persons.csv has no {name}"))
    };
    let columns: Vec<usize> = BENCH_FIELDS
        .iter()
        .filter(|(c, _)| !matches!(*c, "area" | "address"))
        .map(|(c, _)| at(c))
        .collect::<Result<_>>()?;
    let (key, household) = (at("person_key")?, at("household_key")?);
    let mut out_head = vec!["person_key"];
    out_head.extend(BENCH_FIELDS.iter().map(|(c, _)| *c));
    let mut people = writer(&dir.join("people.csv"))?;
    let mut left = writer(&dir.join("left.csv"))?;
    let mut right = writer(&dir.join("right.csv"))?;
    for w in [&mut people, &mut left, &mut right] {
        w.write_record(&out_head)?;
    }
    let mut native_given: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut latin_given: Vec<(String, String)> = Vec::new();
    for row in persons.records() {
        let row = row?;
        let mut cells: Vec<&str> = vec![&row[key]];
        cells.extend(columns.iter().map(|&i| &row[i]));
        let home = homes.get(&row[household]);
        cells.push(home.map_or("", |h| h.0.as_str()));
        cells.push(home.map_or("", |h| h.1.as_str()));
        people.write_record(&cells)?;
        // Names are the first six mapped columns, native and Latin in turn.
        let original = truth.get(&row[key]).is_some_and(|t| t == &row[key]);
        let keep_latin = !original;
        let split: Vec<&str> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if (1..=6).contains(&i) && (i % 2 == 0) != keep_latin {
                    ""
                } else {
                    *c
                }
            })
            .collect();
        if original {
            if !split[1].is_empty() {
                native_given.insert(row[key].to_owned());
            }
            left.write_record(&split)?;
        } else {
            if !split[2].is_empty() {
                latin_given.push((row[key].to_owned(), truth.get(&row[key]).cloned().unwrap_or_default()));
            }
            right.write_record(&split)?;
        }
    }
    for w in [&mut people, &mut left, &mut right] {
        w.flush()?;
    }
    Ok(latin_given
        .into_iter()
        .filter(|(_, original)| native_given.contains(original))
        .map(|(k, _)| k)
        .collect())
}

/// The share of `among` (right records) whose true match was kept.
fn cross_script_recall(
    truth: &HashMap<String, String>,
    pairs: &Path,
    among: &std::collections::HashSet<String>,
) -> Result<f64> {
    let mut found = std::collections::HashSet::new();
    for row in csv::Reader::from_path(pairs)?.records() {
        let row = row?;
        if among.contains(&row[1]) && truth.get(&row[0]).is_some() && truth.get(&row[0]) == truth.get(&row[1]) {
            found.insert(row[1].to_owned());
        }
    }
    Ok(found.len() as f64 / among.len().max(1) as f64)
}

fn read_truth(dir: &Path) -> Result<HashMap<String, String>> {
    let mut truth = HashMap::new();
    for row in csv::Reader::from_path(dir.join("truth.csv"))?.records() {
        let row = row?;
        truth.insert(row[0].to_owned(), row[1].to_owned());
    }
    Ok(truth)
}

fn key_set(path: &Path) -> Result<std::collections::HashSet<String>> {
    let mut keys = std::collections::HashSet::new();
    for row in csv::Reader::from_path(path)?.records() {
        keys.insert(row?[0].to_owned());
    }
    Ok(keys)
}

type Sides = (std::collections::HashSet<String>, std::collections::HashSet<String>);

/// Pairs of records of one person: within the file, or across the two lists.
fn true_pairs(truth: &HashMap<String, String>, sides: Option<&Sides>) -> u64 {
    let mut per_person: HashMap<&str, (u64, u64)> = HashMap::new();
    for (key, person) in truth {
        let e = per_person.entry(person).or_default();
        match sides {
            None => e.0 += 1,
            Some((left, right)) => {
                e.0 += u64::from(left.contains(key));
                e.1 += u64::from(right.contains(key));
            }
        }
    }
    per_person
        .values()
        .map(|&(a, b)| {
            if sides.is_none() {
                a * a.saturating_sub(1) / 2
            } else {
                a * b
            }
        })
        .sum()
}

#[derive(Clone, Copy, Debug, serde::Deserialize)]
struct Quality {
    #[serde(rename = "pairs")]
    kept: u64,
    true_pairs: u64,
    precision: f64,
    recall: f64,
    f1: f64,
}

fn evaluate(truth: &HashMap<String, String>, pairs: &Path, true_pairs: u64) -> Result<Quality> {
    let (mut kept, mut right) = (0u64, 0u64);
    for row in csv::Reader::from_path(pairs)?.records() {
        let row = row?;
        kept += 1;
        right += u64::from(truth.get(&row[0]).is_some() && truth.get(&row[0]) == truth.get(&row[1]));
    }
    let precision = right as f64 / kept.max(1) as f64;
    let recall = right as f64 / true_pairs.max(1) as f64;
    Ok(Quality {
        kept,
        true_pairs,
        precision,
        recall,
        f1: 2.0 * precision * recall / (precision + recall).max(1e-12),
    })
}

/// Runs scripts/splink_link.py (built in) with `python` on the same files.
fn run_splink(python: &Path, mode: &str, dir: &Path) -> Result<(Quality, f64)> {
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(include_str!("../../../scripts/splink_link.py"))
        .arg(mode)
        .arg(dir)
        .output()
        .with_context(|| format!("--splink: cannot run {}", python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "{}",
            err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message")
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().context("Splink printed nothing")?;
    #[derive(serde::Deserialize)]
    struct Report {
        #[serde(flatten)]
        quality: Quality,
        seconds: f64,
    }
    let report: Report = serde_json::from_str(line).with_context(|| format!("Splink printed {line:?}"))?;
    Ok((report.quality, report.seconds))
}
