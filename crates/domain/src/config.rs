//! The deployment configuration: country, currency, languages, identifier
//! types, the household attribute schema and the administrative areas.
//!
//! Parsed from TOML text; the caller reads the file. Every mistake is refused
//! with the key that holds it and the reason.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use crate::attributes::{AttributeDef, AttributeSchema};
use crate::identifier::IdentifierType;
use crate::payment::{FileFormat, ProviderKind};
use crate::pmt::PmtModel;
use crate::vocab::Country;

/// A validated deployment.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub name: String,
    pub country: Country,
    /// ISO 4217 code.
    pub currency: String,
    /// ISO 639-1 codes; the first is the default.
    pub languages: Vec<String>,
    pub identifier_types: Vec<IdentifierType>,
    /// Prefix of household registration numbers (`PK-00000042`).
    pub registration_prefix: String,
    pub household_attributes: AttributeSchema,
    /// Parents before children.
    pub areas: Vec<Area>,
    /// The proxy means test households are scored with, if any.
    pub pmt: Option<PmtModel>,
    /// The banks, mobile wallets and agent networks payments go through.
    pub payment_providers: Vec<PaymentProvider>,
}

/// A payment provider: who it is, the accounts it serves, the file it takes
/// and the programme's account it pays from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentProvider {
    pub code: String,
    pub name: String,
    pub kind: ProviderKind,
    pub file: FileFormat,
    /// The provider's BIC (or the id banks know it by) for the accounts it holds.
    pub agent: Option<String>,
    /// Payments per file: a larger batch is split into files of this many.
    #[serde(default = "default_chunk")]
    pub chunk_size: u32,
    /// Files carry each payee's G2P Connect financial address
    /// (`token:…@provider`) instead of the account itself.
    #[serde(default)]
    pub financial_address: bool,
    pub debtor: Debtor,
    /// The columns of the provider's payment file, when `file = "csv"`.
    pub payment_file: Option<toml::Table>,
    /// How to read the provider's status files, when it sends CSV.
    pub status_file: Option<toml::Table>,
}

/// The account a provider debits for a programme's payments.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Debtor {
    pub name: String,
    /// An IBAN, or the account's id at its bank.
    pub account: String,
    /// The debtor's bank: a BIC, or the id the provider knows it by.
    pub agent: String,
}

fn default_chunk() -> u32 {
    50_000
}

/// One administrative area: a province, district, tehsil/upazila, union or village.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Area {
    /// Stable code (ISO 3166-2 for the first level, deployment-defined below).
    pub code: String,
    pub parent: Option<String>,
    /// The level's name, e.g. `province`, `district`, `tehsil`.
    pub level: String,
    /// Names by language code.
    pub names: BTreeMap<String, String>,
}

/// A configuration that cannot be used, with the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Syntax(String),
    #[error("`{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeployment {
    name: Option<String>,
    country: String,
    currency: String,
    languages: Vec<String>,
    identifier_types: Vec<String>,
    registration_prefix: Option<String>,
    #[serde(default)]
    household_attributes: Vec<AttributeDef>,
    #[serde(default)]
    areas: Vec<RawArea>,
    /// A CSV file of areas (`code,parent,level,name_en,name_ur…`), relative
    /// to the configuration file; its areas follow the inline ones.
    areas_file: Option<String>,
    /// A proxy means test model (TOML), relative to the configuration file.
    pmt_model_file: Option<String>,
    #[serde(default)]
    payment_providers: Vec<PaymentProvider>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArea {
    code: String,
    parent: Option<String>,
    level: String,
    name: BTreeMap<String, String>,
    /// Where the area was defined, for messages (`areas[3]`, `areas.csv line 7`).
    #[serde(skip)]
    origin: String,
}

impl Deployment {
    /// Parses and checks a self-contained deployment configuration (one
    /// that names no other file).
    pub fn from_toml(text: &str) -> Result<Deployment, ConfigError> {
        Deployment::from_toml_with_files(text, |path| Err(format!("cannot read {path:?} here")))
    }

