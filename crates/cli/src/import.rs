//! `himaya import`: households and people from CSV or JSON Lines files
//! (the layout `himaya synth` writes), checked by the registry's rules, in
//! batches that are each one transaction. Every input row ends up imported
//! or in the rejects file, with its row number, field and reason.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use himaya_app::{Actor, App, ImportOutcome, KeyedHousehold, NewHousehold};
use himaya_domain::attributes::AttributeType;
use himaya_domain::household::{GeoPoint, HouseholdDraft};
use himaya_domain::person::{IdentifierDraft, Name, PersonDraft, School};
use himaya_domain::vocab::SchoolLevel;
use himaya_store::ScratchKeys;
use serde_json::{Map, Value};

use crate::DbArgs;

#[derive(Args)]
pub struct ImportArgs {
    /// Households: .csv or .jsonl.
    #[arg(long)]
    households: PathBuf,
    /// People: .csv or .jsonl, each row naming its household_key; a household's people together.
    #[arg(long)]
    persons: PathBuf,
    /// Where refused rows are written (default: rejects.csv beside the persons file).
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// A column mapping file (TOML) for files whose columns have other names.
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// Households per transaction.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch: u64,
    /// The deployment configuration (TOML), or `demo:pk` (bd, jo, ps).
    #[arg(long, env = "HIMAYA_CONFIG")]
    config: String,
    #[command(flatten)]
    db: DbArgs,
}

impl ImportArgs {
    /// An import of synthetic files into `database_url`, for the benchmark.
    pub fn of_files(
        households: PathBuf,
        persons: PathBuf,
        rejects: PathBuf,
        config: String,
        database_url: String,
    ) -> ImportArgs {
        ImportArgs {
            households,
            persons,
            rejects: Some(rejects),
            mapping: None,
            batch: 2000,
            config,
            db: DbArgs {
                database_url: Some(database_url),
                db: None,
            },
        }
    }
}

const HOUSEHOLD_FIELDS: &[&str] = himaya_synth::write::HOUSEHOLD_COLUMNS;
const PERSON_FIELDS: &[&str] = himaya_synth::write::PERSON_COLUMNS;

/// One row as read: its line in the file (a CSV header is line 1) and its
/// cells by column, or why it could not be read.
struct Row {
    number: u64,
    cells: Result<Map<String, Value>, String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Csv,
    Jsonl,
    Xlsx,
}

fn kind_of(path: &Path) -> Result<Kind> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => Ok(Kind::Csv),
        Some("jsonl") | Some("ndjson") => Ok(Kind::Jsonl),
        Some("xlsx") => Ok(Kind::Xlsx),
        _ => bail!("{}: give a .csv, .jsonl or .xlsx file", path.display()),
    }
}

/// Reads every row of a file, checking its columns before any row is used.
fn rows(
    path: &Path,
    map: &FileMap,
    known: &dyn Fn(&str) -> bool,
    required: &[&str],
) -> Result<Box<dyn Iterator<Item = Row>>> {
    let kind = kind_of(path)?;
    if kind == Kind::Xlsx {
        return xlsx_rows(path, map, known, required);
    }
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    read_rows(file, kind, path, map, known, required)
}

