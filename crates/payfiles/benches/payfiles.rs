//! Payment files at the scale of a national cycle: writes a pain.001 of a
//! million credit transfers to a file and reads back a million-line pain.002
//! and camt.054 (and the same in CSV), printing records, seconds, records/s
//! and the peak resident memory of each step.
//!
//! `cargo bench -p himaya-payfiles -- [RECORDS]` (1,000,000 by default).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use himaya_payfiles::amount::format_decimal;
use himaya_payfiles::simulate::*;
use himaya_payfiles::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, kind, path, records] = &args[..]
        && flag == "--read"
    {
        return read(kind, Path::new(path), records.parse().unwrap());
    }
    let records: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("himaya-payfiles-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("| workload | records | seconds | records/s | file size | peak RSS |");
    println!("|---|---|---|---|---|---|");

    let pkr = Currency::new("PKR", 2).unwrap();
    let amount = |i: u64| 1_050_000 + (i % 5) as i64 * 100;
    let control_sum: u128 = (0..records).map(|i| amount(i) as u128).sum();
    let transfer = |i: u64| CreditTransfer {
        end_to_end_id: format!("PK-KAF-2026Q3-{i:010}"),
        amount: amount(i),
        payee_name: if i.is_multiple_of(2) {
            "Ayesha Bibi".into()
        } else {
            "Shazia Parveen w/o Muhammad Aslam".into()
        },
        payee_account: if i.is_multiple_of(3) {
            Account::Proxy(FinancialAddress::parse(&format!("token:{i}@jazzcash")).unwrap())
        } else {
            Account::Other {
                id: format!("923{:09}", i),
                scheme: Some(Scheme::Proprietary("MSISDN".into())),
                issuer: None,
            }
        },
        payee_agent: Some(Agent::Other {
            id: "JAZZCASH".into(),
            scheme: None,
        }),
        remittance: Some("BISP Kafalat July-September 2026".into()),
    };
    let created_at = DateTime::parse_from_rfc3339("2026-06-28T09:30:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let payment_file = || PaymentFile {
        version: Pain001Version::V09,
        message_id: "PK-KAFALAT-2026Q3-JAZZ-1".into(),
        created_at,
        initiating_party: "Benazir Income Support Programme".into(),
        blocks: vec![PaymentBlock {
            payment_information_id: "PK-KAFALAT-2026Q3-JAZZ-1-1".into(),
            debtor_name: "BISP Kafalat Treasury Account".into(),
            debtor_account: Account::Iban("PK36SCBL0000001123456702".into()),
            debtor_agent: Agent::Bic("SCBLPKKX".into()),
            execution_date: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
            currency: pkr.clone(),
            category_purpose: Some("SSBE".into()),
            batch_booking: Some(true),
            charge_bearer: Some(ChargeBearer::Slev),
            transactions: records,
            control_sum,
        }],
    };

    // pain.001 out.
    let path = dir.join("pain001.xml");
    let step = Step::start();
    let out = BufWriter::with_capacity(1 << 16, File::create(&path).unwrap());
    let mut w = Pain001Writer::start(out, payment_file()).unwrap();
    for i in 0..records {
        w.add(&transfer(i)).unwrap();
    }
    let (_, totals) = w.finish().unwrap();
    assert_eq!(totals.transactions, records);
    step.report("write pain.001.001.09", records, &path);

    // CSV payment file out, same payments.
    let path = dir.join("payments.csv");
    let layout: PaymentCsvLayout = toml_layout(
        r#"columns = ["end_to_end_id", "account", "financial_address", "amount", "payee_name", "remittance"]"#,
    );
    let step = Step::start();
    let out = BufWriter::with_capacity(1 << 16, File::create(&path).unwrap());
    let mut w = PaymentCsvWriter::start(out, &layout, payment_file()).unwrap();
    for i in 0..records {
        w.add(&transfer(i)).unwrap();
    }
    w.finish().unwrap();
    step.report("write provider CSV", records, &path);

    // The bank's answers, written by the simulator (not timed), then read.
    let ids = (0..records)
        .map(|i| format!("PK-KAF-2026Q3-{i:010}"))
        .collect::<Vec<_>>();
    let path = dir.join("pain002.xml");
    let facts = ReportFacts {
        message_id: "SCBL-STS-1",
        created_at,
        original_message_id: "PK-KAFALAT-2026Q3-JAZZ-1",
        original_message_name: "pain.001.001.09",
        payment_information_id: "PK-KAFALAT-2026Q3-JAZZ-1-1",
        currency: &pkr,
    };
    let report = ids.iter().enumerate().map(|(i, id)| ReportedPayment {
        end_to_end_id: id,
        status: if i % 20 == 7 { "RJCT" } else { "ACSC" },
        reason: (i % 20 == 7).then_some("AC04"),
        amount: Some(amount(i as u64) as u128),
    });
    write_status_report(
        BufWriter::new(File::create(&path).unwrap()),
        Pain002Version::V10,
        &facts,
        Some("PART"),
        report,
    )
    .unwrap();
    let path = dir.join("camt054.xml");
    let notification = NotificationFacts {
        message_id: "SCBL-NTF-1",
        created_at,
        booking_date: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
        account_iban: "PK36SCBL0000001123456702",
        currency: &pkr,
        original_message_id: "PK-KAFALAT-2026Q3-JAZZ-1",
        payment_information_id: "PK-KAFALAT-2026Q3-JAZZ-1-1",
    };
    let booked = ids.iter().enumerate().map(|(i, id)| NotifiedPayment {
        end_to_end_id: id,
        amount: amount(i as u64) as u128,
        returned: (i % 50 == 9).then_some("AC04"),
    });
    write_notification(
        BufWriter::new(File::create(&path).unwrap()),
        Camt054Version::V08,
        &notification,
        booked,
    )
    .unwrap();
    let path = dir.join("status.csv");
    {
        use std::io::Write;
        let mut out = BufWriter::new(File::create(&path).unwrap());
        writeln!(out, "Reference,Result,Error Code,Amount").unwrap();
        for (i, id) in ids.iter().enumerate() {
            let (status, code) = if i % 20 == 7 {
                ("FAILED", "AC04")
            } else {
                ("SUCCESS", "")
            };
            writeln!(
                out,
                "{id},{status},{code},{}",
                format_decimal(amount(i as u64) as u128, 2)
            )
            .unwrap();
        }
    }
    // Each reader runs in a process of its own, so that its peak memory is its own.
    drop(ids);
    for (kind, file) in [
        ("pain.002", "pain002.xml"),
        ("camt.054", "camt054.xml"),
        ("csv", "status.csv"),
    ] {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--read", kind, &dir.join(file).to_string_lossy(), &records.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "reading {file} failed");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads a status file of `records` lines and prints its row.
fn read(kind: &str, path: &Path, records: u64) {
    let pkr = Currency::new("PKR", 2).unwrap();
    let input = || BufReader::with_capacity(1 << 16, File::open(path).unwrap());
    let step = Step::start();
    let (workload, read) = match kind {
        "pain.002" => {
            let mut read = 0;
            for item in StatusReportReader::open(input()).unwrap() {
                if let StatusItem::Payment(p) = item.unwrap() {
                    read += u64::from(p.outcome != Outcome::Pending);
                }
            }
            ("read pain.002.001.10", read)
        }
        "camt.054" => (
            "read camt.054.001.08",
            NotificationReader::open(input()).unwrap().map(Result::unwrap).count() as u64,
        ),
        _ => {
            let layout: StatusCsvLayout = toml_layout(
                r#"
                end_to_end_id = "Reference"
                status = "Result"
                reason = "Error Code"
                amount = "Amount"
                paid = ["SUCCESS"]
                failed = ["FAILED"]
                "#,
            );
            let read = StatusCsvReader::open(input(), &layout, &pkr)
                .unwrap()
                .map(Result::unwrap)
                .count() as u64;
            ("read provider CSV status", read)
        }
    };
    assert_eq!(read, records);
    step.report(workload, records, path);
}

fn toml_layout<T: serde::de::DeserializeOwned>(text: &str) -> T {
    toml::from_str(text).unwrap()
}

/// One timed step; its peak memory is measured from its start.
struct Step(Instant);

impl Step {
    fn start() -> Self {
        // Resets the kernel's high-water mark of resident memory (VmHWM).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        Step(Instant::now())
    }

    fn report(self, workload: &str, records: u64, file: &Path) {
        let seconds = self.0.elapsed().as_secs_f64();
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        println!(
            "| {workload} | {records} | {seconds:.2} | {:.0} | {:.0} MiB | {} |",
            records as f64 / seconds,
            size as f64 / 1048576.0,
            peak_rss()
        );
    }
}

fn peak_rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix(" kB")?.trim().parse::<u64>().ok())
        .map_or("?".into(), |kb| format!("{:.1} MiB", kb as f64 / 1024.0))
}