    /// Parses and checks a deployment configuration; `read` returns the text
    /// of a file it names (the areas file), or why it cannot.
    pub fn from_toml_with_files(
        text: &str,
        read: impl Fn(&str) -> Result<String, String>,
    ) -> Result<Deployment, ConfigError> {
        let mut raw: RawDeployment =
            toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string().trim_end().to_owned()))?;
        for (i, a) in raw.areas.iter_mut().enumerate() {
            a.origin = format!("areas[{i}]");
        }
        if let Some(file) = &raw.areas_file {
            let csv = read(file).map_err(|e| invalid("areas_file", e))?;
            raw.areas.extend(parse_areas_csv(file, &csv)?);
        }
        let country = Country::from_code(&raw.country).ok_or_else(|| {
            invalid(
                "country",
                format!("unknown country {:?}; expected one of pk, bd, jo, ps", raw.country),
            )
        })?;
        if raw.currency.len() != 3 || !raw.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid(
                "currency",
                format!("{:?} is not an ISO 4217 code (three capital letters)", raw.currency),
            ));
        }
        if raw.languages.is_empty() {
            return Err(invalid("languages", "at least one language is required"));
        }
        for (i, lang) in raw.languages.iter().enumerate() {
            if !is_language_code(lang) {
                return Err(invalid(
                    format!("languages[{i}]"),
                    format!("{lang:?} is not an ISO 639-1 code"),
                ));
            }
        }
        let mut identifier_types = Vec::new();
        for (i, code) in raw.identifier_types.iter().enumerate() {
            let t = IdentifierType::from_code(code).ok_or_else(|| {
                invalid(
                    format!("identifier_types[{i}]"),
                    format!(
                        "unknown identifier type {code:?}; expected one of {}",
                        IdentifierType::codes()
                    ),
                )
            })?;
            identifier_types.push(t);
        }
        let household_attributes = AttributeSchema::new(raw.household_attributes)
            .map_err(|(key, reason)| invalid(format!("household_attributes.{key}"), reason))?;
        let areas = check_areas(raw.areas, &raw.languages)?;
        let pmt = match &raw.pmt_model_file {
            None => None,
            Some(file) => {
                let text = read(file).map_err(|e| invalid("pmt_model_file", e))?;
                Some(PmtModel::from_toml(&text, &household_attributes).map_err(|e| match e {
                    ConfigError::Invalid { key, reason } => invalid(format!("pmt_model_file ({file}): {key}"), reason),
                    ConfigError::Syntax(reason) => invalid(format!("pmt_model_file ({file})"), reason),
                })?)
            }
        };
        let registration_prefix = raw.registration_prefix.unwrap_or_else(|| country.alpha2().to_owned());
        if registration_prefix.is_empty()
            || registration_prefix.len() > 12
            || !registration_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(invalid(
                "registration_prefix",
                "use 1 to 12 ASCII letters, digits or dashes",
            ));
        }
        check_providers(&raw.payment_providers)?;
        Ok(Deployment {
            name: raw.name.unwrap_or_else(|| format!("Himaya {}", country.alpha2())),
            country,
            currency: raw.currency,
            languages: raw.languages,
            identifier_types,
            registration_prefix,
            household_attributes,
            areas,
            pmt,
            payment_providers: raw.payment_providers,
        })
    }

    pub fn payment_provider(&self, code: &str) -> Option<&PaymentProvider> {
        self.payment_providers.iter().find(|p| p.code == code)
    }

    pub fn default_language(&self) -> &str {
        &self.languages[0]
    }

    /// Digits after the decimal point of the currency's minor unit (ISO 4217):
    /// the Jordanian dinar has 1,000 fils, most currencies 100 cents.
    pub fn currency_exponent(&self) -> u32 {
        match self.currency.as_str() {
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            "JPY" | "KRW" | "VND" | "XAF" | "XOF" => 0,
            _ => 2,
        }
    }
}