/// The first worksheet of an Excel workbook, its first row the header.
/// Numbers that are whole are read as such (`2`, not `2.0`), dates as
/// `YYYY-MM-DD`; rows are numbered as the spreadsheet numbers them. The
/// sheet is read whole: Excel holds at most about a million rows.
fn xlsx_rows(
    path: &Path,
    map: &FileMap,
    known: &dyn Fn(&str) -> bool,
    required: &[&str],
) -> Result<Box<dyn Iterator<Item = Row>>> {
    use calamine::{Data, Reader, Xlsx};
    let mut workbook: Xlsx<_> =
        calamine::open_workbook(path).with_context(|| format!("{}: not a readable Excel workbook", path.display()))?;
    let range = workbook
        .worksheet_range_at(0)
        .with_context(|| format!("{}: the workbook has no worksheet", path.display()))?
        .with_context(|| format!("{}: the first worksheet cannot be read", path.display()))?;
    let first_row = u64::from(range.start().map_or(0, |(r, _)| r)) + 1;
    let mut sheet = range.rows();
    let header: Vec<String> = sheet
        .next()
        .map(|cells| {
            cells
                .iter()
                .map(|c| map.name(c.to_string().trim()).unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    check_header(&header, path, known, required)?;
    let cell_text = |d: &Data| -> Result<Option<String>, String> {
        Ok(match d {
            Data::Empty => None,
            Data::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
            Data::Int(i) => Some(i.to_string()),
            Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(format!("{}", *f as i64)),
            Data::Float(f) => Some(f.to_string()),
            Data::Bool(b) => Some(b.to_string()),
            Data::DateTime(dt) if dt.is_datetime() => {
                // Serial days since 1899-12-30 (the 1900 system).
                // Excel's dates end at serial 2958465 (9999-12-31); beyond that it is no date.
                let serial = dt.as_f64().floor();
                if !(0.0..=2_958_465.0).contains(&serial) {
                    return Err(format!("the cell holds a date serial Excel does not have ({serial})"));
                }
                let day = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)
                    .and_then(|base| base.checked_add_signed(chrono::Duration::days(serial as i64)));
                day.map(|d| d.format("%Y-%m-%d").to_string())
            }
            Data::DateTime(dt) => Some(dt.as_f64().to_string()),
            Data::DateTimeIso(s) | Data::DurationIso(s) => Some(s.clone()),
            Data::Error(e) => return Err(format!("the cell holds an Excel error ({e})")),
        })
    };
    let rows: Vec<Row> = sheet
        .enumerate()
        .map(|(i, cells)| {
            let number = first_row + 1 + i as u64;
            let mut out = Map::new();
            let mut failure = None;
            for (cell, column) in cells.iter().zip(&header) {
                match cell_text(cell) {
                    Ok(Some(text)) if !column.is_empty() => {
                        out.insert(column.clone(), Value::String(text));
                    }
                    Ok(_) => {}
                    Err(why) => failure = Some(format!("column {column}: {why}")),
                }
            }
            let extra = cells.iter().skip(header.len()).any(|c| !matches!(c, Data::Empty));
            let cells = match (failure, extra) {
                (Some(why), _) => Err(why),
                (None, true) => Err(format!("cells beyond the header's {} columns", header.len())),
                (None, false) => Ok(out),
            };
            Row { number, cells }
        })
        // Rows left entirely empty in a sheet are not rows.
        .filter(|r| !matches!(&r.cells, Ok(c) if c.is_empty()))
        .collect();
    Ok(Box::new(rows.into_iter()))
}

fn check_header(header: &[String], path: &Path, known: &dyn Fn(&str) -> bool, required: &[&str]) -> Result<()> {
    if header.is_empty() {
        bail!(
            "{}: the file is empty; its first row names the columns, {} among them",
            path.display(),
            required.join(" and ")
        );
    }
    if let Some((i, twice)) = header
        .iter()
        .enumerate()
        .find(|(i, h)| !h.is_empty() && header[..*i].contains(h))
    {
        bail!(
            "{}: the column {twice:?} appears twice (columns {} and {}): which one to read is not known",
            path.display(),
            header.iter().position(|h| h == twice).unwrap_or(0) + 1,
            i + 1
        );
    }
    if let Some(unknown) = header.iter().find(|h| !h.is_empty() && !known(h)) {
        bail!(
            "{}: unknown column {unknown:?} (name it, or ignore it, in a column mapping file: --mapping)",
            path.display()
        );
    }
    if let Some(missing) = required.iter().find(|r| !header.iter().any(|h| h == *r)) {
        bail!("{}: the required column {missing:?} is missing", path.display());
    }
    Ok(())
}

/// How a foreign file's columns become Himaya's: a column mapping file
/// (`--mapping`, TOML) has a `[households]` and a `[persons]` table, each with
/// `columns` (their name = Himaya's) and `ignore` (their columns to skip).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default)]
    households: FileMap,
    #[serde(default)]
    persons: FileMap,
}

#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMap {
    #[serde(default)]
    columns: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    ignore: Vec<String>,
}

impl FileMap {
    /// Himaya's name for a column, or `None` to skip it.
    fn name<'a>(&'a self, theirs: &'a str) -> Option<&'a str> {
        if self.ignore.iter().any(|i| i == theirs) {
            None
        } else {
            Some(self.columns.get(theirs).map_or(theirs, String::as_str))
        }
    }
}

fn load_mapping(path: &Path) -> Result<Mapping> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("the column mapping {} is not valid", path.display()))
}

