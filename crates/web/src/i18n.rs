//! The pages' languages: Fluent messages (one file per language under
//! `locales/`, compiled into the binary), the choice of language for a
//! request, and numbers, dates and money in the reader's locale and digits
//! (ICU4X with compiled data).
//!
//! Plain `ur` and `ar` in CLDR use Latin digits; Urdu readers here expect
//! Extended Arabic-Indic digits and Arabic readers Arabic-Indic ones, so the
//! numbering system is named explicitly (`-u-nu-arabext`, `-u-nu-arab`).
//! Bengali uses Bengali digits by default and groups in lakhs.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use himaya_domain::date::PartialDate;
use icu_datetime::FixedCalendarDateTimeFormatter;
use icu_datetime::fieldsets::{YM, YMD, YMDT};
use icu_datetime::input::{Date, Time};
use icu_decimal::input::Decimal;
use icu_decimal::options::{DecimalFormatterOptions, GroupingStrategy};
use icu_decimal::{DecimalFormatter, DecimalFormatterPreferences};
use icu_locale_core::Locale;

/// A language the pages are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Ur,
    Ar,
    Bn,
}

/// The cookie that keeps a visitor's choice of language.
pub const LANG_COOKIE: &str = "himaya_lang";

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Ur, Lang::Ar, Lang::Bn];

    /// The ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ur => "ur",
            Lang::Ar => "ar",
            Lang::Bn => "bn",
        }
    }

    /// `ur`, `UR`, `ur-PK`: the language of a tag, if it is one of ours.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Lang::ALL.into_iter().find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    pub fn is_rtl(self) -> bool {
        matches!(self, Lang::Ur | Lang::Ar)
    }

    pub fn dir(self) -> &'static str {
        if self.is_rtl() { "rtl" } else { "ltr" }
    }

    /// The language's name in itself, for the language switch.
    pub fn autonym(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Ur => "اردو",
            Lang::Ar => "العربية",
            Lang::Bn => "বাংলা",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The locale ICU4X formats with, digits named where CLDR's default is not what readers expect.
    fn locale(self) -> Locale {
        let tag = match self {
            Lang::En => "en",
            Lang::Ur => "ur-PK-u-nu-arabext",
            Lang::Ar => "ar-u-nu-arab",
            Lang::Bn => "bn-BD",
        };
        tag.parse().unwrap_or(Locale::UNKNOWN)
    }
}

/// The language of a request: `?lang=` first, then the cookie a previous
/// choice left, then the account's own choice, then the browser's
/// `Accept-Language`, then English.
pub fn negotiate(query: Option<&str>, cookie: Option<&str>, account: Option<&str>, accept: Option<&str>) -> Lang {
    query
        .and_then(Lang::from_tag)
        .or_else(|| cookie.and_then(Lang::from_tag))
        .or_else(|| account.and_then(Lang::from_tag))
        .or_else(|| accept.and_then(from_accept_language))
        .unwrap_or(Lang::En)
}

/// The first of our languages in an `Accept-Language` header, by weight.
fn from_accept_language(header: &str) -> Option<Lang> {
    let mut ranges: Vec<(f32, usize, Lang)> = header
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.split(';');
            let lang = Lang::from_tag(pieces.next()?)?;
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (q > 0.0).then_some((q, i, lang))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.first().map(|r| r.2)
}

/// The message files, in [`Lang::ALL`] order.
pub const SOURCES: [(Lang, &str); 4] = [
    (Lang::En, include_str!("../locales/en.ftl")),
    (Lang::Ur, include_str!("../locales/ur.ftl")),
    (Lang::Ar, include_str!("../locales/ar.ftl")),
    (Lang::Bn, include_str!("../locales/bn.ftl")),
];

/// One language's messages and formatters, built once.
pub struct Locale4 {
    bundle: FluentBundle<FluentResource>,
    grouped: Option<DecimalFormatter>,
    plain: Option<DecimalFormatter>,
    date: Option<FixedCalendarDateTimeFormatter<icu_calendar::Gregorian, YMD>>,
    month: Option<FixedCalendarDateTimeFormatter<icu_calendar::Gregorian, YM>>,
    date_time: Option<FixedCalendarDateTimeFormatter<icu_calendar::Gregorian, YMDT>>,
}

static LOCALES: LazyLock<Vec<Locale4>> = LazyLock::new(|| SOURCES.iter().map(|(l, s)| Locale4::new(*l, s)).collect());

