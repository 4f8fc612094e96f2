//! `himaya export`: households and their active people to CSV or JSON
//! Lines, in the layout `himaya import` reads, page by page.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use himaya_app::{Actor, HouseholdQuery};
use himaya_domain::household::Household;
use himaya_domain::person::Person;
use himaya_domain::vocab::PersonStatus;
use serde_json::{Value, json};

use crate::DbArgs;

#[derive(Args)]
pub struct ExportArgs {
    /// The directory to write households and persons files to.
    #[arg(long)]
    out: PathBuf,
    /// csv or jsonl (JSON Lines carry every field; CSV the import columns).
    #[arg(long, default_value = "csv")]
    format: String,
    /// Only households in this area (and below it).
    #[arg(long)]
    area: Option<String>,
    /// Only households with this status: active or inactive.
    #[arg(long)]
    status: Option<String>,
    /// Only these columns (besides the keys); repeatable. Default: all.
    #[arg(long = "field")]
    fields: Vec<String>,
    /// The deployment configuration (TOML), or `demo:pk` (bd, jo, ps).
    #[arg(long, env = "HIMAYA_CONFIG")]
    config: String,
    #[command(flatten)]
    db: DbArgs,
}

const KEYS: &[&str] = &["household_key", "person_key"];

/// The two files being written.
enum Out {
    Csv(Box<csv::Writer<BufWriter<File>>>, Box<csv::Writer<BufWriter<File>>>),
    Jsonl(BufWriter<File>, BufWriter<File>),
}

