//! The real `himaya link` on CSV files: a synthetic population with known
//! duplicates, two lists in two scripts, and every kind of bad input.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_himaya");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run himaya")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("himaya-link-{}-{name}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const FIELDS: &[&str] = &[
    "given_name=given_name",
    "given_name_latin=given_name",
    "family_name=family_name",
    "family_name_latin=family_name",
    "father_name=father_name",
    "father_name_latin=father_name",
    "sex=sex",
    "date_of_birth=date_of_birth",
    "phone=phone",
    "identifier=national_id",
];

fn with_fields(mut args: Vec<&str>) -> Vec<&str> {
    for f in FIELDS {
        args.extend(["--field", f]);
    }
    args
}

fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let head: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|row| {
            head.iter()
                .cloned()
                .zip(row.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn truth(dir: &Path) -> HashMap<String, String> {
    csv_rows(&dir.join("truth.csv"))
        .into_iter()
        .map(|r| (r["person_key"].clone(), r["person_id"].clone()))
        .collect()
}

#[test]
fn dedupe_finds_the_synthetic_duplicates_and_writes_every_file() {
    let dir = temp("dedupe");
    let data = dir.join("data");
    let out = run(&[
        "synth",
        "--country",
        "pk",
        "--households",
        "3000",
        "--seed",
        "3",
        "--duplicates",
        "0.05",
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result = dir.join("out");
    let input = data.join("persons.csv");
    let args = with_fields(vec![
        "link",
        "dedupe",
        "--input",
        input.to_str().unwrap(),
        "--id-column",
        "person_key",
        "--out",
        result.to_str().unwrap(),
    ]);
    let out = run(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("0 rejected"), "{}", text(&out.stdout));

    let truth = truth(&data);
    let pairs = csv_rows(&result.join("pairs.csv"));
    let mut groups: HashMap<&str, usize> = HashMap::new();
    for v in truth.values() {
        *groups.entry(v).or_default() += 1;
    }
    let true_pairs: usize = groups.values().map(|n| n * (n - 1) / 2).sum();
    let found = pairs
        .iter()
        .filter(|p| truth[&p["left_id"]] == truth[&p["right_id"]])
        .count();
    let precision = found as f64 / pairs.len() as f64;
    let recall = found as f64 / true_pairs as f64;
    // The benchmark measures the figures; here they must be those of a working linker.
    assert!(
        precision >= 0.9 && recall >= 0.9,
        "precision {precision}, recall {recall}"
    );
    for p in &pairs {
        let prob: f64 = p["match_probability"].parse().unwrap();
        assert!((0.5..=1.0).contains(&prob));
        assert!(["exact", "typo", "phonetic", "similar", "different", "null"].contains(&p["given_name"].as_str()));
    }
    // Every record is in clusters.csv exactly once, and a kept true pair shares a cluster.
    let clusters = csv_rows(&result.join("clusters.csv"));
    assert_eq!(clusters.len(), truth.len());
    let cluster: HashMap<&str, &str> = clusters
        .iter()
        .map(|r| (r["record_id"].as_str(), r["cluster_id"].as_str()))
        .collect();
    assert_eq!(cluster.len(), truth.len());
    let same = pairs
        .iter()
        .filter(|p| cluster[p["left_id"].as_str()] == cluster[p["right_id"].as_str()])
        .count();
    assert!(same as f64 >= 0.95 * pairs.len() as f64);
    let model = std::fs::read_to_string(result.join("model.csv")).unwrap();
    assert!(model.contains("national_id,exact,"), "{model}");
    assert_eq!(
        std::fs::read_to_string(result.join("rejects.csv"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An agency's list in Latin letters against a registry's in Urdu script.
#[test]
fn match_links_two_lists_written_in_two_scripts() {
    let dir = temp("match");
    let left = dir.join("left.csv");
    let right = dir.join("right.csv");
    std::fs::write(
        &left,
        "id,name,father,dob,sex\n\
         L1,شازیہ بی بی,محمد اسلم,1990-03-14,F\n\
         L2,عمران خان,عبدالرحمن,1985,M\n\
         L3,فاطمہ,علی,2001-07-01,F\n\
         L4,زینب,حسین,1978-11-30,F\n",
    )
    .unwrap();
    std::fs::write(
        &right,
        "id,name,father,dob,sex\n\
         R1,Shazia Bibi,Muhammad Aslam,14/03/1990,female\n\
         R2,Khan Imran,Abdul Rehman,19850612,male\n\
         R3,Ayesha,Umar,1960,F\n\
         R4,Zainab,Hussain,1978-11-30,F\n\
         R5,Fatima,Ali,2001-01-07,F\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let command = |out: &Path, extra: &[&str]| -> Output {
        let mut a = vec![
            "link",
            "match",
            "--left",
            left.to_str().unwrap(),
            "--right",
            right.to_str().unwrap(),
            "--id-column",
            "id",
            "--field",
            "name=full_name",
            "--field",
            "father=father_name",
            "--field",
            "dob=date_of_birth",
            "--field",
            "sex=sex",
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend(extra);
        run(&a)
    };
    let out = command(&out_dir, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pairs: HashSet<(String, String)> = csv_rows(&out_dir.join("pairs.csv"))
        .into_iter()
        .map(|r| (r["left_id"].clone(), r["right_id"].clone()))
        .collect();
    for expected in [("L1", "R1"), ("L2", "R2"), ("L3", "R5"), ("L4", "R4")] {
        assert!(
            pairs.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} not in {pairs:?}"
        );
    }
    assert!(!pairs.iter().any(|(_, r)| r == "R3"), "{pairs:?}");
    let clusters = csv_rows(&out_dir.join("clusters.csv"));
    assert_eq!(clusters.len(), 9);
    assert!(clusters.iter().any(|r| r["record_id"] == "R3" && r["list"] == "right"));

    // The registry's flags are refused with two files, not ignored.
    let refused_out = dir.join("refused");
    for (extra, expected) in [
        (
            ["--area", "PK-PB"],
            "--area: only with --right registry (a CSV file is matched whole)",
        ),
        (
            ["--db", "registry.db"],
            "--db: only with --right registry (two files need no database)",
        ),
    ] {
        let out = command(&refused_out, &extra);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains(expected), "{}", text(&out.stderr));
        assert!(!refused_out.exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_refused_before_any_work_or_rejected_by_row() {
    let dir = temp("bad");
    let input = dir.join("in.csv");
    let out_dir = dir.join("out");
    let dedupe = |extra: &[&str]| {
        let mut args = vec![
            "link",
            "dedupe",
            "--input",
            input.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let refused = |extra: &[&str], expected: &str| {
        let out = dedupe(extra);
        assert!(!out.status.success(), "{extra:?} succeeded");
        let err = text(&out.stderr);
        assert!(err.contains(expected), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out_dir.exists(), "{extra:?} left {} behind", out_dir.display());
    };
    let ok = [
        "--id-column",
        "id",
        "--field",
        "name=full_name",
        "--field",
        "dob=date_of_birth",
    ];

    std::fs::write(&input, "").unwrap();
    refused(&ok, "is empty");
    std::fs::write(&input, "id,name,dob,name\n1,Ali,1980,Ali Khan\n").unwrap();
    refused(&ok, "has the column \"name\" twice (columns 2 and 4)");
    std::fs::write(&input, "id;name;dob\n1;Ali;1980\n").unwrap();
    refused(&ok, "its columns are separated by semicolons");
    std::fs::write(&input, "id,name,dob\n").unwrap();
    refused(&ok, "has a header but no records");
    std::fs::write(&input, "id,name,dob\n1,Ali,1980\n").unwrap();
    refused(&ok, "at least two are needed");
    std::fs::write(&input, "id,name,dob\n1,Ali,1980\n2,Omar,1981\n1,Ali Khan,1980\n").unwrap();
    refused(&ok, "repeats the id \"1\" (column \"id\") on lines 2 and 4");
    refused(&["--id-column", "key", "--field", "name=full_name"], "--id-column: ");
    refused(
        &[
            "--id-column",
            "id",
            "--field",
            "surname=family_name",
            "--field",
            "dob=date_of_birth",
        ],
        "has no column \"surname\"",
    );
    refused(
        &["--id-column", "id", "--field", "name=family_name"],
        "no blocking rule",
    );
    refused(
        &["--id-column", "id", "--field", "name=nickname"],
        "unknown role \"nickname\"",
    );
    refused(&["--id-column", "id", "--field", "name"], "is not COLUMN=ROLE");
    refused(
        &[
            "--id-column",
            "id",
            "--field",
            "name=full_name",
            "--field",
            "name=given_name",
        ],
        "mapped twice",
    );
    refused(&["--id-column", "id"], "--field");
    refused(
        &["--id-column", "id", "--field", "name=full_name", "--threshold", "1.5"],
        "not a probability",
    );
    refused(
        &["--id-column", "id", "--field", "name=full_name", "--threshold", "-0.1"],
        "\"-0.1\" is not a probability between 0 and 1",
    );
    refused(
        &["--id-column", "id", "--field", "dob=date_of_birth"],
        "no blocking rule",
    );
    std::fs::write(&input, b"id,n\xe4me,dob\n1,Ali,1980\n").unwrap();
    refused(&ok, "the header is not UTF-8");
    std::fs::remove_file(&input).unwrap();
    refused(&ok, "--input: cannot read");
    let out = run(&[
        "link",
        "match",
        "--left",
        "a.csv",
        "--right",
        "registry",
        "--id-column",
        "id",
        "--field",
        "n=full_name",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(text(&out.stderr).contains("--right registry"), "{}", text(&out.stderr));

    // Rows that cannot be read are listed in the rejects; the rest are linked.
    let mut rows = b"id,name,dob\n1,Ali Khan,1980-01-02\n2,Ali Khan,02/01/1980\n".to_vec();
    rows.extend_from_slice(b"3,\xff\xfe Khan,1980\n");
    rows.extend_from_slice(b"4,Omar,31/02/1980\n");
    rows.extend_from_slice(b"5,Umar\n");
    rows.extend_from_slice(b",Nameless,1990\n");
    rows.extend_from_slice(b"7,Sana Bibi,1991\n");
    std::fs::write(&input, rows).unwrap();
    let out = dedupe(&ok);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Linked 3 records (4 rejected"),
        "{}",
        text(&out.stdout)
    );
    let rejects = std::fs::read_to_string(out_dir.join("rejects.csv")).unwrap();
    for expected in [
        "in.csv,4,3,name,the text is not UTF-8",
        "in.csv,5,4,dob,\"\"\"31/02/1980\"\" is not a date",
        "in.csv,6,,,2 cells where the header has 3",
        "in.csv,7,,,no id",
    ] {
        assert!(rejects.contains(expected), "{expected} missing from\n{rejects}");
    }
    let pairs = std::fs::read_to_string(out_dir.join("pairs.csv")).unwrap();
    assert!(pairs.lines().any(|l| l.starts_with("1,2,")), "{pairs}");
    assert!(!out_dir.join("rejects.csv.partial").exists());

    // A refused run leaves the last run's files as they were.
    std::fs::write(
        &input,
        "id,name,dob
",
    )
    .unwrap();
    assert!(!dedupe(&ok).status.success());
    assert_eq!(std::fs::read_to_string(out_dir.join("pairs.csv")).unwrap(), pairs);
    assert_eq!(std::fs::read_to_string(out_dir.join("rejects.csv")).unwrap(), rejects);
    // A run that could read no row says why in rejects.csv, and the last
    // run's other files go with its rejects: the directory holds one run.
    std::fs::write(
        &input,
        "id,name,dob
1,Ali,31/02/1980
2,Omar
",
    )
    .unwrap();
    let out = dedupe(&ok);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("see rejects.csv"), "{}", text(&out.stderr));
    let rejects = std::fs::read_to_string(out_dir.join("rejects.csv")).unwrap();
    assert!(rejects.contains("in.csv,2,1,dob,"), "{rejects}");
    for gone in ["pairs.csv", "clusters.csv", "model.csv"] {
        assert!(!out_dir.join(gone).exists(), "{gone} of the last run left");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A CSV row by column name.
type Row = HashMap<String, String>;

/// A registry imported from a synthetic population, and its people and
/// households as `himaya export` writes them (person and household keys
/// being the person's id and the registration number).
fn registry_with_people(dir: &Path) -> (PathBuf, Vec<Row>, Vec<Row>) {
    let data = dir.join("data");
    let db = dir.join("registry.db");
    let step = |args: &[&str]| {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    };
    step(&[
        "synth",
        "--country",
        "pk",
        "--households",
        "800",
        "--seed",
        "8",
        "--duplicates",
        "0",
        "--out",
        data.to_str().unwrap(),
    ]);
    for file in ["households", "persons"] {
        assert!(data.join(format!("{file}.csv")).exists());
    }
    step(&[
        "import",
        "--households",
        data.join("households.csv").to_str().unwrap(),
        "--persons",
        data.join("persons.csv").to_str().unwrap(),
        "--config",
        "demo:pk",
        "--db",
        db.to_str().unwrap(),
    ]);
    let export = dir.join("export");
    step(&[
        "export",
        "--out",
        export.to_str().unwrap(),
        "--config",
        "demo:pk",
        "--db",
        db.to_str().unwrap(),
    ]);
    (
        db,
        csv_rows(&export.join("persons.csv")),
        csv_rows(&export.join("households.csv")),
    )
}

async fn audit_entries(db: &Path, action: &str) -> Vec<(String, i64)> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT a.actor, (SELECT COUNT(*) FROM audit_subjects s WHERE s.seq = a.seq) FROM audit_log a \
         WHERE a.action = $1",
    )
    .bind(action.to_owned())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

#[tokio::test]
async fn match_finds_a_list_of_people_in_the_registry() {
    let dir = temp("registry");
    let (db, people, households) = registry_with_people(&dir);
    // An agency's list: some of the registry's people in Latin letters only,
    // half without their identifier, some with only a year of birth, and
    // people the registry does not know.
    let list = dir.join("agency.csv");
    let mut w = csv::Writer::from_path(&list).unwrap();
    w.write_record([
        "ref", "first", "last", "father", "born", "sex", "cnic", "mobile", "note",
    ])
    .unwrap();
    let mut truth: HashMap<String, String> = HashMap::new();
    for (i, p) in people.iter().step_by(13).take(200).enumerate() {
        let born = if i % 4 == 0 {
            p["date_of_birth"].get(..4).unwrap_or_default().to_owned()
        } else {
            p["date_of_birth"].clone()
        };
        let cnic = if i % 2 == 0 { p["identifier"].as_str() } else { "" };
        let reference = format!("AG-{i}");
        w.write_record([
            reference.as_str(),
            &p["given_name_latin"],
            &p["family_name_latin"],
            &p["father_name_latin"],
            &born,
            &p["sex"],
            cnic,
            &p["phone"],
            "ignored",
        ])
        .unwrap();
        truth.insert(reference, p["person_key"].clone());
    }
    for (i, (name, father)) in [
        ("Zarmeena", "Gulzaman"),
        ("Palwasha", "Sherdil"),
        ("Wranga", "Jehanzeb"),
    ]
    .iter()
    .enumerate()
    {
        w.write_record([
            &format!("NEW-{i}"),
            *name,
            "Yousafzai",
            *father,
            "1931-02-03",
            "female",
            "",
            "",
            "",
        ])
        .unwrap();
    }
    w.flush().unwrap();
    drop(w);

    let out_dir = dir.join("out");
    let args = |out: &Path, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "link",
            "match",
            "--left",
            list.to_str().unwrap(),
            "--right",
            "registry",
            "--config",
            "demo:pk",
            "--db",
            db.to_str().unwrap(),
            "--id-column",
            "ref",
            "--field",
            "first=given_name",
            "--field",
            "last=family_name",
            "--field",
            "father=father_name",
            "--field",
            "born=date_of_birth",
            "--field",
            "sex=sex",
            "--field",
            "cnic=national_id",
            "--field",
            "mobile=phone",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let a = args(&out_dir, &[]);
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("active people of the registry"),
        "{}",
        text(&out.stdout)
    );

    let pairs = csv_rows(&out_dir.join("pairs.csv"));
    let ids: HashSet<&str> = people.iter().map(|p| p["person_key"].as_str()).collect();
    let right_correct = pairs
        .iter()
        .filter(|p| truth.get(&p["left_id"]) == Some(&p["right_id"]))
        .count();
    assert!(
        pairs.iter().all(|p| ids.contains(p["right_id"].as_str())),
        "right ids are registry people"
    );
    assert!(
        !pairs.iter().any(|p| p["left_id"].starts_with("NEW-")),
        "unknown people matched"
    );
    let precision = right_correct as f64 / pairs.len().max(1) as f64;
    let recall = right_correct as f64 / truth.len() as f64;
    assert!(
        precision >= 0.97 && recall >= 0.85,
        "precision {precision}, recall {recall}"
    );
    assert!(
        pairs
            .iter()
            .all(|p| p.contains_key("national_id") && p.contains_key("phone"))
    );

    // Every row of the list in clusters.csv; of the registry, only the people linked to it.
    let clusters = csv_rows(&out_dir.join("clusters.csv"));
    let linked: HashSet<&str> = pairs.iter().map(|p| p["right_id"].as_str()).collect();
    let right_rows: Vec<_> = clusters.iter().filter(|c| c["list"] == "right").collect();
    assert_eq!(clusters.iter().filter(|c| c["list"] == "left").count(), truth.len() + 3);
    assert_eq!(right_rows.len(), linked.len());
    assert!(right_rows.iter().all(|c| linked.contains(c["record_id"].as_str())));

    // The read is audited, naming each registry person the pairs reveal.
    let entries = audit_entries(&db, "persons.match").await;
    assert_eq!(entries, vec![("system:link-match".to_owned(), linked.len() as i64)]);

    // One district: only its people are candidates.
    let area_of: HashMap<&str, &str> = households
        .iter()
        .map(|h| (h["household_key"].as_str(), h["area"].as_str()))
        .collect();
    let person_area: HashMap<&str, &str> = people
        .iter()
        .map(|p| (p["person_key"].as_str(), area_of[p["household_key"].as_str()]))
        .collect();
    let district: String = person_area[truth["AG-0"].as_str()]
        .split('-')
        .take(3)
        .collect::<Vec<_>>()
        .join("-");
    let area_out = dir.join("area");
    let a = args(&area_out, &["--area", &district]);
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pairs = csv_rows(&area_out.join("pairs.csv"));
    assert!(pairs.iter().any(|p| p["left_id"] == "AG-0"), "{pairs:?}");
    assert!(
        pairs
            .iter()
            .all(|p| person_area[p["right_id"].as_str()].starts_with(&format!("{district}-"))),
        "{district}: {pairs:?}"
    );
    std::fs::remove_dir_all(&area_out).unwrap();

    let a = args(&area_out, &["--area", "PK-XX-NOWHERE"]);
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--area: \"PK-XX-NOWHERE\" is not an area"),
        "{}",
        text(&out.stderr)
    );

    // Roles the registry holds nothing for, and a missing configuration, are refused before any work.
    let mut a = args(&area_out, &["--field", "note=address"]);
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--field note=address: the registry's people have no address"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&args(&area_out, &["--field", "note=full_name"])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--field note=full_name: the registry keeps names in parts"),
        "{}",
        text(&out.stderr)
    );
    let at = a.iter().position(|s| s == "--config").unwrap();
    a.drain(at..at + 2);
    a.truncate(a.len() - 2);
    let out = Command::new(BIN).args(&a).env_remove("HIMAYA_CONFIG").output().unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--right registry: give the deployment's --config"),
        "{}",
        text(&out.stderr)
    );
    // A database file that is not there is said so, not created empty.
    let missing = dir.join("no-such-registry.db");
    let mut a = args(&area_out, &[]);
    let at = a.iter().position(|s| s == "--db").unwrap();
    a[at + 1] = missing.to_str().unwrap().to_owned();
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("there is no registry at"),
        "{}",
        text(&out.stderr)
    );
    assert!(!missing.exists());
    assert!(!area_out.join("pairs.csv").exists());
    assert_eq!(
        audit_entries(&db, "persons.match").await.len(),
        2,
        "refusals read nothing"
    );

    let _ = std::fs::remove_dir_all(&dir);
}
