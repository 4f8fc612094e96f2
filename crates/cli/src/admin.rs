//! Accounts, tokens, partner agencies and the audit trail, from the
//! server's command line. Each command acts as the operator
//! (`system:cli`), who holds every permission, and is audited as such.

use std::io::{BufRead, Write};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use himaya_app::{Actor, AgencySettings, App, AppError, DEFAULT_TOKEN_DAYS, NewAgency, NewUser};

use crate::DbArgs;

/// The deployment and database to administer (as for `serve`).
#[derive(Args, Clone)]
pub struct Target {
    /// The deployment configuration (TOML), or `demo:pk` (bd, jo, ps) for the demo's built-in one.
    #[arg(long, env = "HIMAYA_CONFIG")]
    config: String,
    #[command(flatten)]
    db: DbArgs,
}

impl Target {
    /// Opens an existing registry: administering a SQLite file that is not
    /// there would quietly create an empty registry instead.
    async fn open(&self) -> Result<App> {
        self.db.open_existing(crate::load_config(&self.config)?).await
    }
}

/// An application error with the command-line flag at fault named in
/// place of the field, one line per problem.
fn explain(e: AppError) -> anyhow::Error {
    let AppError::Invalid(problem) = e else {
        return e.into();
    };
    let flag = |field: &str| match field {
        "username" => "--username".to_owned(),
        "role" => "--role".to_owned(),
        "area" => "--area".to_owned(),
        "scope" => "--scope".to_owned(),
        "field" => "--field".to_owned(),
        "name" => "--name".to_owned(),
        "rate_limit" => "--rate-limit".to_owned(),
        "expires_days" => "--expires-days".to_owned(),
        "password" => "the password".to_owned(),
        other => other.to_owned(),
    };
    let lines: Vec<String> = problem
        .errors
        .iter()
        .map(|e| format!("{}: {}", flag(&e.field), e.message))
        .collect();
    anyhow::anyhow!("{}", lines.join("\n"))
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a staff account; prints a one-time password unless --password-stdin is given.
    Add {
        #[arg(long)]
        username: String,
        /// administrator, registrar, district_officer, programme_officer, approver, payment_officer,
        /// grievance_officer, case_worker or auditor; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// An area the account works in (and everything below it); repeat for several; none for the whole country.
        #[arg(long = "area")]
        areas: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Replace an account's roles and areas.
    SetRole {
        #[arg(long)]
        username: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        #[arg(long = "area")]
        areas: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Disable an account: its sessions end and its tokens stop working.
    Disable {
        #[arg(long)]
        username: String,
        #[command(flatten)]
        target: Target,
    },
    /// Enable a disabled account again.
    Enable {
        #[arg(long)]
        username: String,
        #[command(flatten)]
        target: Target,
    },
    /// List the accounts.
    List {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Print a personal bearer token carrying the user's roles and areas (shown once).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value_t = DEFAULT_TOKEN_DAYS)]
        expires_days: u32,
        #[command(flatten)]
        target: Target,
    },
    /// List the tokens issued (ids, owners, expiry; never the secrets).
    List {
        /// Only this user's tokens (or agency:NAME's).
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a token by the id printed when it was created (or shown by token list).
    Revoke {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
pub enum AgencyCommand {
    /// Register a partner agency and print its first bearer token (shown once).
    Add {
        #[arg(long)]
        name: String,
        /// An operation it may perform: areas.read, households.read, households.write, persons.read,
        /// persons.write, persons.match; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// A field it is shown: person.NAME, household.NAME, household.attributes.NAME, or programme.CODE
        /// (programme.* for all) for the enrolments a match tells it of; repeat for several.
        #[arg(long = "field")]
        fields: Vec<String>,
        /// An area it may see (and everything below it); none for the whole country.
        #[arg(long = "area")]
        areas: Vec<String>,
        /// Requests per minute.
        #[arg(long, default_value_t = 600)]
        rate_limit: u32,
        #[arg(long, default_value_t = DEFAULT_TOKEN_DAYS)]
        expires_days: u32,
        #[command(flatten)]
        target: Target,
    },
    /// Issue another token for an agency (to rotate the old one).
    Token {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = DEFAULT_TOKEN_DAYS)]
        expires_days: u32,
        #[command(flatten)]
        target: Target,
    },
    /// Change what an agency may do and see; what is not given stays as it is.
    Update {
        #[arg(long)]
        name: String,
        /// Its operations, replacing the ones it has (repeat for several).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// The fields it is shown, replacing the ones it has (repeat for several).
        #[arg(long = "field")]
        fields: Vec<String>,
        /// The areas it may see, replacing the ones it has (repeat for several).
        #[arg(long = "area", conflicts_with = "whole_country")]
        areas: Vec<String>,
        /// Let it see the whole country.
        #[arg(long)]
        whole_country: bool,
        /// Requests per minute.
        #[arg(long)]
        rate_limit: Option<u32>,
        #[command(flatten)]
        target: Target,
    },
    /// Give a withdrawn agency its access back with a new token (printed once); its old tokens stay revoked.
    Restore {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = DEFAULT_TOKEN_DAYS)]
        expires_days: u32,
        #[command(flatten)]
        target: Target,
    },
    /// Withdraw an agency's access: all its tokens stop working.
    Disable {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// List the agencies.
    List {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the audit trail's hash chain; fails, naming the entry, if any was edited, deleted or reordered.
    Verify {
        #[command(flatten)]
        target: Target,
    },
}

/// The secret alone on standard output (for scripts to capture), what it is on standard error.
fn print_token(t: &himaya_app::IssuedToken, whose: &str) {
    println!("{}", t.secret);
    eprintln!(
        "Token {} for {whose}, valid until {}. It is shown only now; send it as Authorization: Bearer TOKEN.",
        t.id,
        t.expires_at.format("%Y-%m-%d %H:%M UTC")
    );
}

fn operator() -> Actor {
    Actor::system("cli")
}

fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("standard input held no password");
    }
    Ok(password)
}

pub async fn user(cmd: UserCommand) -> Result<()> {
    let by = operator();
    match cmd {
        UserCommand::Add {
            username,
            roles,
            areas,
            password_stdin,
            target,
        } => {
            let password = if password_stdin { Some(read_password()?) } else { None };
            let app = target.open().await?;
            let (user, one_time) = app
                .add_user(
                    &by,
                    NewUser {
                        username,
                        roles,
                        areas,
                        password,
                    },
                )
                .await
                .map_err(explain)?;
            println!(
                "Created {} ({}) for {}.",
                user.username,
                user.roles.join(", "),
                scope_text(&user.areas)
            );
            if let Some(p) = one_time {
                println!("One-time password: {p}");
                println!("It must be changed at first sign-in.");
            }
        }
        UserCommand::SetRole {
            username,
            roles,
            areas,
            target,
        } => {
            let user = target
                .open()
                .await?
                .set_user_roles(&by, &username, &roles, &areas)
                .await
                .map_err(explain)?;
            println!(
                "{} is now {} for {}.",
                user.username,
                user.roles.join(", "),
                scope_text(&user.areas)
            );
        }
        UserCommand::Disable { username, target } => {
            let user = target
                .open()
                .await?
                .set_user_disabled(&by, &username, true)
                .await
                .map_err(explain)?;
            println!(
                "Disabled {}: its sessions have ended and its tokens no longer work.",
                user.username
            );
        }
        UserCommand::Enable { username, target } => {
            let user = target
                .open()
                .await?
                .set_user_disabled(&by, &username, false)
                .await
                .map_err(explain)?;
            println!("Enabled {}.", user.username);
        }
        UserCommand::List { target } => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "username\troles\tareas\tstate")?;
            for u in target.open().await?.users(&by).await.map_err(explain)? {
                let state = if u.disabled {
                    "disabled".to_owned()
                } else if let Some(t) = u.locked_until.filter(|t| *t > chrono::Utc::now()) {
                    format!("locked until {}", t.format("%Y-%m-%d %H:%M UTC"))
                } else {
                    "active".to_owned()
                };
                writeln!(
                    out,
                    "{}\t{}\t{}\t{state}",
                    u.username,
                    u.roles.join(","),
                    scope_text(&u.areas)
                )?;
            }
        }
    }
    Ok(())
}

