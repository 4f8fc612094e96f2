//! The real `himaya` binary: help, configuration checks, the demo and the
//! server on PostgreSQL when HIMAYA_TEST_POSTGRES_URL names a server.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_himaya");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("HIMAYA_DATABASE_URL")
        .output()
        .expect("run himaya")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn config_path(country: &str) -> String {
    format!("{}/../../config/{country}.toml", env!("CARGO_MANIFEST_DIR"))
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("himaya-cli-{}-{name}", uuid::Uuid::now_v7()))
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    base: String,
    banner: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `himaya ARGS` and waits for the line that gives its URL.
fn start(args: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("HIMAYA_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start himaya");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push(line.clone());
        if base.is_none()
            && let Some(at) = line.find("http://")
        {
            base = Some(
                line[at..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_end_matches('/')
                    .to_owned(),
            );
        }
        if let (Some(base), true) = (&base, line.starts_with("Press Ctrl-C")) {
            // Keep draining stdout: a closed pipe would fail the server's next print.
            std::thread::spawn(move || lines.for_each(drop));
            return Server {
                child,
                base: base.clone(),
                banner,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("himaya exited before serving: {banner:?}");
}

#[test]
fn help_explains_every_command() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in [
        "serve",
        "demo",
        "migrate",
        "check-config",
        "bench",
        "user",
        "token",
        "agency",
        "audit",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from --help:\n{help}");
    }
    let out = run(&["demo", "--help"]);
    assert!(text(&out.stdout).contains("--country"));
}

#[test]
fn shipped_configurations_are_valid() {
    for country in ["pk", "bd", "jo", "ps"] {
        let out = run(&["check-config", "--config", &config_path(country)]);
        assert!(out.status.success(), "{country}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("is valid"));
    }
}

#[test]
fn a_bad_configuration_is_refused_with_its_key() {
    let file = temp("bad.toml");
    let good = std::fs::read_to_string(config_path("pk")).unwrap();
    std::fs::write(&file, good.replacen("currency = \"PKR\"", "currency = \"rupees\"", 1)).unwrap();
    let out = run(&["check-config", "--config", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("`currency`"), "{}", text(&out.stderr));

    std::fs::write(
        &file,
        format!(
            "{good}\n[[areas]]\ncode = \"X\"\nparent = \"NOWHERE\"\nlevel = \"village\"\nname = {{ en = \"X\" }}\n"
        ),
    )
    .unwrap();
    let out = run(&[
        "serve",
        "--config",
        file.to_str().unwrap(),
        "--db",
        temp("never.db").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(".parent`") && err.contains("NOWHERE"), "{err}");

    std::fs::write(&file, "country = \"pk\"\ncurrency = 12\n").unwrap();
    let out = run(&["check-config", "--config", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("currency"), "{}", text(&out.stderr));
    let out = run(&["check-config", "--config", "/nonexistent/himaya.toml"]);
    assert!(text(&out.stderr).contains("cannot read"));
    let _ = std::fs::remove_file(&file);
}

#[test]
fn areas_may_come_from_a_csv_file_beside_the_configuration() {
    let dir = temp("areas-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let config = "areas_file = \"areas.csv\"\ncountry = \"jo\"\ncurrency = \"JOD\"\nlanguages = [\"en\", \"ar\"]\nidentifier_types = [\"jo_national_number\"]\n";
    std::fs::write(dir.join("jo.toml"), config).unwrap();
    std::fs::write(dir.join("areas.csv"), "code,parent,level,name_en,name_ar\nJO-AM,,governorate,Amman,عمان\nJO-AM-QAS,JO-AM,district,Qasabat Amman,قصبة عمان\n").unwrap();
    let out = run(&["check-config", "--config", dir.join("jo.toml").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("2 areas"), "{}", text(&out.stdout));
    std::fs::write(
        dir.join("areas.csv"),
        "code,parent,level,name_en\nJO-AM,JO-XX,governorate,Amman\n",
    )
    .unwrap();
    let out = run(&["check-config", "--config", dir.join("jo.toml").to_str().unwrap()]);
    assert!(
        text(&out.stderr).contains("areas.csv line 2.parent"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_file(dir.join("areas.csv")).unwrap();
    let out = run(&["check-config", "--config", dir.join("jo.toml").to_str().unwrap()]);
    assert!(
        text(&out.stderr).contains("`areas_file`: cannot read areas.csv"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_are_refused() {
    let out = run(&["demo", "--country", "fr"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown country"));
    let out = run(&["migrate", "--db", "a.db", "--database-url", "sqlite://b.db"]);
    assert!(!out.status.success());
    let out = run(&["migrate", "--database-url", "mysql://x"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("neither sqlite:// nor postgres://"));
    let out = run(&["migrate", "--db", "sqlite://registry.db"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--database-url"), "{}", text(&out.stderr));

    // Working on a registry that is not there creates none.
    let missing = temp("missing.db");
    let db = missing.to_str().unwrap();
    let out_dir = temp("export");
    let out_dir = out_dir.to_str().unwrap();
    for command in [
        &["audit", "verify"][..],
        &["dedup", "run"],
        &["target", "run", "--programme", "pk-kafalat", "--dry-run"],
        &["export", "--out", out_dir],
        &["cycle", "show", "--cycle", "c-1", "--user", "amina"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--config", "demo:pk", "--db", db]);
        let out = run(&args);
        assert!(!out.status.success(), "{command:?}");
        assert!(
            text(&out.stderr).contains("there is no registry at"),
            "{command:?}: {}",
            text(&out.stderr)
        );
        assert!(!missing.exists(), "{command:?} created {db}");
    }

    // A registry made with one country's configuration is not opened with
    // another's, whose areas it would otherwise take in for good.
    let dir = temp("wrong-config");
    std::fs::create_dir_all(&dir).unwrap();
    let (h, p) = (dir.join("households.csv"), dir.join("persons.csv"));
    std::fs::write(&h, "household_key,area\nA,PK-PB-MUL-SDR\n").unwrap();
    std::fs::write(
        &p,
        "person_key,household_key,relationship,given_name_latin,sex,date_of_birth\nA1,A,head,Ali,male,1980\n",
    )
    .unwrap();
    let registry = dir.join("reg.db");
    let registry = registry.to_str().unwrap();
    let out = run(&[
        "import",
        "--households",
        h.to_str().unwrap(),
        "--persons",
        p.to_str().unwrap(),
        "--config",
        "demo:pk",
        "--db",
        registry,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["dedup", "run", "--config", "demo:bd", "--db", registry]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("are none of this configuration's"),
        "{}",
        text(&out.stderr)
    );
    // Its own configuration opens it (and the run finds too few people).
    let out = run(&["dedup", "run", "--config", "demo:pk", "--db", registry]);
    assert!(
        text(&out.stderr).contains("a run needs at least two"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn demo_serves_its_population_and_reuses_its_file() {
    let db = temp("demo.db");
    let db_arg = db.to_str().unwrap().to_owned();
    let server = start(&[
        "demo",
        "--db",
        &db_arg,
        "--listen",
        "127.0.0.1:0",
        "--households",
        "25",
        "--country",
        "bd",
    ]);
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("Registered 25 demo households")),
        "{:?}",
        server.banner
    );
    // The country's programmes are loaded and run.
    for code in ["bd-old-age:", "bd-widow:", "bd-disability:"] {
        assert!(server.banner.iter().any(|l| l.starts_with(code)), "{:?}", server.banner);
    }
    // A first deduplication run, so that registration warns of duplicates at once.
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.starts_with("Deduplication: ") && l.contains("people compared")),
        "{:?}",
        server.banner
    );
    let health: serde_json::Value = reqwest::get(format!("{}/health", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["database"], "reachable");
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("administrator account \"admin\" with the one-time password")),
        "{:?}",
        server.banner
    );
    let unauthenticated = reqwest::get(format!("{}/api/v1/households", server.base))
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let token = server
        .banner
        .iter()
        .find_map(|l| l.split("Bearer ").nth(1))
        .and_then(|rest| rest.split('\'').next())
        .expect("the examples carry a token")
        .to_owned();
    let page: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/households?limit=100", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 25);
    assert!(
        page["items"][0]["registration_number"]
            .as_str()
            .unwrap()
            .starts_with("BD-")
    );
    // The example that explains a household's score works as printed.
    let score_url = server
        .banner
        .iter()
        .find_map(|l| l.split('\'').find(|part| part.ends_with("/score")))
        .expect("a score example")
        .replace("{base}", &server.base);
    let score: serde_json::Value = reqwest::Client::new()
        .get(score_url.replace("http://127.0.0.1:0", &server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(score["model_version"].as_str().unwrap().starts_with("bd-"), "{score:#}");
    // So does the dry run of the country's first programme.
    let runs_url = server
        .banner
        .iter()
        .find_map(|l| l.split('\'').find(|part| part.ends_with("/runs")))
        .expect("a dry-run example")
        .replace("{base}", &server.base);
    let dry: serde_json::Value = reqwest::Client::new()
        .post(runs_url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"dry_run": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dry["programme"], "bd-old-age", "{dry:#}");
    assert_eq!(dry["households"], 25, "{dry:#}");
    drop(server);

    let again = start(&["demo", "--db", &db_arg, "--listen", "127.0.0.1:0", "--country", "bd"]);
    assert!(again.banner.iter().any(|l| l.contains("Reusing")), "{:?}", again.banner);
    assert!(
        !again.banner.iter().any(|l| l.contains("one-time password")),
        "the administrator is created once: {:?}",
        again.banner
    );
    drop(again);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db_arg}{suffix}"));
    }
}

#[tokio::test]
async fn migrate_and_serve_on_the_configured_database() {
    let (url, file) = match std::env::var("HIMAYA_TEST_POSTGRES_URL") {
        Ok(admin) => (
            himaya_store::testing::fresh_postgres_database(&admin).await.unwrap(),
            None,
        ),
        Err(_) => {
            let f = temp("serve.db");
            (format!("sqlite://{}", f.display()), Some(f))
        }
    };
    let out = run(&["migrate", "--database-url", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("up to date"));
    let config = config_path("jo");
    let target = ["--config", config.as_str(), "--database-url", url.as_str()];

    // No administrator: serve refuses and says how to create one.
    let out = run(&[&["serve", "--listen", "127.0.0.1:0"][..], &target].concat());
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("himaya user add"), "{}", text(&out.stderr));

    let mut add = Command::new(BIN)
        .args(
            [
                &[
                    "user",
                    "add",
                    "--username",
                    "Nadia",
                    "--role",
                    "administrator",
                    "--password-stdin",
                ][..],
                &target,
            ]
            .concat(),
        )
        .env_remove("HIMAYA_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    add.stdin
        .take()
        .unwrap()
        .write_all(b"a long enough passphrase\n")
        .unwrap();
    let out = add.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Created nadia (administrator) for the whole country"),
        "{}",
        text(&out.stdout)
    );
    assert!(!text(&out.stdout).contains("One-time password"));

    // Bad input is refused with the flag at fault, and changes nothing.
    let out = run(&[
        &["user", "add", "--username", "omar", "--role", "district_officer"][..],
        &target,
    ]
    .concat());
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("area"), "{}", text(&out.stderr));
    let out = run(&[
        &["user", "add", "--username", "omar", "--role", "king", "--area", "JO-AM"][..],
        &target,
    ]
    .concat());
    assert!(
        text(&out.stderr).contains("--role: \"king\" is not one of"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        &[
            "user",
            "add",
            "--username",
            "omar",
            "--role",
            "registrar",
            "--area",
            "JO-XX",
        ][..],
        &target,
    ]
    .concat());
    assert!(
        text(&out.stderr).contains("\"JO-XX\" is not an area"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[&["user", "list"][..], &target].concat());
    assert!(!text(&out.stdout).contains("omar"), "{}", text(&out.stdout));

    let out = run(&[
        &[
            "user",
            "add",
            "--username",
            "omar",
            "--role",
            "registrar",
            "--area",
            "JO-AM",
        ][..],
        &target,
    ]
    .concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("One-time password: "),
        "{}",
        text(&out.stdout)
    );
    let out = run(&[
        &["token", "create", "--user", "omar", "--expires-days", "2"][..],
        &target,
    ]
    .concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    assert!(token.starts_with("hmy_"), "{token}");
    let out = run(&[&["token", "list", "--user", "omar"][..], &target].concat());
    let listed = text(&out.stdout);
    assert!(
        listed.lines().count() == 2 && listed.contains("omar") && listed.contains("live"),
        "{listed}"
    );
    assert!(!listed.contains(&token), "secrets are never listed");
    let out = run(&[
        &["token", "create", "--user", "nadia", "--expires-days", "0"][..],
        &target,
    ]
    .concat());
    assert!(!out.status.success());

    let server = start(&[
        "serve",
        "--config",
        &config_path("jo"),
        "--database-url",
        &url,
        "--listen",
        "127.0.0.1:0",
    ]);
    let areas: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/areas", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(areas["items"].as_array().unwrap().iter().any(|a| a["code"] == "JO-AM"));

    // Disabling the account from another process stops its token within
    // the server's credential cache time (5 s).
    // The last administrator stays.
    let out = run(&[&["user", "disable", "--username", "nadia"][..], &target].concat());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("last enabled administrator"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[&["user", "disable", "--username", "omar"][..], &target].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let disabled_at = std::time::Instant::now();
    loop {
        let status = reqwest::Client::new()
            .get(format!("{}/api/v1/areas", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        if status == 401 {
            break;
        }
        assert!(disabled_at.elapsed().as_secs() < 8, "the token still works after 8 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    drop(server);

    // An agency registered, its settings changed, withdrawn and given its access back.
    let agency = |args: &[&str]| run(&[&["agency"][..], args, &target].concat());
    let out = agency(&[
        "add",
        "--name",
        "nraf",
        "--scope",
        "persons.read",
        "--field",
        "person.given_name",
        "--area",
        "JO-AM",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = text(&out.stdout).trim().to_owned();
    let out = agency(&["update", "--name", "nraf", "--rate-limit", "0"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--rate-limit: give 1 to 100000"),
        "{}",
        text(&out.stderr)
    );
    let out = agency(&["update", "--name", "nobody"]);
    assert!(
        text(&out.stderr).contains("no agency \"nobody\""),
        "{}",
        text(&out.stderr)
    );
    let out = agency(&[
        "update",
        "--name",
        "nraf",
        "--scope",
        "areas.read",
        "--whole-country",
        "--rate-limit",
        "60",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&agency(&["list"]).stdout);
    let row = listed.lines().find(|l| l.starts_with("nraf\t")).unwrap_or_default();
    assert!(
        row.contains("\tareas.read\tperson.given_name\t") && row.contains("\t60\tactive"),
        "the fields kept, the rest changed: {listed}"
    );
    let out = agency(&["restore", "--name", "nraf"]);
    assert!(text(&out.stderr).contains("has its access"), "{}", text(&out.stderr));
    assert!(agency(&["disable", "--name", "nraf"]).status.success());
    let out = agency(&["restore", "--name", "nraf", "--expires-days", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = text(&out.stdout).trim().to_owned();
    assert!(again.starts_with("hmy_") && again != first, "{again}");
    assert!(text(&agency(&["list"]).stdout).contains("\t60\tactive"));

    let out = run(&[&["audit", "verify"][..], &target].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("intact"), "{}", text(&out.stdout));

    // Someone with the database's password edits an entry behind Himaya's back.
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        let guard = if url.starts_with("postgres") {
            "DROP TRIGGER audit_log_no_change ON audit_log"
        } else {
            "DROP TRIGGER audit_log_no_update"
        };
        sqlx::query(guard).execute(&mut conn).await.unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'nobody' WHERE seq = 2")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let out = run(&[&["audit", "verify"][..], &target].concat());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("broken at entry 2") && text(&out.stderr).contains("edited"),
        "{}",
        text(&out.stderr)
    );
    if let Some(f) = file {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
        }
    }
}

#[test]
fn synth_writes_a_deterministic_population_and_its_truth() {
    let dir = temp("synth");
    let out = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let args = |seed: &str, to: &str, format: &str| {
        run(&[
            "synth",
            "--country",
            "ps",
            "--households",
            "500",
            "--seed",
            seed,
            "--duplicates",
            "0.1",
            "--out",
            to,
            "--format",
            format,
        ])
    };
    let first = args("9", &out("a"), "csv");
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains("Wrote "), "{}", text(&first.stdout));
    assert!(args("9", &out("b"), "csv").status.success());
    assert!(args("10", &out("c"), "csv").status.success());
    let read = |d: &str, f: &str| std::fs::read_to_string(dir.join(d).join(f)).unwrap();
    assert_eq!(
        read("a", "persons.csv"),
        read("b", "persons.csv"),
        "same seed, same population"
    );
    assert_ne!(read("a", "persons.csv"), read("c", "persons.csv"));

    let persons = read("a", "persons.csv");
    let truth = read("a", "truth.csv");
    assert_eq!(persons.lines().count(), truth.lines().count());
    assert!(persons.starts_with("person_key,household_key,relationship,given_name,"));
    let duplicates = truth
        .lines()
        .skip(1)
        .filter(|l| l.split_once(',').is_some_and(|(k, t)| k != t))
        .count();
    assert!(duplicates > 100, "{duplicates} duplicates");
    let households = read("a", "households.csv");
    assert!(households.starts_with("household_key,area,address,latitude,longitude,"));
    assert!(households.contains("PS-"), "real area codes");

    assert!(args("9", &out("j"), "jsonl").status.success());
    for line in read("j", "persons.jsonl").lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["person_key"].is_string() && v["given_name"].is_object(), "{line}");
    }
    assert!(
        read("j", "truth.csv") == truth,
        "the same population whatever the format"
    );

    for bad in [
        &[
            "synth",
            "--country",
            "ps",
            "--households",
            "10",
            "--duplicates",
            "1.5",
            "--out",
            "x",
        ][..],
        &["synth", "--country", "ps", "--households", "0", "--out", "x"],
        &[
            "synth",
            "--country",
            "ps",
            "--households",
            "10",
            "--format",
            "xml",
            "--out",
            "x",
        ],
    ] {
        let r = run(bad);
        assert!(!r.status.success(), "{bad:?}");
        assert!(!text(&r.stderr).is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The count each query gives in the SQLite registry `db`, or why it could not be read.
async fn try_counts(db: &std::path::Path, queries: &[&'static str]) -> Result<Vec<i64>, sqlx::Error> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}", db.display())).await?;
    let mut out = Vec::new();
    for sql in queries {
        out.push(sqlx::query(*sql).fetch_one(&mut conn).await?.try_get::<i64, _>(0)?);
    }
    conn.close().await?;
    Ok(out)
}

async fn registry_counts(db: &std::path::Path) -> (i64, i64, i64) {
    let out = counts(
        db,
        &[
            "SELECT COUNT(*) FROM households",
            "SELECT COUNT(*) FROM persons",
            "SELECT COUNT(*) FROM person_versions",
        ],
    )
    .await;
    (out[0], out[1], out[2])
}

/// Households in a registry an import may still be creating: none while
/// the file or its tables are not there yet.
async fn households_written(db: &std::path::Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    try_counts(db, &["SELECT COUNT(*) FROM households"])
        .await
        .map_or(0, |n| n[0])
}

#[tokio::test]
async fn import_accounts_for_every_row_runs_again_unchanged_and_survives_a_kill() {
    let dir = temp("import");
    let data = dir.join("data");
    let generated = run(&[
        "synth",
        "--country",
        "pk",
        "--households",
        "1500",
        "--seed",
        "5",
        "--duplicates",
        "0.05",
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let households = data.join("households.csv");
    let persons = data.join("persons.csv");
    let import = |db: &std::path::Path, rejects: &std::path::Path, batch: &str| {
        vec![
            "import".to_owned(),
            "--households".into(),
            households.to_str().unwrap().into(),
            "--persons".into(),
            persons.to_str().unwrap().into(),
            "--rejects".into(),
            rejects.to_str().unwrap().into(),
            "--batch".into(),
            batch.into(),
            "--config".into(),
            "demo:pk".into(),
            "--db".into(),
            db.to_str().unwrap().into(),
        ]
    };
    fn args(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    // An uninterrupted import: every row is imported or in the rejects file.
    let whole = dir.join("whole.db");
    let out = run(&args(&import(&whole, &dir.join("r1.csv"), "100")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    let number = |label: &str| -> u64 {
        let at = summary.find(label).unwrap_or_else(|| panic!("{label} in {summary}"));
        summary[..at]
            .split_whitespace()
            .last()
            .unwrap()
            .trim_matches('(')
            .parse()
            .unwrap()
    };
    let (imported_p, refused_p) = (number(" people),"), number(" people rows"));
    let persons_rows = std::fs::read_to_string(&persons).unwrap().lines().count() as u64 - 1;
    assert_eq!(imported_p + refused_p, persons_rows, "{summary}");
    let rejects = std::fs::read_to_string(dir.join("r1.csv")).unwrap();
    assert!(rejects.starts_with("file,row,key,field,code,reason"));
    assert!(
        rejects.contains("identifier-taken"),
        "exact-identifier duplicates are caught at intake"
    );
    let counts = registry_counts(&whole).await;
    assert_eq!(counts.1 as u64, imported_p);

    // Again: nothing changes.
    let out = run(&args(&import(&whole, &dir.join("r2.csv"), "100")));
    assert!(
        text(&out.stdout).contains("imported 0 households (0 people)"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(registry_counts(&whole).await, counts);

    // Killed part-way and run again: the same registry.
    let killed = dir.join("killed.db");
    let mut child = Command::new(BIN)
        .args(args(&import(&killed, &dir.join("r3.csv"), "20")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once its first batches are in: a fixed delay killed it before
    // it had made its tables, on a machine busy with other tests.
    let started = std::time::Instant::now();
    while households_written(&killed).await == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the import wrote nothing in a minute"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = registry_counts(&killed).await;
    assert!(
        partial.1 < counts.1,
        "the kill came too late to test anything: {partial:?}"
    );
    let out = run(&args(&import(&killed, &dir.join("r3.csv"), "20")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(registry_counts(&killed).await, counts);
    let _ = std::fs::remove_dir_all(&dir);
}

/// PostgreSQL loads through COPY, SQLite through prepared statements: the
/// same files make the same registry on both (run by the PostgreSQL pass).
#[tokio::test]
async fn import_makes_the_same_registry_on_postgres_as_on_sqlite() {
    let Ok(admin) = std::env::var("HIMAYA_TEST_POSTGRES_URL") else {
        return;
    };
    let pg = himaya_store::testing::fresh_postgres_database(&admin).await.unwrap();
    let dir = temp("import-pg");
    let d = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let ok = |out: Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    ok(run(&[
        "synth",
        "--country",
        "ps",
        "--households",
        "400",
        "--seed",
        "3",
        "--duplicates",
        "0.05",
        "--out",
        &d("data"),
    ]));
    // Characters COPY's text format gives meaning to, in a stored value.
    let households = std::fs::read_to_string(d("data/households.csv")).unwrap();
    let mut lines: Vec<String> = households.lines().map(str::to_owned).collect();
    // The address is the row's first quoted cell (it holds a comma).
    let start = lines[1].find(",\"").unwrap() + 1;
    let end = start + 1 + lines[1][start + 1..].find('"').unwrap();
    lines[1].replace_range(start..=end, r#""Block 7\\B, Street\N 12""#);
    std::fs::write(d("data/households.csv"), lines.join("\n") + "\n").unwrap();
    let import = |url: &str, rejects: &str| {
        let summary = ok(run(&[
            "import",
            "--households",
            &d("data/households.csv"),
            "--persons",
            &d("data/persons.csv"),
            "--rejects",
            &d(rejects),
            "--batch",
            "50",
            "--config",
            "demo:ps",
            "--database-url",
            url,
        ]));
        // The counts, without the timing and the rejects file's name.
        summary
            .split_once(": imported")
            .unwrap()
            .1
            .split(" lines in")
            .next()
            .unwrap()
            .to_owned()
    };
    let sqlite = format!("sqlite://{}", d("r.db"));
    let on_sqlite = import(&sqlite, "r1.csv");
    let on_postgres = import(&pg, "r2.csv");
    assert_eq!(on_sqlite, on_postgres);
    assert_eq!(
        std::fs::read_to_string(d("r1.csv")).unwrap(),
        std::fs::read_to_string(d("r2.csv")).unwrap()
    );
    // Again on PostgreSQL: nothing new.
    let again = import(&pg, "r3.csv");
    assert!(again.contains(" 0 households (0 people)"), "{again}");
    for (url, out) in [(&sqlite, "e-sqlite"), (&pg, "e-postgres")] {
        ok(run(&[
            "export",
            "--out",
            &d(out),
            "--config",
            "demo:ps",
            "--database-url",
            url,
        ]));
    }
    let read = |x: &str, file: &str| std::fs::read_to_string(format!("{}/{file}.csv", d(x))).unwrap();
    let exported = read("e-postgres", "households");
    assert_eq!(read("e-sqlite", "households"), exported);
    assert!(exported.contains(r#"Block 7\\B, Street\N 12"#), "{exported}");
    // People get new ids in each registry; the rest is the same.
    let without_ids = |x: &str| -> Vec<String> {
        read(x, "persons")
            .lines()
            .map(|l| l.split_once(',').map_or(l, |(_, rest)| rest).to_owned())
            .collect()
    };
    assert_eq!(without_ids("e-sqlite"), without_ids("e-postgres"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn import_refuses_bad_files_before_writing_and_bad_rows_into_the_rejects() {
    let dir = temp("import-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("reg.db");
    let h = dir.join("households.csv");
    let p = dir.join("persons.csv");
    let rejects = dir.join("rejects.csv");
    let import = || {
        run(&[
            "import",
            "--households",
            h.to_str().unwrap(),
            "--persons",
            p.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
            "--config",
            "demo:pk",
            "--db",
            db.to_str().unwrap(),
        ])
    };
    // A missing required column: refused before any row.
    std::fs::write(&h, "household_key,address\nA,x\n").unwrap();
    std::fs::write(&p, "person_key,household_key\n").unwrap();
    let out = import();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("required column \"area\""),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&h, "household_key,area,colour\nA,PK-PB-MUL-SDR,blue\n").unwrap();
    assert!(text(&import().stderr).contains("unknown column \"colour\""));
    std::fs::write(&h, "household_key,area,area\nA,PK-PB-MUL-SDR,PK-PB\n").unwrap();
    assert!(
        text(&import().stderr).contains("the column \"area\" appears twice (columns 2 and 3)"),
        "{}",
        text(&import().stderr)
    );
    std::fs::write(&h, "").unwrap();
    assert!(
        text(&import().stderr).contains("the file is empty"),
        "{}",
        text(&import().stderr)
    );
    std::fs::remove_file(&h).unwrap();
    assert!(text(&import().stderr).contains("cannot read"));
    // None of these refusals made a registry.
    assert!(!db.exists());

    // Bad rows: each lands in the rejects with its row number.
    std::fs::write(
        &h,
        "household_key,area,address,rooms,urban_rural\nA,PK-PB-MUL-SDR,House 1,2,urban\nB,PK-PB-MUL-SDR,House 2,many,urban\n\
         C,PK-XX,House 3,1,rural\nD,PK-PB-MUL-SDR,lonely,1,rural\n",
    )
    .unwrap();
    let mut persons = b"person_key,household_key,relationship,given_name_latin,sex,date_of_birth\n".to_vec();
    persons.extend_from_slice(b"A1,A,head,Ali,male,1980-01-01\n");
    persons.extend_from_slice(b"A2,A,spouse,Sana,female,1985\n");
    persons.extend_from_slice(b"B1,B,head,Omar,male,1970-02-30\n");
    persons.extend_from_slice(b"C1,C,head,Umar,male,1970\n");
    persons.extend_from_slice(b"X1,NOWHERE,head,Zaid,male,1990\n");
    persons.extend_from_slice(b"E1,E,head,\xff\xfe,male,1990\n");
    persons.extend_from_slice(b"F1,F,head\n");
    std::fs::write(&p, persons).unwrap();
    let out = import();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported 1 households (2 people)"),
        "{}",
        text(&out.stdout)
    );
    let r = std::fs::read_to_string(&rejects).unwrap();
    for expected in [
        "households.csv,3,B,attributes.rooms,",
        "persons.csv,4,B1,date_of_birth,",
        "households.csv,4,C,area,area-unknown",
        "persons.csv,6,X1,household_key,household-unknown",
        "persons.csv,7,,,unreadable-row,column given_name_latin: the text is not UTF-8",
        "persons.csv,8,,,unreadable-row,3 cells where the header has 6",
        "households.csv,5,D,members,required",
    ] {
        assert!(r.contains(expected), "{expected} missing from\n{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_export_imports_back_to_the_same_registry() {
    let dir = temp("roundtrip");
    let d = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let ok = |out: Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    ok(run(&[
        "synth",
        "--country",
        "bd",
        "--households",
        "300",
        "--seed",
        "2",
        "--out",
        &d("data"),
    ]));
    let import = |from: &str, ext: &str, db: &str| {
        ok(run(&[
            "import",
            "--households",
            &format!("{from}/households.{ext}"),
            "--persons",
            &format!("{from}/persons.{ext}"),
            "--config",
            "demo:bd",
            "--db",
            db,
        ]))
    };
    let export = |db: &str, to: &str, format: &str| {
        ok(run(&[
            "export", "--out", to, "--format", format, "--config", "demo:bd", "--db", db,
        ]))
    };
    import(&d("data"), "csv", &d("a.db"));
    for format in ["csv", "jsonl"] {
        export(&d("a.db"), &d(&format!("a-{format}")), format);
        let b = d(&format!("b-{format}.db"));
        let summary = import(&d(&format!("a-{format}")), format, &b);
        assert!(summary.contains("refused 0 households"), "{summary}");
        export(&b, &d(&format!("b-{format}")), format);
        // The same registry: the same files, but for the people's new ids.
        let without_ids = |dir: &str, file: &str| -> Vec<String> {
            let body = std::fs::read_to_string(format!("{}/{file}.{format}", d(dir))).unwrap();
            body.lines()
                .map(|l| {
                    if format == "csv" {
                        l.split_once(',').map_or(l, |(_, rest)| rest).to_owned()
                    } else {
                        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                        v.as_object_mut().unwrap().remove("person_key");
                        v.to_string()
                    }
                })
                .collect()
        };
        let (a, b) = (
            without_ids(&format!("a-{format}"), "persons"),
            without_ids(&format!("b-{format}"), "persons"),
        );
        assert!(
            a.len() > 1000 && a == b,
            "{format}: persons differ after the round trip"
        );
        let households = |x: &str| std::fs::read_to_string(format!("{}/households.{format}", d(x))).unwrap();
        assert!(
            households(&format!("a-{format}")) == households(&format!("b-{format}")),
            "{format}: households differ"
        );
    }
    // Filters and a chosen set of columns.
    let out = export(&d("a.db"), &d("some"), "csv");
    assert!(out.contains("Exported 300 households"), "{out}");
    ok(run(&[
        "export",
        "--out",
        &d("few"),
        "--area",
        "BD-A",
        "--field",
        "sex",
        "--field",
        "area",
        "--config",
        "demo:bd",
        "--db",
        &d("a.db"),
    ]));
    let persons = std::fs::read_to_string(dir.join("few/persons.csv")).unwrap();
    assert!(persons.starts_with("person_key,household_key,sex\n"), "{persons}");
    let r = run(&[
        "export",
        "--out",
        &d("x"),
        "--field",
        "income",
        "--config",
        "demo:bd",
        "--db",
        &d("a.db"),
    ]);
    assert!(
        !r.status.success() && text(&r.stderr).contains("--field"),
        "{}",
        text(&r.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_column_mapping_file_reads_a_foreign_layout() {
    let dir = temp("mapping");
    std::fs::create_dir_all(&dir).unwrap();
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    std::fs::write(
        dir.join("hh.csv"),
        "HHID,UC_CODE,ROOMS,AREA_TYPE,SURVEY_DATE\nX1,PK-PB-MUL-SDR,2,urban,2025-01-01\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("members.csv"),
        "MEMBER,HHID,REL,NAME,GENDER,DOB\nX1-1,X1,head,Ali,male,1980\nX1-2,X1,spouse,Sana,female,1984\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("map.toml"),
        "[households]\nignore = [\"SURVEY_DATE\"]\n[households.columns]\nHHID = \"household_key\"\nUC_CODE = \"area\"\n\
         ROOMS = \"rooms\"\nAREA_TYPE = \"urban_rural\"\n\n[persons.columns]\nMEMBER = \"person_key\"\nHHID = \"household_key\"\n\
         REL = \"relationship\"\nNAME = \"given_name_latin\"\nGENDER = \"sex\"\nDOB = \"date_of_birth\"\n",
    )
    .unwrap();
    let import = |mapping: &str| {
        run(&[
            "import",
            "--households",
            &p("hh.csv"),
            "--persons",
            &p("members.csv"),
            "--mapping",
            mapping,
            "--config",
            "demo:pk",
            "--db",
            &p("reg.db"),
        ])
    };
    let out = import(&p("map.toml"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported 1 households (2 people)"),
        "{}",
        text(&out.stdout)
    );

    std::fs::write(dir.join("bad.toml"), "[households.columns]\nHHID = \"household_id\"\n").unwrap();
    let out = import(&p("bad.toml"));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("\"household_id\" for \"HHID\""),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn excel_workbooks_are_imported_with_their_row_numbers() {
    use rust_xlsxwriter::Workbook;
    let dir = temp("xlsx");
    std::fs::create_dir_all(&dir).unwrap();
    let sheet = |name: &str, rows: &[&[&str]]| {
        let mut book = Workbook::new();
        let ws = book.add_worksheet();
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                // Numbers go in as numbers, as a spreadsheet holds them.
                match cell.parse::<f64>() {
                    Ok(n) => ws.write_number(r as u32, c as u16, n).map(|_| ()),
                    Err(_) => ws.write_string(r as u32, c as u16, *cell).map(|_| ()),
                }
                .unwrap();
            }
        }
        book.save(dir.join(name)).unwrap();
    };
    sheet(
        "hh.xlsx",
        &[
            &["household_key", "area", "rooms", "urban_rural"],
            &["A", "PK-PB-MUL-SDR", "2", "urban"],
            &["B", "PK-PB-MUL-SDR", "2.5", "rural"],
        ],
    );
    sheet(
        "people.xlsx",
        &[
            &[
                "person_key",
                "household_key",
                "relationship",
                "given_name_latin",
                "sex",
                "date_of_birth",
                "phone",
            ],
            &["A1", "A", "head", "Ali", "male", "1980-01-01", "03001234567"],
            &["A2", "A", "spouse", "Sana", "female", "1985", ""],
            &["B1", "B", "head", "Omar", "male", "1970", ""],
        ],
    );
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    let out = run(&[
        "import",
        "--households",
        &p("hh.xlsx"),
        "--persons",
        &p("people.xlsx"),
        "--rejects",
        &p("rejects.csv"),
        "--config",
        "demo:pk",
        "--db",
        &p("reg.db"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported 1 households (2 people)"),
        "{}",
        text(&out.stdout)
    );
    let rejects = std::fs::read_to_string(dir.join("rejects.csv")).unwrap();
    assert!(rejects.contains("hh.xlsx,3,B,attributes.rooms,"), "{rejects}");
    assert!(rejects.contains("people.xlsx,4,B1,,household-refused"), "{rejects}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn households_may_come_in_any_order_but_a_households_people_together() {
    let dir = temp("order");
    std::fs::create_dir_all(&dir).unwrap();
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    std::fs::write(
        dir.join("h.csv"),
        "household_key,area,rooms,urban_rural\nC,PK-PB-MUL-SDR,1,rural\nB,PK-PB-MUL-SDR,1,rural\nA,PK-PB-MUL-SDR,1,rural\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("p.csv"),
        "person_key,household_key,relationship,given_name_latin,sex\nA1,A,head,Ali,male\nB1,B,head,Bilal,male\n\
         C1,C,head,Chand,male\nA2,A,spouse,Sana,female\n",
    )
    .unwrap();
    let out = run(&[
        "import",
        "--households",
        &p("h.csv"),
        "--persons",
        &p("p.csv"),
        "--rejects",
        &p("r.csv"),
        "--config",
        "demo:pk",
        "--db",
        &p("reg.db"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported 3 households (3 people)"),
        "{}",
        text(&out.stdout)
    );
    let rejects = std::fs::read_to_string(dir.join("r.csv")).unwrap();
    assert!(
        rejects.contains("p.csv,5,A2,household_key,household-unknown,the household's people must be together"),
        "{rejects}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Identifiers go through the same checks as the API: a Palestinian ID
/// whose Luhn check digit is wrong, or one of the wrong length, is refused
/// with the field named, and its household with it; a valid one passes.
#[test]
fn import_refuses_identifiers_that_fail_their_check() {
    let dir = temp("check-digit");
    std::fs::create_dir_all(&dir).unwrap();
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    std::fs::write(
        dir.join("h.csv"),
        "household_key,area,region,urban_rural,rooms\nA,PS-JEN-QBT,west_bank,rural,2\nB,PS-JEN-QBT,west_bank,rural,2\n\
         C,PS-JEN-QBT,west_bank,rural,2\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("p.csv"),
        "person_key,household_key,relationship,given_name_latin,sex,identifier_type,identifier\n\
         A1,A,head,Ahmad,male,ps_id,039337423\n\
         B1,B,head,Basel,male,ps_id,039337422\n\
         C1,C,head,Cyrine,female,ps_id,1234567890\n",
    )
    .unwrap();
    let out = run(&[
        "import",
        "--households",
        &p("h.csv"),
        "--persons",
        &p("p.csv"),
        "--rejects",
        &p("r.csv"),
        "--config",
        "demo:ps",
        "--db",
        &p("reg.db"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("imported 1 households (1 people)"), "{summary}");
    assert!(summary.contains("refused 2 households and 2 people rows"), "{summary}");
    let rejects = std::fs::read_to_string(dir.join("r.csv")).unwrap();
    let line = |key: &str| {
        rejects
            .lines()
            .find(|l| l.contains("p.csv,") && l.contains(&format!(",{key},")))
            .unwrap_or_else(|| panic!("no reject for {key}: {rejects}"))
            .to_owned()
    };
    assert!(line("B1").contains("identifiers[0].value"), "{rejects}");
    assert!(line("B1").contains("identifier-check-digit"), "{rejects}");
    assert!(line("C1").contains("identifiers[0].value"), "{rejects}");
    assert!(
        !line("C1").contains("identifier-check-digit"),
        "the length is at fault: {rejects}"
    );
    assert!(!rejects.contains(",A1,"), "{rejects}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_household_with_any_refused_row_is_refused_whole() {
    let dir = temp("whole");
    std::fs::create_dir_all(&dir).unwrap();
    let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    std::fs::write(
        dir.join("h.csv"),
        "household_key,area,rooms,urban_rural\nA,PK-PB-MUL-SDR,1,rural\nB,PK-PB-MUL-SDR,1,rural\nC,PK-PB-MUL-SDR,1,rural\n",
    )
    .unwrap();
    // A: an unreadable row among its people; B: a person key used twice; C: whole.
    std::fs::write(
        dir.join("p.csv"),
        "person_key,household_key,relationship,given_name_latin,sex\nA1,A,head,Ali,male\nA2,A,spouse\nA3,A,child,Amna,female\n\
         B1,B,head,Bilal,male\nA1,B,spouse,Sana,female\nC1,C,head,Chand,male\n",
    )
    .unwrap();
    let import = || {
        run(&[
            "import",
            "--households",
            &p("h.csv"),
            "--persons",
            &p("p.csv"),
            "--rejects",
            &p("r.csv"),
            "--config",
            "demo:pk",
            "--db",
            &p("reg.db"),
        ])
    };
    let out = import();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("imported 1 households (1 people)"), "{summary}");
    assert!(summary.contains("refused 2 households and 5 people rows"), "{summary}");
    let rejects = std::fs::read_to_string(dir.join("r.csv")).unwrap();
    assert!(rejects.contains("p.csv,3,,,unreadable-row"), "{rejects}");
    assert!(rejects.contains("p.csv,6,A1,person_key,repeated"), "{rejects}");
    // Run again: everything accounted for, nothing new.
    let again = text(&import().stdout);
    assert!(
        again.contains(
            "imported 0 households (0 people), 1 already imported (1 people), refused 2 households and 5 people rows"
        ),
        "{again}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pmt_models_are_fitted_checked_and_evaluated() {
    let dir = temp("pmt");
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("m.toml");
    let model = model.to_str().unwrap();
    let out = run(&[
        "pmt",
        "fit",
        "--country",
        "jo",
        "--households",
        "3000",
        "--version",
        "jo-test-1",
        "--inputs",
        "rooms,wall_material,has_car",
        "--out",
        model,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(model).unwrap();
    // Inputs are checked before any survey is made, and the flag is named.
    for bad in ["rooms,rooms", "has_yacht", ""] {
        let out = run(&[
            "pmt",
            "fit",
            "--country",
            "jo",
            "--households",
            "3000",
            "--version",
            "x",
            "--inputs",
            bad,
            "--out",
            model,
        ]);
        assert!(!out.status.success(), "{bad}");
        assert!(text(&out.stderr).contains("--inputs"), "{bad}: {}", text(&out.stderr));
    }
    assert_eq!(
        std::fs::read_to_string(model).unwrap(),
        written,
        "a refused fit writes nothing"
    );
    assert!(written.contains("version = \"jo-test-1\"") && written.contains("attribute = \"has_car\""));
    let evaluate = |model: &str, threshold: &str| {
        run(&[
            "pmt",
            "evaluate",
            "--model",
            model,
            "--country",
            "jo",
            "--households",
            "2000",
            "--threshold",
            threshold,
        ])
    };
    let out = evaluate(model, "32");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    for line in [
        "not scored for a missing input",
        "selected:",
        "inclusion error:",
        "exclusion error:",
    ] {
        assert!(report.contains(line), "{report}");
    }
    // A model that names an attribute the deployment lacks is refused, naming the key.
    std::fs::write(model, written.replace("\"has_car\"", "\"has_yacht\"")).unwrap();
    let out = evaluate(model, "32");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("terms[2].attribute"),
        "{}",
        text(&out.stderr)
    );
    let out = evaluate(model, "120");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not a score between 0 and 100"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shipped_pmt_models_fit_their_deployments() {
    for country in ["pk", "bd", "jo", "ps"] {
        // The configuration names its model, which must fit its attributes.
        let dir = format!("{}/../../config", env!("CARGO_MANIFEST_DIR"));
        let deployment = himaya_domain::config::Deployment::from_toml_with_files(
            &std::fs::read_to_string(config_path(country)).unwrap(),
            |f| std::fs::read_to_string(format!("{dir}/{f}")).map_err(|e| e.to_string()),
        )
        .unwrap_or_else(|e| panic!("{country}: {e}"));
        let model = deployment.pmt.expect("a model");
        assert!(model.version.starts_with(country) && model.description.contains("Illustrative"));
    }
}

#[test]
fn pmt_score_scores_the_registry_once_until_something_changes() {
    let dir = temp("pmt-score");
    let d = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let ok = |out: Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    ok(run(&[
        "synth",
        "--country",
        "bd",
        "--households",
        "300",
        "--seed",
        "4",
        "--out",
        &d("data"),
    ]));
    let imported = ok(run(&[
        "import",
        "--households",
        &d("data/households.csv"),
        "--persons",
        &d("data/persons.csv"),
        "--config",
        "demo:bd",
        "--db",
        &d("r.db"),
    ]));
    let households: u64 = imported
        .split("imported ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let score = || ok(run(&["pmt", "score", "--config", "demo:bd", "--db", &d("r.db")]));
    let first = score();
    let number = |s: &str, before: &str| -> u64 {
        let at = s.find(before).unwrap_or_else(|| panic!("{before:?} in {s}"));
        s[..at].split_whitespace().last().unwrap().parse().unwrap()
    };
    let (scored, unscored) = (number(&first, " households with"), number(&first, " not scored"));
    assert_eq!(scored + unscored, households, "{first}");
    assert!(scored > households * 8 / 10, "{first}");
    assert!(first.contains("bd-illustrative-"), "{first}");
    // Nothing changed: nothing to score.
    let again = score();
    assert_eq!(
        (number(&again, " households with"), number(&again, " not scored")),
        (0, 0),
        "{again}"
    );
    let out = run(&[
        "pmt",
        "score",
        "--config",
        "demo:bd",
        "--db",
        &d("r.db"),
        "--area",
        "BD-XX",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("BD-XX"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn programmes_are_saved_and_targeted_from_the_command_line() {
    let dir = temp("target");
    let d = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let ok = |out: Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    ok(run(&[
        "synth",
        "--country",
        "pk",
        "--households",
        "400",
        "--seed",
        "5",
        "--out",
        &d("data"),
    ]));
    ok(run(&[
        "import",
        "--households",
        &d("data/households.csv"),
        "--persons",
        &d("data/persons.csv"),
        "--config",
        "demo:pk",
        "--db",
        &d("r.db"),
    ]));
    let programmes = format!("{}/../../config/programmes", env!("CARGO_MANIFEST_DIR"));
    // A programme file with a broken rule is refused, naming the rule and the position.
    let broken = std::fs::read_to_string(format!("{programmes}/pk-kafalat.toml"))
        .unwrap()
        .replace("household.pmt_score <=", "household.pmt_score <==");
    std::fs::write(d("broken.toml"), broken).unwrap();
    let out = run(&[
        "programme",
        "save",
        "--config",
        "demo:pk",
        "--db",
        &d("r.db"),
        &d("broken.toml"),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("eligibility[0].rule: line 1, column"), "{err}");
    let saved = ok(run(&[
        "programme",
        "save",
        "--config",
        "demo:pk",
        "--db",
        &d("r.db"),
        &format!("{programmes}/pk-kafalat.toml"),
        &format!("{programmes}/pk-taleemi-wazaif.toml"),
    ]));
    assert!(saved.contains("pk-kafalat: version 1 in force"), "{saved}");
    let listed = ok(run(&["programme", "list", "--config", "demo:pk", "--db", &d("r.db")]));
    assert!(
        listed.contains("pk-taleemi-wazaif") && listed.contains("Benazir Kafalat"),
        "{listed}"
    );

    let db = d("r.db");
    let target = |extra: &[&str]| {
        let mut args = vec!["target", "run", "--config", "demo:pk", "--db", &db];
        args.extend_from_slice(extra);
        run(&args)
    };
    let dry = ok(target(&[
        "--programme",
        "pk-kafalat",
        "--dry-run",
        "--set",
        "pmt_threshold=60",
        "--json",
    ]));
    let report: serde_json::Value = serde_json::from_str(&dry).unwrap();
    let eligible = report["current"]["eligible"].as_u64().unwrap();
    let wider = report["simulated"]["tally"]["eligible"].as_u64().unwrap();
    assert!(eligible > 40 && wider > eligible, "{report:#}");
    assert_eq!(report["households"], 400);
    let decided = report["current"]["eligible"].as_u64().unwrap()
        + report["current"]["not_eligible"].as_u64().unwrap()
        + report["current"]["failed"].as_u64().unwrap();
    assert_eq!(decided, 400, "every household is decided or listed as failed");

    // Overrides belong to dry runs; bad flags are refused before anything runs.
    let out = target(&["--programme", "pk-kafalat", "--set", "pmt_threshold=60"]);
    assert!(!out.status.success());
    let out = target(&["--programme", "pk-kafalat", "--dry-run", "--set", "pmt_threshold"]);
    assert!(text(&out.stderr).contains("is not NAME=VALUE"), "{}", text(&out.stderr));
    let out = target(&["--programme", "pk-nothing", "--dry-run"]);
    assert!(
        text(&out.stderr).contains("programme pk-nothing does not exist"),
        "{}",
        text(&out.stderr)
    );

    let run_out = ok(target(&["--programme", "pk-kafalat", "--enrol"]));
    assert!(run_out.contains(&format!("Enrolled {eligible}.")), "{run_out}");
    assert!(run_out.contains("rules (CEL)"), "{run_out}");
    // Taleemi Wazaif takes in children of the families Kafalat enrolled.
    let tw = ok(target(&["--programme", "pk-taleemi-wazaif", "--dry-run", "--json"]));
    let tw: serde_json::Value = serde_json::from_str(&tw).unwrap();
    assert_eq!(tw["target"], "person");
    assert!(tw["current"]["eligible"].as_u64().unwrap() > 0, "{tw:#}");
    // Compliance from CSV: every faulty row named by its line, nothing recorded.
    std::fs::write(
        d("attendance.csv"),
        "person_id,kind,period,value\n\
         0190f0f0-0000-7000-8000-000000000000,school_attendance,2026-Q1,80\n\
         0190f0f0-0000-7000-8000-000000000001,school_attendance,2026-Q1,eighty\n\
         0190f0f0-0000-7000-8000-000000000002,attendance,2026-Q1,70\n",
    )
    .unwrap();
    let out = run(&[
        "compliance",
        "import",
        &d("attendance.csv"),
        "--config",
        "demo:pk",
        "--db",
        &db,
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("nothing was recorded (4 faults)"), "{err}");
    assert!(err.contains("line 2, person_id: no person has this id"), "{err}");
    assert!(err.contains("line 3, value: \"eighty\" is not a number"), "{err}");
    assert!(err.contains("line 4, kind: unknown kind"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_targeting_benchmark_runs_on_a_small_registry() {
    let out = run(&[
        "bench",
        "--workloads",
        "targeting",
        "--households",
        "300",
        "--country",
        "pk",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for expected in [
        "| targeting run of pk-kafalat, decisions written",
        "| targeting quality of pk-kafalat's decisions against true welfare",
        "| dry run of pk-kafalat for its largest district",
        "| dry run of pk-taleemi-wazaif over",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in {stdout}");
    }
}

/// Numbers from a SQLite registry, one query each.
async fn counts(db: &std::path::Path, queries: &[&'static str]) -> Vec<i64> {
    try_counts(db, queries).await.unwrap()
}

/// Kills `himaya ARGS` after `after`, unless it finished first; says whether it was killed.
fn kill_after(args: &[&str], after: std::time::Duration) -> bool {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("HIMAYA_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let killed = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    child.wait().unwrap();
    killed
}

#[tokio::test]
async fn a_payment_cycle_on_the_command_line_pays_once_through_kills() {
    let dir = temp("cycle");
    let db = dir.join("r.db");
    let d = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let ok = |out: Output| {
        assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    };
    let data = dir.join("data");
    ok(run(&[
        "synth",
        "--country",
        "pk",
        "--households",
        "4000",
        "--seed",
        "8",
        "--out",
        &d(&data),
    ]));
    let base = ["--config", "demo:pk", "--db"];
    let with_db = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(base.iter().map(|s| s.to_string()));
        v.push(d(&db));
        v
    };
    let go = |args: &[&str]| ok(run(&with_db(args).iter().map(String::as_str).collect::<Vec<_>>()));
    go(&[
        "import",
        "--households",
        &d(&data.join("households.csv")),
        "--persons",
        &d(&data.join("persons.csv")),
    ]);
    let kafalat = format!("{}/../../config/programmes/pk-kafalat.toml", env!("CARGO_MANIFEST_DIR"));
    go(&["programme", "save", &kafalat]);
    go(&["target", "run", "--programme", "pk-kafalat", "--enrol"]);
    for (user, role) in [("maker", "payment_officer"), ("checker", "approver")] {
        let mut add = Command::new(BIN)
            .args(with_db(&[
                "user",
                "add",
                "--username",
                user,
                "--role",
                role,
                "--password-stdin",
            ]))
            .env_remove("HIMAYA_DATABASE_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        add.stdin
            .take()
            .unwrap()
            .write_all(b"correct horse battery staple\n")
            .unwrap();
        assert!(add.wait().unwrap().success());
    }
    go(&[
        "funding",
        "set",
        "--code",
        "treasury",
        "--name",
        "Treasury",
        "--allocated",
        "100000000000",
    ]);
    // A wallet for every recipient but one in twenty.
    let recipients: Vec<String> = {
        use sqlx::{Connection, Row};
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let rows = sqlx::query("SELECT recipient_id FROM enrolments WHERE status = 'enrolled' ORDER BY recipient_id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    };
    assert!(recipients.len() > 500, "{} enrolled", recipients.len());
    let mut csv = String::from("person_id,kind,provider,msisdn,holder_name\n");
    for (i, p) in recipients.iter().enumerate().filter(|(i, _)| i % 20 != 7) {
        let provider = if i % 2 == 0 { "jazzcash" } else { "easypaisa" };
        csv.push_str(&format!(
            "{p},mobile_wallet,{provider},0300{:07},Payee {i}\n",
            1_000_000 + i
        ));
    }
    let accounts = dir.join("accounts.csv");
    std::fs::write(&accounts, csv).unwrap();
    // A file with one bad row records nothing.
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "person_id,kind,provider,msisdn\n{},mobile_wallet,jazzcash,12\n",
            recipients[0]
        ),
    )
    .unwrap();
    let refused = run(&with_db(&["account", "import", &d(&bad)])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("line 2.msisdn"),
        "{}",
        text(&refused.stderr)
    );
    go(&["account", "import", &d(&accounts)]);

    let cycle = go(&[
        "cycle",
        "open",
        "--programme",
        "pk-kafalat",
        "--period",
        "2026-Q3",
        "--funding",
        "treasury",
        "--user",
        "maker",
    ])
    .trim()
    .to_owned();
    let on = |step: &str, user: &str| -> Vec<String> { with_db(&["cycle", step, "--cycle", &cycle, "--user", user]) };
    let step = |s: &str, user: &str| ok(run(&on(s, user).iter().map(String::as_str).collect::<Vec<_>>()));
    step("compute", "maker");
    step("submit", "maker");
    let own = run(&on("approve", "maker").iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!own.status.success(), "the maker cannot approve");
    step("approve", "checker");

    // Killed while issuing, again and again: never a payment twice, never one lost.
    let out = dir.join("files");
    let mut issue = on("issue", "maker");
    issue.extend(["--out".to_owned(), d(&out)]);
    let issue: Vec<&str> = issue.iter().map(String::as_str).collect();
    let payable = recipients.len() as i64;
    let state = [
        "SELECT COUNT(*) FROM entitlements WHERE status = 'issued'",
        "SELECT COUNT(*) FROM entitlements WHERE status = 'approved'",
        "SELECT COUNT(*) FROM entitlements WHERE status = 'failed'",
        "SELECT COALESCE(SUM(payments), 0) FROM payment_batches",
    ];
    let mut kills = 0;
    for ms in [5u64, 20, 60, 150, 400] {
        if kill_after(&issue, std::time::Duration::from_millis(ms)) {
            kills += 1;
        }
        let [issued, approved, failed, in_batches] = counts(&db, &state).await[..] else {
            unreachable!()
        };
        assert_eq!(issued + approved + failed, payable, "killed after {ms} ms: none lost");
        assert_eq!(
            issued, in_batches,
            "killed after {ms} ms: each issued payment in exactly one batch"
        );
    }
    assert!(kills > 0, "no kill landed before issuing finished");
    ok(run(&issue));
    let [issued, approved, failed, in_batches] = counts(&db, &state).await[..] else {
        unreachable!()
    };
    assert_eq!((approved, issued + failed, issued), (0, payable, in_batches));
    assert_eq!(
        failed as usize,
        recipients.iter().enumerate().filter(|(i, _)| i % 20 == 7).count()
    );
    let files: Vec<PathBuf> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(
        files.iter().all(|f| !f.to_string_lossy().contains(".partial")),
        "{files:?}"
    );
    let before: Vec<Vec<u8>> = {
        let mut f = files.clone();
        f.sort();
        f.iter().map(|p| std::fs::read(p).unwrap()).collect()
    };
    ok(run(&issue));
    let mut again: Vec<PathBuf> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    again.sort();
    assert_eq!(
        before,
        again.iter().map(|p| std::fs::read(p).unwrap()).collect::<Vec<_>>(),
        "the same files"
    );

    // The wallet provider's CSV status file, applied through kills: once.
    let easypaisa = again
        .iter()
        .find(|f| f.to_string_lossy().contains("easypaisa"))
        .unwrap();
    let lines = std::fs::read_to_string(easypaisa).unwrap();
    let mut status = String::from("Reference,Status,Reason,Amount\n");
    for l in lines.lines().skip(1) {
        let cells: Vec<&str> = l.split(',').collect();
        status.push_str(&format!("{},SUCCESS,,{}\n", cells[0], cells[2]));
    }
    let status_file = dir.join("easypaisa-status.csv");
    std::fs::write(&status_file, status).unwrap();
    let mut reconcile = on("reconcile", "maker");
    reconcile.extend([
        "--file".to_owned(),
        d(&status_file),
        "--provider".into(),
        "easypaisa".into(),
    ]);
    let reconcile: Vec<&str> = reconcile.iter().map(String::as_str).collect();
    let paid = ["SELECT COUNT(*) FROM entitlements WHERE status = 'paid'"];
    for ms in [5u64, 30, 120] {
        kill_after(&reconcile, std::time::Duration::from_millis(ms));
        let n = counts(&db, &paid).await[0];
        assert!(
            n == 0 || n as usize == lines.lines().count() - 1,
            "killed after {ms} ms: all or nothing ({n})"
        );
    }
    let r = run(&reconcile);
    let n = counts(&db, &paid).await[0] as usize;
    assert_eq!(n, lines.lines().count() - 1);
    if r.status.success() {
        assert!(text(&r.stdout).contains("applied"), "{}", text(&r.stdout));
    } else {
        assert!(text(&r.stderr).contains("reconciled before"), "{}", text(&r.stderr));
    }
    // The shipped Kafalat sets no payment validity period: nothing expires before closing.
    let expire = on("expire", "maker");
    let expire: Vec<&str> = expire.iter().map(String::as_str).collect();
    let r = run(&expire);
    assert!(!r.status.success());
    assert!(text(&r.stderr).contains("payment_validity_days"), "{}", text(&r.stderr));
    let shown = step("show", "maker");
    assert!(shown.contains("reconciling"), "{shown}");
    let _ = std::fs::remove_dir_all(&dir);
}