/// The rows of a CSV or JSON Lines stream; `path` names it in messages.
fn read_rows(
    input: impl std::io::Read + 'static,
    kind: Kind,
    path: &Path,
    map: &FileMap,
    known: &dyn Fn(&str) -> bool,
    required: &[&str],
) -> Result<Box<dyn Iterator<Item = Row>>> {
    if let Some((theirs, ours)) = map.columns.iter().find(|(_, ours)| !known(ours)) {
        bail!(
            "{}: the mapping names {ours:?} for {theirs:?}, which is not a column of Himaya's layout",
            path.display()
        );
    }
    match kind {
        Kind::Xlsx => bail!(
            "{}: an Excel workbook is read from its file, not a stream",
            path.display()
        ),
        Kind::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(BufReader::new(input));
            // Skipped columns keep their place, with an empty name.
            let header: Vec<String> = reader
                .headers()
                .with_context(|| format!("{}: the header row cannot be read", path.display()))?
                .iter()
                .map(|h| map.name(h.trim()).unwrap_or("").to_owned())
                .collect();
            check_header(&header, path, known, required)?;
            let width = header.len();
            let mut last = 1;
            Ok(Box::new(reader.into_byte_records().enumerate().map(
                move |(i, record)| {
                    // The line in the file (the header is line 1), as an editor shows it.
                    let line = match &record {
                        Ok(r) => r.position().map_or(i as u64 + 2, |p| p.line()),
                        Err(e) => e.position().map_or(i as u64 + 2, |p| p.line()),
                    };
                    // Lines ended by a lone carriage return are not counted
                    // as lines: number such rows one after another.
                    let number = line.max(last + 1);
                    last = number;
                    let cells = match record {
                        Err(e) => Err(format!("the row cannot be read: {e}")),
                        Ok(r) if r.len() != width => Err(format!("{} cells where the header has {width}", r.len())),
                        Ok(r) => r
                            .iter()
                            .zip(&header)
                            .map(|(cell, column)| match std::str::from_utf8(cell) {
                                Ok(text) => Ok((column.clone(), Value::String(text.trim().to_owned()))),
                                Err(_) => Err(format!("column {column}: the text is not UTF-8")),
                            })
                            .collect::<Result<Map<_, _>, _>>()
                            .map(|m| {
                                m.into_iter()
                                    .filter(|(k, v)| !k.is_empty() && v.as_str() != Some(""))
                                    .collect()
                            }),
                    };
                    Row { number, cells }
                },
            )))
        }
        Kind::Jsonl => {
            let map = map.clone();
            Ok(Box::new(BufReader::new(input).split(b'\n').enumerate().filter_map(
                move |(i, line)| {
                    let number = i as u64 + 1;
                    let cells = match line {
                        Err(e) => Err(format!("the line cannot be read: {e}")),
                        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => return None,
                        Ok(bytes) => match std::str::from_utf8(&bytes) {
                            Err(_) => Err("the line is not UTF-8".to_owned()),
                            Ok(text) => match serde_json::from_str::<Value>(text) {
                                Ok(Value::Object(m)) => Ok(m
                                    .into_iter()
                                    .filter_map(|(k, v)| map.name(&k).map(|n| (n.to_owned(), v)))
                                    .collect()),
                                Ok(_) => Err("the line is not a JSON object".to_owned()),
                                Err(e) => Err(format!("the line is not JSON: {e}")),
                            },
                        },
                    };
                    Some(Row { number, cells })
                },
            )))
        }
    }
}

fn text(cells: &Map<String, Value>, key: &str) -> Option<String> {
    match cells.get(key)? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A household row as a draft: CSV cells typed by the attribute schema
/// (a cell that does not parse stays text, so the registry's check names it).
fn household_draft(cells: &Map<String, Value>, app: &App, kind: Kind) -> Result<HouseholdDraft, String> {
    if kind == Kind::Jsonl {
        // JSON Lines: the API's own shape.
        let mut doc = cells.clone();
        doc.remove("household_key");
        return himaya_app::json::from_value::<HouseholdDraft>(Value::Object(doc), "")
            .map_err(|e| format!("{}: {}", e.field, e.message));
    }
    let number = |k: &str| -> Result<Option<f64>, String> {
        text(cells, k)
            .map(|t| t.parse::<f64>().map_err(|_| format!("{k}: {t:?} is not a number")))
            .transpose()
    };
    let location = match (number("latitude")?, number("longitude")?) {
        (Some(latitude), Some(longitude)) => Some(GeoPoint { latitude, longitude }),
        (None, None) => None,
        _ => return Err("latitude and longitude: give both or neither".into()),
    };
    let mut attributes = Map::new();
    for def in app.deployment().household_attributes.defs() {
        let Some(raw) = text(cells, &def.name) else { continue };
        let value = match def.kind {
            AttributeType::Integer => raw.parse::<i64>().map(Value::from).unwrap_or(Value::String(raw)),
            // NaN and infinities would become JSON null, i.e. absent: leave
            // them as text for the registry's check to refuse.
            AttributeType::Decimal => match raw.parse::<f64>() {
                Ok(f) if f.is_finite() => Value::from(f),
                _ => Value::String(raw),
            },
            AttributeType::Boolean => match raw.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Value::Bool(true),
                "false" | "no" | "0" => Value::Bool(false),
                _ => Value::String(raw),
            },
            _ => Value::String(raw),
        };
        attributes.insert(def.name.clone(), value);
    }
    Ok(HouseholdDraft {
        area: text(cells, "area"),
        address: text(cells, "address"),
        location,
        attributes: Some(attributes),
    })
}

