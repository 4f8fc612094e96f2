//! Writing a population as CSV or JSON Lines, block by block: blocks are
//! generated on every core and written in order, so memory stays at a few
//! blocks whatever the population.

use std::io::Write;

use serde_json::{Value, json};

use crate::household::{Block, Generator, Spelling, SynthHousehold, SynthPerson};

/// Households per block.
const BLOCK: u64 = 4_096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

/// What was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub households: u64,
    pub persons: u64,
    pub duplicates: u64,
}

/// The four outputs: `households`, `persons`, `truth` (person record → the
/// real person) and `household_truth` (household → hidden welfare level).
pub struct Outputs<W> {
    pub households: W,
    pub persons: W,
    pub truth: W,
    pub household_truth: W,
}

/// The households file's columns before the attributes (one column each, in
/// schema order, follows).
pub const HOUSEHOLD_COLUMNS: &[&str] = &["household_key", "area", "address", "latitude", "longitude"];

/// The persons file's columns, in order.
pub const PERSON_COLUMNS: &[&str] = &[
    "person_key",
    "household_key",
    "relationship",
    "given_name",
    "given_name_latin",
    "family_name",
    "family_name_latin",
    "father_name",
    "father_name_latin",
    "sex",
    "date_of_birth",
    "birth_date_estimated",
    "marital_status",
    "maternal_status",
    "school_level",
    "phone",
    "identifier_type",
    "identifier",
];

/// Writes `households` households (plus duplicates) to `out`.
pub fn write_population<W: Write>(
    g: &Generator,
    households: u64,
    format: Format,
    out: &mut Outputs<W>,
) -> std::io::Result<Summary> {
    let attributes: Vec<String> = g.deployment().household_attributes.names();
    if format == Format::Csv {
        let mut head = HOUSEHOLD_COLUMNS.to_vec();
        head.extend(attributes.iter().map(String::as_str));
        writeln!(out.households, "{}", head.join(","))?;
        writeln!(out.persons, "{}", PERSON_COLUMNS.join(","))?;
    }
    // The truth files are CSV whatever the format.
    writeln!(out.truth, "person_key,person_id")?;
    writeln!(out.household_truth, "household_key,welfare")?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let mut summary = Summary::default();
    let mut next = 0;
    while next < households {
        // One block per core at a time, written in order.
        let starts: Vec<u64> = (0..threads)
            .map(|t| next + t * BLOCK)
            .filter(|s| *s < households)
            .collect();
        let rendered: Vec<std::io::Result<Rendered>> = std::thread::scope(|scope| {
            let handles: Vec<_> = starts
                .iter()
                .map(|&start| {
                    let count = BLOCK.min(households - start);
                    let attributes = &attributes;
                    scope.spawn(move || render(&g.block(start, count), attributes, format))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(std::io::Error::other("a generator thread failed")))
                })
                .collect()
        });
        for r in rendered {
            let r = r?;
            out.households.write_all(&r.households)?;
            out.persons.write_all(&r.persons)?;
            out.truth.write_all(&r.truth)?;
            out.household_truth.write_all(&r.household_truth)?;
            summary.households += r.summary.households;
            summary.persons += r.summary.persons;
            summary.duplicates += r.summary.duplicates;
        }
        next += threads * BLOCK;
    }
    out.households.flush()?;
    out.persons.flush()?;
    out.truth.flush()?;
    out.household_truth.flush()?;
    Ok(summary)
}

struct Rendered {
    households: Vec<u8>,
    persons: Vec<u8>,
    truth: Vec<u8>,
    household_truth: Vec<u8>,
    summary: Summary,
}

