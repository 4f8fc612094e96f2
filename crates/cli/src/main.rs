//! The `himaya` binary.

mod admin;
mod bench;
mod bench_payments;
mod compliance;
mod cycle;
mod dedup;
mod export;
mod import;
mod link;
mod pmt;
mod synth;
mod target;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use himaya_app::{Actor, App};
use himaya_domain::Country;
use himaya_domain::config::Deployment;
use himaya_store::Store;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "himaya",
    version,
    about = "Himaya: a social registry of households and people, and the help that reaches them."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a deployment: the JSON API under /api/v1 and /health.
    Serve {
        /// The deployment configuration (TOML): country, languages, identifier types, attributes, areas;
        /// or `demo:pk` (bd, jo, ps) for the demo's built-in one.
        #[arg(long, env = "HIMAYA_CONFIG")]
        config: String,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080", env = "HIMAYA_LISTEN")]
        listen: String,
        /// A reverse proxy's address whose X-Forwarded-For names the client (for sign-in limits); repeatable.
        #[arg(long = "trusted-proxy", env = "HIMAYA_TRUSTED_PROXIES", value_delimiter = ',')]
        trusted_proxies: Vec<std::net::IpAddr>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Create (or reuse) a SQLite registry with a demo population for a country and serve it.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// The SQLite file to create or reuse.
        #[arg(long, default_value = "himaya-demo.db")]
        db: PathBuf,
        /// Which country's example configuration and names to use: pk, bd, jo or ps.
        #[arg(long, default_value = "pk", value_parser = parse_country)]
        country: Country,
        /// How many demo households to register in a new registry.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        households: u32,
    },
    /// Bring the database schema up to date, then exit.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Check a deployment configuration file and say what is wrong with it.
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
    },
    /// Measure the registry's throughput and latency on a fresh database.
    Bench(bench::BenchArgs),
    /// Import households and people from CSV, JSON Lines or Excel (XLSX) files, refused rows to a rejects file.
    Import(import::ImportArgs),
    /// Export households and their people to CSV or JSON Lines that import reads back.
    Export(export::ExportArgs),
    /// Write a synthetic population (households, persons, and the truth about its duplicates).
    Synth(synth::SynthArgs),
    /// Record linkage on CSV files: dedupe one list, or match two.
    #[command(subcommand)]
    Link(link::LinkCommand),
    /// Deduplication in the registry: a run that fills the review queue.
    #[command(subcommand)]
    Dedup(dedup::DedupCommand),
    /// Proxy means test models: fit one on a synthetic survey, evaluate one.
    #[command(subcommand)]
    Pmt(pmt::PmtCommand),
    /// Programmes: save (check and version a definition), list.
    #[command(subcommand)]
    Programme(target::ProgrammeCommand),
    /// Targeting: run a programme's rules over the registry (or dry-run them).
    #[command(subcommand)]
    Target(target::TargetCommand),
    /// Compliance with programme conditions: import school attendance and health visits.
    #[command(subcommand)]
    Compliance(compliance::ComplianceCommand),
    /// Payment cycles: open, compute, submit, approve, reject, cancel, issue, reconcile, close, show, report.
    #[command(subcommand)]
    Cycle(cycle::CycleCommand),
    /// Funding lines that payment cycles draw on: set, list.
    #[command(subcommand)]
    Funding(cycle::FundingCommand),
    /// People's financial accounts: import.
    #[command(subcommand)]
    Account(cycle::AccountCommand),
    /// Staff accounts: add, set-role, disable, enable, list.
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Personal bearer tokens for scripts: create, revoke.
    #[command(subcommand)]
    Token(admin::TokenCommand),
    /// Partner agencies' API access: add, token, disable, list.
    #[command(subcommand)]
    Agency(admin::AgencyCommand),
    /// The audit trail: verify.
    #[command(subcommand)]
    Audit(admin::AuditCommand),
}

/// Where the database is. `--db FILE` is short for `--database-url sqlite://FILE`.
#[derive(Args, Clone, Default)]
pub struct DbArgs {
    /// sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(long, env = "HIMAYA_DATABASE_URL", conflicts_with = "db")]
    database_url: Option<String>,
    /// A SQLite file (default himaya.db).
    #[arg(long, value_parser = parse_db_file)]
    db: Option<PathBuf>,
}