fn person_draft(cells: &Map<String, Value>, kind: Kind) -> Result<PersonDraft, String> {
    if kind == Kind::Jsonl {
        let mut doc = cells.clone();
        doc.remove("person_key");
        doc.remove("household_key");
        return himaya_app::json::from_value::<PersonDraft>(Value::Object(doc), "")
            .map_err(|e| format!("{}: {}", e.field, e.message));
    }
    let name = |native: &str, latin: &str| {
        let (n, l) = (text(cells, native), text(cells, latin));
        (n.is_some() || l.is_some()).then_some(Name { native: n, latin: l })
    };
    let school = match text(cells, "school_level") {
        None => None,
        Some(level) => Some(School {
            level: SchoolLevel::from_code(&level)
                .ok_or_else(|| format!("school_level: {level:?} is not one of: {}", SchoolLevel::codes()))?,
            school_name: None,
        }),
    };
    // Several identifiers are separated by ";", in the same order in both columns.
    let identifiers = match (text(cells, "identifier_type"), text(cells, "identifier")) {
        (Some(types), Some(values)) => {
            let (types, values): (Vec<&str>, Vec<&str>) = (types.split(';').collect(), values.split(';').collect());
            if types.len() != values.len() {
                return Err(format!(
                    "identifier_type and identifier: {} types for {} values",
                    types.len(),
                    values.len()
                ));
            }
            types
                .iter()
                .zip(values)
                .map(|(t, v)| IdentifierDraft {
                    id_type: t.trim().to_owned(),
                    value: v.trim().to_owned(),
                })
                .collect()
        }
        (None, None) => Vec::new(),
        _ => return Err("identifier_type and identifier: give both or neither".into()),
    };
    let estimated = match text(cells, "birth_date_estimated").as_deref() {
        None | Some("false") | Some("no") | Some("0") => false,
        Some("true") | Some("yes") | Some("1") => true,
        Some(other) => return Err(format!("birth_date_estimated: {other:?} is not true or false")),
    };
    Ok(PersonDraft {
        given_name: name("given_name", "given_name_latin"),
        family_name: name("family_name", "family_name_latin"),
        father_name: name("father_name", "father_name_latin"),
        sex: text(cells, "sex"),
        date_of_birth: text(cells, "date_of_birth"),
        birth_date_estimated: Some(estimated),
        relationship: text(cells, "relationship"),
        marital_status: text(cells, "marital_status"),
        maternal_status: text(cells, "maternal_status"),
        school,
        phone: text(cells, "phone"),
        identifiers: Some(identifiers),
        ..Default::default()
    })
}

/// The rejects file: one line per refused row and reason.
struct Rejects {
    out: csv::Writer<BufWriter<File>>,
    rows: u64,
}

impl Rejects {
    fn add(&mut self, file: &str, row: u64, key: &str, field: &str, code: &str, reason: &str) -> Result<()> {
        self.out
            .write_record([file, &row.to_string(), key, field, code, reason])?;
        self.rows += 1;
        Ok(())
    }
}

/// The households file, read as far as the people so far needed.
struct Households {
    rows: Box<dyn Iterator<Item = Row>>,
    /// Read but not yet asked for: row and cells as JSON text.
    pending: HashMap<String, (u64, Box<str>)>,
    /// Keys already handed out (set `HANDED_OUT`), and keys of household
    /// rows that were refused with their rows (set `REFUSED`); on disk, so
    /// that memory does not grow with the file.
    keys: Rc<ScratchKeys>,
}

/// Sets of [`ScratchKeys`].
const HANDED_OUT: u8 = 1;
const REFUSED: u8 = 2;
const PERSON_KEYS: u8 = 3;

impl Households {
    /// The household `key`, reading ahead as far as needed (to the end for
    /// a key that is not there, or for `""`); rows that cannot be used go
    /// to the rejects as they are read.
    fn take(
        &mut self,
        key: &str,
        rejects: &mut Rejects,
        counts: &mut Counts,
        app: &App,
        kind: Kind,
        file: &str,
    ) -> Result<Option<(u64, Box<str>)>> {
        if let Some(found) = self.pending.remove(key) {
            self.keys.insert(HANDED_OUT, key, found.0 as i64)?;
            return Ok(Some(found));
        }
        for row in self.rows.by_ref() {
            counts.households += 1;
            let cells = match row.cells {
                Ok(c) => c,
                Err(why) => {
                    rejects.add(file, row.number, "", "", "unreadable-row", &why)?;
                    counts.refused_households += 1;
                    continue;
                }
            };
            let Some(this) = text(&cells, "household_key") else {
                rejects.add(file, row.number, "", "household_key", "required", "no household_key")?;
                counts.refused_households += 1;
                continue;
            };
            if self.pending.contains_key(&this)
                || self.keys.get(HANDED_OUT, &this)?.is_some()
                || self.keys.get(REFUSED, &this)?.is_some()
            {
                rejects.add(
                    file,
                    row.number,
                    &this,
                    "household_key",
                    "repeated",
                    "the key is used by an earlier row",
                )?;
                counts.refused_households += 1;
                continue;
            }
            if let Err(why) = household_draft(&cells, app, kind) {
                rejects.add(file, row.number, &this, "", "invalid", &why)?;
                counts.refused_households += 1;
                self.keys.insert(REFUSED, &this, row.number as i64)?;
                continue;
            }
            let stored = (row.number, Value::Object(cells).to_string().into_boxed_str());
            if this == key {
                self.keys.insert(HANDED_OUT, &this, row.number as i64)?;
                return Ok(Some(stored));
            }
            self.pending.insert(this, stored);
        }
        Ok(None)
    }
}