fn render(block: &Block, attributes: &[String], format: Format) -> std::io::Result<Rendered> {
    let mut r = Rendered {
        households: Vec::with_capacity(block.households.len() * 200),
        persons: Vec::with_capacity(block.households.len() * 800),
        truth: Vec::with_capacity(block.households.len() * 120),
        household_truth: Vec::with_capacity(block.households.len() * 24),
        summary: Summary::default(),
    };
    let mut hw = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    let mut pw = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    for h in &block.households {
        r.summary.households += 1;
        match format {
            Format::Csv => household_row(&mut hw, h)?,
            Format::Jsonl => json_line(&mut r.households, &household_json(h, attributes))?,
        }
        for p in &h.members {
            r.summary.persons += 1;
            if p.truth != p.key {
                r.summary.duplicates += 1;
            }
            match format {
                Format::Csv => person_row(&mut pw, p)?,
                Format::Jsonl => json_line(&mut r.persons, &person_json(p))?,
            }
            writeln!(r.truth, "{},{}", p.key, p.truth)?;
        }
        writeln!(r.household_truth, "{},{:.4}", h.key, h.welfare)?;
    }
    if format == Format::Csv {
        r.households = hw.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
        r.persons = pw.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    Ok(r)
}

fn json_line(out: &mut Vec<u8>, v: &Value) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, v)?;
    out.push(b'\n');
    Ok(())
}

fn cell(v: &Option<Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn household_row<W: Write>(w: &mut csv::Writer<W>, h: &SynthHousehold) -> std::io::Result<()> {
    let (lat, lon) = h
        .location
        .map_or((String::new(), String::new()), |(a, b)| (a.to_string(), b.to_string()));
    let mut row: Vec<String> = vec![h.key.clone(), h.area.clone(), h.address.clone(), lat, lon];
    row.extend(h.attributes.iter().map(cell));
    w.write_record(&row).map_err(std::io::Error::other)
}

fn person_row<W: Write>(w: &mut csv::Writer<W>, p: &SynthPerson) -> std::io::Result<()> {
    let o = |s: &Option<String>| s.as_deref().unwrap_or("").to_owned();
    let (id_type, id) = p.identifier.as_ref().map_or(("", ""), |(t, v)| (*t, v.as_str()));
    w.write_record([
        p.key.as_str(),
        &p.household_key,
        p.relationship,
        &o(&p.given_name.0),
        &o(&p.given_name.1),
        &o(&p.family_name.0),
        &o(&p.family_name.1),
        &o(&p.father_name.0),
        &o(&p.father_name.1),
        p.sex,
        &o(&p.date_of_birth),
        if p.birth_date_estimated { "true" } else { "false" },
        p.marital_status,
        p.maternal_status.unwrap_or(""),
        p.school_level.unwrap_or(""),
        &o(&p.phone),
        id_type,
        id,
    ])
    .map_err(std::io::Error::other)
}

fn name_json(n: &Spelling) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(v) = &n.0 {
        m.insert("native".into(), v.clone().into());
    }
    if let Some(v) = &n.1 {
        m.insert("latin".into(), v.clone().into());
    }
    Value::Object(m)
}

fn household_json(h: &SynthHousehold, attributes: &[String]) -> Value {
    let attrs: serde_json::Map<String, Value> = attributes
        .iter()
        .zip(&h.attributes)
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect();
    let mut v = json!({"household_key": h.key, "area": h.area, "address": h.address, "attributes": attrs});
    if let Some((lat, lon)) = h.location {
        v["location"] = json!({"latitude": lat, "longitude": lon});
    }
    v
}

fn person_json(p: &SynthPerson) -> Value {
    let mut v = json!({
        "person_key": p.key,
        "household_key": p.household_key,
        "relationship": p.relationship,
        "given_name": name_json(&p.given_name),
        "sex": p.sex,
        "birth_date_estimated": p.birth_date_estimated,
        "marital_status": p.marital_status,
    });
    let m = v.as_object_mut().expect("an object");
    if p.family_name.0.is_some() || p.family_name.1.is_some() {
        m.insert("family_name".into(), name_json(&p.family_name));
    }
    if p.father_name.0.is_some() || p.father_name.1.is_some() {
        m.insert("father_name".into(), name_json(&p.father_name));
    }
    if let Some(d) = &p.date_of_birth {
        m.insert("date_of_birth".into(), d.clone().into());
    }
    if let Some(s) = p.maternal_status {
        m.insert("maternal_status".into(), s.into());
    }
    if let Some(s) = p.school_level {
        m.insert("school".into(), json!({"level": s}));
    }
    if let Some(s) = &p.phone {
        m.insert("phone".into(), s.clone().into());
    }
    if let Some((t, id)) = &p.identifier {
        m.insert("identifiers".into(), json!([{"type": t, "value": id}]));
    }
    v
}