fn scope_text(areas: &[String]) -> String {
    if areas.is_empty() {
        "the whole country".to_owned()
    } else {
        areas.join(", ")
    }
}

pub async fn token(cmd: TokenCommand) -> Result<()> {
    let by = operator();
    match cmd {
        TokenCommand::Create {
            user,
            expires_days,
            target,
        } => {
            let t = target
                .open()
                .await?
                .create_user_token(&by, &user, expires_days)
                .await
                .map_err(explain)?;
            print_token(&t, &user);
        }
        TokenCommand::List { user, target } => {
            let now = chrono::Utc::now();
            let mut out = std::io::stdout().lock();
            writeln!(out, "id\towner\tcreated\texpires\tstate")?;
            for t in target
                .open()
                .await?
                .tokens(&by, user.as_deref())
                .await
                .map_err(explain)?
            {
                let state = match t.revoked_at {
                    Some(at) => format!("revoked {}", at.format("%Y-%m-%d %H:%M UTC")),
                    None if t.expires_at <= now => "expired".to_owned(),
                    None => "live".to_owned(),
                };
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{state}",
                    t.id,
                    t.owner,
                    t.created_at.format("%Y-%m-%d %H:%M UTC"),
                    t.expires_at.format("%Y-%m-%d %H:%M UTC")
                )?;
            }
        }
        TokenCommand::Revoke { id, target } => {
            target.open().await?.revoke_token(&by, &id).await.map_err(explain)?;
            println!("Revoked token {id}.");
        }
    }
    Ok(())
}