/// Rows in a file, for the progress estimate (a CSV's line count less its header).
fn count_rows(path: &Path, kind: Kind) -> u64 {
    let Ok(file) = File::open(path) else { return 0 };
    match kind {
        Kind::Xlsx => 0,
        _ => {
            let lines = BufReader::new(file)
                .split(b'\n')
                .filter(|l| l.as_ref().is_ok_and(|l| !l.is_empty()))
                .count();
            (lines as u64).saturating_sub(u64::from(kind == Kind::Csv))
        }
    }
}

/// The people rows of one household, as read so far.
struct Group {
    key: String,
    members: Vec<(u64, String, PersonDraft)>,
    /// Rows of its people that could not be read.
    broken: Vec<u64>,
}

/// A household waiting for its batch: its row, and its members' rows.
struct Pending {
    row: u64,
    keyed: KeyedHousehold,
    person_rows: Vec<u64>,
}

#[derive(Default)]
struct Counts {
    households: u64,
    persons: u64,
    imported_households: u64,
    imported_persons: u64,
    already: u64,
    already_persons: u64,
    refused_households: u64,
    refused_persons: u64,
}

pub async fn run(args: ImportArgs) -> Result<()> {
    println!("{}", import(args).await?);
    Ok(())
}

/// Runs an import; returns its summary.
pub async fn import(args: ImportArgs) -> Result<String> {
    let deployment = crate::load_config(&args.config)?;
    let attributes: Vec<String> = deployment.household_attributes.names();
    let known_household = |c: &str| HOUSEHOLD_FIELDS.contains(&c) || attributes.iter().any(|a| a == c);
    let json_household = |c: &str| known_household(c) || c == "attributes" || c == "location";
    let mapping = match &args.mapping {
        Some(path) => load_mapping(path)?,
        None => Mapping::default(),
    };
    let households_kind = kind_of(&args.households)?;
    let persons_kind = kind_of(&args.persons)?;
    let household_rows = rows(
        &args.households,
        &mapping.households,
        if households_kind != Kind::Jsonl {
            &known_household
        } else {
            &json_household
        },
        &["household_key", "area"],
    )?;
    let json_person = |c: &str| {
        c == "person_key"
            || c == "household_key"
            || matches!(
                c,
                "given_name"
                    | "family_name"
                    | "father_name"
                    | "sex"
                    | "date_of_birth"
                    | "birth_date_estimated"
                    | "relationship"
                    | "marital_status"
                    | "disability"
                    | "maternal_status"
                    | "school"
                    | "phone"
                    | "identifiers"
                    | "status"
                    | "status_date"
                    | "status_reason"
            )
    };
    let csv_person = |c: &str| PERSON_FIELDS.contains(&c);
    let person_rows = rows(
        &args.persons,
        &mapping.persons,
        if persons_kind != Kind::Jsonl {
            &csv_person
        } else {
            &json_person
        },
        &["person_key", "household_key"],
    )?;
    let households_name = args.households.display().to_string();
    let persons_name = args.persons.display().to_string();
    let rejects_path = args
        .rejects
        .clone()
        .unwrap_or_else(|| args.persons.parent().unwrap_or(Path::new(".")).join("rejects.csv"));
    // Writing the rejects over an input would destroy it as it is read.
    if let Ok(r) = rejects_path.canonicalize() {
        for input in [&args.households, &args.persons] {
            if input.canonicalize().is_ok_and(|i| i == r) {
                bail!("--rejects: {} is an input file; name another", rejects_path.display());
            }
        }
    }
    // Opened once the files are known to be readable, with the columns
    // they need, and the rejects to go elsewhere: a refused import creates
    // no registry.
    let app = crate::open(&args.db.url(), deployment).await?;
    let actor = Actor::system("import");
    let mut rejects = Rejects {
        out: csv::Writer::from_writer(BufWriter::new(
            File::create(&rejects_path).with_context(|| format!("cannot write {}", rejects_path.display()))?,
        )),
        rows: 0,
    };
    rejects
        .out
        .write_record(["file", "row", "key", "field", "code", "reason"])?;

    // Households by key (the file may be in any order); people are read in
    // order, a household's people together.
    let mut counts = Counts::default();
    // Households are read as their people ask for them: files in the same
    // order (as synth and export write them) keep only a few in memory;
    // others are held, as compact text, until their people come.
    let total_households = count_rows(&args.households, households_kind);
    let keys = Rc::new(ScratchKeys::new()?);
    let mut households = Households {
        rows: household_rows,
        pending: HashMap::new(),
        keys: keys.clone(),
    };
    let started = Instant::now();
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut batch: Vec<Pending> = Vec::new();
    let mut current: Option<Group> = None;
    // Batches being checked or written, oldest first; each is written after
    // the one before it (`written`), while the next is checked and read.
    let mut in_flight: std::collections::VecDeque<InFlight> = std::collections::VecDeque::new();
    let mut written: Option<tokio::sync::oneshot::Receiver<()>> = None;
    let mut next_statistics: u64 = 10_000;
    let mut person_rows = person_rows;
    loop {
        let row = person_rows.next();
        // Close the group when a row names another household or the file
        // ends; a row that cannot be read belongs, as far as we can tell, to
        // the household around it.
        let closes = match (&current, &row) {
            (Some(_), None) => true,
            (Some(g), Some(Row { cells: Ok(c), .. })) => text(c, "household_key").is_some_and(|k| k != g.key),
            _ => false,
        };
        if closes && let Some(Group { key, members, broken }) = current.take() {
            let found = households.take(&key, &mut rejects, &mut counts, &app, households_kind, &households_name)?;
            match found {
                None => {
                    let refused_row = keys
                        .get(REFUSED, &key)?
                        .map(|r| format!("its household ({households_name} row {r}) was refused"));
                    let why = if let Some(why) = &refused_row {
                        why.as_str()
                    } else if keys.get(HANDED_OUT, &key)?.is_some() {
                        "the household's people must be together in the file; these come after others"
                    } else {
                        "no household row has this household_key"
                    };
                    for (number, pkey, _) in &members {
                        rejects.add(&persons_name, *number, pkey, "household_key", "household-unknown", why)?;
                        counts.refused_persons += 1;
                    }
                }
                Some((hrow, _)) if !broken.is_empty() => {
                    // A household is imported whole or not at all.
                    rejects.add(
                        &households_name,
                        hrow,
                        &key,
                        "",
                        "member-refused",
                        "one of its people was refused",
                    )?;
                    counts.refused_households += 1;
                    let why = format!("its household ({households_name} row {hrow}) was refused");
                    for (number, pkey, _) in &members {
                        rejects.add(&persons_name, *number, pkey, "", "household-refused", &why)?;
                        counts.refused_persons += 1;
                    }
                }
                Some((hrow, stored)) => {
                    let draft = serde_json::from_str::<Map<String, Value>>(&stored)
                        .map_err(|e| e.to_string())
                        .and_then(|cells| household_draft(&cells, &app, households_kind))
                        .map_err(|e| anyhow::anyhow!("household {key} could not be read again: {e}"))?;
                    batch.push(Pending {
                        row: hrow,
                        person_rows: members.iter().map(|m| m.0).collect(),
                        keyed: KeyedHousehold {
                            key,
                            person_keys: members.iter().map(|m| m.1.clone()).collect(),
                            household: NewHousehold {
                                household: draft,
                                members: members.into_iter().map(|m| m.2).collect(),
                                source: Some("import".into()),
                                reason: None,
                            },
                        },
                    });
                }
            }
            if batch.len() as u64 >= args.batch {
                // At most two batches in flight: one written, one checked,
                // while the next is read; memory stays bounded.
                if in_flight.len() >= 2
                    && let Some(oldest) = in_flight.pop_front()
                {
                    finish_batch(oldest, &mut rejects, &mut counts, &households_name, &persons_name).await?;
                    progress(&counts, started, terminal, total_households);
                    // Each time the registry has doubled since: a few times in all.
                    if counts.imported_persons >= next_statistics {
                        app.store().refresh_load_statistics().await?;
                        next_statistics = counts.imported_persons.max(10_000) * 2;
                    }
                }
                in_flight.push_back(start_batch(&app, &actor, std::mem::take(&mut batch), &mut written));
            }
        }
        let Some(row) = row else { break };
        counts.persons += 1;
        let cells = match row.cells {
            Ok(c) => c,
            Err(why) => {
                rejects.add(&persons_name, row.number, "", "", "unreadable-row", &why)?;
                counts.refused_persons += 1;
                if let Some(g) = &mut current {
                    g.broken.push(row.number);
                }
                continue;
            }
        };
        let Some(hkey) = text(&cells, "household_key") else {
            rejects.add(
                &persons_name,
                row.number,
                "",
                "household_key",
                "required",
                "household_key is required",
            )?;
            counts.refused_persons += 1;
            if let Some(g) = &mut current {
                g.broken.push(row.number);
            }
            continue;
        };
        let group = match &mut current {
            Some(g) if g.key == hkey => g,
            _ => current.insert(Group {
                key: hkey,
                members: Vec::new(),
                broken: Vec::new(),
            }),
        };
        // Any refused row of a household refuses the household: it is imported whole or not at all.
        let Some(pkey) = text(&cells, "person_key") else {
            rejects.add(
                &persons_name,
                row.number,
                "",
                "person_key",
                "required",
                "person_key is required",
            )?;
            counts.refused_persons += 1;
            group.broken.push(row.number);
            continue;
        };
        if keys.insert(PERSON_KEYS, &pkey, row.number as i64)?.is_some() {
            rejects.add(
                &persons_name,
                row.number,
                &pkey,
                "person_key",
                "repeated",
                "the key is used by an earlier row",
            )?;
            counts.refused_persons += 1;
            group.broken.push(row.number);
            continue;
        }
        match person_draft(&cells, persons_kind) {
            Err(why) => {
                rejects.add(&persons_name, row.number, &pkey, "", "invalid", &why)?;
                counts.refused_persons += 1;
                // Its household cannot be whole without it.
                group.broken.push(row.number);
            }
            Ok(draft) => group.members.push((row.number, pkey, draft)),
        }
    }
    if !batch.is_empty() {
        in_flight.push_back(start_batch(&app, &actor, batch, &mut written));
    }
    while let Some(oldest) = in_flight.pop_front() {
        finish_batch(oldest, &mut rejects, &mut counts, &households_name, &persons_name).await?;
    }
    // Households no person row named.
    households.take("", &mut rejects, &mut counts, &app, households_kind, &households_name)?;
    let mut left: Vec<(u64, String)> = households.pending.into_iter().map(|(k, (row, _))| (row, k)).collect();
    left.sort();
    for (row, key) in left {
        rejects.add(
            &households_name,
            row,
            &key,
            "members",
            "required",
            "no person row names this household",
        )?;
        counts.refused_households += 1;
    }
    rejects.out.flush()?;
    app.flush_audit().await?;
    let secs = started.elapsed().as_secs_f64();
    if terminal {
        eprintln!();
    }
    Ok(format!(
        "Read {} households and {} people in {secs:.1} s: imported {} households ({} people), {} already imported \
         ({} people), refused {} households and {} people rows ({} lines in {}). Peak memory {:.0} MiB.",
        counts.households,
        counts.persons,
        counts.imported_households,
        counts.imported_persons,
        counts.already,
        counts.already_persons,
        counts.refused_households,
        counts.refused_persons,
        rejects.rows,
        rejects_path.display(),
        crate::bench::peak_rss_mib()
    ))
}