/// `--db` takes a file; a URL given to it would be read as a file named
/// after the URL, and fail later with a message about neither.
fn parse_db_file(s: &str) -> Result<PathBuf, String> {
    if s.contains("://") {
        return Err("a SQLite file's path, not a URL: give a database URL with --database-url".to_owned());
    }
    Ok(PathBuf::from(s))
}

impl DbArgs {
    /// Opens the registry the arguments name, which must exist: a command
    /// that works on a registry, given a SQLite file that is not there,
    /// would otherwise create an empty one and report on it.
    pub async fn open_existing(&self, deployment: Deployment) -> Result<App> {
        let url = self.url();
        if let Some(file) = himaya_store::sqlite_file_of(&url).filter(|f| !std::path::Path::new(f).exists()) {
            bail!(
                "there is no registry at {file}: name it with --db FILE or --database-url URL \
                 (the same as the server's)"
            );
        }
        open(&url, deployment).await
    }

    /// Whether `--db` was given (`--database-url` may come from the environment).
    pub fn given(&self) -> bool {
        self.db.is_some()
    }

    pub fn url(&self) -> String {
        match (&self.database_url, &self.db) {
            (Some(url), _) => url.clone(),
            (None, Some(file)) => sqlite_url(file),
            (None, None) => sqlite_url(&PathBuf::from("himaya.db")),
        }
    }
}

fn sqlite_url(file: &std::path::Path) -> String {
    format!("sqlite://{}", file.display())
}

fn parse_country(s: &str) -> Result<Country, String> {
    Country::from_code(s).ok_or_else(|| format!("unknown country {s:?}; use pk, bd, jo or ps"))
}

/// Reads a deployment configuration: a TOML file, or `demo:COUNTRY` for a built-in one.
fn load_config(config: &str) -> Result<Deployment> {
    if let Some(code) = config.strip_prefix("demo:") {
        let country = parse_country(code).map_err(anyhow::Error::msg)?;
        return himaya_app::demo::deployment(country).context("the built-in demo configuration");
    }
    let path = std::path::Path::new(config);
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the configuration {}", path.display()))?;
    // Files the configuration names are relative to it.
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).map_err(|e| format!("cannot read {name}: {e}"));
    Deployment::from_toml_with_files(&text, read)
        .with_context(|| format!("the configuration {} is not valid", path.display()))
}

async fn open(url: &str, deployment: Deployment) -> Result<App> {
    let store = Store::connect(url)
        .await
        .with_context(|| format!("cannot open the database {}", redact(url)))?;
    App::open(store, deployment)
        .await
        .context("cannot prepare the database")
}