pub async fn agency(cmd: AgencyCommand) -> Result<()> {
    let by = operator();
    match cmd {
        AgencyCommand::Add {
            name,
            scopes,
            fields,
            areas,
            rate_limit,
            expires_days,
            target,
        } => {
            let t = target
                .open()
                .await?
                .add_agency(
                    &by,
                    NewAgency {
                        name: name.clone(),
                        scopes,
                        fields,
                        areas,
                        rate_limit,
                        expires_days,
                    },
                )
                .await
                .map_err(explain)?;
            eprintln!("Agency {name} registered.");
            print_token(&t, &name);
        }
        AgencyCommand::Token {
            name,
            expires_days,
            target,
        } => {
            let t = target
                .open()
                .await?
                .create_agency_token(&by, &name, expires_days)
                .await
                .map_err(explain)?;
            print_token(&t, &name);
        }
        AgencyCommand::Update {
            name,
            scopes,
            fields,
            areas,
            whole_country,
            rate_limit,
            target,
        } => {
            let app = target.open().await?;
            let wanted = name.trim().to_lowercase();
            let Some(current) = app
                .agencies(&by)
                .await
                .map_err(explain)?
                .into_iter()
                .find(|a| a.name == wanted)
            else {
                bail!("--name: there is no agency {wanted:?}");
            };
            let or_current = |given: Vec<String>, current: Vec<String>| if given.is_empty() { current } else { given };
            let settings = AgencySettings {
                scopes: or_current(scopes, current.scopes),
                fields: or_current(fields, current.fields),
                areas: if whole_country {
                    Vec::new()
                } else {
                    or_current(areas, current.areas)
                },
                rate_limit: rate_limit.unwrap_or(u32::try_from(current.rate_limit).unwrap_or(u32::MAX)),
            };
            let a = app.update_agency(&by, &name, settings).await.map_err(explain)?;
            println!(
                "Agency {}: scopes {}; fields {}; areas {}; {} requests a minute.",
                a.name,
                a.scopes.join(","),
                a.fields.join(","),
                scope_text(&a.areas),
                a.rate_limit
            );
        }
        AgencyCommand::Restore {
            name,
            expires_days,
            target,
        } => {
            let t = target
                .open()
                .await?
                .restore_agency(&by, &name, expires_days)
                .await
                .map_err(explain)?;
            eprintln!("Agency {name} has its access again; its earlier tokens stay revoked.");
            print_token(&t, &name);
        }
        AgencyCommand::Disable { name, target } => {
            target.open().await?.disable_agency(&by, &name).await.map_err(explain)?;
            println!("Disabled {name}: its tokens no longer work.");
        }
        AgencyCommand::List { target } => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "name\tscopes\tfields\tareas\trate/min\tstate")?;
            for a in target.open().await?.agencies(&by).await.map_err(explain)? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    a.name,
                    a.scopes.join(","),
                    a.fields.join(","),
                    scope_text(&a.areas),
                    a.rate_limit,
                    if a.disabled { "disabled" } else { "active" }
                )?;
            }
        }
    }
    Ok(())
}

pub async fn audit(cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Verify { target } => {
            let report = target.open().await?.verify_audit().await.map_err(explain)?;
            match report.broken {
                None => {
                    println!(
                        "The audit trail is intact: {} entries, every link checked.",
                        report.entries
                    );
                    Ok(())
                }
                Some((seq, why)) => bail!(
                    "the audit trail is broken at entry {seq}: {why} ({} entries before it are intact)",
                    report.entries
                ),
            }
        }
    }
}