/// Progress by households (their number is known once their file is read):
/// a bar with rate and time left on a terminal, plain lines otherwise.
fn progress(c: &Counts, started: Instant, terminal: bool, total_households: u64) {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let done = c.imported_households + c.already + c.refused_households;
    let share = if total_households == 0 {
        1.0
    } else {
        (done as f64 / total_households as f64).min(1.0)
    };
    let left = if share > 0.0 { secs * (1.0 - share) / share } else { 0.0 };
    let rate = c.imported_persons as f64 / secs;
    let line = if total_households == 0 {
        format!(
            "{} people imported ({rate:.0}/s), {} refused",
            c.imported_persons, c.refused_persons
        )
    } else {
        format!(
            "{:>3.0} % of {total_households} households, {} people imported ({rate:.0}/s), {} refused, \
             about {left:.0} s left",
            share * 100.0,
            c.imported_persons,
            c.refused_persons,
        )
    };
    let mut err = std::io::stderr();
    if terminal {
        let filled = (share * 30.0) as usize;
        let _ = write!(err, "\r[{}{}] {line}   ", "#".repeat(filled), " ".repeat(30 - filled));
    } else {
        let _ = writeln!(err, "{line}");
    }
}

/// A batch being checked and written while the next one is read.
struct InFlight {
    /// Rows and keys, for the rejects; the households went to the task.
    batch: Vec<Pending>,
    task: tokio::task::JoinHandle<Result<Vec<ImportOutcome>, himaya_app::AppError>>,
}

