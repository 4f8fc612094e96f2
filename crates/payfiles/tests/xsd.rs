//! Every file the crate writes, validated against the ISO 20022 XSD with
//! xmllint (Debian package libxml2-utils). The schemas live beside the
//! repository, in `../shared/specs/iso20022`. Without xmllint or the
//! schemas the tests are skipped on a developer's machine, and fail in CI
//! (`CI` set).

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, NaiveDate, Utc};
use himaya_payfiles::simulate::*;
use himaya_payfiles::*;

fn specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs/iso20022")
}

/// Whether validation can run here; panics in CI when it cannot.
fn can_validate() -> bool {
    let xmllint = Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let schemas = specs().join("pain.001.001.09.xsd").is_file();
    if xmllint && schemas {
        return true;
    }
    let missing = if xmllint {
        format!("the schemas in {}", specs().display())
    } else {
        "xmllint".to_string()
    };
    if std::env::var_os("CI").is_some() {
        panic!("{missing} missing: install libxml2-utils and put shared/ beside the repository");
    }
    eprintln!("skipped: {missing} missing (install libxml2-utils)");
    false
}

/// Validates `xml` against `schema`; the error is xmllint's report.
fn validate(schema: &str, name: &str, xml: &[u8]) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!("himaya-payfiles-{}-{name}.xml", std::process::id()));
    std::fs::write(&path, xml).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(specs().join(schema))
        .arg(&path)
        .output()
        .expect("xmllint runs");
    std::fs::remove_file(&path).unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn block(
    id: &str,
    currency: Currency,
    debtor_account: Account,
    debtor_agent: Agent,
    n: u64,
    sum: u128,
) -> PaymentBlock {
    PaymentBlock {
        payment_information_id: id.into(),
        debtor_name: "Ministry of Social Development".into(),
        debtor_account,
        debtor_agent,
        execution_date: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
        currency,
        category_purpose: Some("GOVT".into()),
        batch_booking: Some(false),
        charge_bearer: Some(ChargeBearer::Debt),
        transactions: n,
        control_sum: sum,
    }
}

/// Payments to every kind of account and agent the writer knows.
fn transfers(version: Pain001Version) -> Vec<CreditTransfer> {
    let base = CreditTransfer {
        end_to_end_id: "ENT-1".into(),
        amount: 1_250_000,
        payee_name: "Rahima Khatun (রহিমা খাতুন) & family".into(),
        payee_account: Account::Iban("JO94CBJO0010000000000131000302".into()),
        payee_agent: Some(Agent::Bic("CBJOJOAX".into())),
        remittance: Some("NAF cash support – July 2026 <cycle 7>".into()),
    };
    let mut all = vec![
        base.clone(),
        CreditTransfer {
            end_to_end_id: "ENT-2".into(),
            payee_account: Account::Other {
                id: "8801712345678".into(),
                scheme: Some(Scheme::Proprietary("MSISDN".into())),
                issuer: Some("bKash".into()),
            },
            payee_agent: Some(Agent::Other {
                id: "BKASH".into(),
                scheme: Some(Scheme::Code("BANK".into())),
            }),
            remittance: None,
            ..base.clone()
        },
        CreditTransfer {
            end_to_end_id: "ENT-3".into(),
            payee_account: Account::Other {
                id: "0012345678901".into(),
                scheme: Some(Scheme::Code("BBAN".into())),
                issuer: None,
            },
            payee_agent: Some(Agent::ClearingMember {
                system: Some(Scheme::Code("BDBEF".into())),
                member_id: "185261726".into(),
            }),
            ..base.clone()
        },
        CreditTransfer {
            end_to_end_id: "ENT-4".into(),
            payee_account: Account::Other {
                id: "44556677".into(),
                scheme: None,
                issuer: None,
            },
            payee_agent: Some(Agent::ClearingMember {
                system: Some(Scheme::Proprietary("ACH-JO".into())),
                member_id: "12".into(),
            }),
            ..base.clone()
        },
        CreditTransfer {
            end_to_end_id: "ENT-5".into(),
            payee_agent: None,
            ..base.clone()
        },
    ];
    if version == Pain001Version::V09 {
        all.push(CreditTransfer {
            end_to_end_id: "ENT-6".into(),
            payee_account: Account::Proxy(FinancialAddress::parse("token:5551234@national-id").unwrap()),
            payee_agent: None,
            ..base.clone()
        });
        all.push(CreditTransfer {
            end_to_end_id: "ENT-7".into(),
            payee_account: Account::Proxy(FinancialAddress::parse("joeuser@national-bank").unwrap()),
            ..base
        });
    }
    all
}