impl Locale4 {
    fn new(lang: Lang, source: &str) -> Locale4 {
        let resource = FluentResource::try_new(source.to_owned()).unwrap_or_else(|(partial, errors)| {
            // The message-file test refuses this; a running server keeps what parsed.
            tracing::error!(lang = lang.code(), ?errors, "message file does not parse");
            partial
        });
        let id: unic_langid::LanguageIdentifier = lang.code().parse().unwrap_or_default();
        let mut bundle = FluentBundle::new_concurrent(vec![id]);
        if let Err(errors) = bundle.add_resource(resource) {
            tracing::error!(lang = lang.code(), ?errors, "message file repeats a message");
        }
        let locale = lang.locale();
        let prefs = DecimalFormatterPreferences::from(&locale);
        let never = DecimalFormatterOptions::from(GroupingStrategy::Never);
        let dt_prefs = icu_datetime::DateTimeFormatterPreferences::from(&locale);
        Locale4 {
            bundle,
            grouped: DecimalFormatter::try_new(prefs, Default::default()).ok(),
            plain: DecimalFormatter::try_new(prefs, never).ok(),
            date: FixedCalendarDateTimeFormatter::try_new(dt_prefs, YMD::medium()).ok(),
            month: FixedCalendarDateTimeFormatter::try_new(dt_prefs, YM::medium()).ok(),
            date_time: FixedCalendarDateTimeFormatter::try_new(dt_prefs, YMD::medium().with_time_hm()).ok(),
        }
    }
}

fn locale(lang: Lang) -> &'static Locale4 {
    &LOCALES[lang.index()]
}

/// Whether the language has a message with this key.
pub fn has(lang: Lang, key: &str) -> bool {
    locale(lang).bundle.has_message(key)
}

/// A message with arguments; a missing message shows its key, which the
/// page tests look for.
pub fn message(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    let bundle = &locale(lang).bundle;
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        return key.to_owned();
    };
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        fluent_args.set(*name, FluentValue::from(value.as_str()));
    }
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, (!args.is_empty()).then_some(&fluent_args), &mut errors);
    if !errors.is_empty() {
        tracing::warn!(lang = lang.code(), key, ?errors, "message could not be formatted whole");
    }
    text.into_owned()
}

fn format_decimal(f: Option<&DecimalFormatter>, d: &Decimal) -> String {
    match f {
        Some(f) => f.format(d).to_string(),
        None => d.to_string(),
    }
}

/// A count or amount with the locale's digits and grouping (`১২,৩৪,৫৬৭` in Bengali).
pub fn number(lang: Lang, n: i64) -> String {
    format_decimal(locale(lang).grouped.as_ref(), &Decimal::from(n))
}

/// A decimal number as text (`12.5`), in the locale's digits; text that is
/// not a number is returned as it is.
pub fn decimal(lang: Lang, text: &str) -> String {
    match text.parse::<Decimal>() {
        Ok(d) => format_decimal(locale(lang).grouped.as_ref(), &d),
        Err(_) => text.to_owned(),
    }
}

/// A number with the locale's digits and no grouping: years, versions, ages.
pub fn digits(lang: Lang, n: i64) -> String {
    format_decimal(locale(lang).plain.as_ref(), &Decimal::from(n))
}

/// Minor units as an amount with `exponent` decimals and the currency's name.
pub fn money(lang: Lang, minor: i64, exponent: u32, currency: &str) -> String {
    let mut d = Decimal::from(minor);
    d.multiply_pow10(-(exponent as i16));
    d.pad_end(-(exponent as i16));
    let amount = format_decimal(locale(lang).grouped.as_ref(), &d);
    let key = format!("currency-{currency}");
    let unit = if has(lang, &key) {
        message(lang, &key, &[])
    } else {
        currency.to_owned()
    };
    message(lang, "money", &[("amount", amount), ("currency", unit)])
}

fn gregorian(d: NaiveDate) -> Option<Date<icu_calendar::Gregorian>> {
    let (m, day) = (u8::try_from(d.month()).ok()?, u8::try_from(d.day()).ok()?);
    Date::try_new_gregorian(d.year(), m, day).ok()
}

/// A date in the locale's words and digits.
pub fn date(lang: Lang, d: NaiveDate) -> String {
    match (locale(lang).date.as_ref(), gregorian(d)) {
        (Some(f), Some(g)) => f.format(&g).to_string(),
        _ => d.to_string(),
    }
}

/// A time (UTC) with its date, to the minute.
pub fn date_time(lang: Lang, t: DateTime<Utc>) -> String {
    let naive = t.naive_utc();
    let time = Time::try_new(naive.hour() as u8, naive.minute() as u8, 0, 0).ok();
    match (locale(lang).date_time.as_ref(), gregorian(naive.date()), time) {
        (Some(f), Some(date), Some(time)) => f.format(&icu_datetime::input::DateTime { date, time }).to_string(),
        _ => t.format("%Y-%m-%d %H:%M").to_string(),
    }
}