/// Requests to try on the demo, with a real identifier typed in the
/// country's own digits and a real name.
async fn demo_examples(app: &App, country: Country) -> Vec<String> {
    let query = himaya_app::PersonQuery {
        limit: Some(200),
        ..Default::default()
    };
    let Ok(page) = app.search_persons(&Actor::system("demo"), &query).await else {
        return Vec::new();
    };
    let mut examples = vec!["curl -s -H \"$AUTH\" '{base}/api/v1/households?limit=2'".to_owned()];
    if let Some((id, person)) = page.items.iter().find_map(|p| Some((p.record.identifiers.first()?, p))) {
        // Pakistan types Extended Arabic-Indic digits, Bangladesh Bengali, Jordan and Palestine Arabic-Indic.
        let zero = match country {
            Country::Pk => '\u{06F0}',
            Country::Bd => '\u{09E6}',
            Country::Jo | Country::Ps => '\u{0660}',
        };
        let local: String = id
            .display()
            .chars()
            .map(|c| {
                c.to_digit(10)
                    .and_then(|d| char::from_u32(zero as u32 + d))
                    .unwrap_or(c)
            })
            .collect();
        examples.push(format!(
            "curl -sG -H \"$AUTH\" '{{base}}/api/v1/persons' --data-urlencode 'identifier={local}'"
        ));
        if let Some(name) = person.record.given_name.latin.as_deref() {
            let prefix: String = name.chars().take(4).collect();
            examples.push(format!(
                "curl -sG -H \"$AUTH\" '{{base}}/api/v1/persons' --data-urlencode 'name={prefix}' -d limit=3"
            ));
        }
        // Their household's proxy means test score, explained.
        examples.push(format!(
            "curl -s -H \"$AUTH\" '{{base}}/api/v1/households/{}/score'",
            person.household_id
        ));
        // And, for a programme for households, why it is in or out, as a letter in the local language.
        let household_programme = himaya_app::demo::programme_texts(country)
            .iter()
            .find_map(|(code, text)| {
                himaya_domain::programme::ProgrammeDef::from_toml(text)
                    .ok()
                    .filter(|d| d.target == himaya_domain::programme::TargetUnit::Household)
                    .map(|_| *code)
            });
        if let Some(code) = household_programme {
            let language = app
                .deployment()
                .languages
                .iter()
                .find(|l| *l != "en")
                .cloned()
                .unwrap_or_else(|| "en".to_owned());
            examples.push(format!(
                "curl -s -H \"$AUTH\" '{{base}}/api/v1/households/{}/programmes/{code}/eligibility?format=text&lang={language}'",
                person.household_id
            ));
        }
        if let Some((first, _)) = himaya_app::demo::programme_texts(country).first() {
            examples.push(format!(
                "curl -s -H \"$AUTH\" -H 'content-type: application/json' -d '{{\"dry_run\": true}}' '{{base}}/api/v1/programmes/{first}/runs'"
            ));
        }
    }
    examples
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(c) => format!("{}:***{}", &url[..s + 3 + c], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

async fn serve(
    app: App,
    listen: &str,
    trusted_proxies: Vec<std::net::IpAddr>,
    banner: &str,
    examples: &[String],
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    // A closed stdout (a detached service) must not stop the server.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "{banner} at http://{addr}/  (API: http://{addr}/api/v1, OpenAPI: http://{addr}/api/v1/openapi.json)"
    );
    if !examples.is_empty() {
        let _ = writeln!(out, "Try:");
        for e in examples {
            let _ = writeln!(out, "  {}", e.replace("{base}", &format!("http://{addr}")));
        }
    }
    let _ = writeln!(out, "Press Ctrl-C to stop.");
    let _ = out.flush();
    let served = himaya_web::serve(app.clone(), listener, trusted_proxies).await;
    // Reads' audit entries are queued: commit them before the process ends.
    app.flush_audit().await.context("cannot write the last audit entries")?;
    served.context("the server stopped with an error")
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HIMAYA_LOG").unwrap_or_else(|_| "info,sqlx=error".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal, not in log files and journals.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Serve {
            config,
            listen,
            trusted_proxies,
            db,
        } => {
            let deployment = load_config(&config)?;
            let app = open(&db.url(), deployment).await?;
            if !app.has_administrator().await? {
                let db_flag = match (&db.database_url, &db.db) {
                    (Some(url), _) => format!("--database-url '{}'", redact(url)),
                    (None, Some(file)) => format!("--db {}", file.display()),
                    (None, None) => String::new(),
                };
                bail!(
                    "this registry has no administrator account, so no one could manage it; create one with\n  \
                     himaya user add --username NAME --role administrator --config {config} {db_flag}\n\
                     (it prints a one-time password; add --password-stdin to give one)"
                );
            }
            serve(app, &listen, trusted_proxies, "Himaya is serving", &[]).await
        }
        Command::Demo {
            listen,
            db,
            country,
            households,
        } => {
            let deployment = himaya_app::demo::deployment(country).context("the built-in demo configuration")?;
            let app = open(&sqlite_url(&db), deployment).await?;
            let added = himaya_app::demo::populate(&app, country, households as usize, 2026)
                .await
                .context("cannot load the demo population")?;
            if added > 0 {
                println!("Registered {added} demo households in {}.", db.display());
            } else {
                println!("Reusing the registry in {}.", db.display());
            }
            let programmes = himaya_app::demo::load_programmes(&app, country)
                .await
                .context("cannot load the demo programmes")?;
            if added > 0 {
                // Decided and enrolled in file order: later programmes (Taleemi
                // Wazaif, Nashonuma) take in children of families the first enrolled.
                for (code, _) in himaya_app::demo::programme_texts(country) {
                    let report = app
                        .target_run(
                            &Actor::system("demo"),
                            himaya_app::TargetRequest {
                                programme: (*code).to_owned(),
                                enrol: true,
                                ..Default::default()
                            },
                            |_| {},
                        )
                        .await
                        .with_context(|| format!("cannot run the demo programme {code}"))?;
                    println!(
                        "{code}: {} of {} {}s eligible, {} enrolled.",
                        report.current.eligible,
                        report.units,
                        format!("{:?}", report.target).to_lowercase(),
                        report.enrolled
                    );
                }
                // A first deduplication run trains the model the registration
                // forms' duplicate warning scores with; the demo serves without it.
                match app
                    .run_dedup(&Actor::system("demo"), himaya_app::DedupRunRequest::default())
                    .await
                {
                    Ok(run) => println!(
                        "Deduplication: {} people compared, {} likely duplicate pairs to review.",
                        run.persons, run.pairs_found
                    ),
                    Err(e) => println!("Deduplication not run ({e}): start one from /dedup."),
                }
            } else {
                println!("{programmes} programmes in force.");
            }
            if let Some((username, password)) = app.ensure_first_administrator().await? {
                println!("Created the administrator account {username:?} with the one-time password {password}");
                println!("(sign in with POST /api/v1/session; it must be changed at first sign-in).");
            }
            let mut examples = demo_examples(&app, country).await;
            // A short-lived token so the examples work at once.
            let token = app
                .create_user_token(&Actor::system("demo"), "admin", 1)
                .await
                .context("cannot create a token for the examples")?;
            examples.insert(
                0,
                format!(
                    "AUTH='Authorization: Bearer {}'   # the admin's token, valid for a day",
                    token.secret
                ),
            );
            serve(
                app,
                &listen,
                Vec::new(),
                &format!("The Himaya demo ({}) is running", country.alpha2()),
                &examples,
            )
            .await
        }
        Command::Migrate { db } => {
            let url = db.url();
            let store = Store::connect(&url)
                .await
                .with_context(|| format!("cannot open the database {}", redact(&url)))?;
            store.migrate().await.context("migration failed")?;
            println!("The database {} is up to date.", redact(&url));
            Ok(())
        }
        Command::CheckConfig { config } => {
            let d = load_config(&config.display().to_string())?;
            println!(
                "{} is valid: {} ({}), {} languages, {} identifier types, {} household attributes, {} areas.",
                config.display(),
                d.name,
                d.country.alpha2(),
                d.languages.len(),
                d.identifier_types.len(),
                d.household_attributes.defs().len(),
                d.areas.len()
            );
            Ok(())
        }
        Command::Bench(args) => {
            if args.households == 0 {
                bail!("--households must be at least 1");
            }
            bench::run(args).await
        }
        Command::Synth(args) => synth::run(args),
        Command::Link(command) => link::run(command).await,
        Command::Dedup(command) => dedup::run(command).await,
        Command::Pmt(command) => pmt::run(command).await,
        Command::Programme(command) => target::programme(command).await,
        Command::Target(command) => target::target(command).await,
        Command::Compliance(command) => compliance::run(command).await,
        Command::Cycle(command) => cycle::cycle(command).await,
        Command::Funding(command) => cycle::funding(command).await,
        Command::Account(command) => cycle::account(command).await,
        Command::Import(args) => import::run(args).await,
        Command::Export(args) => export::run(args).await,
        Command::User(cmd) => admin::user(cmd).await,
        Command::Token(cmd) => admin::token(cmd).await,
        Command::Agency(cmd) => admin::agency(cmd).await,
        Command::Audit(cmd) => admin::audit(cmd).await,
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact("postgres://himaya:s3cret@db:5432/reg"),
            "postgres://himaya:***@db:5432/reg"
        );
        assert_eq!(redact("sqlite://himaya.db"), "sqlite://himaya.db");
    }
}