pub async fn run(args: ExportArgs) -> Result<()> {
    let jsonl = match args.format.as_str() {
        "csv" => false,
        "jsonl" => true,
        other => bail!("--format: {other:?} is not a format: use csv or jsonl"),
    };
    let deployment = crate::load_config(&args.config)?;
    let app = args.db.open_existing(deployment).await?;
    let actor = Actor::system("export");
    let attributes: Vec<String> = app.deployment().household_attributes.names();
    let mut household_columns: Vec<String> = himaya_synth::write::HOUSEHOLD_COLUMNS
        .iter()
        .map(|s| s.to_string())
        .collect();
    household_columns.extend(attributes.iter().cloned());
    let person_columns: Vec<String> = himaya_synth::write::PERSON_COLUMNS
        .iter()
        .map(|s| s.to_string())
        .collect();
    for f in &args.fields {
        if jsonl && !json_field(f) {
            // JSON Lines carries the API's shapes: attributes, location and names are objects.
            bail!("--field: {f:?} is not a field of the JSON Lines export (name attributes, location, given_name…)");
        }
        if !(household_columns.contains(f) || person_columns.contains(f) || jsonl) {
            bail!("--field: {f:?} is not a column of the export");
        }
    }
    let shown = |c: &str| args.fields.is_empty() || KEYS.contains(&c) || args.fields.iter().any(|f| f == c);
    let household_columns: Vec<String> = household_columns.into_iter().filter(|c| shown(c)).collect();
    let person_columns: Vec<String> = person_columns.into_iter().filter(|c| shown(c)).collect();

    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let ext = if jsonl { "jsonl" } else { "csv" };
    let create = |name: &str| -> Result<BufWriter<File>> {
        let path = args.out.join(format!("{name}.{ext}"));
        Ok(BufWriter::with_capacity(
            1 << 20,
            File::create(&path).with_context(|| format!("cannot write {}", path.display()))?,
        ))
    };
    let mut out = if jsonl {
        Out::Jsonl(create("households")?, create("persons")?)
    } else {
        let mut h = csv::Writer::from_writer(create("households")?);
        let mut p = csv::Writer::from_writer(create("persons")?);
        h.write_record(&household_columns)?;
        p.write_record(&person_columns)?;
        Out::Csv(Box::new(h), Box::new(p))
    };

    let started = Instant::now();
    let mut query = HouseholdQuery {
        area: args.area.clone(),
        status: args.status.clone(),
        limit: Some(500),
        ..Default::default()
    };
    let (mut households, mut persons) = (0u64, 0u64);
    // Whatever happens to the writing, what left the registry is recorded.
    let written: Result<()> = async {
        loop {
            let (page, next) = app.export_page(&actor, &query).await?;
            for (h, people) in &page {
                households += 1;
                match &mut out {
                    Out::Jsonl(households_out, _) => {
                        let mut v = household_json(h);
                        retain(&mut v, &shown);
                        serde_json::to_writer(&mut *households_out, &v)?;
                        households_out.write_all(b"\n")?;
                    }
                    Out::Csv(households_out, _) => {
                        households_out.write_record(household_cells(h, &attributes, &household_columns))?
                    }
                }
                // Only the living members who are here: people who died or left
                // stay in the registry's history, and an import registers the present.
                for p in people.iter().filter(|p| p.record.status == PersonStatus::Active) {
                    persons += 1;
                    match &mut out {
                        Out::Jsonl(_, persons_out) => {
                            let mut v = person_json(h, p);
                            retain(&mut v, &shown);
                            serde_json::to_writer(&mut *persons_out, &v)?;
                            persons_out.write_all(b"\n")?;
                        }
                        Out::Csv(_, persons_out) => persons_out.write_record(person_cells(h, p, &person_columns))?,
                    }
                }
            }
            match next {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        match &mut out {
            Out::Jsonl(h, p) => {
                h.flush()?;
                p.flush()?;
            }
            Out::Csv(h, p) => {
                h.flush()?;
                p.flush()?;
            }
        }
        Ok(())
    }
    .await;
    app.record_export(&actor, &query, households, persons, &args.fields)
        .await?;
    written.with_context(|| {
        format!(
            "the export to {} stopped part-way; its files are incomplete",
            args.out.display()
        )
    })?;
    println!(
        "Exported {households} households and {persons} people to {} in {:.1} s.",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn json_field(f: &str) -> bool {
    matches!(f, "location" | "attributes" | "disability" | "school" | "identifiers")
}

fn retain(v: &mut Value, shown: &dyn Fn(&str) -> bool) {
    if let Some(m) = v.as_object_mut() {
        m.retain(|k, _| shown(k));
    }
}

fn household_json(h: &Household) -> Value {
    let mut v = json!({
        "household_key": h.registration_number,
        "area": h.record.area,
        "attributes": h.record.attributes,
    });
    if let Some(a) = &h.record.address {
        v["address"] = a.clone().into();
    }
    if let Some(l) = &h.record.location {
        v["location"] = json!({"latitude": l.latitude, "longitude": l.longitude});
    }
    v
}

fn person_json(h: &Household, p: &Person) -> Value {
    let mut v = serde_json::to_value(&p.record).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        for k in ["status", "status_date", "status_reason"] {
            m.remove(k);
        }
        m.insert("person_key".into(), p.id.to_string().into());
        m.insert("household_key".into(), h.registration_number.clone().into());
    }
    v
}

fn household_cells(h: &Household, attributes: &[String], columns: &[String]) -> Vec<String> {
    columns
        .iter()
        .map(|c| match c.as_str() {
            "household_key" => h.registration_number.clone(),
            "area" => h.record.area.clone(),
            "address" => h.record.address.clone().unwrap_or_default(),
            "latitude" => h.record.location.map(|l| l.latitude.to_string()).unwrap_or_default(),
            "longitude" => h.record.location.map(|l| l.longitude.to_string()).unwrap_or_default(),
            a if attributes.iter().any(|x| x == a) => match h.record.attributes.get(a) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            },
            _ => String::new(),
        })
        .collect()
}

fn person_cells(h: &Household, p: &Person, columns: &[String]) -> Vec<String> {
    let r = &p.record;
    let o = |s: &Option<String>| s.clone().unwrap_or_default();
    columns
        .iter()
        .map(|c| match c.as_str() {
            "person_key" => p.id.to_string(),
            "household_key" => h.registration_number.clone(),
            "relationship" => r.relationship.code().to_owned(),
            "given_name" => o(&r.given_name.native),
            "given_name_latin" => o(&r.given_name.latin),
            "family_name" => o(&r.family_name.native),
            "family_name_latin" => o(&r.family_name.latin),
            "father_name" => o(&r.father_name.native),
            "father_name_latin" => o(&r.father_name.latin),
            "sex" => r.sex.code().to_owned(),
            "date_of_birth" => r.date_of_birth.map(|d| d.to_string()).unwrap_or_default(),
            "birth_date_estimated" => r.birth_date_estimated.to_string(),
            "marital_status" => r.marital_status.map(|m| m.code().to_owned()).unwrap_or_default(),
            "maternal_status" => r.maternal_status.map(|m| m.code().to_owned()).unwrap_or_default(),
            "school_level" => r.school.as_ref().map(|s| s.level.code().to_owned()).unwrap_or_default(),
            "phone" => r.phone.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default(),
            // Several identifiers are separated by ";", in the same order in both columns.
            "identifier_type" => r
                .identifiers
                .iter()
                .map(|i| i.id_type.code())
                .collect::<Vec<_>>()
                .join(";"),
            "identifier" => r
                .identifiers
                .iter()
                .map(|i| i.value.as_str())
                .collect::<Vec<_>>()
                .join(";"),
            _ => String::new(),
        })
        .collect()
}