/// A date of birth known to the year, the month or the day.
pub fn partial_date(lang: Lang, d: PartialDate) -> String {
    match d {
        PartialDate::Year(y) => digits(lang, i64::from(y)),
        PartialDate::YearMonth(y, m) => {
            let g = u8::try_from(m).ok().and_then(|m| Date::try_new_gregorian(y, m, 1).ok());
            match (locale(lang).month.as_ref(), g) {
                (Some(f), Some(g)) => f.format(&g).to_string(),
                _ => format!("{y}-{m:02}"),
            }
        }
        PartialDate::Full(d) => date(lang, d),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    #[test]
    fn the_language_comes_from_the_query_the_cookie_the_account_then_the_browser() {
        assert_eq!(negotiate(Some("ur"), Some("bn"), None, Some("ar")), Lang::Ur);
        assert_eq!(negotiate(Some("xx"), Some("bn"), None, Some("ar")), Lang::Bn);
        assert_eq!(negotiate(None, None, Some("ar"), Some("bn")), Lang::Ar);
        assert_eq!(
            negotiate(None, None, None, Some("fr-FR, ur-PK;q=0.8, en;q=0.5")),
            Lang::Ur
        );
        assert_eq!(negotiate(None, None, None, Some("en;q=0.2, bn;q=0.9")), Lang::Bn);
        assert_eq!(negotiate(None, None, None, Some("ar;q=0, fr")), Lang::En);
        assert_eq!(negotiate(None, None, None, None), Lang::En);
    }

    /// The message names of a file and the variables each one uses.
    fn messages(source: &str) -> BTreeMap<String, BTreeSet<String>> {
        let resource = match FluentResource::try_new(source.to_owned()) {
            Ok(r) => r,
            Err((_, errors)) => panic!("does not parse: {errors:?}"),
        };
        let mut out = BTreeMap::new();
        for entry in resource.entries() {
            if let fluent_syntax::ast::Entry::Message(m) = entry {
                let vars = source_vars(source, m.id.name);
                out.insert(m.id.name.to_owned(), vars);
            }
        }
        out
    }

    /// `$name`s in one message's line.
    fn source_vars(source: &str, id: &str) -> BTreeSet<String> {
        let line = source
            .lines()
            .find(|l| l.starts_with(&format!("{id} =")))
            .unwrap_or_default();
        line.split('$')
            .skip(1)
            .map(|v| {
                v.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_language_has_every_message_with_the_same_variables() {
        let english = messages(SOURCES[0].1);
        assert!(english.len() > 300, "{} messages", english.len());
        for (lang, source) in &SOURCES[1..] {
            let other = messages(source);
            for (key, vars) in &english {
                let Some(theirs) = other.get(key) else {
                    panic!("{} lacks the message {key}", lang.code());
                };
                assert_eq!(theirs, vars, "{}: {key} takes other variables", lang.code());
            }
            for key in other.keys() {
                assert!(english.contains_key(key), "{} has {key}, English does not", lang.code());
            }
        }
    }

    #[test]
    fn numbers_use_the_digits_readers_expect() {
        assert_eq!(number(Lang::En, 1234567), "1,234,567");
        assert_eq!(number(Lang::Ur, 1234567), "۱٬۲۳۴٬۵۶۷");
        assert_eq!(number(Lang::Ar, 1234567), "١٬٢٣٤٬٥٦٧");
        assert_eq!(number(Lang::Bn, 1234567), "১২,৩৪,৫৬৭");
        assert_eq!(digits(Lang::Ur, 1980), "۱۹۸۰");
        assert_eq!(decimal(Lang::En, "31.25"), "31.25");
        assert_eq!(decimal(Lang::Ar, "31.25"), "٣١٫٢٥");
    }

    #[test]
    fn money_shows_minor_units_with_the_currency() {
        // Fluent isolates each placeable (FSI … PDI) so that mixed directions stay in order.
        let plain = |s: String| s.replace(['\u{2068}', '\u{2069}'], "");
        assert_eq!(plain(money(Lang::En, 1_050_000, 2, "PKR")), "Rs 10,500.00");
        assert_eq!(plain(money(Lang::En, 12_500, 3, "JOD")), "JOD 12.500");
        assert!(money(Lang::Ur, 1_050_000, 2, "PKR").contains("۱۰٬۵۰۰٫۰۰"));
    }

    #[test]
    fn dates_are_in_the_locale() {
        let d = NaiveDate::from_ymd_opt(2024, 5, 8).unwrap();
        assert_eq!(date(Lang::En, d), "May 8, 2024");
        assert!(date(Lang::Ur, d).contains("۲۰۲۴"), "{}", date(Lang::Ur, d));
        assert!(date(Lang::Bn, d).contains("২০২৪"), "{}", date(Lang::Bn, d));
        assert_eq!(partial_date(Lang::En, PartialDate::Year(1980)), "1980");
        assert_eq!(partial_date(Lang::En, PartialDate::YearMonth(1980, 5)), "May 1980");
    }
}