fn pain001(version: Pain001Version) -> Vec<u8> {
    let jod = Currency::new("JOD", 3).unwrap();
    let txs = transfers(version);
    let n = txs.len() as u64;
    let sum = txs.iter().map(|t| t.amount as u128).sum();
    let file = PaymentFile {
        version,
        message_id: "JO-NAF-2026-07-1".into(),
        created_at: DateTime::parse_from_rfc3339("2026-06-30T23:59:59+03:00")
            .unwrap()
            .with_timezone(&Utc),
        initiating_party: "National Aid Fund".into(),
        blocks: vec![
            block(
                "PI-IBAN",
                jod.clone(),
                Account::Iban("JO94CBJO0010000000000131000302".into()),
                Agent::Bic("CBJOJOAX".into()),
                n,
                sum,
            ),
            block(
                "PI-OTHER",
                Currency::new("PKR", 2).unwrap(),
                Account::Other {
                    id: "0001234567".into(),
                    scheme: None,
                    issuer: None,
                },
                Agent::ClearingMember {
                    system: None,
                    member_id: "SBP-001".into(),
                },
                1,
                500,
            ),
            block(
                "PI-AGENT",
                jod,
                Account::Other {
                    id: "TREASURY-7".into(),
                    scheme: Some(Scheme::Proprietary("TSA".into())),
                    issuer: Some("MoF".into()),
                },
                Agent::Other {
                    id: "CBJ".into(),
                    scheme: None,
                },
                1,
                1,
            ),
        ],
    };
    let mut w = Pain001Writer::start(Vec::new(), file).unwrap();
    for t in &txs {
        w.add(t).unwrap();
    }
    w.next_block().unwrap();
    w.add(&CreditTransfer {
        end_to_end_id: "ENT-PK".into(),
        amount: 500,
        ..txs[0].clone()
    })
    .unwrap();
    w.next_block().unwrap();
    w.add(&CreditTransfer {
        end_to_end_id: "ENT-AG".into(),
        amount: 1,
        remittance: Some("".into()),
        ..txs[1].clone()
    })
    .unwrap();
    w.finish().unwrap().0
}

#[test]
fn pain001_09_validates() {
    if !can_validate() {
        return;
    }
    validate("pain.001.001.09.xsd", "pain001-09", &pain001(Pain001Version::V09)).unwrap();
}

#[test]
fn pain001_03_validates() {
    if !can_validate() {
        return;
    }
    validate("pain.001.001.03.xsd", "pain001-03", &pain001(Pain001Version::V03)).unwrap();
}

/// The check can fail: xmllint refuses a file the writer did not make, and
/// a version's file against the other version's schema.
#[test]
fn xmllint_refuses_what_the_schema_does_not_allow() {
    if !can_validate() {
        return;
    }
    let xml = String::from_utf8(pain001(Pain001Version::V09)).unwrap();
    let without_party = xml.replace("<InitgPty><Nm>National Aid Fund</Nm></InitgPty>", "");
    let err = validate("pain.001.001.09.xsd", "no-party", without_party.as_bytes()).unwrap_err();
    assert!(err.contains("InitgPty"), "{err}");
    let swapped = "<PmtMtd>TRF</PmtMtd>\n      <PmtInfId>PI-IBAN</PmtInfId>";
    let reordered = xml.replacen("<PmtInfId>PI-IBAN</PmtInfId>\n      <PmtMtd>TRF</PmtMtd>", swapped, 1);
    assert!(reordered.contains(swapped));
    assert!(validate("pain.001.001.09.xsd", "reordered", reordered.as_bytes()).is_err());
    assert!(
        validate(
            "pain.001.001.03.xsd",
            "wrong-version",
            &pain001(Pain001Version::V03)[..]
        )
        .is_ok()
    );
    assert!(validate("pain.001.001.09.xsd", "wrong-version", &pain001(Pain001Version::V03)).is_err());
}

/// The files the reader tests are written by hand from the standards; they
/// are what a bank would send only if they validate.
#[test]
fn the_hand_written_status_files_validate() {
    if !can_validate() {
        return;
    }
    let files = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files");
    for (file, schema) in [
        ("pain002-10.xml", "pain.002.001.10.xsd"),
        ("pain002-03.xml", "pain.002.001.03.xsd"),
        ("camt054-08.xml", "camt.054.001.08.xsd"),
        ("camt054-02.xml", "camt.054.001.02.xsd"),
    ] {
        let xml = std::fs::read(files.join(file)).unwrap();
        validate(schema, file, &xml).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn the_simulated_provider_files_validate() {
    if !can_validate() {
        return;
    }
    let pkr = Currency::new("PKR", 2).unwrap();
    let created_at = DateTime::parse_from_rfc3339("2026-07-02T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let facts = ReportFacts {
        message_id: "STS-1",
        created_at,
        original_message_id: "PK-KAFALAT-1",
        original_message_name: "pain.001.001.09",
        payment_information_id: "PI-1",
        currency: &pkr,
    };
    let payments = [
        ReportedPayment {
            end_to_end_id: "ENT-1",
            status: "ACSC",
            reason: None,
            amount: Some(1_000_000),
        },
        ReportedPayment {
            end_to_end_id: "ENT-2",
            status: "RJCT",
            reason: Some("AC04"),
            amount: None,
        },
    ];
    for (version, schema) in [
        (Pain002Version::V10, "pain.002.001.10.xsd"),
        (Pain002Version::V03, "pain.002.001.03.xsd"),
    ] {
        let xml = write_status_report(Vec::new(), version, &facts, Some("PART"), payments).unwrap();
        validate(schema, schema, &xml).unwrap();
    }
    let facts = NotificationFacts {
        message_id: "NTF-1",
        created_at,
        booking_date: NaiveDate::from_ymd_opt(2026, 7, 2).unwrap(),
        account_iban: "PK36SCBL0000001123456702",
        currency: &pkr,
        original_message_id: "PK-KAFALAT-1",
        payment_information_id: "PI-1",
    };
    let notified = [
        NotifiedPayment {
            end_to_end_id: "ENT-1",
            amount: 1_000_000,
            returned: None,
        },
        NotifiedPayment {
            end_to_end_id: "ENT-3",
            amount: 1_000_000,
            returned: Some("AC04"),
        },
    ];
    for (version, schema) in [
        (Camt054Version::V08, "camt.054.001.08.xsd"),
        (Camt054Version::V02, "camt.054.001.02.xsd"),
    ] {
        let xml = write_notification(Vec::new(), version, &facts, notified).unwrap();
        validate(schema, schema, &xml).unwrap();
    }
}
