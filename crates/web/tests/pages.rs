//! The staff pages over real HTTP, read with an HTML parser: every page in
//! every language translated and laid out for its direction, forms that
//! refuse bad input beside the field and change nothing, CSRF, language
//! choice, security headers and the page weight budget.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::{PASSWORD, TestApp, household, spawn};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};
use scraper::{ElementRef, Html, Selector};

/// A client that keeps cookies by hand (the session cookie is `Secure`,
/// which reqwest's cookie store would not send over plain HTTP).
struct Visitor {
    base: String,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
    accept_language: Option<String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn html(&self) -> Html {
        Html::parse_document(&self.body)
    }

    fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

impl Visitor {
    fn new(t: &TestApp) -> Visitor {
        Visitor {
            base: t.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            accept_language: None,
        }
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            if val.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let mut req = req.header("cookie", self.cookie_header());
        if let Some(l) = &self.accept_language {
            req = req.header("accept-language", l);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        self.keep(&headers);
        Page {
            status,
            headers,
            body: res.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    /// Signs in and returns the session's CSRF token, read from a page's form.
    async fn sign_in(&mut self, username: &str) -> String {
        let r = self
            .post(
                "/sign-in",
                &[("username", username), ("password", PASSWORD), ("next", "/")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let home = self.get("/").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        csrf(&home.html())
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn csrf(doc: &Html) -> String {
    doc.select(&sel("input[name=csrf]"))
        .next()
        .and_then(|i| i.value().attr("value"))
        .unwrap()
        .to_owned()
}

/// The message names of the English file: none may reach a page as text.
fn message_names() -> BTreeSet<String> {
    include_str!("../locales/en.ftl")
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().to_owned()))
        .filter(|k| k.contains('-') && !k.starts_with('#'))
        .collect()
}

/// Whether text sits inside data the deployment or a person wrote (names,
/// codes, identifiers, labels from the configuration), which the message
/// files do not translate.
fn in_data(e: &ElementRef) -> bool {
    std::iter::once(*e)
        .chain(e.ancestors().filter_map(ElementRef::wrap))
        .any(|a| {
            let v = a.value();
            matches!(
                v.name(),
                "bdi" | "code" | "option" | "svg" | "title" | "script" | "style"
            ) || v.attr("lang").is_some_and(|_| v.name() != "html")
                || v.attr("class").is_some_and(|c| c.split(' ').any(|c| c == "mono"))
        })
}

/// Checks one page: no message name shown, the language and direction set,
/// no left-to-right layout in a right-to-left page, and for a language
/// other than English no English word outside data.
fn check_page(path: &str, lang: &str, doc: &Html, names: &BTreeSet<String>) {
    let html = doc.select(&sel("html")).next().unwrap();
    assert_eq!(html.value().attr("lang"), Some(lang), "{path}");
    let rtl = matches!(lang, "ur" | "ar");
    assert_eq!(
        html.value().attr("dir"),
        Some(if rtl { "rtl" } else { "ltr" }),
        "{path} in {lang}"
    );
    for node in doc.root_element().descendants() {
        let Some(text) = node.value().as_text() else { continue };
        let parent = node.parent().and_then(ElementRef::wrap).unwrap();
        // A message's arguments (names, numbers) come isolated, FSI … PDI: they are data.
        let mut own = String::new();
        let mut depth = 0;
        for ch in text.chars() {
            match ch {
                '\u{2068}' => depth += 1,
                '\u{2069}' => depth -= 1,
                _ if depth == 0 => own.push(ch),
                _ => {}
            }
        }
        for word in own.split(|c: char| c.is_whitespace() || "(),.:;·?!".contains(c)) {
            assert!(
                !names.contains(word),
                "{path} in {lang} shows the message name {word:?}"
            );
            if lang != "en" && !in_data(&parent) {
                let latin_word = word.chars().filter(|c| c.is_ascii_lowercase()).count() >= 3;
                assert!(
                    !latin_word,
                    "{path} in {lang} shows untranslated text {text:?} in <{}>",
                    parent.value().name()
                );
            }
        }
    }
    for e in doc.select(&sel("[aria-label], [placeholder], [data-label], [title]")) {
        for a in ["aria-label", "placeholder", "data-label", "title"] {
            if let Some(v) = e.value().attr(a) {
                assert!(!names.contains(v), "{path} in {lang}: {a}={v:?} is a message name");
            }
        }
    }
    if rtl {
        // Right to left throughout: only data (typed Latin, codes) runs left to right.
        for e in doc.select(&sel("[dir=ltr]")) {
            let name = e.value().name();
            assert!(
                matches!(name, "input" | "bdi" | "code"),
                "{path} in {lang}: <{name} dir=ltr> lays out left to right"
            );
        }
        assert!(doc.select(&sel("[style]")).next().is_none(), "{path}: inline style");
    }
    check_accessible(path, lang, doc);
}

/// The text of an element as a screen reader would read it: its text nodes, trimmed.
fn text_in(e: &ElementRef) -> String {
    e.text().collect::<String>().trim().to_owned()
}

/// Checks what a screen reader needs of a page: one `h1`, ids unique, every
/// visible control named (by a `label` pointing at its id, a wrapping
/// `label`, `aria-label` or `aria-labelledby`), every button with words,
/// every image and chart with a text alternative.
fn check_accessible(path: &str, lang: &str, doc: &Html) {
    let at = format!("{path} in {lang}");
    assert_eq!(doc.select(&sel("h1")).count(), 1, "{at}: one h1");
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for e in doc.select(&sel("[id]")) {
        *ids.entry(e.value().attr("id").unwrap()).or_default() += 1;
    }
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).map(|(id, _)| *id).collect();
    assert!(twice.is_empty(), "{at}: ids used more than once: {twice:?}");
    let mut labelled: HashMap<&str, String> = HashMap::new();
    for l in doc.select(&sel("label")) {
        let text = text_in(&l);
        assert!(!text.is_empty(), "{at}: an empty label {}", l.html());
        if let Some(f) = l.value().attr("for") {
            assert!(ids.contains_key(f), "{at}: label for={f:?} names no element");
            labelled.insert(f, text);
        }
    }
    let attr_named = |e: &ElementRef| {
        let v = e.value();
        v.attr("aria-label").is_some_and(|a| !a.trim().is_empty())
            || v.attr("aria-labelledby").is_some_and(|ids| {
                ids.split_whitespace().all(|id| {
                    doc.select(&sel(&format!("[id=\"{id}\"]")))
                        .next()
                        .is_some_and(|t| !text_in(&t).is_empty())
                })
            })
    };
    for c in doc.select(&sel("input, select, textarea")) {
        let v = c.value();
        let kind = v.attr("type").unwrap_or("text");
        if kind == "hidden" {
            continue;
        }
        if matches!(kind, "submit" | "button" | "reset") {
            let words = v.attr("value").is_some_and(|s| !s.trim().is_empty());
            assert!(words || attr_named(&c), "{at}: a {kind} without words: {}", c.html());
            continue;
        }
        let by_for = v.attr("id").is_some_and(|id| labelled.contains_key(id));
        let wrapped = c
            .ancestors()
            .filter_map(ElementRef::wrap)
            .any(|a| a.value().name() == "label");
        assert!(
            by_for || wrapped || attr_named(&c),
            "{at}: a control without a label: {}",
            c.html()
        );
    }
    for b in doc.select(&sel("button")) {
        assert!(
            !text_in(&b).is_empty() || attr_named(&b),
            "{at}: a button without words: {}",
            b.html()
        );
    }
    for i in doc.select(&sel("img")) {
        assert!(
            i.value().attr("alt").is_some(),
            "{at}: an image without alt: {}",
            i.html()
        );
    }
    for s in doc.select(&sel("svg")) {
        let v = s.value();
        if v.attr("aria-hidden") == Some("true") {
            continue;
        }
        let title = s
            .children()
            .filter_map(ElementRef::wrap)
            .any(|t| t.value().name() == "title" && !text_in(&t).is_empty());
        assert!(
            v.attr("role") == Some("img") && (attr_named(&s) || title),
            "{at}: a chart without a text alternative"
        );
    }
}

/// A household registered over the API, a programme saved and run, for the pages to show.
async fn registry_with_a_household(t: &TestApp) -> String {
    let h = t.register(household("3520212345671")).await;
    t.save_programme("pk-kafalat").await;
    let r = t
        .post(
            "/api/v1/programmes/pk-kafalat/runs",
            serde_json::json!({"area": "PK-PB", "enrol": true}),
        )
        .await;
    assert!(r.status.is_success(), "{:#}", r.body);
    h["id"].as_str().unwrap().to_owned()
}

/// A funding line and a computed cycle of Kafalat, opened over the API.
async fn a_computed_cycle(t: &TestApp) -> String {
    let r = t
        .send(
            reqwest::Method::PUT,
            "/api/v1/funding-lines/treasury",
            Some(serde_json::json!({"name": "Treasury FY2026", "allocated": 100_000_000})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let r = t
        .post(
            "/api/v1/cycles",
            serde_json::json!({"programme": "pk-kafalat", "period": "2026-Q3", "plan": {"funding": ["treasury"]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = t
        .post(&format!("/api/v1/cycles/{id}/compute"), serde_json::json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    id
}

#[tokio::test]
async fn every_page_in_every_language_is_translated_and_laid_out_for_its_direction() {
    let t = spawn().await;
    let id = registry_with_a_household(&t).await;
    let cycle = a_computed_cycle(&t).await;
    let grievance = t
        .post(
            "/api/v1/grievances",
            serde_json::json!({"household_id": id, "category": "payment", "channel": "phone",
                               "complainant": "Shazia Bibi", "description": "The payment did not come"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let person = t.get(&format!("/api/v1/households/{id}")).await.body["members"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let names = message_names();
    let mut v = Visitor::new(&t);
    for lang in ["en", "ur", "ar", "bn"] {
        v.cookies.clear();
        let sign_in = v.get(&format!("/sign-in?lang={lang}")).await;
        assert_eq!(sign_in.status, StatusCode::OK);
        check_page("/sign-in", lang, &sign_in.html(), &names);
        v.sign_in("admin").await;
        let paths = [
            "/".to_owned(),
            "/registry".to_owned(),
            "/registry?name=muhammad".to_owned(),
            "/registry?identifier=35202-1234567-1".to_owned(),
            format!("/households/{id}"),
            format!("/households/{id}/edit"),
            format!("/households/{id}/members/new"),
            "/households/new".to_owned(),
            "/programmes".to_owned(),
            "/programmes/pk-kafalat".to_owned(),
            format!("/households/{id}/programmes/pk-kafalat"),
            "/admin/users".to_owned(),
            "/admin/users/admin".to_owned(),
            "/admin/agencies".to_owned(),
            "/audit".to_owned(),
            "/dedup".to_owned(),
            "/password".to_owned(),
            "/cycles".to_owned(),
            "/programmes/pk-kafalat/cycles".to_owned(),
            format!("/cycles/{cycle}"),
            format!("/cycles/{cycle}/report"),
            format!("/persons/{person}/accounts"),
            format!("/persons/{person}/edit"),
            format!("/households/{id}/changes"),
            "/funding".to_owned(),
            "/grievances".to_owned(),
            "/grievances?status=all".to_owned(),
            "/grievances/new".to_owned(),
            format!("/grievances/new?household={id}"),
            format!("/grievances/{grievance}"),
            "/no-such-page".to_owned(),
        ];
        for path in &paths {
            let p = v.get(path).await;
            let expected = if path == "/no-such-page" {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
            assert_eq!(p.status, expected, "{path} in {lang}: {}", p.body);
            if expected == StatusCode::OK {
                check_page(path, lang, &p.html(), &names);
            }
        }
        let csrf = csrf(&v.get("/").await.html());
        let run = v
            .post(
                "/programmes/pk-kafalat/dry-run",
                &[("csrf", &csrf), ("area", "PK-PB"), ("param.pmt_threshold", "٣٥")],
            )
            .await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.body);
        let doc = run.html();
        check_page("dry run", lang, &doc, &names);
        assert!(doc.select(&sel("#report .card")).count() >= 7);
        let run = v
            .post(
                "/programmes/pk-kafalat/runs",
                &[("csrf", &csrf), ("area", "PK-PB"), ("enrol", "true")],
            )
            .await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.body);
        let doc = run.html();
        check_page("targeting run", lang, &doc, &names);
        assert!(doc.select(&sel("#report #report-enrolled")).next().is_some());
        let profile = v.get(&format!("/households/{id}")).await.html();
        assert!(
            profile.select(&sel("h2#payments")).next().is_some(),
            "the household's payments on its page"
        );
        let dashboard = v.get("/").await.html();
        assert!(
            dashboard.select(&sel(".chart svg rect.bar")).next().is_some(),
            "the dashboard draws its chart"
        );
        assert!(
            dashboard.select(&sel("#figure-paid")).next().is_some(),
            "no cycle is being paid: the payment figure says so"
        );
        assert_eq!(
            dashboard
                .select(&sel("#figure-households"))
                .next()
                .unwrap()
                .text()
                .collect::<String>(),
            match lang {
                "ur" => "۱",
                "ar" => "١",
                "bn" => "১",
                _ => "1",
            }
        );
    }
    // The style sheet uses logical properties only, so right-to-left pages mirror.
    let css = include_str!("../assets/app.css");
    for physical in [
        "margin-left",
        "margin-right",
        "padding-left",
        "padding-right",
        "border-left",
        "border-right",
        "text-align: left",
        "text-align: right",
        "float:",
        " left:",
        " right:",
    ] {
        assert!(!css.contains(physical), "the style sheet uses {physical}");
    }
}

#[tokio::test]
async fn the_language_is_chosen_by_query_cookie_then_browser() {
    let t = spawn().await;
    let mut v = Visitor::new(&t);
    v.accept_language = Some("bn-BD,bn;q=0.9,en;q=0.5".into());
    let p = v.get("/sign-in").await;
    let doc = p.html();
    assert_eq!(
        doc.select(&sel("html")).next().unwrap().value().attr("lang"),
        Some("bn")
    );
    assert!(p.body.contains("প্রবেশ করুন"));
    // `?lang=` on any URL switches and is remembered.
    let p = v.get("/sign-in?lang=ur").await;
    assert!(
        p.headers
            .get_all(SET_COOKIE)
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("himaya_lang=ur"))
    );
    let p = v.get("/sign-in").await;
    assert_eq!(
        p.html().select(&sel("html")).next().unwrap().value().attr("dir"),
        Some("rtl")
    );
    // Every page offers the four languages, keeping the page and its query.
    let links: Vec<String> = p
        .html()
        .select(&sel("nav.langs a"))
        .map(|a| a.value().attr("href").unwrap().to_owned())
        .collect();
    assert_eq!(
        links,
        [
            "/sign-in?lang=en",
            "/sign-in?lang=ur",
            "/sign-in?lang=ar",
            "/sign-in?lang=bn"
        ]
    );
}

#[tokio::test]
async fn pages_need_a_session_and_a_one_time_password_is_changed_first() {
    let t = spawn().await;
    let mut v = Visitor::new(&t);
    let p = v.get("/registry?name=ali").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/sign-in?next=%2Fregistry%3Fname%3Dali");
    let wrong = v
        .post("/sign-in", &[("username", "admin"), ("password", "not the password")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html().select(&sel("#refused")).next().is_some());
    check_accessible("refused sign-in", "en", &wrong.html());
    // An open redirect is not followed after sign-in.
    let r = v
        .post(
            "/sign-in",
            &[
                ("username", "admin"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/");

    let operator = himaya_app::Actor::system("test");
    let (_, one_time) = t
        .app
        .add_user(
            &operator,
            himaya_app::NewUser {
                username: "nadia".into(),
                roles: vec!["registrar".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let one_time = one_time.unwrap();
    let mut n = Visitor::new(&t);
    let r = n
        .post(
            "/sign-in",
            &[("username", "nadia"), ("password", &one_time), ("next", "/registry")],
        )
        .await;
    assert_eq!(r.location(), "/password");
    let p = n.get("/registry").await;
    assert_eq!(p.location(), "/password", "nothing else before the password is changed");
    let form = n.get("/password").await;
    let token = csrf(&form.html());
    let differ = n
        .post(
            "/password",
            &[
                ("csrf", &token),
                ("current_password", &one_time),
                ("new_password", "a new long password"),
                ("confirm_password", "another one"),
            ],
        )
        .await;
    assert_eq!(differ.status, StatusCode::UNPROCESSABLE_ENTITY);
    check_accessible("/password refused", "en", &differ.html());
    let done = n
        .post(
            "/password",
            &[
                ("csrf", &token),
                ("current_password", &one_time),
                ("new_password", "a new long password"),
                ("confirm_password", "a new long password"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(n.get("/registry").await.status, StatusCode::OK);
    // Signing out ends the session.
    let out = n.post("/sign-out", &[("csrf", &token)]).await;
    assert_eq!(out.location(), "/sign-in");
    n.cookies.insert("himaya_session".into(), "expired".into());
    assert_eq!(n.get("/registry").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_bad_registration_is_refused_beside_its_fields_in_urdu_and_changes_nothing() {
    let t = spawn().await;
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ur").await;
    let csrf = v.sign_in("admin").await;
    let before = t.counts().await;
    let form = [
        ("csrf", csrf.as_str()),
        ("member_count", "1"),
        ("household.area", "PK-PB-MUL-SDR"),
        ("household.attributes.urban_rural", "rural"),
        ("household.attributes.rooms", "۴۰"),
        ("household.location.latitude", "north"),
        ("members[0].given_name.native", "فاطمہ"),
        ("members[0].sex", "female"),
        ("members[0].relationship", "head"),
        ("members[0].identifiers[0].type", "pk_cnic"),
        ("members[0].identifiers[0].value", "۳۵۲۰۲۱۲۳"),
        ("members[0].date_of_birth", "۲۰۹۰"),
    ];
    // Form-level errors first (a latitude that is no number)…
    let p = v.post("/households/new", &form).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error = |doc: &Html, id: &str| {
        doc.select(&sel(&format!("[id=\"{id}-error\"]")))
            .next()
            .map(|e| e.text().collect::<String>())
    };
    assert_eq!(
        error(&p.html(), "household.location.latitude").as_deref(),
        Some("یہ عدد نہیں ہے۔")
    );
    // …then the registry's own, each beside its field, in Urdu.
    let mut form = form.to_vec();
    form.retain(|(k, _)| *k != "household.location.latitude");
    let p = v.post("/households/new", &form).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let doc = p.html();
    check_accessible("/households/new refused", "ur", &doc);
    assert_eq!(
        error(&doc, "members[0].identifiers[0].value").as_deref(),
        Some("شناختی نمبر کے ہندسوں کی تعداد غلط ہے۔")
    );
    assert_eq!(
        error(&doc, "members[0].date_of_birth").as_deref(),
        Some("تاریخ مستقبل کی نہیں ہو سکتی۔")
    );
    assert_eq!(
        error(&doc, "household.attributes.rooms").as_deref(),
        Some("مقررہ حد سے باہر ہے۔")
    );
    let input = doc
        .select(&sel("[id=\"members[0].identifiers[0].value\"]"))
        .next()
        .unwrap();
    assert_eq!(input.value().attr("aria-invalid"), Some("true"));
    assert_eq!(input.value().attr("value"), Some("۳۵۲۰۲۱۲۳"), "what was typed is kept");
    assert!(doc.select(&sel("#error-summary li")).count() >= 3);
    assert_eq!(t.counts().await, before, "a refused form changes nothing");

    // Without the session's token, even a valid form is refused.
    let mut good = form.clone();
    good.retain(|(k, _)| {
        !matches!(
            *k,
            "members[0].identifiers[0].value" | "members[0].date_of_birth" | "household.attributes.rooms" | "csrf"
        )
    });
    good.push(("household.attributes.rooms", "۳"));
    let p = v.post("/households/new", &good).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(t.counts().await, before);
    // With it, the household is registered and its page says so.
    good.push(("csrf", &csrf));
    let p = v.post("/households/new", &good).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let page = v.get(&p.location()).await;
    assert!(page.html().select(&sel("#notice")).next().is_some());
    // A choice is shown by the configuration's label in the reader's language.
    let attributes = text_at(&page.html(), "#attributes").unwrap();
    assert!(
        attributes.contains("دیہی") && !attributes.contains("rural"),
        "{attributes}"
    );
    assert_eq!(t.counts().await.0, before.0 + 1);
}

#[tokio::test]
async fn pages_carry_security_headers_and_stay_within_the_weight_budget() {
    let t = spawn().await;
    let id = registry_with_a_household(&t).await;
    let cycle = a_computed_cycle(&t).await;
    let mut v = Visitor::new(&t);
    v.sign_in("admin").await;
    let p = v.get(&format!("/households/{id}")).await;
    let csp = p.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(p.headers["x-frame-options"], "DENY");
    assert_eq!(p.headers["cache-control"], "no-store");
    // No inline script or style anywhere.
    let doc = p.html();
    assert!(doc.select(&sel("script:not([src])")).next().is_none());
    assert!(doc.select(&sel("style, [style]")).next().is_none());
    // Assets are versioned and cached; htmx goes gzipped.
    let css_url = doc
        .select(&sel("link[rel=stylesheet]"))
        .next()
        .unwrap()
        .value()
        .attr("href")
        .unwrap()
        .to_owned();
    let css = v.get(&css_url).await;
    assert!(css.headers["cache-control"].to_str().unwrap().contains("immutable"));
    let js_url = doc
        .select(&sel("script[src]"))
        .next()
        .unwrap()
        .value()
        .attr("src")
        .unwrap()
        .to_owned();
    let req = v
        .http
        .get(format!("{}{js_url}", v.base))
        .header("accept-encoding", "gzip");
    let js = req.send().await.unwrap();
    assert_eq!(js.headers()["content-encoding"], "gzip");
    let js_bytes = js.bytes().await.unwrap().len();
    // A typical page, with its style sheet and script (fonts are cached after the first page).
    for path in [
        "/".to_owned(),
        "/registry?name=muhammad".to_owned(),
        format!("/households/{id}"),
        "/households/new".to_owned(),
        format!("/cycles/{cycle}"),
        "/programmes/pk-kafalat/cycles".to_owned(),
    ] {
        let html = v.get(&path).await.body.len();
        let total = html + css.body.len() + js_bytes;
        println!(
            "{path}: HTML {html} B + CSS {} B + htmx {js_bytes} B = {total} B",
            css.body.len()
        );
        assert!(total <= 150 * 1024, "{path} weighs {total} bytes");
    }
}

/// The text of the first element `css` selects.
/// Where the first link at `css` leads.
fn href_at(doc: &Html, css: &str) -> String {
    let link = doc.select(&sel(css)).next().unwrap_or_else(|| panic!("no link {css}"));
    link.value().attr("href").unwrap_or_default().to_owned()
}

fn text_at(doc: &Html, css: &str) -> Option<String> {
    doc.select(&sel(css))
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
}

/// A message of a language's file, as written there.
fn message(lang: &str, key: &str) -> String {
    let source = match lang {
        "ur" => include_str!("../locales/ur.ftl"),
        "ar" => include_str!("../locales/ar.ftl"),
        "bn" => include_str!("../locales/bn.ftl"),
        _ => include_str!("../locales/en.ftl"),
    };
    source
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")).map(str::to_owned))
        .unwrap()
}

/// A poor household whose wife receives Kafalat.
fn poor_household(cnic: &str) -> serde_json::Value {
    let mut h = household(cnic);
    h["household"]["attributes"] = serde_json::json!({"wall_material": "unbaked_brick_or_mud",
        "floor_material": "earth_or_sand", "toilet_type": "none", "cooking_fuel": "wood",
        "has_refrigerator": false, "has_television": false, "has_motorcycle": false, "has_car": false,
        "rooms": 1, "urban_rural": "rural"});
    h
}

impl Visitor {
    /// Posts a multipart form: text fields and one file.
    async fn upload(&mut self, path: &str, fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Page {
        let boundary = "----himaya-test-boundary";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
            );
        }
        let (name, bytes) = file.unwrap_or(("", b""));
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        self.send(req).await
    }
}

/// A pain.002 answering a pain.001: each payment with its status.
fn status_report(pain001: &str, statuses: &[(&str, &str)]) -> Vec<u8> {
    use himaya_payfiles::simulate::{Pain002Version, ReportFacts, ReportedPayment, write_status_report};
    let message_id = pain001.split("<MsgId>").nth(1).unwrap().split('<').next().unwrap();
    let currency = himaya_payfiles::Currency::new("PKR", 2).unwrap();
    let facts = ReportFacts {
        message_id: "STATUS-PAGES-1",
        created_at: chrono::Utc::now(),
        original_message_id: message_id,
        original_message_name: "pain.001.001.09",
        payment_information_id: message_id,
        currency: &currency,
    };
    let payments = statuses.iter().map(|(e, s)| ReportedPayment {
        end_to_end_id: e,
        status: s,
        reason: (*s == "RJCT").then_some("AC04"),
        amount: None,
    });
    write_status_report(Vec::new(), Pain002Version::V10, &facts, None, payments).unwrap()
}

#[tokio::test]
async fn a_payment_cycle_is_worked_through_its_pages_by_maker_and_checker_in_urdu() {
    let t = spawn().await;
    let mut wives = Vec::new();
    let mut households = Vec::new();
    for i in 0..2 {
        let h = t.register(poor_household(&format!("3520212345{:02}1", 20 + i))).await;
        wives.push(h["members"][1]["id"].as_str().unwrap().to_owned());
        households.push(h["id"].as_str().unwrap().to_owned());
    }
    t.save_programme("pk-kafalat").await;
    let r = t
        .post("/api/v1/programmes/pk-kafalat/runs", serde_json::json!({"enrol": true}))
        .await;
    assert_eq!(r.body["enrolled"], 2, "{:#}", r.body);
    for (i, p) in wives.iter().enumerate() {
        let r = t
            .post(
                &format!("/api/v1/persons/{p}/accounts"),
                serde_json::json!({"kind": "mobile_wallet", "provider": "jazzcash", "msisdn": format!("0300 12345{i:02}"), "verified": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    }
    t.user("checker", &["approver"], &[]).await;
    let names = message_names();
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ur").await;
    let csrf = v.sign_in("admin").await;

    // A funding line set up on its page; an allocation that is no amount is refused beside it.
    let bad = v
        .post(
            "/funding",
            &[
                ("csrf", &csrf),
                ("code", "treasury"),
                ("name", "Treasury"),
                ("allocated", "lots"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text_at(&bad.html(), "[id=\"allocated-error\"]").as_deref(),
        Some(message("ur", "cycle-error-flat-amount").as_str())
    );
    let saved = v
        .post(
            "/funding",
            &[
                ("csrf", &csrf),
                ("code", "treasury"),
                ("name", "Treasury"),
                ("allocated", "۱۰۰۰۰۰۰"),
            ],
        )
        .await;
    assert_eq!(saved.location(), "/funding?done=saved", "{}", saved.body);
    assert_eq!(
        t.get("/api/v1/funding-lines").await.body["items"][0]["allocated"],
        100_000_000
    );

    // Opening: a share that is no number, then a period that is no period, change nothing.
    let open = |period: &str, share: &str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", csrf.clone()),
            ("period", period.to_owned()),
            ("share_percent", share.to_owned()),
            ("funding", "treasury".to_owned()),
        ]
    };
    let post = async |v: &mut Visitor, path: &str, f: Vec<(&'static str, String)>| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        v.post(path, &f).await
    };
    let p = post(&mut v, "/programmes/pk-kafalat/cycles", open("2026-Q3", "half")).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text_at(&p.html(), "#share_percent-error").as_deref(),
        Some(message("ur", "cycle-error-share").as_str())
    );
    let p = post(&mut v, "/programmes/pk-kafalat/cycles", open("Q3 of 2026", "100")).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "#period-error").as_deref(),
        Some(message("ur", "cycle-error-period").as_str())
    );
    assert_eq!(t.get("/api/v1/cycles").await.body["items"].as_array().unwrap().len(), 0);
    let p = post(&mut v, "/programmes/pk-kafalat/cycles", open("۲۰۲۶-Q3", "۱۰۰")).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let page = p.location();
    assert!(page.ends_with("?done=opened"), "{page}");
    let cycle = page
        .trim_start_matches("/cycles/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let at = |step: &str| format!("/cycles/{cycle}/{step}");

    // Compute and submit as the maker.
    let computed = v.post(&at("compute"), &[("csrf", &csrf)]).await;
    assert_eq!(computed.status, StatusCode::OK, "{}", computed.body);
    let doc = computed.html();
    check_page("computed cycle", "ur", &doc, &names);
    assert!(doc.select(&sel("#computed")).next().is_some());
    assert!(
        doc.select(&sel("#balanced.pass")).next().is_some(),
        "the totals balance"
    );
    let totals = text_at(&doc, "#totals-table").unwrap();
    assert!(
        totals.contains("۲۷٬۰۰۰٫۰۰"),
        "two Kafalat payments of Rs 13,500: {totals}"
    );
    assert_eq!(
        v.post(&at("submit"), &[("csrf", &csrf)]).await.status,
        StatusCode::SEE_OTHER
    );

    // The maker cannot approve their own submission: told so beside the step, in Urdu.
    let own = v.post(&at("approve"), &[("csrf", &csrf)]).await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);
    let doc = own.html();
    check_page("own submission", "ur", &doc, &names);
    assert_eq!(
        text_at(&doc, "#approve-error").as_deref(),
        Some(message("ur", "problem-own-submission").as_str())
    );
    let status = async |cycle: &str| {
        t.get(&format!("/api/v1/cycles/{cycle}")).await.body["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status(&cycle).await, "submitted");
    // Without the session's token nothing moves.
    assert_eq!(v.post(&at("approve"), &[]).await.status, StatusCode::FORBIDDEN);
    // A rejection needs a reason.
    let mut checker = Visitor::new(&t);
    let _ = checker.get("/sign-in?lang=ur").await;
    let checker_csrf = checker.sign_in("checker").await;
    let p = checker
        .post(&at("reject"), &[("csrf", &checker_csrf), ("reason", " ")])
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text_at(&p.html(), "#reason-error").as_deref(),
        Some(message("ur", "field-error-required").as_str())
    );
    let p = checker.post(&at("approve"), &[("csrf", &checker_csrf)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = checker.get(&p.location()).await;
    assert_eq!(
        text_at(&p.html(), "#notice").as_deref(),
        Some(message("ur", "notice-cycle-approved").as_str())
    );
    assert_eq!(status(&cycle).await, "approved");

    // Issue, and download the payment file from its link.
    let issued = v.post(&at("issue"), &[("csrf", &csrf)]).await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    let doc = issued.html();
    check_page("issued cycle", "ur", &doc, &names);
    let link = doc
        .select(&sel("#batch-list a[href$='/file']"))
        .next()
        .unwrap()
        .value()
        .attr("href")
        .unwrap()
        .to_owned();
    let file = v.get(&link).await;
    assert_eq!(file.status, StatusCode::OK);
    assert!(
        file.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
        "a download"
    );
    let xml = file.body;
    let ids: Vec<String> = xml
        .split("<EndToEndId>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);

    // Uploads that cannot be used are refused beside the file and change nothing.
    let before = t.get(&format!("/api/v1/cycles/{cycle}")).await.body["totals"].clone();
    let p = v.upload(&at("reconcile"), &[("csrf", &csrf)], None).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text_at(&p.html(), "#file-error").as_deref(),
        Some(message("ur", "upload-error-no-file").as_str())
    );
    let p = v
        .upload(
            &at("reconcile"),
            &[("csrf", &csrf)],
            Some(("status.txt", b"no status here")),
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    let doc = p.html();
    check_page("a file of no known layout", "ur", &doc, &names);
    assert!(
        text_at(&doc, "#provider-error").is_some_and(|e| e.contains("CSV")),
        "{:?}",
        text_at(&doc, "#reconcile")
    );
    let report = status_report(&xml, &[(&ids[0], "ACSC"), (&ids[1], "RJCT"), ("NOT-OURS", "ACSC")]);
    let cut = &report[..report.len() / 2];
    let p = v
        .upload(&at("reconcile"), &[("csrf", &csrf)], Some(("status.xml", cut)))
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    let doc = p.html();
    check_page("a damaged status file", "ur", &doc, &names);
    assert!(
        doc.select(&sel("#file-error bdi.mono")).next().is_some(),
        "the parser's words: {:?}",
        text_at(&doc, "#reconcile")
    );
    let p = v.post(&at("reconcile"), &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let p = v.upload(&at("reconcile"), &[], Some(("status.xml", &report))).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "no CSRF token, nothing applied");
    assert_eq!(t.get(&format!("/api/v1/cycles/{cycle}")).await.body["totals"], before);

    // The provider's report: one paid, one failed, one line not ours.
    let p = v
        .upload(
            &at("reconcile"),
            &[("csrf", &csrf), ("provider", "")],
            Some(("status.xml", &report)),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let doc = p.html();
    check_page("reconciled cycle", "ur", &doc, &names);
    assert_eq!(text_at(&doc, "#reconciled-lines").as_deref(), Some("۳"));
    assert_eq!(text_at(&doc, "#reconciled-applied").as_deref(), Some("۲"));
    assert_eq!(text_at(&doc, "#reconciled-paid").as_deref(), Some("۱"));
    assert_eq!(text_at(&doc, "#reconciled-failed").as_deref(), Some("۱"));
    let lines = text_at(&doc, "#reconciled-error-lines").unwrap();
    assert!(
        lines.contains(&message("ur", "recon-error-unknown-id")) && lines.contains("NOT-OURS"),
        "{lines}"
    );
    assert!(doc.select(&sel("#balanced.pass")).next().is_some());
    // The same file again: refused, in Urdu.
    let p = v
        .upload(&at("reconcile"), &[("csrf", &csrf)], Some(("status.xml", &report)))
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    let refused = text_at(&p.html(), "#reconcile-error").unwrap();
    assert!(
        refused.contains(&message("ur", "problem-file-already-reconciled")),
        "{refused}"
    );
    // The cycle appears in the programme's list with its totals.
    let list = v.get("/programmes/pk-kafalat/cycles").await.html();
    let row = text_at(&list, "#cycles tbody tr").unwrap();
    assert!(row.contains(&message("ur", "cycle-status-reconciling")), "{row}");

    // Each household's page lists its payment, in Urdu with Urdu digits:
    // the one paid with the day it was paid, the one refused with its provider.
    let mut seen = BTreeSet::new();
    for h in &households {
        let api = t.get(&format!("/api/v1/households/{h}/entitlements")).await;
        assert_eq!(api.status, StatusCode::OK, "{:#}", api.body);
        let items = api.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{:#}", api.body);
        assert_eq!(items[0]["cycle_id"], cycle.as_str());
        assert_eq!(items[0]["amount"], 1_350_000);
        let status = items[0]["status"].as_str().unwrap().to_owned();
        let page = v.get(&format!("/households/{h}")).await;
        assert_eq!(page.status, StatusCode::OK);
        let doc = page.html();
        check_page("a paid household", "ur", &doc, &names);
        let row = text_at(&doc, "#household-payments tbody tr").unwrap();
        assert!(row.contains("۱۳٬۵۰۰٫۰۰"), "the amount in Urdu digits: {row}");
        assert!(row.contains("2026-Q3"), "{row}");
        assert!(
            row.contains(&message("ur", &format!("entitlement-status-{status}"))),
            "{row}"
        );
        let paid_on = text_at(
            &doc,
            &format!("#household-payments td[data-label=\"{}\"]", message("ur", "paid-on")),
        )
        .unwrap();
        if status == "paid" {
            assert!(paid_on.contains('۲'), "the day paid, in Urdu digits: {paid_on:?}");
        } else {
            assert_eq!(status, "failed");
            assert!(paid_on.is_empty(), "{paid_on:?}");
            assert!(row.contains("jazzcash"), "the provider that refused it: {row}");
        }
        seen.insert(status);
    }
    assert_eq!(seen, BTreeSet::from(["failed".to_owned(), "paid".to_owned()]));

    // The dashboard counts this cycle's payments: one of the two issued paid.
    let home = v.get("/").await.html();
    check_page("/ with payments", "ur", &home, &names);
    assert_eq!(
        text_at(&home, "#figure-paid-PKR")
            .as_deref()
            .map(|f| f.contains("۱۳٬۵۰۰٫۰۰")),
        Some(true)
    );
    let card = home
        .select(&sel(".card"))
        .find(|c| c.select(&sel("#figure-paid-PKR")).next().is_some())
        .map(|c| c.text().collect::<String>().replace(['\u{2068}', '\u{2069}'], ""))
        .unwrap();
    assert!(card.contains("۲ میں سے ۱"), "{card}");
    assert!(card.contains("۲۷٬۰۰۰٫۰۰"), "the amount issued: {card}");

    // The cycle's report, linked from its page: by provider, district and
    // the recipient's sex, each table ending with the whole cycle; its CSV
    // downloads with the session and its lines add up to the cycle.
    let cycle_page = v.get(&format!("/cycles/{cycle}")).await.html();
    let href = href_at(&cycle_page, "a#cycle-report");
    let p = v.get(&href).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let doc = p.html();
    check_page("a cycle's report", "ur", &doc, &names);
    let rows = |table: &str| -> Vec<Vec<String>> {
        doc.select(&sel(&format!("#{table}-table tbody tr")))
            .map(|tr| {
                tr.select(&sel("th, td"))
                    .map(|c| {
                        c.text()
                            .collect::<String>()
                            .replace(['\u{2068}', '\u{2069}'], "")
                            .trim()
                            .to_owned()
                    })
                    .collect()
            })
            .collect()
    };
    // Columns: the group, then entitled, withheld, issued, paid, failed, returned, pending.
    let provider = rows("by-provider");
    assert_eq!(provider.len(), 2, "JazzCash and the whole cycle: {provider:?}");
    assert_eq!(provider[0][0], "JazzCash");
    assert_eq!(provider[1][0], message("ur", "report-all"));
    for row in &provider {
        assert!(
            row[1].starts_with('۲') && row[1].contains("۲۷٬۰۰۰٫۰۰"),
            "entitled: {row:?}"
        );
        assert!(row[3].starts_with('۲'), "issued: {row:?}");
        assert!(row[4].starts_with('۱') && row[4].contains("۱۳٬۵۰۰٫۰۰"), "paid: {row:?}");
        assert!(row[5].starts_with('۱'), "failed: {row:?}");
        assert!(row[7].starts_with('۰'), "none waiting: {row:?}");
    }
    let sex = rows("by-sex");
    assert_eq!(sex.len(), 2, "{sex:?}");
    assert_eq!(sex[0][0], message("ur", "sex-female"), "Kafalat pays the women");
    assert_eq!(sex[0][1..], sex[1][1..]);
    let district = rows("by-district");
    assert_eq!(district.len(), 2, "{district:?}");
    assert_eq!(district[0][1..], district[1][1..]);
    let csv_href = href_at(&doc, "a#report-csv");
    let csv = v.get(&csv_href).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("cycle-pk-kafalat-2026-Q3-report.csv"),
        "{:?}",
        csv.headers["content-disposition"]
    );
    let mut lines = csv.body.lines();
    assert_eq!(lines.next(), Some("provider,area,sex,status,count,amount_minor"));
    let mut by_status = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!((f[0], f[2]), ("jazzcash", "female"), "{line}");
        *by_status.entry(f[3].to_owned()).or_insert(0) += f[4].parse::<i64>().unwrap();
    }
    assert_eq!(
        by_status,
        BTreeMap::from([("failed".to_owned(), 1), ("paid".to_owned(), 1)])
    );

    // Someone who may not read payments sees no payments on the page and is refused by the API.
    let clerk = t.user("clerk", &["district_officer"], &["PK-PB"]).await;
    let mut other = Visitor::new(&t);
    let _ = other.get("/sign-in?lang=ur").await;
    other.sign_in("clerk").await;
    let page = other.get(&format!("/households/{}", households[0])).await;
    assert_eq!(page.status, StatusCode::OK);
    let doc = page.html();
    check_page("a household without payments", "ur", &doc, &names);
    assert!(doc.select(&sel("#payments")).next().is_none(), "no payments section");
    assert!(doc.select(&sel("#household-payments")).next().is_none());
    assert!(!page.body.contains(&message("ur", "paid-on")));
    for path in [format!("/cycles/{cycle}/report"), format!("/cycles/{cycle}/report.csv")] {
        assert_eq!(other.get(&path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let home = other.get("/").await.html();
    assert!(
        home.select(&sel("[id^=figure-paid]")).next().is_none(),
        "no payment figure"
    );
    let refused = t
        .send_as(
            &clerk,
            reqwest::Method::GET,
            &format!("/api/v1/households/{}/entitlements", households[0]),
            None,
            &[],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:#}", refused.body);
    // A payment officer of another province is refused the household, and
    // counts no payment of it on the dashboard.
    let sindh = t.user("sindh", &["payment_officer"], &["PK-SD"]).await;
    let outside = t
        .send_as(
            &sindh,
            reqwest::Method::GET,
            &format!("/api/v1/households/{}/entitlements", households[0]),
            None,
            &[],
        )
        .await;
    assert_eq!(outside.status, StatusCode::FORBIDDEN, "{:#}", outside.body);
    assert_eq!(outside.body["code"], "outside-area", "{:#}", outside.body);
    let mut far = Visitor::new(&t);
    far.sign_in("sindh").await;
    let home = far.get("/").await.html();
    assert!(home.select(&sel("[id^=figure-paid-]")).next().is_none());
    assert!(
        home.select(&sel("#figure-paid")).next().is_some(),
        "no cycle being paid in Sindh"
    );
}

#[tokio::test]
async fn a_person_s_payment_accounts_are_recorded_and_changed_on_their_page_in_urdu() {
    let t = spawn().await;
    let household = registry_with_a_household(&t).await;
    let members = t.get(&format!("/api/v1/households/{household}")).await.body["members"].clone();
    let person = members[0]["id"].as_str().unwrap().to_owned();
    let other = members[1]["id"].as_str().unwrap().to_owned();
    let accounts = async |p: &str| t.get(&format!("/api/v1/persons/{p}/accounts")).await.body["items"].clone();
    let names = message_names();
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ur").await;
    let csrf = v.sign_in("admin").await;

    // From the household's members to the person's accounts: none yet.
    let page = v.get(&format!("/households/{household}")).await.html();
    let href = href_at(&page, "a.member-accounts");
    assert_eq!(href, format!("/persons/{person}/accounts"));
    let p = v.get(&href).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let doc = p.html();
    check_page("no accounts", "ur", &doc, &names);
    assert!(doc.select(&sel("#no-accounts")).next().is_some());
    assert!(
        doc.select(&sel("#iban")).next().is_some(),
        "Pakistan's banks take IBANs"
    );
    assert!(doc.select(&sel("#bank_code")).next().is_none());

    // Refused beside the field, in Urdu, and nothing recorded: a bank
    // account whose IBAN's check digits are wrong; no provider at all (only
    // the provider is named, not the fields that follow from it).
    let form = |provider: &str, field: &'static str, value: &str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", csrf.clone()),
            ("provider", provider.into()),
            (field, value.into()),
            ("holder_name", String::new()),
        ]
    };
    let post = async |v: &mut Visitor, path: &str, f: Vec<(&'static str, String)>| v.post(path, &pairs(&f)).await;
    let p = post(&mut v, &href, form("hbl", "iban", "PK36SCBL0000001123456703")).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    let doc = p.html();
    check_page("a wrong IBAN", "ur", &doc, &names);
    assert_eq!(
        text_at(&doc, "#iban-error").as_deref(),
        Some(message("ur", "field-error-iban-invalid").as_str())
    );
    assert_eq!(
        doc.select(&sel("#iban")).next().unwrap().value().attr("value"),
        Some("PK36SCBL0000001123456703"),
        "the form keeps what was typed"
    );
    let p = post(&mut v, &href, form("", "msisdn", "0300 1234567")).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let doc = p.html();
    assert_eq!(
        text_at(&doc, "#provider-error").as_deref(),
        Some(message("ur", "field-error-required").as_str())
    );
    assert!(
        doc.select(&sel(".field .error")).count() == 1,
        "{:?}",
        text_at(&doc, "form")
    );
    // A wallet number in a bank's form: not allowed there.
    let p = post(&mut v, &href, form("hbl", "msisdn", "0300 1234567")).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text_at(&p.html(), "#msisdn-error").as_deref(),
        Some(message("ur", "field-error-not-allowed").as_str())
    );
    assert_eq!(accounts(&person).await.as_array().unwrap().len(), 0);

    // A wallet number typed in Urdu digits is recorded, primary as the first.
    let p = post(&mut v, &href, form("jazzcash", "msisdn", "۰۳۰۰ ۱۲۳۴۵۶۷")).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), format!("{href}?done=added"));
    let p = v.get(&p.location()).await;
    let doc = p.html();
    check_page("an account recorded", "ur", &doc, &names);
    assert_eq!(
        text_at(&doc, "#notice").as_deref(),
        Some(message("ur", "notice-account-added").as_str())
    );
    let row = text_at(&doc, "#accounts tbody tr").unwrap();
    assert!(row.contains("+923001234567") && row.contains("JazzCash"), "{row}");
    assert!(row.contains(&message("ur", "account-not-verified")), "{row}");
    let items = accounts(&person).await;
    assert_eq!(items.as_array().unwrap().len(), 1, "{items:#}");
    assert_eq!(items[0]["number"], "+923001234567");
    assert_eq!(items[0]["primary"], true);
    assert_eq!(items[0]["verified"], false);
    let account = items[0]["id"].as_str().unwrap().to_owned();
    let change = |what: &str| -> Vec<(&'static str, String)> { vec![("csrf", csrf.clone()), ("change", what.into())] };
    let at = format!("{href}/{account}");

    // Verified, then closed; a closed account takes no change, told beside it.
    let p = post(&mut v, &at, change("verified")).await;
    assert_eq!(p.location(), format!("{href}?done=changed"), "{}", p.body);
    assert_eq!(accounts(&person).await[0]["verified"], true);
    let p = post(&mut v, &at, change("close")).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(accounts(&person).await[0]["status"], "closed");
    let doc = v.get(&href).await.html();
    let row = text_at(&doc, "#accounts tbody tr").unwrap();
    assert!(row.contains(&message("ur", "account-closed")), "{row}");
    assert!(
        doc.select(&sel("#accounts form")).next().is_none(),
        "no changes offered"
    );
    let p = post(&mut v, &at, change("primary")).await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "#account-error").as_deref(),
        Some(message("ur", "problem-account-closed").as_str())
    );
    // No change that is not one, no token, nor another person's page.
    assert_eq!(
        post(&mut v, &at, change("delete")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let p = v.post(&at, &[("change", "verified")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "no CSRF token");
    let p = post(
        &mut v,
        &format!("/persons/{other}/accounts/{account}"),
        change("unverified"),
    )
    .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(accounts(&person).await[0]["verified"], true, "nothing changed");

    // Someone who may not read accounts sees no link and is refused the page.
    t.user("clerk", &["district_officer"], &["PK-PB"]).await;
    let mut clerk = Visitor::new(&t);
    clerk.sign_in("clerk").await;
    let page = clerk.get(&format!("/households/{household}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html().select(&sel("a.member-accounts")).next().is_none());
    assert_eq!(clerk.get(&href).await.status, StatusCode::FORBIDDEN);
    // An auditor reads them, and changes nothing.
    t.user("reader", &["auditor"], &[]).await;
    let mut reader = Visitor::new(&t);
    reader.sign_in("reader").await;
    let doc = reader.get(&href).await.html();
    assert!(doc.select(&sel("#accounts tbody tr")).next().is_some());
    assert!(
        doc.select(&sel("form[action$='/accounts']")).next().is_none(),
        "no form to record one"
    );
}

/// The secret a page shows once, and that the answer is one to keep out
/// of caches and history: shown in the answer itself, not after a redirect.
fn shown_once(p: &Page) -> String {
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.headers.get("location").is_none(), "no redirect carries a secret");
    assert_eq!(p.headers["cache-control"], "no-store");
    text_at(&p.html(), "#secret").expect("the secret on the page")
}

/// Signs in with a password, as typed on the sign-in page.
async fn sign_in_with(v: &mut Visitor, username: &str, password: &str) -> Page {
    v.post(
        "/sign-in",
        &[("username", username), ("password", password), ("next", "/")],
    )
    .await
}

/// The id of an owner's live token, read from the tokens table of a page.
fn live_token(doc: &Html, owner: &str) -> Option<String> {
    doc.select(&sel("#token-list tbody tr"))
        .find(|r| {
            r.select(&sel("td:nth-child(2) bdi"))
                .next()
                .map(|b| text_in(&b))
                .as_deref()
                == Some(owner)
                && r.select(&sel("form")).next().is_some()
        })
        .and_then(|r| r.value().attr("id"))
        .and_then(|id| id.strip_prefix("token-"))
        .map(str::to_owned)
}

#[tokio::test]
async fn accounts_are_added_changed_disabled_and_given_tokens_on_the_users_page() {
    let t = spawn().await;
    let names = message_names();
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ur").await;
    let csrf = v.sign_in("admin").await;
    let doc = v.get("/admin/users").await.html();
    check_page("/admin/users", "ur", &doc, &names);
    assert!(doc.select(&sel("#user-admin")).next().is_some());

    // Added without a password: its one-time password is shown once, in the
    // answer to the form, with the note that it must be handed over.
    let p = v
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", " Nadia "),
                ("role", "registrar"),
                ("password", ""),
            ],
        )
        .await;
    let one_time = shown_once(&p);
    let doc = p.html();
    check_page("a one-time password", "ur", &doc, &names);
    assert_eq!(one_time.chars().count(), 20, "{one_time}");
    let note = text_at(&doc, "#issued-note").unwrap();
    assert!(note.contains("\u{2068}nadia\u{2069}"), "{note}");
    for part in message_parts("ur", "issued-one-time-note") {
        assert!(note.contains(&part), "{note} lacks {part}");
    }
    assert!(doc.select(&sel("#user-nadia")).next().is_some(), "listed at once");
    let again = v.get("/admin/users").await;
    assert!(!again.body.contains(&one_time), "shown only once");
    let audit = t.get("/api/v1/audit?limit=100").await;
    assert!(!audit.body.to_string().contains(&one_time), "not in the audit trail");

    // Nadia signs in with it and must change it first.
    let mut n = Visitor::new(&t);
    let r = sign_in_with(&mut n, "nadia", &one_time).await;
    assert_eq!(r.location(), "/password", "{}", r.body);
    let token = crate::csrf(&n.get("/password").await.html());
    let r = n
        .post(
            "/password",
            &[
                ("csrf", &token),
                ("current_password", &one_time),
                ("new_password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(n.get("/registry").await.status, StatusCode::OK);
    assert_eq!(
        n.get("/audit").await.status,
        StatusCode::FORBIDDEN,
        "a registrar reads no audit"
    );

    // Her roles changed on her account's page take effect at once.
    let doc = v.get("/admin/users").await.html();
    let href = href_at(&doc, "#user-nadia a[href^='/admin/users/']");
    assert_eq!(href, "/admin/users/nadia");
    let doc = v.get(&href).await.html();
    check_page("an account's page", "ur", &doc, &names);
    assert!(doc.select(&sel("#role-registrar[checked]")).next().is_some());
    assert!(doc.select(&sel("#role-auditor[checked]")).next().is_none());
    assert_eq!(v.get("/admin/users/nobody").await.status, StatusCode::NOT_FOUND);
    let p = v
        .post(
            "/admin/users/nadia",
            &[
                ("csrf", &csrf),
                ("change", "roles"),
                ("role", "auditor"),
                ("area", "PK-PB"),
            ],
        )
        .await;
    assert_eq!(p.location(), "/admin/users?done=changed", "{}", p.body);
    let doc = v.get(&p.location()).await.html();
    assert_eq!(
        text_at(&doc, "#notice").as_deref(),
        Some(message("ur", "notice-user-changed").as_str())
    );
    let row = text_at(&doc, "#user-nadia").unwrap();
    assert!(row.contains(&message("ur", "role-auditor")), "{row}");
    assert_eq!(
        n.get("/audit").await.status,
        StatusCode::OK,
        "an auditor reads the audit"
    );
    let users = t.app.users(&himaya_app::Actor::system("test")).await.unwrap();
    let nadia = users.iter().find(|u| u.username == "nadia").unwrap();
    assert_eq!(
        (nadia.roles.clone(), nadia.areas.clone()),
        (vec!["auditor".to_owned()], vec!["PK-PB".to_owned()])
    );

    // A personal token, its days typed in Urdu digits, works until revoked.
    let p = v
        .post("/admin/users/nadia/tokens", &[("csrf", &csrf), ("expires_days", "۳۰")])
        .await;
    let secret = shown_once(&p);
    check_page("a token", "ur", &p.html(), &names);
    assert!(secret.starts_with("hmy_"), "{secret}");
    let me = t
        .send_as(&secret, reqwest::Method::GET, "/api/v1/session", None, &[])
        .await;
    assert_eq!(me.status, StatusCode::OK, "{:#}", me.body);
    assert_eq!(me.body["name"], "nadia");
    let audit = t
        .send_as(&secret, reqwest::Method::GET, "/api/v1/audit", None, &[])
        .await;
    assert_eq!(audit.status, StatusCode::OK, "the token carries her roles");
    let doc = v.get("/admin/users").await.html();
    assert!(!doc.html().contains(&secret), "shown only once");
    let id = live_token(&doc, "nadia").expect("her token listed");
    assert_eq!(
        text_at(&p.html(), "#issued-id"),
        Some(id.clone()),
        "the id shown with the secret"
    );
    let listed = t
        .app
        .tokens(&himaya_app::Actor::system("test"), Some("nadia"))
        .await
        .unwrap();
    let days = listed
        .iter()
        .find(|t| t.id == id)
        .map(|t| (t.expires_at - t.created_at).num_days());
    assert_eq!(days, Some(30), "the days typed in Urdu digits");
    let p = v.post(&format!("/admin/users/nadia/tokens/{id}"), &[]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "no CSRF token");
    let p = v
        .post(&format!("/admin/users/nadia/tokens/{id}"), &[("csrf", &csrf)])
        .await;
    assert_eq!(p.location(), "/admin/users?done=revoked", "{}", p.body);
    let me = t
        .send_as(&secret, reqwest::Method::GET, "/api/v1/session", None, &[])
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "revoked");
    assert!(live_token(&v.get("/admin/users").await.html(), "nadia").is_none());
    // Another's token is not revoked from this account's row.
    let admin_token = live_token(&v.get("/admin/users").await.html(), "admin").unwrap();
    let p = v
        .post(&format!("/admin/users/nadia/tokens/{admin_token}"), &[("csrf", &csrf)])
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(t.get("/api/v1/session").await.status, StatusCode::OK);

    // A non-administrator sees no page and changes nothing by posting.
    let mine = crate::csrf(&n.get("/").await.html());
    assert_eq!(n.get("/admin/users").await.status, StatusCode::FORBIDDEN);
    assert_eq!(n.get("/admin/agencies").await.status, StatusCode::FORBIDDEN);
    assert_eq!(n.get("/admin/users/nadia").await.status, StatusCode::FORBIDDEN);
    let before = t.app.users(&himaya_app::Actor::system("test")).await.unwrap().len();
    for (path, fields) in [
        ("/admin/users", vec![("username", "eve"), ("role", "administrator")]),
        (
            "/admin/users/nadia",
            vec![("change", "roles"), ("role", "administrator")],
        ),
        ("/admin/users/admin", vec![("change", "disable")]),
        ("/admin/users/nadia/tokens", vec![("expires_days", "30")]),
        (
            "/admin/agencies",
            vec![("name", "eve-agency"), ("scope", "persons.read")],
        ),
    ] {
        let mut f = vec![("csrf", mine.as_str())];
        f.extend(fields);
        let p = n.post(path, &f).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}: {}", p.body);
        assert!(!p.body.contains("hmy_"), "{path}");
    }
    let users = t.app.users(&himaya_app::Actor::system("test")).await.unwrap();
    assert_eq!(users.len(), before);
    let nadia = users.iter().find(|u| u.username == "nadia").unwrap();
    assert_eq!(nadia.roles, ["auditor"]);
    assert!(!users.iter().find(|u| u.username == "admin").unwrap().disabled);
    assert!(
        t.app
            .agencies(&himaya_app::Actor::system("test"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        t.app
            .tokens(&himaya_app::Actor::system("test"), Some("nadia"))
            .await
            .unwrap()
            .iter()
            .all(|t| t.revoked_at.is_some())
    );

    // Disabled, she is signed out and cannot sign in; enabled, she can.
    let p = v
        .post("/admin/users/nadia", &[("csrf", &csrf), ("change", "disable")])
        .await;
    assert_eq!(p.location(), "/admin/users?done=disabled", "{}", p.body);
    assert_eq!(
        n.get("/registry").await.status,
        StatusCode::SEE_OTHER,
        "her session ended"
    );
    let r = sign_in_with(&mut Visitor::new(&t), "nadia", PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let doc = v.get("/admin/users").await.html();
    check_page("a disabled account", "ur", &doc, &names);
    assert!(
        doc.select(&sel("form[action='/admin/users/nadia/tokens']"))
            .next()
            .is_none(),
        "no token offered for a disabled account"
    );
    let p = v
        .post("/admin/users/nadia/tokens", &[("csrf", &csrf), ("expires_days", "30")])
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert_eq!(
        text_at(&p.html(), "#refused-nadia").as_deref(),
        Some(message("ur", "problem-account-disabled").as_str())
    );
    assert!(p.html().select(&sel("#secret")).next().is_none());
    let p = v
        .post("/admin/users/nadia", &[("csrf", &csrf), ("change", "enable")])
        .await;
    assert_eq!(p.location(), "/admin/users?done=enabled");
    let r = sign_in_with(&mut Visitor::new(&t), "nadia", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // Added with a password of one's own: no secret is shown, the account signs in with it.
    let p = v
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "omar"),
                ("role", "district_officer"),
                ("area", "PK-PB-MUL"),
                ("password", "a pass phrase of words"),
            ],
        )
        .await;
    assert_eq!(p.location(), "/admin/users?done=added", "{}", p.body);
    let r = sign_in_with(&mut Visitor::new(&t), "omar", "a pass phrase of words").await;
    assert_eq!(r.location(), "/", "no change of password first");
}

#[tokio::test]
async fn refusals_on_the_users_page_are_named_beside_the_field_in_urdu_and_change_nothing() {
    let t = spawn().await;
    let names = message_names();
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ur").await;
    let csrf = v.sign_in("admin").await;
    let system = himaya_app::Actor::system("test");
    let before = t.app.users(&system).await.unwrap().len();
    // The fields posted, where the error shows, and its message.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 6] = [
        (
            &[("username", "No Spaces!"), ("role", "registrar")],
            "#username-error",
            "field-error-invalid-username",
        ),
        (
            &[("username", "admin"), ("role", "registrar")],
            "#username-error",
            "field-error-username-taken",
        ),
        (
            &[("username", "sana"), ("role", "registrar"), ("password", "short")],
            "#password-error",
            "field-error-weak-password",
        ),
        (
            &[
                ("username", "sana"),
                ("role", "registrar"),
                ("password", "sana's long password"),
            ],
            "#password-error",
            "field-error-weak-password",
        ),
        (&[("username", "sana")], "#role-error", "field-error-required"),
        (
            &[("username", "sana"), ("role", "district_officer")],
            "#area-error",
            "field-error-required",
        ),
    ];
    for (fields, at, key) in cases {
        let mut f = vec![("csrf", csrf.as_str())];
        f.extend_from_slice(fields);
        let p = v.post("/admin/users", &f).await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}: {}", p.body);
        let doc = p.html();
        check_page(&format!("refused {fields:?}"), "ur", &doc, &names);
        assert_eq!(
            text_at(&doc, at).as_deref(),
            Some(message("ur", key).as_str()),
            "{fields:?}"
        );
        assert!(doc.select(&sel("#secret")).next().is_none());
        // The form keeps what was typed, but never the password.
        let typed = doc
            .select(&sel("#username"))
            .next()
            .unwrap()
            .value()
            .attr("value")
            .unwrap()
            .to_owned();
        assert_eq!(typed, fields[0].1.trim());
        assert_eq!(
            doc.select(&sel("#password")).next().unwrap().value().attr("value"),
            None
        );
    }
    // Both wrong at once: each named beside its own field.
    let p = v
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "x"),
                ("role", "king"),
                ("password", "short"),
            ],
        )
        .await;
    let doc = p.html();
    assert_eq!(
        text_at(&doc, "#username-error").as_deref(),
        Some(message("ur", "field-error-invalid-username").as_str())
    );
    assert_eq!(
        text_at(&doc, "#role-error").as_deref(),
        Some(message("ur", "field-error-not-allowed").as_str())
    );
    assert_eq!(
        text_at(&doc, "#password-error").as_deref(),
        Some(message("ur", "field-error-weak-password").as_str())
    );
    assert_eq!(t.app.users(&system).await.unwrap().len(), before, "nothing added");

    // The last administrator keeps the role and stays enabled: the step is
    // refused on the account's page, and on its row of the list.
    let p = v
        .post(
            "/admin/users/admin",
            &[("csrf", &csrf), ("change", "roles"), ("role", "registrar")],
        )
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    let doc = p.html();
    check_page("the last administrator's roles", "ur", &doc, &names);
    assert_eq!(
        text_at(&doc, "#refused").as_deref(),
        Some(message("ur", "problem-last-administrator").as_str())
    );
    let p = v
        .post("/admin/users/admin", &[("csrf", &csrf), ("change", "disable")])
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    let doc = p.html();
    check_page("the last administrator disabled", "ur", &doc, &names);
    assert_eq!(
        text_at(&doc, "#user-admin #refused-admin").as_deref(),
        Some(message("ur", "problem-last-administrator").as_str())
    );
    let admin = t
        .app
        .users(&system)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == "admin")
        .unwrap();
    assert_eq!(admin.roles, ["administrator"]);
    assert!(!admin.disabled);
    assert_eq!(t.get("/api/v1/session").await.status, StatusCode::OK);

    // A role change refused beside its field on the account's page, the form as posted.
    t.user("bilal", &["registrar"], &[]).await;
    let p = v
        .post(
            "/admin/users/bilal",
            &[("csrf", &csrf), ("change", "roles"), ("role", "district_officer")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    let doc = p.html();
    check_page("a refused role change", "ur", &doc, &names);
    assert_eq!(
        text_at(&doc, "#area-error").as_deref(),
        Some(message("ur", "field-error-required").as_str())
    );
    assert!(doc.select(&sel("#role-district_officer[checked]")).next().is_some());
    assert!(
        doc.select(&sel("#role-registrar[checked]")).next().is_none(),
        "as posted, not as held"
    );
    let p = v
        .post(
            "/admin/users/bilal",
            &[("csrf", &csrf), ("change", "roles"), ("role", "king")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text_at(&p.html(), "#role-error").as_deref(),
        Some(message("ur", "field-error-not-allowed").as_str())
    );
    let bilal = t
        .app
        .users(&system)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == "bilal")
        .unwrap();
    assert_eq!(bilal.roles, ["registrar"], "nothing changed");

    // A token's days: a number, and within range.
    let live = t.app.tokens(&system, Some("bilal")).await.unwrap().len();
    for (days, key) in [
        ("0", "field-error-out-of-range"),
        ("abc", "field-error-invalid-type"),
        ("99999", "field-error-out-of-range"),
    ] {
        let p = v
            .post("/admin/users/bilal/tokens", &[("csrf", &csrf), ("expires_days", days)])
            .await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{days}: {}", p.body);
        let doc = p.html();
        check_page("refused days", "ur", &doc, &names);
        assert_eq!(
            text_at(&doc, "#days-error-bilal").as_deref(),
            Some(message("ur", key).as_str()),
            "{days}"
        );
        assert_eq!(
            doc.select(&sel("#days-bilal")).next().unwrap().value().attr("value"),
            Some(days)
        );
        assert!(doc.select(&sel("#secret")).next().is_none());
    }
    assert_eq!(
        t.app.tokens(&system, Some("bilal")).await.unwrap().len(),
        live,
        "no token issued"
    );

    // No account of that name; no change that is one; no CSRF token.
    let p = v
        .post("/admin/users/nobody", &[("csrf", &csrf), ("change", "disable")])
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let p = v
        .post("/admin/users/bilal", &[("csrf", &csrf), ("change", "delete")])
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let p = v.post("/admin/users/bilal", &[("change", "disable")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = v
        .post("/admin/users", &[("username", "sana"), ("role", "registrar")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let users = t.app.users(&system).await.unwrap();
    assert!(!users.iter().any(|u| u.disabled || u.username == "sana"));
}

#[tokio::test]
async fn an_agency_is_registered_on_its_page_and_its_tokens_work_until_revoked_or_withdrawn() {
    let t = spawn().await;
    let names = message_names();
    let system = himaya_app::Actor::system("test");
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ur").await;
    let csrf = v.sign_in("admin").await;
    let doc = v.get("/admin/agencies").await.html();
    check_page("/admin/agencies", "ur", &doc, &names);
    assert!(doc.select(&sel("#no-agencies")).next().is_some());
    assert!(
        doc.select(&sel("input[name=field][value='household.attributes.rooms']"))
            .next()
            .is_some()
    );

    // Refused beside the field, in Urdu, and nothing registered.
    let agency = |name: &'static str, scope: &'static str, rate: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", csrf.clone()),
            ("name", name.into()),
            ("scope", scope.into()),
            ("field", "person.given_name".into()),
            ("field", "household.area".into()),
            ("area", "PK-PB".into()),
            ("rate_limit", rate.into()),
            ("expires_days", "۳۰".into()),
        ]
    };
    for (form, at, key) in [
        (
            agency("N", "persons.read", "600"),
            "#name-error",
            "field-error-invalid-name",
        ),
        (agency("nraf", "", "600"), "#scope-error", "field-error-required"),
        (
            agency("nraf", "users.manage", "600"),
            "#scope-error",
            "field-error-not-allowed",
        ),
        (
            agency("nraf", "persons.read", "fast"),
            "#rate_limit-error",
            "field-error-invalid-type",
        ),
        (
            agency("nraf", "persons.read", "0"),
            "#rate_limit-error",
            "field-error-out-of-range",
        ),
    ] {
        let p = v.post("/admin/agencies", &pairs(&form)).await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}: {}", p.body);
        let doc = p.html();
        check_page("a refused agency", "ur", &doc, &names);
        assert_eq!(
            text_at(&doc, at).as_deref(),
            Some(message("ur", key).as_str()),
            "{form:?}"
        );
        assert!(doc.select(&sel("#secret")).next().is_none());
        assert!(
            doc.select(&sel("#shown-person-given_name[checked]")).next().is_some(),
            "the form keeps what was ticked"
        );
    }
    let mut unknown = agency("nraf", "persons.read", "600");
    unknown.push(("field", "household.attributes.no_such".into()));
    let p = v.post("/admin/agencies", &pairs(&unknown)).await;
    assert_eq!(
        text_at(&p.html(), "#field-error").as_deref(),
        Some(message("ur", "field-error-field-unknown").as_str())
    );
    assert!(t.app.agencies(&system).await.unwrap().is_empty());

    // Registered: its first token shown once, and working, within its scopes.
    let mut form = agency("NRAF", "persons.read", "120");
    form.push(("scope", "areas.read".into()));
    let p = v.post("/admin/agencies", &pairs(&form)).await;
    let first = shown_once(&p);
    check_page("an agency registered", "ur", &p.html(), &names);
    let areas = t
        .send_as(&first, reqwest::Method::GET, "/api/v1/areas", None, &[])
        .await;
    assert_eq!(areas.status, StatusCode::OK, "{:#}", areas.body);
    let me = t
        .send_as(&first, reqwest::Method::GET, "/api/v1/session", None, &[])
        .await;
    assert_eq!(me.body["kind"], "agency", "{:#}", me.body);
    let refused = t
        .send_as(&first, reqwest::Method::GET, "/api/v1/audit", None, &[])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "only its scopes");
    let registered = t.app.agencies(&system).await.unwrap();
    assert_eq!(registered.len(), 1);
    let a = &registered[0];
    assert_eq!(a.name, "nraf");
    assert_eq!(a.scopes, ["persons.read", "areas.read"]);
    assert_eq!(a.fields, ["person.given_name", "household.area"]);
    assert_eq!((a.areas.clone(), a.rate_limit), (vec!["PK-PB".to_owned()], 120));
    let doc = v.get("/admin/agencies").await.html();
    check_page("/admin/agencies with an agency", "ur", &doc, &names);
    assert!(!doc.html().contains(&first), "shown only once");
    assert!(doc.select(&sel("#agency-nraf")).next().is_some());
    let p = v
        .post("/admin/agencies", &pairs(&agency("nraf", "persons.read", "600")))
        .await;
    assert_eq!(
        text_at(&p.html(), "#name-error").as_deref(),
        Some(message("ur", "field-error-name-taken").as_str())
    );

    // A second token; the first revoked on the page stops, the second goes on.
    let p = v
        .post("/admin/agencies/nraf/tokens", &[("csrf", &csrf), ("expires_days", "7")])
        .await;
    let second = shown_once(&p);
    assert_ne!(first, second);
    let doc = v.get("/admin/agencies").await.html();
    let tokens = t.app.tokens(&system, Some("agency:nraf")).await.unwrap();
    assert_eq!(tokens.len(), 2);
    let first_id = live_token(&doc, "nraf").unwrap();
    assert_eq!(first_id, tokens[0].id, "the oldest first");
    let p = v
        .post(&format!("/admin/agencies/nraf/tokens/{first_id}"), &[("csrf", &csrf)])
        .await;
    assert_eq!(p.location(), "/admin/agencies?done=revoked", "{}", p.body);
    let r = t
        .send_as(&first, reqwest::Method::GET, "/api/v1/areas", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = t
        .send_as(&second, reqwest::Method::GET, "/api/v1/areas", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // An account's token is not revoked from an agency's row.
    let admin_token = t.app.tokens(&system, Some("admin")).await.unwrap()[0].id.clone();
    let p = v
        .post(
            &format!("/admin/agencies/nraf/tokens/{admin_token}"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);

    // Its settings changed on its own page: refused beside the field first,
    // then saved, and its live token acts on them from the next request.
    let doc = v.get("/admin/agencies/nraf").await.html();
    check_page("/admin/agencies/nraf", "ur", &doc, &names);
    assert!(doc.select(&sel("#scope-areas-read[checked]")).next().is_some());
    assert!(doc.select(&sel("#shown-household-area[checked]")).next().is_some());
    assert!(
        doc.select(&sel("#new-areas option[value='PK-PB'][selected]"))
            .next()
            .is_some()
    );
    let settings = |rate: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", csrf.clone()),
            ("change", "settings".into()),
            ("scope", "persons.read".into()),
            ("field", "person.given_name".into()),
            ("field", "person.sex".into()),
            ("rate_limit", rate.into()),
        ]
    };
    let p = v.post("/admin/agencies/nraf", &pairs(&settings("fast"))).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    let doc = p.html();
    check_page("refused agency settings", "ur", &doc, &names);
    assert_eq!(
        text_at(&doc, "#rate_limit-error").as_deref(),
        Some(message("ur", "field-error-invalid-type").as_str())
    );
    assert!(
        doc.select(&sel("#shown-person-sex[checked]")).next().is_some(),
        "kept as typed"
    );
    assert_eq!(
        t.app.agencies(&system).await.unwrap()[0].scopes.len(),
        2,
        "nothing changed"
    );
    let p = v.post("/admin/agencies/nraf", &pairs(&settings("۳۰۰"))).await;
    assert_eq!(p.location(), "/admin/agencies?done=updated", "{}", p.body);
    assert_eq!(
        text_at(&v.get(&p.location()).await.html(), "#notice").as_deref(),
        Some(message("ur", "notice-agency-updated").as_str())
    );
    let a = t.app.agencies(&system).await.unwrap().remove(0);
    assert_eq!(a.scopes, ["persons.read"]);
    assert_eq!(a.fields, ["person.given_name", "person.sex"]);
    assert_eq!((a.areas.len(), a.rate_limit), (0, 300), "the whole country now");
    let r = t
        .send_as(&second, reqwest::Method::GET, "/api/v1/areas", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "areas.read was taken away");

    // Access withdrawn: every token stops, and no new one is handed out.
    let p = v
        .post("/admin/agencies/nraf", &[("csrf", &csrf), ("change", "disable")])
        .await;
    assert_eq!(p.location(), "/admin/agencies?done=disabled", "{}", p.body);
    let doc = v.get(&p.location()).await.html();
    check_page("a withdrawn agency", "ur", &doc, &names);
    assert_eq!(
        text_at(&doc, "#notice").as_deref(),
        Some(message("ur", "notice-agency-disabled").as_str())
    );
    assert!(
        doc.select(&sel("#agency-nraf form[action$='/tokens']"))
            .next()
            .is_none(),
        "no token for a withdrawn agency"
    );
    let r = t
        .send_as(&second, reqwest::Method::GET, "/api/v1/areas", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let p = v
        .post("/admin/agencies/nraf/tokens", &[("csrf", &csrf), ("expires_days", "7")])
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "#refused-nraf").as_deref(),
        Some(message("ur", "problem-account-disabled").as_str())
    );
    assert!(p.html().select(&sel("#secret")).next().is_none());
    assert_eq!(t.app.tokens(&system, Some("agency:nraf")).await.unwrap().len(), 2);
    let p = v.post("/admin/agencies/nraf", &[("change", "disable")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "no CSRF token");

    // Access restored from its row with a new token; the old ones stay revoked.
    let restore = |days: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("change", "restore".into()),
            ("expires_days", days.into()),
        ]
    };
    let p = v.post("/admin/agencies/nraf", &pairs(&restore("0"))).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "#days-error-nraf").as_deref(),
        Some(message("ur", "field-error-out-of-range").as_str())
    );
    assert!(t.app.agencies(&system).await.unwrap()[0].disabled, "still withdrawn");
    let p = v.post("/admin/agencies/nraf", &pairs(&restore("۷"))).await;
    let third = shown_once(&p);
    check_page("an agency restored", "ur", &p.html(), &names);
    let me = t
        .send_as(&third, reqwest::Method::GET, "/api/v1/session", None, &[])
        .await;
    assert_eq!(me.body["kind"], "agency", "{:#}", me.body);
    let r = t
        .send_as(&second, reqwest::Method::GET, "/api/v1/session", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "an old token stays revoked");
    let p = v.post("/admin/agencies/nraf", &pairs(&restore("7"))).await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "#refused-nraf").as_deref(),
        Some(message("ur", "problem-agency-active").as_str())
    );
    assert_eq!(t.app.tokens(&system, Some("agency:nraf")).await.unwrap().len(), 3);
    let trail = t.get("/api/v1/audit?record=nraf&limit=100").await;
    let actions: Vec<&str> = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"agency.update") && actions.contains(&"agency.restore"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_language_chosen_while_signed_in_follows_the_user_to_another_device() {
    let t = spawn().await;
    let mut desk = Visitor::new(&t);
    desk.sign_in("admin").await;
    let p = desk.get("/registry?lang=bn").await;
    assert_eq!(p.status, StatusCode::OK);
    // The profile page offers the choice, with the language kept selected.
    let form = desk.get("/password").await.html();
    assert_eq!(
        form.select(&sel("#lang option[selected]"))
            .next()
            .and_then(|o| o.value().attr("value")),
        Some("bn")
    );
    // Another browser: before sign-in its own language decides…
    let mut phone = Visitor::new(&t);
    phone.accept_language = Some("ur-PK,ur;q=0.9".into());
    let p = phone.get("/sign-in").await;
    assert_eq!(
        p.html().select(&sel("html")).next().unwrap().value().attr("lang"),
        Some("ur")
    );
    // …and after it, the one the user chose.
    phone.sign_in("admin").await;
    let home = phone.get("/").await.html();
    assert_eq!(
        home.select(&sel("html")).next().unwrap().value().attr("lang"),
        Some("bn")
    );
    // A switch through the profile form is kept too.
    let p = phone.get("/password?lang=ar").await;
    assert_eq!(p.status, StatusCode::OK);
    let mut third = Visitor::new(&t);
    third.sign_in("admin").await;
    let home = third.get("/").await.html();
    assert_eq!(
        home.select(&sel("html")).next().unwrap().value().attr("dir"),
        Some("rtl")
    );
    let entries = t.get("/api/v1/audit?action=user.language").await;
    assert_eq!(
        entries.body["items"].as_array().map(Vec::len),
        Some(2),
        "{:#}",
        entries.body
    );
}

/// The review queue and a pair's page in every language, with the decision
/// made by a plain form (no JavaScript): the seeded duplicate of the test
/// household's head, registered again in Lahore in Urdu script.
#[tokio::test]
async fn duplicates_are_reviewed_side_by_side_and_decided_with_plain_forms() {
    let t = spawn().await;
    t.register_population_with_duplicates().await;
    let a = t.register(household("3520212345671")).await;
    let b = t
        .register(serde_json::json!({
            "household": {"area": "PK-PB-LHR-CTY", "address": "Mohalla 3",
                          "attributes": {"rooms": 1, "urban_rural": "urban", "has_electricity": false}},
            "members": [{"given_name": {"native": "محمد"}, "family_name": {"native": "اسلم"},
                         "father_name": {"latin": "Rashid"}, "sex": "male", "date_of_birth": "1980-04-14",
                         "relationship": "head", "phone": "0300 1234567"}]
        }))
        .await;
    let (head, dup) = (
        a["members"][0]["id"].as_str().unwrap(),
        b["members"][0]["id"].as_str().unwrap(),
    );
    let names = message_names();
    let mut v = Visitor::new(&t);
    let csrf_token = v.sign_in("admin").await;
    // A run started from the queue's form.
    let run = v.post("/dedup/runs", &[("csrf", &csrf_token), ("area", "")]).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    assert!(run.html().select(&sel("#run-report .card")).count() == 4);
    check_page("dedup run", "en", &run.html(), &names);
    let queue = v.get("/dedup").await;
    let doc = queue.html();
    // The seeded pair among the listed ones.
    let mut seeded = None;
    for a in doc.select(&sel("#queue a")) {
        let href = a.value().attr("href").unwrap().to_owned();
        let page = v.get(&href).await;
        if page.body.contains(head) && page.body.contains(dup) {
            seeded = Some(href);
            break;
        }
    }
    let seeded = seeded.expect("the seeded pair is in the queue");
    for lang in ["en", "ur", "ar", "bn"] {
        for path in ["/dedup".to_owned(), seeded.clone()] {
            let p = v.get(&format!("{path}?lang={lang}")).await;
            assert_eq!(p.status, StatusCode::OK, "{path} in {lang}: {}", p.body);
            check_page(&path, lang, &p.html(), &names);
        }
    }
    let page = v.get(&format!("{seeded}?lang=en")).await.html();
    assert_eq!(page.select(&sel("#side-by-side tbody tr")).count(), 10);
    // Each record's place in its household, for the officer who decides.
    let relationship = page
        .select(&sel("#side-by-side tbody tr"))
        .find(|tr| tr.text().any(|t| t.contains("Relationship to the head")))
        .expect("a relationship row")
        .text()
        .collect::<String>();
    assert_eq!(relationship.matches("Head").count(), 2, "{relationship}");
    assert!(page.select(&sel("#evidence tbody tr")).count() >= 7);
    assert!(page.select(&sel("#decide button[name=decision]")).count() == 2);
    // Without the CSRF token nothing is decided.
    let refused = v
        .post(&format!("{seeded}/decision"), &[("decision", "different_people")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let decided = v
        .post(
            &format!("{seeded}/decision"),
            &[
                ("csrf", &csrf_token),
                ("decision", "different_people"),
                ("reason", "father and son"),
            ],
        )
        .await;
    assert_eq!(decided.status, StatusCode::SEE_OTHER, "{}", decided.body);
    let after = v.get(&format!("{seeded}?lang=en")).await.html();
    assert!(
        after.select(&sel("#decide")).next().is_none(),
        "no decision form once decided"
    );
    let status: String = after.select(&sel("#pair-status")).next().unwrap().text().collect();
    assert_eq!(status.trim(), "Different people");
    // The queue no longer lists it.
    let queue = v.get("/dedup").await;
    assert!(!queue.body.contains(seeded.as_str()));
}

#[tokio::test]
async fn every_example_configuration_labels_its_choices_in_its_languages() {
    use himaya_domain::Country;
    for (country, lang, attributes, native, english, code) in [
        (
            Country::Ps,
            "ar",
            serde_json::json!({"rooms": 3, "urban_rural": "camp", "region": "gaza"}),
            "مخيم",
            "Camp",
            "camp",
        ),
        (
            Country::Jo,
            "ar",
            serde_json::json!({"rooms": 3, "urban_rural": "rural", "heating_fuel": "kerosene"}),
            "كاز",
            "Kerosene",
            "kerosene",
        ),
        (
            Country::Bd,
            "bn",
            serde_json::json!({"rooms": 2, "urban_rural": "rural", "electricity_source": "solar_home_system"}),
            "সোলার হোম সিস্টেম",
            "Solar home system",
            "solar_home_system",
        ),
    ] {
        let t = common::spawn_for(country).await;
        let areas = t.get("/api/v1/areas").await.body;
        let area = areas["items"].as_array().unwrap().last().unwrap()["code"].clone();
        let r = t
            .post(
                "/api/v1/households",
                serde_json::json!({
                    "household": {"area": area, "attributes": attributes},
                    "members": [{"given_name": {"native": "Amina"}, "sex": "female", "relationship": "head"}]
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{country:?}: {:#}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let names = message_names();
        let mut v = Visitor::new(&t);
        for (l, label) in [(lang, native), ("en", english)] {
            v.cookies.clear();
            let _ = v.get(&format!("/sign-in?lang={l}")).await;
            v.sign_in("admin").await;
            let page = v.get(&format!("/households/{id}")).await;
            assert_eq!(page.status, StatusCode::OK, "{country:?} in {l}");
            let doc = page.html();
            check_page("household with labelled choices", l, &doc, &names);
            let values: Vec<String> = doc
                .select(&sel("#attributes dd"))
                .map(|d| d.text().collect::<String>().trim().to_owned())
                .collect();
            assert!(
                values.iter().any(|v| v == label) && !values.iter().any(|v| v == code),
                "{country:?} in {l}: {values:?}"
            );
        }
    }
}

/// The duplicate check at intake on the registration and new-member forms:
/// a person who looks like one already registered is shown beside the form,
/// in the officer's language, and nothing is saved until the officer has
/// seen the likely matches and saves again.
#[tokio::test]
async fn registering_someone_already_registered_warns_before_saving() {
    let t = spawn().await;
    t.register_population_with_duplicates().await;
    // The wife with her father's name, by which she is known again below.
    let mut existing = household("3520212345671");
    existing["members"][1]["father_name"] = serde_json::json!({"latin": "Ghulam Nabi"});
    let existing = t.register(existing).await;
    let (existing_household, existing_head) = (
        existing["id"].as_str().unwrap().to_owned(),
        existing["members"][0]["id"].as_str().unwrap().to_owned(),
    );
    let names = message_names();
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ur").await;
    let csrf = v.sign_in("admin").await;
    // The same man, registered again in Lahore, in Urdu script only.
    let form = vec![
        ("csrf", csrf.as_str()),
        ("member_count", "1"),
        ("household.area", "PK-PB-LHR-CTY"),
        ("household.address", "Mohalla 3"),
        ("household.attributes.urban_rural", "urban"),
        ("household.attributes.rooms", "1"),
        ("members[0].given_name.native", "محمد"),
        ("members[0].family_name.native", "اسلم"),
        ("members[0].father_name.latin", "Rashid"),
        ("members[0].sex", "male"),
        ("members[0].relationship", "head"),
        ("members[0].date_of_birth", "1980-03-14"),
        ("members[0].phone", "0300 1234567"),
    ];
    // Before any deduplication run there is no model to compare with: saved at once.
    let before = t.counts().await;
    let first: Vec<(&str, &str)> = form
        .iter()
        .map(|&(k, v)| match k {
            "members[0].date_of_birth" => (k, "1999-01-01"),
            "members[0].phone" => (k, "0300 7654321"),
            _ => (k, v),
        })
        .collect();
    let p = v.post("/households/new", &first).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let (earlier, before) = (before, t.counts().await);
    assert_eq!(before.0, earlier.0 + 1);

    let run = t.post("/api/v1/dedup/runs", serde_json::json!({})).await;
    assert!(run.status.is_success(), "{:#}", run.body);
    let p = v.post("/households/new", &form).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let doc = p.html();
    check_page("/households/new", "ur", &doc, &names);
    let warning = text_at(&doc, "#duplicate-warning").expect("a duplicate warning");
    assert!(warning.contains(&message("ur", "intake-duplicates-title")), "{warning}");
    let link = format!("/households/{existing_household}");
    assert!(
        doc.select(&sel("#duplicate-warning a"))
            .any(|a| a.value().attr("href") == Some(link.as_str())),
        "the existing household is linked: {warning}"
    );
    let seen = doc
        .select(&sel("input[name=duplicates_seen]"))
        .next()
        .and_then(|i| i.value().attr("value"))
        .unwrap()
        .to_owned();
    assert!(seen.split(',').any(|id| id == existing_head), "{seen}");
    // What was typed is kept, and the button says what saving now means.
    let given = doc
        .select(&sel("[id=\"members[0].given_name.native\"]"))
        .next()
        .unwrap();
    assert_eq!(given.value().attr("value"), Some("محمد"));
    assert_eq!(
        text_at(&doc, "#save").unwrap().trim(),
        message("ur", "intake-save-anyway")
    );
    assert_eq!(t.counts().await, before, "a warning saves nothing");
    // Saving again, having seen them, registers the household.
    let mut again = form.clone();
    again.push(("duplicates_seen", &seen));
    let p = v.post("/households/new", &again).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let location = p.location();
    let new_household = location.split('?').next().unwrap();
    assert_eq!(t.counts().await.0, before.0 + 1);

    // A member added to a household is checked in the household's area too.
    let page = v.get(&format!("{new_household}/members/new")).await;
    let version = page
        .html()
        .select(&sel("input[name=version]"))
        .next()
        .and_then(|i| i.value().attr("value"))
        .unwrap()
        .to_owned();
    let member = vec![
        ("csrf", csrf.as_str()),
        ("version", version.as_str()),
        ("members[0].given_name.latin", "Shazia"),
        ("members[0].family_name.latin", "Bibi"),
        ("members[0].father_name.latin", "Ghulam Nabi"),
        ("members[0].sex", "female"),
        ("members[0].relationship", "spouse"),
        ("members[0].date_of_birth", "1985"),
        ("members[0].birth_date_estimated", "true"),
    ];
    let p = v.post(&format!("{new_household}/members/new"), &member).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let doc = p.html();
    assert!(
        doc.select(&sel("#duplicate-warning a"))
            .any(|a| a.value().attr("href") == Some(link.as_str())),
        "{}",
        text_at(&doc, "#duplicate-warning").unwrap_or_default()
    );
    let id = new_household.trim_start_matches("/households/");
    let path = format!("/api/v1/households/{id}");
    let members = t.get(&path).await.body["members"].as_array().map_or(0, Vec::len);
    assert_eq!(members, 1, "a warning adds no one");
    let seen = doc
        .select(&sel("input[name=duplicates_seen]"))
        .next()
        .and_then(|i| i.value().attr("value"))
        .unwrap()
        .to_owned();
    let mut again = member.clone();
    again.push(("duplicates_seen", &seen));
    let p = v.post(&format!("{new_household}/members/new"), &again).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let members = t.get(&path).await.body["members"].as_array().map_or(0, Vec::len);
    assert_eq!(members, 2);
    // Each check is an audited read of the people it showed.
    let audit = t.get("/api/v1/audit?action=dedup.intake_check").await;
    assert!(
        audit.body["items"].as_array().map_or(0, Vec::len) >= 4,
        "{:#}",
        audit.body
    );
}

/// Kafalat saved over the API, for the targeting and enrolment pages.
/// A household's standing in Kafalat as the API reports it (`null` when undecided).
async fn kafalat_status(t: &TestApp, household: &str) -> serde_json::Value {
    let r = t
        .get(&format!(
            "/api/v1/households/{household}/programmes/pk-kafalat/eligibility"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    r.body["enrolment"]["status"].clone()
}

/// A message's words outside its placeables, each of which a rendering must contain.
fn message_parts(lang: &str, key: &str) -> Vec<String> {
    let text = message(lang, key);
    let mut parts = Vec::new();
    let mut rest = text.as_str();
    while let Some((before, after)) = rest.split_once('{') {
        parts.push(before.to_owned());
        rest = after.split_once('}').map_or("", |(_, a)| a);
    }
    parts.push(rest.to_owned());
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

#[tokio::test]
async fn a_programme_officer_runs_targeting_and_enrols_from_the_programme_page() {
    let t = spawn().await;
    t.save_programme("pk-kafalat").await;
    let mut households = Vec::new();
    for i in 0..2 {
        let h = t.register(poor_household(&format!("3520212346{:02}1", i))).await;
        households.push(h["id"].as_str().unwrap().to_owned());
    }
    t.user("officer", &["programme_officer"], &[]).await;
    let names = message_names();
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ur").await;
    let csrf = v.sign_in("officer").await;
    let page = v.get("/programmes/pk-kafalat").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let doc = page.html();
    check_page("/programmes/pk-kafalat", "ur", &doc, &names);
    assert!(
        doc.select(&sel("form[action^=\"/programmes/pk-kafalat/runs\"] #run-enrol"))
            .next()
            .is_some(),
        "the run's form offers to enrol"
    );

    // A dry run still records nothing.
    let dry = v
        .post("/programmes/pk-kafalat/dry-run", &[("csrf", &csrf), ("area", "PK-PB")])
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert!(dry.html().select(&sel("#report-decisions")).next().is_none());
    for h in &households {
        assert_eq!(kafalat_status(&t, h).await, serde_json::Value::Null);
    }

    // A real run takes no parameters, not even from a crafted form; without the token, nothing.
    let crafted = v
        .post(
            "/programmes/pk-kafalat/runs",
            &[("csrf", &csrf), ("enrol", "true"), ("param.pmt_threshold", "۹۹")],
        )
        .await;
    assert_eq!(crafted.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", crafted.body);
    let doc = crafted.html();
    check_page("refused run", "ur", &doc, &names);
    let error = text_at(&doc, "#run-error").unwrap();
    assert!(error.contains(&message("ur", "field-error-dry-run-only")), "{error}");
    let forged = v.post("/programmes/pk-kafalat/runs", &[("enrol", "true")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    for h in &households {
        assert_eq!(kafalat_status(&t, h).await, serde_json::Value::Null);
    }

    // The run, enrolling: its report says what it recorded, in Urdu digits.
    let run = v
        .post(
            "/programmes/pk-kafalat/runs",
            &[("csrf", &csrf), ("area", "PK-PB"), ("enrol", "true")],
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    let doc = run.html();
    check_page("targeting run", "ur", &doc, &names);
    assert_eq!(text_at(&doc, "#report-decisions .figure").as_deref(), Some("۲"));
    assert_eq!(text_at(&doc, "#report-enrolled .figure").as_deref(), Some("۲"));
    assert_eq!(
        text_at(&doc, "#report h3").as_deref(),
        Some(message("ur", "run-result").as_str())
    );
    for h in &households {
        assert_eq!(kafalat_status(&t, h).await, "enrolled");
    }
    // Run again without enrolling: decided again, no one more enrolled, no enrolled count shown.
    let again = v
        .post("/programmes/pk-kafalat/runs", &[("csrf", &csrf), ("area", "PK-PB")])
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert!(again.html().select(&sel("#report-enrolled")).next().is_none());
    for h in &households {
        assert_eq!(kafalat_status(&t, h).await, "enrolled");
    }
}

#[tokio::test]
async fn an_enrolment_is_enrolled_paused_resumed_and_ended_from_the_eligibility_page() {
    let t = spawn().await;
    t.save_programme("pk-kafalat").await;
    let h = t.register(poor_household("3520212347011")).await;
    let h = h["id"].as_str().unwrap().to_owned();
    let r = t
        .post("/api/v1/programmes/pk-kafalat/runs", serde_json::json!({}))
        .await;
    assert!(r.status.is_success(), "{:#}", r.body);
    assert_eq!(kafalat_status(&t, &h).await, "eligible");
    t.user("officer", &["programme_officer"], &[]).await;
    let names = message_names();
    let mut v = Visitor::new(&t);
    let csrf = v.sign_in("officer").await;
    let path = format!("/households/{h}/programmes/pk-kafalat");
    let moved = |to: &str, reason: Option<&str>| {
        let mut fields = vec![
            ("csrf", csrf.clone()),
            ("beneficiary", h.clone()),
            ("to", to.to_owned()),
        ];
        if let Some(r) = reason {
            fields.push(("reason", r.to_owned()));
        }
        fields
    };
    let steps = [
        ("enrol", "enrolled", None, "enrolled"),
        ("pause", "paused", Some("non_compliance"), "paused"),
        ("resume", "enrolled", None, "enrolled"),
        ("exit", "exited", Some("deceased"), "exited"),
    ];
    for (step, to, reason, status) in steps {
        // Every language lays the forms out; Urdu is read last.
        for lang in ["en", "ar", "bn", "ur"] {
            let page = v.get(&format!("{path}?lang={lang}")).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            let doc = page.html();
            check_page(&path, lang, &doc, &names);
            assert!(
                doc.select(&sel(&format!("form[id=\"{step}-{h}\"]"))).next().is_some(),
                "{step} is offered in {lang}"
            );
        }
        if step == "pause" {
            // A pause without a reason is refused beside the reason, and changes nothing.
            let bad = v
                .post(&format!("{path}/transitions"), &pairs(&moved("paused", None)))
                .await;
            assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
            let doc = bad.html();
            check_page("refused pause", "ur", &doc, &names);
            assert_eq!(
                text_at(&doc, &format!("[id=\"reason-pause-{h}-error\"]")).as_deref(),
                Some(message("ur", "enrolment-error-pause-reason").as_str())
            );
            assert_eq!(kafalat_status(&t, &h).await, "enrolled");
            // A reason outside the vocabulary, likewise.
            let bad = v
                .post(
                    &format!("{path}/transitions"),
                    &pairs(&moved("paused", Some("holiday"))),
                )
                .await;
            assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
            assert_eq!(kafalat_status(&t, &h).await, "enrolled");
        }
        let r = v.post(&format!("{path}/transitions"), &pairs(&moved(to, reason))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{step}: {}", r.body);
        assert_eq!(r.location(), format!("{path}?done={step}#standing-{h}"));
        let after = v.get(r.location().split('#').next().unwrap()).await;
        assert_eq!(after.status, StatusCode::OK, "{}", after.body);
        let doc = after.html();
        check_page(&path, "ur", &doc, &names);
        assert_eq!(
            text_at(&doc, "#notice").as_deref(),
            Some(message("ur", &format!("notice-enrolment-{step}")).as_str())
        );
        assert_eq!(
            text_at(&doc, &format!("[id=\"status-{h}\"]")).as_deref(),
            Some(message("ur", &format!("enrolment-{status}")).as_str())
        );
        assert_eq!(kafalat_status(&t, &h).await, status, "after {step}");
    }
    // Ended: the reason is shown, in words, and no move is offered.
    let doc = v.get(&path).await.html();
    assert!(
        doc.root_element()
            .text()
            .collect::<String>()
            .contains(&message("ur", "exit-reason-deceased"))
    );
    assert!(doc.select(&sel("form[action$=\"/transitions\"]")).next().is_none());

    // Resuming an ended enrolment, by a crafted form: 422, told beside the standing, nothing changed.
    let crafted = v
        .post(&format!("{path}/transitions"), &pairs(&moved("enrolled", None)))
        .await;
    assert_eq!(crafted.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", crafted.body);
    let doc = crafted.html();
    check_page("refused resume", "ur", &doc, &names);
    let error = text_at(&doc, &format!("[id=\"standing-{h}\"] #move-error")).unwrap();
    for part in message_parts("ur", "enrolment-error-illegal-transition") {
        assert!(error.contains(&part), "{error:?} lacks {part:?}");
    }
    assert!(error.contains(&message("ur", "enrolment-exited")), "{error}");
    assert_eq!(kafalat_status(&t, &h).await, "exited");
    // A beneficiary not of this household is not found here.
    let mut other = moved("exited", Some("deceased"));
    other[1].1 = uuid_like();
    let r = v.post(&format!("{path}/transitions"), &pairs(&other)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// Form fields as the visitor posts them.
fn pairs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// An identifier no record has.
fn uuid_like() -> String {
    "01890000-0000-7000-8000-000000000000".to_owned()
}

#[tokio::test]
async fn without_enrolments_manage_the_standing_is_shown_and_no_move_is_taken() {
    let t = spawn().await;
    t.save_programme("pk-kafalat").await;
    let h = t.register(poor_household("3520212349011")).await;
    let h = h["id"].as_str().unwrap().to_owned();
    let r = t
        .post("/api/v1/programmes/pk-kafalat/runs", serde_json::json!({"enrol": true}))
        .await;
    assert_eq!(r.body["enrolled"], 1, "{:#}", r.body);
    t.user("caseworker", &["case_worker"], &[]).await;
    let names = message_names();
    let mut v = Visitor::new(&t);
    let csrf = v.sign_in("caseworker").await;
    let path = format!("/households/{h}/programmes/pk-kafalat");
    let page = v.get(&format!("{path}?lang=bn")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let doc = page.html();
    check_page(&path, "bn", &doc, &names);
    assert_eq!(
        text_at(&doc, &format!("[id=\"status-{h}\"]")).as_deref(),
        Some(message("bn", "enrolment-enrolled").as_str())
    );
    assert!(doc.select(&sel("form[action$=\"/transitions\"]")).next().is_none());
    let crafted = v
        .post(
            &format!("{path}/transitions"),
            &[
                ("csrf", &csrf),
                ("beneficiary", &h),
                ("to", "exited"),
                ("reason", "deceased"),
            ],
        )
        .await;
    assert_eq!(crafted.status, StatusCode::FORBIDDEN, "{}", crafted.body);
    check_page("refused", "bn", &crafted.html(), &names);
    assert_eq!(kafalat_status(&t, &h).await, "enrolled");
    // Nor does the programme's page offer them a run.
    let doc = v.get("/programmes/pk-kafalat").await.html();
    assert!(
        doc.select(&sel("form[action^=\"/programmes/pk-kafalat/runs\"]"))
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn households_due_for_resurvey_are_listed_on_the_programme_page() {
    let t = spawn().await;
    t.save_programme("pk-kafalat").await;
    let mut households = Vec::new();
    for i in 0..2 {
        let h = t.register(poor_household(&format!("3520212348{:02}1", i))).await;
        households.push(h["id"].as_str().unwrap().to_owned());
    }
    let r = t
        .post("/api/v1/programmes/pk-kafalat/runs", serde_json::json!({"enrol": true}))
        .await;
    assert_eq!(r.body["enrolled"], 2, "{:#}", r.body);
    let names = message_names();
    let mut v = Visitor::new(&t);
    v.sign_in("admin").await;
    // Fresh data: none due.
    let doc = v.get("/programmes/pk-kafalat?lang=ur").await.html();
    assert!(doc.select(&sel("#recertification-none")).next().is_some());
    assert!(doc.select(&sel("#recertification-due")).next().is_none());
    // Kafalat recertifies after 36 months; one household was surveyed in 2022.
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&t.url).await.unwrap();
        sqlx::query("UPDATE households SET updated_at = '2022-01-01T00:00:00.000000Z' WHERE id = $1")
            .bind(households[0].clone())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    for lang in ["en", "ar", "bn", "ur"] {
        let page = v.get(&format!("/programmes/pk-kafalat?lang={lang}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        check_page("/programmes/pk-kafalat", lang, &page.html(), &names);
    }
    let doc = v.get("/programmes/pk-kafalat").await.html();
    let rows: Vec<ElementRef> = doc.select(&sel("#recertification-due tbody tr")).collect();
    assert_eq!(rows.len(), 1);
    let link = rows[0].select(&sel("a")).next().unwrap();
    assert_eq!(
        link.value().attr("href"),
        Some(format!("/households/{}", households[0]).as_str())
    );
    let cells: Vec<String> = rows[0]
        .select(&sel("td"))
        .map(|td| td.text().collect::<String>())
        .collect();
    assert!(cells.iter().all(|c| !c.trim().is_empty()), "{cells:?}");
    assert!(cells[3].contains("۲۰۲۲"), "the date in Urdu digits: {cells:?}");
    for cell in &rows[0].select(&sel("td")).collect::<Vec<_>>() {
        assert!(cell.value().attr("data-label").is_some(), "laid out for a phone");
    }
    assert!(
        text_at(&doc, "#recertification-count").unwrap().contains('۱'),
        "the count in Urdu digits"
    );
}

#[tokio::test]
async fn a_programme_for_people_shows_and_moves_each_member_standing() {
    let t = spawn().await;
    t.save_programme("pk-kafalat").await;
    t.save_programme("pk-taleemi-wazaif").await;
    let mut body = poor_household("3520212350011");
    body["members"].as_array_mut().unwrap().push(serde_json::json!({
        "given_name": {"native": "بلال", "latin": "Bilal"}, "sex": "male", "date_of_birth": "2017-02-01",
        "relationship": "child", "school": {"level": "primary"},
        "identifiers": [{"type": "birth_registration", "value": "3520212350099"}]}));
    let h = t.register(body).await;
    let child = h["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["given_name"]["latin"] == "Bilal")
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .unwrap();
    let h = h["id"].as_str().unwrap().to_owned();
    for (code, enrol) in [("pk-kafalat", true), ("pk-taleemi-wazaif", false)] {
        let r = t
            .post(
                &format!("/api/v1/programmes/{code}/runs"),
                serde_json::json!({"enrol": enrol}),
            )
            .await;
        assert!(r.status.is_success(), "{:#}", r.body);
    }
    let child_status = || async {
        let r = t
            .get(&format!(
                "/api/v1/households/{h}/programmes/pk-taleemi-wazaif/eligibility?person={child}"
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
        r.body["enrolment"]["status"].clone()
    };
    assert_eq!(child_status().await, "eligible");
    let names = message_names();
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ur").await;
    let csrf = v.sign_in("admin").await;
    let path = format!("/households/{h}/programmes/pk-taleemi-wazaif");
    // Without a member named: the members to choose from, and each one's standing.
    let page = v.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let doc = page.html();
    check_page(&path, "ur", &doc, &names);
    assert!(doc.select(&sel("#choose-member")).next().is_some());
    assert!(
        doc.select(&sel(&format!("#members a[href=\"{path}?person={child}\"]")))
            .next()
            .is_some()
    );
    assert!(
        doc.select(&sel(&format!("form[id=\"enrol-{child}\"]")))
            .next()
            .is_some()
    );
    let r = v
        .post(
            &format!("{path}/transitions"),
            &[("csrf", &csrf), ("beneficiary", &child), ("to", "enrolled")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        r.location(),
        format!("{path}?done=enrol&person={child}#standing-{child}")
    );
    // Then the member's own explanation, and the new standing.
    let doc = v.get(r.location().split('#').next().unwrap()).await.html();
    check_page(&path, "ur", &doc, &names);
    assert!(doc.select(&sel("#decision")).next().is_some());
    assert_eq!(
        text_at(&doc, &format!("[id=\"status-{child}\"]")).as_deref(),
        Some(message("ur", "enrolment-enrolled").as_str())
    );
    assert_eq!(child_status().await, "enrolled");
}

#[tokio::test]
async fn the_resurvey_list_shows_the_first_fifty_and_says_there_are_more() {
    let t = spawn().await;
    t.save_programme("pk-kafalat").await;
    for i in 0..51 {
        t.register(poor_household(&format!("35202124{:03}01", i))).await;
    }
    let r = t
        .post("/api/v1/programmes/pk-kafalat/runs", serde_json::json!({"enrol": true}))
        .await;
    assert_eq!(r.body["enrolled"], 51, "{:#}", r.body);
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&t.url).await.unwrap();
        sqlx::query("UPDATE households SET updated_at = '2022-01-01T00:00:00.000000Z'")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let mut v = Visitor::new(&t);
    v.sign_in("admin").await;
    let doc = v.get("/programmes/pk-kafalat?lang=bn").await.html();
    assert_eq!(doc.select(&sel("#recertification-due tbody tr")).count(), 50);
    let count = text_at(&doc, "#recertification-count").unwrap();
    for part in message_parts("bn", "recertification-more") {
        assert!(count.contains(&part), "{count:?} lacks {part:?}");
    }
    assert!(count.contains("৫০"), "{count}");
}

/// What a browser sends for the form at `css`: its text and hidden inputs,
/// checked boxes and each select's chosen (or first) option.
fn form_fields(doc: &Html, css: &str) -> Vec<(String, String)> {
    let form = doc.select(&sel(css)).next().expect("the form");
    let mut out = Vec::new();
    for e in form.select(&sel("input[name], select[name]")) {
        let name = e.value().attr("name").unwrap().to_owned();
        if e.value().name() == "select" {
            let chosen = e
                .select(&sel("option[selected]"))
                .next()
                .or_else(|| e.select(&sel("option")).next());
            let value = chosen.and_then(|o| o.value().attr("value")).unwrap_or_default();
            out.push((name, value.to_owned()));
            continue;
        }
        match e.value().attr("type").unwrap_or("text") {
            "checkbox" | "radio" if e.value().attr("checked").is_none() => {}
            "submit" | "button" | "file" => {}
            _ => out.push((name, e.value().attr("value").unwrap_or_default().to_owned())),
        }
    }
    out
}

/// The fields with some changed: a name given an empty value is left out, as an unchecked box.
fn with(fields: &[(String, String)], changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fields
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .cloned()
        .collect();
    out.extend(
        changes
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    out
}

fn as_pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test]
async fn a_member_is_changed_on_their_own_form_and_a_death_recorded_in_urdu() {
    let t = spawn().await;
    let household = registry_with_a_household(&t).await;
    let members = t.get(&format!("/api/v1/households/{household}")).await.body["members"].clone();
    let head = members[0]["id"].as_str().unwrap().to_owned();
    let wife = members[1]["id"].as_str().unwrap().to_owned();
    let person = async |p: &str| t.get(&format!("/api/v1/persons/{p}")).await.body;
    let names = message_names();
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ur").await;
    v.sign_in("admin").await;

    // From the household's members to Shazia's form, filled with her record.
    let page = v.get(&format!("/households/{household}")).await.html();
    let links: Vec<String> = page
        .select(&sel("a.member-edit"))
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert_eq!(
        links,
        [format!("/persons/{head}/edit"), format!("/persons/{wife}/edit")]
    );
    let href = links[1].clone();
    let p = v.get(&href).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let doc = p.html();
    check_page("a member's form", "ur", &doc, &names);
    let fields = form_fields(&doc, "form.stack");
    let value = |fields: &[(String, String)], k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(value(&fields, "members[0].given_name.latin"), "Shazia");
    assert_eq!(value(&fields, "members[0].given_name.native"), "شازیہ");
    assert_eq!(value(&fields, "members[0].date_of_birth"), "1985");
    assert_eq!(value(&fields, "members[0].birth_date_estimated"), "true");
    assert_eq!(value(&fields, "members[0].relationship"), "spouse");
    assert_eq!(value(&fields, "members[0].status"), "active");
    assert_eq!(value(&fields, "members[0].identifiers[0].value"), "");
    let version = person(&wife).await["version"].clone();

    // Wrong input is named beside its field in Urdu and changes nothing: a
    // CNIC of 5 digits, a death without its date.
    let bad = with(
        &fields,
        &[
            ("members[0].identifiers[0].value", "۱۲۳۴۵"),
            ("members[0].status", "deceased"),
        ],
    );
    let p = v.post(&href, &as_pairs(&bad)).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    let doc = p.html();
    check_page("a member's form with errors", "ur", &doc, &names);
    assert!(
        text_at(&doc, "[id='members[0].identifiers[0].value-error']").is_some(),
        "{:?}",
        text_at(&doc, "#error-summary")
    );
    assert_eq!(
        text_at(&doc, "[id='members[0].status_date-error']").as_deref(),
        Some(message("ur", "field-error-required").as_str())
    );
    assert_eq!(person(&wife).await["version"], version);

    // Her name corrected, a phone and a CNIC in Urdu digits, the estimate
    // unticked and a full date of birth: saved, back on the household's page.
    let good = with(
        &fields,
        &[
            ("members[0].given_name.latin", "Shaziya"),
            ("members[0].phone", "۰۳۰۱ ۷۶۵۴۳۲۱"),
            ("members[0].identifiers[0].value", "۳۵۲۰۲۷۶۵۴۳۲۱۲"),
            ("members[0].date_of_birth", "1985-06-02"),
            ("members[0].birth_date_estimated", ""),
            ("reason", "صحیح نام"),
        ],
    );
    let p = v.post(&href, &as_pairs(&good)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), format!("/households/{household}?done=person"));
    let doc = v.get(&p.location()).await.html();
    assert_eq!(
        text_at(&doc, "#notice").as_deref(),
        Some(message("ur", "notice-person-updated").as_str())
    );
    let after = person(&wife).await;
    assert_eq!(after["given_name"]["latin"], "Shaziya");
    assert_eq!(after["given_name"]["native"], "شازیہ", "what the form kept stays");
    assert_eq!(after["phone"], "+923017654321");
    assert_eq!(after["identifiers"][0]["value"], "3520276543212");
    assert_eq!(after["date_of_birth"], "1985-06-02");
    assert_eq!(after["birth_date_estimated"], false);
    let history = t.get(&format!("/api/v1/persons/{wife}/history")).await.body;
    let last = history["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["source"], "desk_update", "{last:#}");
    assert_eq!(last["reason"], "صحیح نام", "{last:#}");

    // The form now holds her CNIC and a blank row: with the CNIC blanked
    // and a wrong one typed in the second row, the error is on that row.
    let fields = form_fields(&v.get(&href).await.html(), "form.stack");
    assert_eq!(value(&fields, "members[0].identifiers[0].value"), "3520276543212");
    assert_eq!(value(&fields, "members[0].identifiers[1].value"), "");
    let moved = with(
        &fields,
        &[
            ("members[0].identifiers[0].value", ""),
            ("members[0].identifiers[1].value", "42"),
        ],
    );
    let p = v.post(&href, &as_pairs(&moved)).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    let doc = p.html();
    assert!(text_at(&doc, "[id='members[0].identifiers[1].value-error']").is_some());
    assert!(text_at(&doc, "[id='members[0].identifiers[0].value-error']").is_none());

    // A head is changed with the change-head operation, not by editing
    // relationships: refused above the form in Urdu.
    let head_href = format!("/persons/{head}/edit");
    let head_fields = form_fields(&v.get(&head_href).await.html(), "form.stack");
    let p = v
        .post(
            &head_href,
            &as_pairs(&with(&head_fields, &[("members[0].relationship", "spouse")])),
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(
        text_at(&p.html(), "#error-summary")
            .unwrap()
            .contains(&message("ur", "problem-household-needs-one-head"))
    );
    assert_eq!(person(&head).await["relationship"], "head");

    // Her death, with its date: recorded; the stale form is then refused.
    let died = with(
        &fields,
        &[
            ("members[0].status", "deceased"),
            ("members[0].status_date", "۲۰۲۶-۱۱-۲۰"),
        ],
    );
    let p = v.post(&href, &as_pairs(&died)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let after = person(&wife).await;
    assert_eq!(
        (after["status"].as_str(), after["status_date"].as_str()),
        (Some("deceased"), Some("2026-11-20"))
    );
    let p = v.post(&href, &as_pairs(&died)).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "form .error").as_deref(),
        Some(message("ur", "field-error-version-conflict").as_str())
    );

    // Someone who may not change people is refused the form and its post.
    t.user("karim", &["case_worker"], &[]).await;
    let mut k = Visitor::new(&t);
    let csrf = k.sign_in("karim").await;
    assert_eq!(k.get(&href).await.status, StatusCode::FORBIDDEN);
    let p = k
        .post(
            &href,
            &[("csrf", &csrf), ("version", "9"), ("members[0].given_name.latin", "X")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert_eq!(person(&wife).await["given_name"]["latin"], "Shaziya");
}

#[tokio::test]
async fn a_household_changes_head_loses_and_gains_members_ends_and_comes_back_in_arabic() {
    let t = spawn().await;
    let mut three = household("3520212345671");
    three["members"].as_array_mut().unwrap().push(serde_json::json!({
        "given_name": {"latin": "Bilal"}, "sex": "male", "date_of_birth": "2012-01-05", "relationship": "child"
    }));
    let a = t.register(three).await;
    let mut other = household("3520212345672");
    other["members"].as_array_mut().unwrap().truncate(1);
    other["members"][0]["phone"] = serde_json::json!(null);
    let b = t.register(other).await;
    let (a_id, b_id) = (
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
    );
    let ids: Vec<String> = (0..3)
        .map(|i| a["members"][i]["id"].as_str().unwrap().to_owned())
        .collect();
    let (muhammad, shazia, bilal) = (&ids[0], &ids[1], &ids[2]);
    let household_of = async |p: &str| t.get(&format!("/api/v1/persons/{p}")).await.body["household_id"].clone();
    let names = message_names();
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ar").await;
    v.sign_in("admin").await;

    let profile = v.get(&format!("/households/{a_id}")).await.html();
    let href = href_at(&profile, "a#household-changes");
    assert_eq!(href, format!("/households/{a_id}/changes"));
    let p = v.get(&href).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let doc = p.html();
    check_page("household changes", "ar", &doc, &names);
    let fields = |doc: &Html, step: &str| form_fields(doc, &format!("#step-{step} form"));

    // A new head not chosen: named beside the field, in Arabic; nothing changes.
    let head_form = fields(&doc, "head");
    let p = v.post(&format!("{href}/head"), &as_pairs(&head_form)).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    let err = p.html();
    check_page("a refused change of head", "ar", &err, &names);
    assert_eq!(
        text_at(&err, "#head-person-error").as_deref(),
        Some(message("ar", "field-error-required").as_str())
    );
    assert!(
        text_at(&err, "#transfer-person-error").is_none(),
        "only the step sent shows errors"
    );
    // Shazia becomes head; Muhammad is her husband.
    let p = v
        .post(
            &format!("{href}/head"),
            &as_pairs(&with(
                &head_form,
                &[
                    ("person", shazia),
                    ("previous_head_relationship", "spouse"),
                    ("reason", "وفاة"),
                ],
            )),
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), format!("/households/{a_id}?done=head"));
    assert_eq!(
        text_at(&v.get(&p.location()).await.html(), "#notice").as_deref(),
        Some(message("ar", "notice-household-head").as_str())
    );
    let now = t.get(&format!("/api/v1/persons/{shazia}")).await.body;
    assert_eq!(now["relationship"], "head");

    // Bilal moves to the other household, named by its registration number
    // in Arabic-Indic digits; a number no household has is refused beside the field.
    let doc = v.get(&href).await.html();
    let number = b["registration_number"].as_str().unwrap();
    let arabic: String = number
        .chars()
        .map(|ch| match ch.to_digit(10) {
            Some(d) => char::from_u32(0x0660 + d).unwrap(),
            None => ch,
        })
        .collect();
    let transfer = fields(&doc, "transfer");
    let p = v
        .post(
            &format!("{href}/transfer"),
            &as_pairs(&with(
                &transfer,
                &[
                    ("person", bilal),
                    ("to_household", "XX-99999999"),
                    ("relationship", "grandchild"),
                ],
            )),
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "#transfer-to-error").as_deref(),
        Some(message("ar", "field-error-household-unknown").as_str())
    );
    assert_eq!(household_of(bilal).await, a_id.as_str());
    let p = v
        .post(
            &format!("{href}/transfer"),
            &as_pairs(&with(
                &transfer,
                &[
                    ("person", bilal),
                    ("to_household", &arabic),
                    ("relationship", "grandchild"),
                ],
            )),
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(household_of(bilal).await, b_id.as_str());

    // Splitting off everyone would empty the household: refused. Muhammad
    // leaves as head of a new household, Zainab with him, whose relationship
    // to him is chosen beside her.
    let r = t
        .post(
            &format!("/api/v1/households/{a_id}/members"),
            serde_json::json!({"person": {"given_name": {"latin": "Zainab"}, "sex": "female",
                "date_of_birth": "2025-02", "relationship": "grandchild"}, "reason": "birth"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let zainab = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["given_name"]["latin"] == "Zainab")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let doc = v.get(&href).await.html();
    let split = fields(&doc, "split");
    // A split needs its reason: refused beside the field without one.
    let mut no_reason = with(&split, &[("head", muhammad)]);
    no_reason.push(("members".into(), muhammad.clone()));
    let p = v.post(&format!("{href}/split"), &as_pairs(&no_reason)).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "#split-reason-error").as_deref(),
        Some(message("ar", "field-error-required").as_str())
    );
    let split = with(&split, &[("reason", "زواج")]);
    let mut everyone = with(&split, &[("head", muhammad)]);
    everyone.push(("members".into(), muhammad.clone()));
    everyone.push(("members".into(), shazia.clone()));
    everyone.push(("members".into(), zainab.clone()));
    let p = v.post(&format!("{href}/split"), &as_pairs(&everyone)).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "#split-members-error").as_deref(),
        Some(message("ar", "field-error-split-empties-household").as_str())
    );
    let relationship_of_zainab = format!("relationship-{zainab}");
    let mut unknown = with(&split, &[("head", muhammad), (&relationship_of_zainab, "king")]);
    unknown.push(("members".into(), muhammad.clone()));
    unknown.push(("members".into(), zainab.clone()));
    let p = v.post(&format!("{href}/split"), &as_pairs(&unknown)).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    let doc = p.html();
    check_page("a refused relationship in a split", "ar", &doc, &names);
    assert_eq!(
        text_at(&doc, &format!("select[name='{relationship_of_zainab}'] + span.error")).as_deref(),
        Some(message("ar", "field-error-not-allowed").as_str()),
        "beside her relationship"
    );
    assert_eq!(household_of(&zainab).await, a_id.as_str());
    let mut two = with(&split, &[("head", muhammad), (&relationship_of_zainab, "child")]);
    two.push(("members".into(), muhammad.clone()));
    two.push(("members".into(), zainab.clone()));
    let p = v.post(&format!("{href}/split"), &as_pairs(&two)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let new_household = household_of(muhammad).await;
    assert_ne!(new_household, a_id.as_str());
    assert_eq!(
        p.location(),
        format!("/households/{}?done=split", new_household.as_str().unwrap())
    );
    let him = t.get(&format!("/api/v1/persons/{muhammad}")).await.body;
    assert_eq!(him["relationship"], "head");
    let her = t.get(&format!("/api/v1/persons/{zainab}")).await.body;
    assert_eq!(
        (&her["household_id"], her["relationship"].as_str()),
        (&new_household, Some("child")),
        "{her:#}"
    );
    assert_eq!(
        t.get(&format!("/api/v1/persons/{shazia}")).await.body["household_id"],
        a_id.as_str(),
        "Shazia stays"
    );

    // The other household, Bilal in it, joins this one and ends.
    let doc = v.get(&href).await.html();
    let p = v
        .post(
            &format!("{href}/merge"),
            &as_pairs(&with(
                &fields(&doc, "merge"),
                &[("from", number), ("reason", "لمّ الشمل")],
            )),
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(household_of(bilal).await, a_id.as_str());
    assert_eq!(
        t.get(&format!("/api/v1/households/{b_id}")).await.body["status"],
        "inactive"
    );

    // Ending needs a reason; then only bringing it back is offered.
    let doc = v.get(&href).await.html();
    let status = fields(&doc, "status");
    let p = v.post(&format!("{href}/status"), &as_pairs(&status)).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "#status-reason-error").as_deref(),
        Some(message("ar", "field-error-required").as_str())
    );
    let p = v
        .post(
            &format!("{href}/status"),
            &as_pairs(&with(&status, &[("reason", "هاجرت الأسرة")])),
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(
        t.get(&format!("/api/v1/households/{a_id}")).await.body["status"],
        "inactive"
    );
    let doc = v.get(&href).await.html();
    check_page("an ended household's changes", "ar", &doc, &names);
    assert!(doc.select(&sel("#step-head")).next().is_none());
    assert_eq!(
        text_at(&doc, "#step-status-title").as_deref(),
        Some(message("ar", "step-reactivate").as_str())
    );
    // A stale form is refused, as the step's refusal.
    let p = v
        .post(
            &format!("{href}/status"),
            &as_pairs(&with(&status, &[("reason", "مرة أخرى")])),
        )
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    assert!(text_at(&p.html(), "#status-refused").is_some());
    let p = v
        .post(&format!("{href}/status"), &as_pairs(&fields(&doc, "status")))
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(
        t.get(&format!("/api/v1/households/{a_id}")).await.body["status"],
        "active"
    );

    // The history says who did each, with the reasons given.
    let history = t.get(&format!("/api/v1/households/{a_id}/history")).await.body;
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["change"].as_str())
        .collect();
    assert!(
        kinds.contains(&"inactivate") && kinds.contains(&"reactivate"),
        "{history:#}"
    );

    // A case worker may read the household but not change it.
    t.user("karim", &["case_worker"], &[]).await;
    let mut k = Visitor::new(&t);
    let csrf = k.sign_in("karim").await;
    assert_eq!(k.get(&href).await.status, StatusCode::FORBIDDEN);
    let p = k
        .post(
            &format!("{href}/status"),
            &[("csrf", &csrf), ("version", "99"), ("reason", "x")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert_eq!(
        t.get(&format!("/api/v1/households/{a_id}")).await.body["status"],
        "active"
    );
    assert!(
        v.get(&format!("/households/{a_id}"))
            .await
            .html()
            .select(&sel("a#household-changes"))
            .next()
            .is_some()
    );
}

#[tokio::test]
async fn unclaimed_payments_expire_from_the_cycle_page_in_arabic() {
    let t = spawn().await;
    let mut def = common::programme_json("pk-kafalat");
    def["payment_validity_days"] = serde_json::json!(30);
    let r = t
        .send(reqwest::Method::PUT, "/api/v1/programmes/pk-kafalat", Some(def), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    for i in 0..2 {
        let h = t.register(poor_household(&format!("3520212345{:02}1", 40 + i))).await;
        let wife = h["members"][1]["id"].as_str().unwrap().to_owned();
        let r = t
            .post(
                &format!("/api/v1/persons/{wife}/accounts"),
                serde_json::json!({"kind": "mobile_wallet", "provider": "jazzcash", "msisdn": format!("0300 12346{i:02}"), "verified": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    }
    let r = t
        .post("/api/v1/programmes/pk-kafalat/runs", serde_json::json!({"enrol": true}))
        .await;
    assert_eq!(r.body["enrolled"], 2, "{:#}", r.body);
    let cycle = a_computed_cycle(&t).await;
    let checker = t.user("checker", &["approver"], &[]).await;
    let r = t
        .post(&format!("/api/v1/cycles/{cycle}/submit"), serde_json::json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let r = t
        .send_as(
            &checker,
            reqwest::Method::POST,
            &format!("/api/v1/cycles/{cycle}/approve"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let names = message_names();
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ar").await;
    let csrf = v.sign_in("admin").await;
    let at = format!("/cycles/{cycle}/expire");

    // Before the files are issued there is no such step, and posting it is refused beside it.
    let page = v.get(&format!("/cycles/{cycle}")).await.html();
    assert!(page.select(&sel("form#expire")).next().is_none());
    let p = v.post(&at, &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "#step-error").as_deref(),
        Some(message("ar", "problem-cycle-not-issued").as_str()),
        "said above the steps, the form not being there"
    );
    let r = t
        .post(&format!("/api/v1/cycles/{cycle}/issue"), serde_json::json!({}))
        .await;
    assert_eq!(r.body["issued"], 2, "{:#}", r.body);

    let page = v.get(&format!("/cycles/{cycle}")).await.html();
    check_page("an issued cycle with a validity period", "ar", &page, &names);
    let hint = text_at(&page, "form#expire .hint").unwrap();
    assert!(hint.contains("٣٠"), "thirty days in Arabic digits: {hint}");
    // Within the period: nothing expires, and the page says when the first will.
    let p = v.post(&at, &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let doc = p.html();
    check_page("expiry within the period", "ar", &doc, &names);
    assert_eq!(
        text_at(&doc, "#expired h3").as_deref(),
        Some(message("ar", "expired-title").as_str())
    );
    let notice = text_at(&doc, "#expired").unwrap().replace(['\u{2068}', '\u{2069}'], "");
    assert!(notice.contains("انتهت صلاحية ٠ من المدفوعات"), "{notice}");
    assert!(notice.contains("لا تزال ٢ من المدفوعات"), "{notice}");

    let mut conn = t.raw().await;
    sqlx::query("UPDATE payment_batches SET created_at = '2020-01-01T00:00:00.000000Z' WHERE cycle_id = $1")
        .bind(&cycle)
        .execute(&mut conn)
        .await
        .unwrap();
    let p = v.post(&at, &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let doc = p.html();
    let notice = text_at(&doc, "#expired").unwrap().replace(['\u{2068}', '\u{2069}'], "");
    assert!(notice.contains("انتهت صلاحية ٢ من المدفوعات"), "{notice}");
    assert!(!notice.contains("لا تزال"), "none left: {notice}");
    let totals = t.get(&format!("/api/v1/cycles/{cycle}")).await.body["totals"].clone();
    assert_eq!(totals["expired"]["count"], 2, "{totals:#}");
    assert!(doc.select(&sel("#balanced.pass")).next().is_some());
}

#[tokio::test]
async fn a_grievance_is_recorded_from_the_household_page_settled_and_counted_in_urdu() {
    let t = spawn().await;
    let household = registry_with_a_household(&t).await;
    let names = message_names();
    let officer = "officer.multan";
    t.user(officer, &["district_officer"], &["PK-PB-MUL"]).await;
    let mut v = Visitor::new(&t);
    let _ = v.get("/sign-in?lang=ur").await;
    let csrf = v.sign_in(officer).await;
    let figure = async |v: &mut Visitor| text_at(&v.get("/").await.html(), "#figure-grievances");
    assert_eq!(figure(&mut v).await.as_deref(), Some("۰"));

    let page = v.get(&format!("/households/{household}")).await.html();
    let href = href_at(&page, "#household-grievance-new");
    let p = v.get(&href).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let doc = p.html();
    check_page("grievance form", "ur", &doc, &names);
    let registration = t.get(&format!("/api/v1/households/{household}")).await.body["registration_number"].clone();
    assert_eq!(
        text_at(&doc, "#grievance-household a").as_deref(),
        registration.as_str(),
        "the household by its registration number"
    );
    let p = v.get("/grievances/new?household=not-an-id").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);

    // Refused beside each field, in Urdu, and nothing recorded.
    let form = |description: &str, phone: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("household", household.clone()),
            ("category", "payment".to_owned()),
            ("channel", "in_person".to_owned()),
            ("complainant", "شازیہ بی بی".to_owned()),
            ("phone", phone.to_owned()),
            ("description", description.to_owned()),
        ]
    };
    let p = v.post("/grievances/new", &pairs(&form("", "۱۲"))).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    let doc = p.html();
    check_page("a refused grievance", "ur", &doc, &names);
    assert_eq!(
        text_at(&doc, "#description-error").as_deref(),
        Some(message("ur", "field-error-required").as_str())
    );
    assert_eq!(
        text_at(&doc, "#phone-error").as_deref(),
        Some(message("ur", "field-error-phone-invalid").as_str())
    );
    assert_eq!(
        doc.select(&sel("#complainant")).next().unwrap().value().attr("value"),
        Some("شازیہ بی بی"),
        "what was typed is kept"
    );
    assert_eq!(figure(&mut v).await.as_deref(), Some("۰"));

    let p = v
        .post(
            "/grievances/new",
            &pairs(&form("پچھلی سہ ماہی کی ادائیگی نہیں ملی", "۰۳۰۰۱۲۳۴۵۶۷")),
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let at = p.headers["location"].to_str().unwrap().to_owned();
    let doc = v.get(&at).await.html();
    check_page("a grievance", "ur", &doc, &names);
    assert_eq!(
        text_at(&doc, "#notice").as_deref(),
        Some(message("ur", "notice-grievance-recorded").as_str())
    );
    assert_eq!(
        text_at(&doc, "#grievance-status").as_deref(),
        Some(message("ur", "grievance-status-open").as_str())
    );
    assert_eq!(figure(&mut v).await.as_deref(), Some("۱"));
    let list = v.get("/grievances").await.html();
    check_page("grievances", "ur", &list, &names);
    assert_eq!(list.select(&sel("#grievances tbody tr")).count(), 1);

    // Settling needs a note; with one, the grievance is resolved and no longer counted.
    let action = at.split('?').next().unwrap().to_owned() + "/transitions";
    let p = v
        .post(&action, &[("csrf", &csrf), ("to", "resolved"), ("note", "")])
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "#note-error").as_deref(),
        Some(message("ur", "field-error-required").as_str())
    );
    let p = v
        .post(
            &action,
            &[
                ("csrf", &csrf),
                ("to", "resolved"),
                ("note", "ادائیگی دوبارہ بھیج دی گئی"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let doc = v.get(&at.replace("recorded", "moved")).await.html();
    assert_eq!(
        text_at(&doc, "#grievance-status").as_deref(),
        Some(message("ur", "grievance-status-resolved").as_str())
    );
    assert_eq!(
        text_at(&doc, "#grievance-resolution").as_deref(),
        Some("ادائیگی دوبارہ بھیج دی گئی")
    );
    assert!(
        doc.select(&sel("#move-open")).next().is_some(),
        "a settled grievance can be opened again"
    );
    assert!(doc.select(&sel("#move-dismissed")).next().is_none());
    // A step the table does not allow, sent anyway, is refused beside the form.
    let p = v
        .post(&action, &[("csrf", &csrf), ("to", "dismissed"), ("note", "x")])
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    assert_eq!(
        text_at(&p.html(), "#grievance-refused").as_deref(),
        Some(message("ur", "problem-grievance-move-not-allowed").as_str())
    );
    assert_eq!(figure(&mut v).await.as_deref(), Some("۰"));
}
