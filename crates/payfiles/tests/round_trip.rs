//! A batch goes out as pain.001 and comes back as the bank would answer it:
//! every payment the file carried is reported, under the same end-to-end id.

use chrono::{DateTime, NaiveDate, Utc};
use himaya_payfiles::simulate::*;
use himaya_payfiles::*;

const PAYMENTS: u64 = 2_500;

fn batch(version: Pain001Version) -> (Vec<u8>, Vec<CreditTransfer>) {
    let bdt = Currency::new("BDT", 2).unwrap();
    let transfers: Vec<CreditTransfer> = (0..PAYMENTS)
        .map(|i| CreditTransfer {
            end_to_end_id: format!("BD-OA-2026-07-{i:06}"),
            amount: 60_000 + (i % 7) as i64,
            payee_name: "রহিমা খাতুন".into(),
            payee_account: Account::Other {
                id: format!("8801{:09}", 700_000_000 + i),
                scheme: Some(Scheme::Proprietary("MSISDN".into())),
                issuer: None,
            },
            payee_agent: Some(Agent::Other {
                id: "BKASH".into(),
                scheme: None,
            }),
            remittance: Some("Old Age Allowance July 2026".into()),
        })
        .collect();
    let file = PaymentFile {
        version,
        message_id: "BD-OA-2026-07-BKASH".into(),
        created_at: DateTime::parse_from_rfc3339("2026-06-30T12:00:00+06:00")
            .unwrap()
            .with_timezone(&Utc),
        initiating_party: "Department of Social Services".into(),
        blocks: vec![PaymentBlock {
            payment_information_id: "BD-OA-2026-07-BKASH-1".into(),
            debtor_name: "DSS Old Age Allowance".into(),
            debtor_account: Account::Other {
                id: "0002601012345".into(),
                scheme: None,
                issuer: None,
            },
            debtor_agent: Agent::Bic("SONABDDH".into()),
            execution_date: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
            currency: bdt,
            category_purpose: Some("SSBE".into()),
            batch_booking: Some(true),
            charge_bearer: None,
            transactions: PAYMENTS,
            control_sum: transfers.iter().map(|t| t.amount as u128).sum(),
        }],
    };
    let mut w = Pain001Writer::start(Vec::new(), file).unwrap();
    for t in &transfers {
        w.add(t).unwrap();
    }
    (w.finish().unwrap().0, transfers)
}

fn round_trip(version: Pain001Version, report: Pain002Version) {
    let (pain001, transfers) = batch(version);
    let text = String::from_utf8(pain001).unwrap();
    assert_eq!(text.matches("<CdtTrfTxInf>").count() as u64, PAYMENTS);
    // The bank echoes what the file says, so read the ids from it, not from our list.
    let ids: Vec<&str> = text
        .split("<EndToEndId>")
        .skip(1)
        .map(|s| &s[..s.find("</EndToEndId>").unwrap()])
        .collect();
    let bdt = Currency::new("BDT", 2).unwrap();
    let facts = ReportFacts {
        message_id: "SONALI-STS-1",
        created_at: DateTime::parse_from_rfc3339("2026-07-01T18:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        original_message_id: "BD-OA-2026-07-BKASH",
        original_message_name: version.message_name(),
        payment_information_id: "BD-OA-2026-07-BKASH-1",
        currency: &bdt,
    };
    let statuses = transfers
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(i, (t, id))| ReportedPayment {
            end_to_end_id: id,
            status: if i % 10 == 3 { "RJCT" } else { "ACSC" },
            reason: (i % 10 == 3).then_some("AC04"),
            amount: Some(t.amount as u128),
        });
    let pain002 = write_status_report(Vec::new(), report, &facts, Some("PART"), statuses).unwrap();

    let reader = StatusReportReader::open(&pain002[..]).unwrap();
    let mut back = Vec::new();
    for item in reader {
        match item.unwrap() {
            StatusItem::Group(g) => {
                assert_eq!(g.original_message_id, "BD-OA-2026-07-BKASH");
                assert_eq!(g.original_message_name, version.message_name());
            }
            StatusItem::Block(b) => assert_eq!(b.payment_information_id, "BD-OA-2026-07-BKASH-1"),
            StatusItem::Payment(p) => back.push(p),
        }
    }
    let back_ids: Vec<&str> = back.iter().map(|p| p.end_to_end_id.as_str()).collect();
    let sent: Vec<&str> = transfers.iter().map(|t| t.end_to_end_id.as_str()).collect();
    assert!(back_ids == sent, "the ids read back are not the ids sent");
    for (p, t) in back.iter().zip(&transfers) {
        assert_eq!(p.amount.as_ref().unwrap().value.to_minor(2), Ok(t.amount));
    }
    assert_eq!(
        back.iter().filter(|p| p.outcome == Outcome::Failed).count() as u64,
        PAYMENTS / 10
    );
    assert_eq!(
        back.iter().filter(|p| p.outcome == Outcome::Paid).count() as u64,
        PAYMENTS - PAYMENTS / 10
    );
}

#[test]
fn pain001_09_to_pain002_10_and_back() {
    round_trip(Pain001Version::V09, Pain002Version::V10);
}

#[test]
fn pain001_03_to_pain002_03_and_back() {
    round_trip(Pain001Version::V03, Pain002Version::V03);
}

#[test]
fn pain001_to_camt054_and_back() {
    let (_, transfers) = batch(Pain001Version::V09);
    let bdt = Currency::new("BDT", 2).unwrap();
    let facts = NotificationFacts {
        message_id: "SONALI-NTF-1",
        created_at: DateTime::parse_from_rfc3339("2026-07-01T18:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        booking_date: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
        account_iban: "GB82WEST12345698765432",
        currency: &bdt,
        original_message_id: "BD-OA-2026-07-BKASH",
        payment_information_id: "BD-OA-2026-07-BKASH-1",
    };
    for version in [Camt054Version::V08, Camt054Version::V02] {
        let notified = transfers.iter().enumerate().map(|(i, t)| NotifiedPayment {
            end_to_end_id: &t.end_to_end_id,
            amount: t.amount as u128,
            returned: (i % 100 == 0).then_some("AC04"),
        });
        let camt = write_notification(Vec::new(), version, &facts, notified).unwrap();
        let reader = NotificationReader::open(&camt[..]).unwrap();
        let back: Vec<PaymentStatus> = reader.map(Result::unwrap).collect();
        // The bank books the batch first and the returns after it.
        let mut ids: Vec<&str> = back.iter().map(|p| p.end_to_end_id.as_str()).collect();
        ids.sort_unstable();
        let sent: Vec<&str> = transfers.iter().map(|t| t.end_to_end_id.as_str()).collect();
        assert!(ids == sent, "the ids read back are not the ids sent");
        let returned: Vec<&PaymentStatus> = back.iter().filter(|p| p.outcome == Outcome::Returned).collect();
        assert_eq!(returned.len() as u64, PAYMENTS / 100);
        assert!(returned.iter().all(|p| p.reason.as_deref() == Some("AC04")));
        let amount_of = |id: &str| transfers.iter().find(|t| t.end_to_end_id == id).unwrap().amount;
        assert!(
            back.iter()
                .all(|p| p.amount.as_ref().unwrap().value.to_minor(2) == Ok(amount_of(&p.end_to_end_id)))
        );
    }
}