fn check_providers(providers: &[PaymentProvider]) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for (i, p) in providers.iter().enumerate() {
        let key = |field: &str| format!("payment_providers[{i}].{field}");
        if p.code.is_empty()
            || p.code.len() > 12
            || !p
                .code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            // Payment files' message ids carry the code within their 35 characters.
            return Err(invalid(key("code"), "use 1 to 12 of a-z, 0-9 and -"));
        }
        if !seen.insert(p.code.as_str()) {
            return Err(invalid(key("code"), format!("{:?} is named twice", p.code)));
        }
        if p.chunk_size == 0 {
            return Err(invalid(key("chunk_size"), "a file holds at least one payment"));
        }
        if (p.file == FileFormat::Csv) != p.payment_file.is_some() {
            return Err(invalid(
                key("payment_file"),
                "a provider with file = \"csv\" describes its columns in payment_file, and only such a provider",
            ));
        }
        if p.financial_address && p.file == FileFormat::Pain001V03 {
            return Err(invalid(
                key("financial_address"),
                "pain.001.001.03 has no proxy for a financial address; use pain.001.001.09 or csv",
            ));
        }
    }
    Ok(())
}

fn is_language_code(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_lowercase())
}

/// Reads areas from CSV: columns `code`, `parent` (may be empty), `level`,
/// and one `name_LANG` column per language.
fn parse_areas_csv(file: &str, text: &str) -> Result<Vec<RawArea>, ConfigError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| invalid("areas_file", format!("{file}: {e}")))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(code), Some(level)) = (column("code"), column("level")) else {
        return Err(invalid(
            "areas_file",
            format!("{file}: the header needs the columns code, parent, level and name_LANG"),
        ));
    };
    let parent = column("parent");
    let names: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.strip_prefix("name_").map(|lang| (i, lang.to_owned())))
        .collect();
    if names.is_empty() {
        return Err(invalid(
            "areas_file",
            format!("{file}: no name_LANG column (e.g. name_en)"),
        ));
    }
    let mut areas = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let origin = format!("{file} line {line}");
        let record = record.map_err(|e| invalid(origin.clone(), e.to_string()))?;
        let get = |c: usize| record.get(c).unwrap_or("").to_owned();
        areas.push(RawArea {
            code: get(code),
            parent: parent.map(get).filter(|p| !p.is_empty()),
            level: get(level),
            name: names
                .iter()
                .map(|(c, lang)| (lang.clone(), get(*c)))
                .filter(|(_, n)| !n.is_empty())
                .collect(),
            origin,
        });
    }
    Ok(areas)
}