/// Starts checking a batch at once, and writing it once the batch before it
/// (`written`) is written; `written` then waits on this one.
fn start_batch(
    app: &App,
    actor: &Actor,
    mut batch: Vec<Pending>,
    written: &mut Option<tokio::sync::oneshot::Receiver<()>>,
) -> InFlight {
    let keyed: Vec<KeyedHousehold> = batch
        .iter_mut()
        .map(|p| KeyedHousehold {
            key: p.keyed.key.clone(),
            person_keys: p.keyed.person_keys.clone(),
            household: std::mem::take(&mut p.keyed.household),
        })
        .collect();
    let (app, actor) = (app.clone(), actor.clone());
    let previous = written.take();
    let (done, next) = tokio::sync::oneshot::channel();
    *written = Some(next);
    // Called here, in file order: the batch's ids are made now.
    let checking = app.check_import(&actor, keyed);
    let task = tokio::spawn(async move {
        let checked = checking.await?;
        if let Some(previous) = previous {
            // Dropped unsent: the batch before failed, and the import stops there.
            previous
                .await
                .map_err(|_| himaya_app::AppError::Internal("an earlier batch failed".into()))?;
        }
        let result = app.write_import(&actor, checked).await;
        if result.is_ok() {
            let _ = done.send(());
        }
        result
    });
    InFlight { batch, task }
}

