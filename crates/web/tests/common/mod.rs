//! A real server on 127.0.0.1:0 over a fresh database per test: a SQLite file,
//! or a new PostgreSQL database when HIMAYA_TEST_POSTGRES_URL names a server.

#![allow(dead_code)]

use std::path::PathBuf;

use himaya_app::{Actor, App, NewUser};
use himaya_domain::Country;
use himaya_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct TestApp {
    pub base: String,
    /// Sends the administrator's token with every request.
    pub client: reqwest::Client,
    /// Sends no credentials but those a test gives.
    pub bare: reqwest::Client,
    pub app: App,
    /// The administrator's bearer token, sent with every request unless a
    /// test sends its own credentials.
    pub token: String,
    /// The database URL, for tests that reach behind the application.
    pub url: String,
    file: Option<PathBuf>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
            }
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub location: Option<String>,
    pub content_type: String,
    pub body: Value,
}

impl Reply {
    /// The problem's field errors as `field=code`.
    pub fn field_errors(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        format!(
                            "{}={}",
                            e["field"].as_str().unwrap_or(""),
                            e["code"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub async fn spawn() -> TestApp {
    spawn_for(Country::Pk).await
}

pub async fn spawn_for(country: Country) -> TestApp {
    let t = spawn_idle(country).await;
    t.app.start_match_jobs();
    t
}

/// A server that runs no match jobs: a job submitted to it stays queued, as
/// on a server that stopped before taking it.
pub async fn spawn_idle(country: Country) -> TestApp {
    let (url, file) = match std::env::var("HIMAYA_TEST_POSTGRES_URL") {
        Ok(admin) => (
            himaya_store::testing::fresh_postgres_database(&admin)
                .await
                .expect("create test database"),
            None,
        ),
        Err(_) => {
            let f = std::env::temp_dir().join(format!("himaya-test-{}.db", uuid::Uuid::now_v7()));
            (format!("sqlite://{}", f.display()), Some(f))
        }
    };
    let (app, base) = serve(&url, country).await;
    let mut t = TestApp {
        base,
        client: reqwest::Client::new(),
        bare: reqwest::Client::new(),
        app,
        token: String::new(),
        url,
        file,
    };
    t.token = t.user("admin", &["administrator"], &[]).await;
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", t.token).parse().unwrap(),
    );
    t.client = reqwest::Client::builder().default_headers(auth).build().unwrap();
    t
}

/// An app over the database at `url`, served on a fresh port.
async fn serve(url: &str, country: Country) -> (App, String) {
    let deployment = himaya_app::demo::deployment(country).unwrap();
    let store = Store::connect(url).await.expect("open store");
    let app = App::open(store, deployment).await.expect("open app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = himaya_web::router(app.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    (app, base)
}

/// The password every test account gets.
pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// 150 synthetic households, 5 % of whose people are registered twice
    /// (the deduplication tests' population).
    pub async fn register_population_with_duplicates(&self) {
        let population = himaya_app::demo::households_with_duplicates(self.app.deployment(), 7, 150, 0.05).unwrap();
        self.app
            .register_households(&Actor::system("test"), population)
            .await
            .map_err(|(i, e)| format!("household {i}: {e}"))
            .unwrap();
    }

    /// A second server over the same database, running match jobs, as after
    /// a restart: the first one's tokens still work. The database stays
    /// until the first one is dropped.
    pub async fn restart(&self, country: Country) -> TestApp {
        let (app, base) = serve(&self.url, country).await;
        app.start_match_jobs();
        TestApp {
            base,
            client: self.client.clone(),
            bare: self.bare.clone(),
            app,
            token: self.token.clone(),
            url: self.url.clone(),
            file: None,
        }
    }

    /// Creates an account and returns a personal bearer token for it.
    pub async fn user(&self, username: &str, roles: &[&str], areas: &[&str]) -> String {
        let operator = Actor::system("test");
        self.app
            .add_user(
                &operator,
                NewUser {
                    username: username.into(),
                    roles: roles.iter().map(|r| r.to_string()).collect(),
                    areas: areas.iter().map(|a| a.to_string()).collect(),
                    password: Some(PASSWORD.into()),
                },
            )
            .await
            .expect("add user");
        self.app
            .create_user_token(&operator, username, 1)
            .await
            .expect("create token")
            .secret
    }

    /// A connection of its own to the test's database, to set a row as
    /// time would have left it (a lock run out, a file sent weeks ago).
    pub async fn raw(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.url).await.unwrap()
    }

    /// Sends a request with the given token instead of the administrator's.
    pub async fn send_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let auth = format!("Bearer {token}");
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        self.send(method, path, body, &all).await
    }
}

impl TestApp {
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
        let own_credentials = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("cookie"));
        let client = if own_credentials { &self.bare } else { &self.client };
        let mut req = client.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let header = |n: &str| res.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let etag = header("etag");
        let location = header("location");
        let content_type = header("content-type").unwrap_or_default();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            etag,
            location,
            content_type,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn post_if(&self, path: &str, version: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body), &[("if-match", version)])
            .await
    }

    pub async fn patch(&self, path: &str, version: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body), &[("if-match", version)])
            .await
    }

    /// Registers a household and returns its body, asserting success.
    pub async fn register(&self, body: Value) -> Value {
        let r = self.post("/api/v1/households", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
        r.body
    }

    /// Saves one of the example programmes (`programme_json`), asserting success.
    pub async fn save_programme(&self, code: &str) {
        let path = format!("/api/v1/programmes/{code}");
        let r = self.send(Method::PUT, &path, Some(programme_json(code)), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    }

    /// How many households and people exist, to show a refusal changed nothing.
    pub async fn counts(&self) -> (usize, usize) {
        let h = self.get("/api/v1/households?limit=500").await.body["items"]
            .as_array()
            .unwrap()
            .len();
        let p = self.get("/api/v1/persons?limit=500").await.body["items"]
            .as_array()
            .unwrap()
            .len();
        (h, p)
    }
}

/// A valid Pakistani household: a head with a CNIC and his wife.
pub fn household(cnic: &str) -> Value {
    json!({
        "household": {
            "area": "PK-PB-MUL-SDR",
            "address": "House 12, Street 4",
            "location": {"latitude": 30.19, "longitude": 71.47},
            "attributes": {"rooms": 2, "urban_rural": "urban", "has_electricity": true}
        },
        "members": [
            {
                "given_name": {"native": "محمد", "latin": "Muhammad"},
                "family_name": {"native": "اسلم", "latin": "Aslam"},
                "father_name": {"latin": "Rashid"},
                "sex": "male",
                "date_of_birth": "1980-03-14",
                "relationship": "head",
                "marital_status": "married",
                "phone": "0300 1234567",
                "identifiers": [{"type": "pk_cnic", "value": cnic}]
            },
            {
                "given_name": {"native": "شازیہ", "latin": "Shazia"},
                "family_name": {"latin": "Bibi"},
                "sex": "female",
                "date_of_birth": "1985",
                "birth_date_estimated": true,
                "relationship": "spouse",
                "marital_status": "married"
            }
        ],
        "source": "field_survey"
    })
}

/// A shipped example programme as the JSON body the API takes.
#[allow(dead_code)]
pub fn programme_json(code: &str) -> Value {
    let country = himaya_domain::Country::from_code(&code[..2]).unwrap();
    let (_, text) = himaya_app::demo::programme_texts(country)
        .iter()
        .find(|(c, _)| *c == code)
        .unwrap();
    serde_json::to_value(himaya_domain::programme::ProgrammeDef::from_toml(text).unwrap()).unwrap()
}