fn check_areas(raw: Vec<RawArea>, languages: &[String]) -> Result<Vec<Area>, ConfigError> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, a) in raw.iter().enumerate() {
        let key = a.origin.clone();
        if a.code.is_empty()
            || a.code.len() > 64
            || !a
                .code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                format!("{key}.code"),
                format!("{:?}: use 1 to 64 ASCII letters, digits, - or _", a.code),
            ));
        }
        if seen.insert(a.code.clone(), i).is_some() {
            return Err(invalid(
                format!("{key}.code"),
                format!("area code {:?} appears twice", a.code),
            ));
        }
        if a.level.trim().is_empty() {
            return Err(invalid(format!("{key}.level"), "must not be empty"));
        }
        if a.name.is_empty() {
            return Err(invalid(
                format!("{key}.name"),
                "give the area's name in at least one language",
            ));
        }
        for (lang, name) in &a.name {
            if !languages.contains(lang) {
                return Err(invalid(
                    format!("{key}.name.{lang}"),
                    format!("{lang:?} is not one of the deployment's languages"),
                ));
            }
            if name.trim().is_empty() {
                return Err(invalid(format!("{key}.name.{lang}"), "must not be empty"));
            }
        }
    }
    // Every parent must exist, and following parents must never loop.
    for a in &raw {
        if let Some(p) = &a.parent
            && !seen.contains_key(p)
        {
            return Err(invalid(
                format!("{}.parent", a.origin),
                format!("unknown area code {p:?}"),
            ));
        }
        let mut visited = HashSet::new();
        let mut at = a;
        while let Some(p) = &at.parent {
            if !visited.insert(p.as_str()) {
                return Err(invalid(format!("{}.parent", a.origin), "the parent chain loops"));
            }
            at = &raw[seen[p]];
        }
    }
    // Parents before children, so areas can be inserted in order.
    let mut ordered: Vec<Area> = Vec::with_capacity(raw.len());
    let depth = |a: &RawArea| {
        let mut d = 0;
        let mut at = a;
        while let Some(p) = &at.parent {
            d += 1;
            at = &raw[seen[p]];
        }
        d
    };
    let mut indexed: Vec<(usize, usize)> = raw.iter().enumerate().map(|(i, a)| (depth(a), i)).collect();
    indexed.sort();
    for (_, i) in indexed {
        let a = &raw[i];
        ordered.push(Area {
            code: a.code.clone(),
            parent: a.parent.clone(),
            level: a.level.clone(),
            names: a.name.clone(),
        });
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        country = "pk"
        currency = "PKR"
        languages = ["en", "ur"]
        identifier_types = ["pk_cnic"]
        [[areas]]
        code = "PK-PB"
        level = "province"
        name = { en = "Punjab", ur = "پنجاب" }
        [[areas]]
        code = "PK-PB-MUL"
        parent = "PK-PB"
        level = "district"
        name = { en = "Multan" }
    "#;

    #[test]
    fn minimal_config_parses() {
        let d = Deployment::from_toml(MINIMAL).unwrap();
        assert_eq!(d.country, Country::Pk);
        assert_eq!(d.areas.len(), 2);
        assert_eq!(d.registration_prefix, "PK");
    }

    fn refused(text: &str) -> String {
        Deployment::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn areas_come_from_a_csv_file_too() {
        // A top-level key, so before the first table.
        let text = format!("areas_file = \"areas.csv\"\n{MINIMAL}");
        let csv = "code,parent,level,name_en,name_ur\nPK-PB-MUL-SDR,PK-PB-MUL,tehsil,Multan Saddar,ملتان صدر\n";
        let d = Deployment::from_toml_with_files(&text, |f| {
            assert_eq!(f, "areas.csv");
            Ok(csv.to_owned())
        })
        .unwrap();
        assert_eq!(d.areas.len(), 3);
        assert_eq!(d.areas[2].names["ur"], "ملتان صدر");

        let bad = "code,parent,level,name_en\nX,NOWHERE,village,X\n";
        let err = Deployment::from_toml_with_files(&text, |_| Ok(bad.to_owned()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`areas.csv line 2.parent`"), "{err}");
        let err = Deployment::from_toml_with_files(&text, |_| Ok("code,level\nX,village\n".to_owned()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("name_LANG"), "{err}");
        let err = Deployment::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("`areas_file`"), "{err}");
    }

    #[test]
    fn bad_keys_are_named() {
        assert!(refused(&MINIMAL.replace("\"PKR\"", "\"rupees\"")).contains("`currency`"));
        assert!(refused(&MINIMAL.replace("[\"pk_cnic\"]", "[\"pk_cnic\", \"ssn\"]")).contains("`identifier_types[1]`"));
        assert!(refused(&MINIMAL.replace("parent = \"PK-PB\"", "parent = \"PK-XX\"")).contains("`areas[1].parent`"));
        assert!(refused(&format!("{MINIMAL}\ncolour = 1")).contains("colour"));
        assert!(refused(&MINIMAL.replace("code = \"PK-PB-MUL\"", "code = \"PK-PB\"")).contains("appears twice"));
    }
}