async fn finish_batch(
    in_flight: InFlight,
    rejects: &mut Rejects,
    counts: &mut Counts,
    households_name: &str,
    persons_name: &str,
) -> Result<()> {
    let InFlight { batch, task } = in_flight;
    let outcomes = task
        .await
        .context("the import stopped")?
        .context("the import stopped")?;
    for (p, outcome) in batch.iter().zip(outcomes) {
        let n = p.person_rows.len() as u64;
        match outcome {
            ImportOutcome::Imported(_) => {
                counts.imported_households += 1;
                counts.imported_persons += n;
            }
            ImportOutcome::AlreadyImported => {
                counts.already += 1;
                counts.already_persons += n;
            }
            ImportOutcome::Refused(problem) => {
                counts.refused_households += 1;
                counts.refused_persons += n;
                let mut blamed = vec![false; p.person_rows.len()];
                for e in &problem.errors {
                    // `members[i].field` belongs to the i-th person row.
                    let member = e
                        .field
                        .strip_prefix("members[")
                        .and_then(|r| r.split_once(']'))
                        .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest.trim_start_matches('.'))));
                    match member {
                        Some((i, field)) if i < p.person_rows.len() => {
                            blamed[i] = true;
                            rejects.add(
                                persons_name,
                                p.person_rows[i],
                                &p.keyed.person_keys[i],
                                field,
                                e.code,
                                &e.message,
                            )?;
                        }
                        _ => {
                            let field = e.field.strip_prefix("household.").unwrap_or(&e.field);
                            rejects.add(households_name, p.row, &p.keyed.key, field, e.code, &e.message)?;
                        }
                    }
                }
                let why = format!("its household ({households_name} row {}) was refused", p.row);
                for (i, row) in p.person_rows.iter().enumerate().filter(|(i, _)| !blamed[*i]) {
                    rejects.add(
                        persons_name,
                        *row,
                        &p.keyed.person_keys[i],
                        "",
                        "household-refused",
                        &why,
                    )?;
                }
                if !problem.errors.iter().any(|e| !e.field.starts_with("members[")) {
                    rejects.add(
                        households_name,
                        p.row,
                        &p.keyed.key,
                        "",
                        "member-refused",
                        "one of its people was refused",
                    )?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(bytes: Vec<u8>, kind: Kind) -> Result<Vec<Row>> {
        let known = |c: &str| ["a", "b", "c"].contains(&c);
        Ok(read_rows(
            std::io::Cursor::new(bytes),
            kind,
            Path::new("x"),
            &FileMap::default(),
            &known,
            &["a"],
        )?
        .collect())
    }

    proptest! {
        /// Whatever the bytes — quotes, separators, line breaks, invalid
        /// UTF-8 — the reader never panics, refuses a bad header, and gives
        /// every row either its cells or a reason, numbered in file order.
        #[test]
        fn any_csv_is_read_or_refused(body in proptest::collection::vec(
            prop_oneof![Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(0xff), Just(b'x'), Just(b' '), any::<u8>()],
            0..200,
        )) {
            let mut input = b"a,b,c\n".to_vec();
            input.extend(body);
            // A lone carriage return ends a row too.
            let lines = input.iter().filter(|b| matches!(**b, b'\n' | b'\r')).count() as u64 + 1;
            if let Ok(rows) = parse(input, Kind::Csv) {
                let mut last = 1;
                for r in rows {
                    prop_assert!(r.number > last && r.number <= lines + 1, "row {} after {last}", r.number);
                    last = r.number;
                    if let Ok(cells) = r.cells {
                        prop_assert!(cells.keys().all(|k| ["a", "b", "c"].contains(&k.as_str())));
                    }
                }
            }
        }

        #[test]
        fn any_json_lines_are_read_or_refused(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(rows) = parse(body, Kind::Jsonl) {
                for r in rows {
                    prop_assert!(r.number >= 1);
                }
            }
        }
    }

    #[test]
    fn a_header_without_a_required_column_or_with_an_unknown_one_is_refused() {
        assert!(parse(b"b,c\n1,2\n".to_vec(), Kind::Csv).is_err());
        assert!(parse(b"a,d\n1,2\n".to_vec(), Kind::Csv).is_err());
        let rows = parse(b"a,b\n1,2\n1,2,3\n\"x\"\"y\",\n".to_vec(), Kind::Csv).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].cells.is_ok() && rows[1].cells.is_err() && rows[2].cells.is_ok());
        assert_eq!(rows.iter().map(|r| r.number).collect::<Vec<_>>(), [2, 3, 4]);
    }
}
