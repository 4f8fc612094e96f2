use super::*;
use crate::attributes::StoredAttributes;

fn pk() -> Deployment {
    let text = include_str!("../../../../config/pk.toml");
    Deployment::from_toml_with_files(text, |f| {
        std::fs::read_to_string(format!("{}/../../config/{f}", env!("CARGO_MANIFEST_DIR"))).map_err(|e| e.to_string())
    })
    .unwrap()
}

fn kafalat() -> ProgrammeDef {
    ProgrammeDef::from_toml(include_str!("../../../../config/programmes/pk-kafalat.toml")).unwrap()
}

fn member(sex: Sex, age: u32, relationship: Relationship, marital: Option<MaritalStatus>) -> MemberFacts {
    MemberFacts {
        id: PersonId(uuid::Uuid::now_v7()),
        sex,
        age: Some(age),
        relationship,
        marital_status: marital,
        maternal_status: None,
        disability: false,
        school_level: None,
        identifier_types: Vec::new(),
        enrolments: Vec::new(),
        attendance: None,
        health_visits: None,
    }
}

fn family(score: Option<f64>) -> HouseholdFacts {
    HouseholdFacts {
        id: HouseholdId(uuid::Uuid::now_v7()),
        area: "PK-PB-MUL".into(),
        areas: vec!["PK-PB".to_owned(), "PK-PB-MUL".to_owned()].into(),
        pmt_score: score,
        attributes: with_car(false),
        members: vec![
            member(Sex::Male, 40, Relationship::Head, Some(MaritalStatus::Married)),
            member(Sex::Female, 35, Relationship::Spouse, Some(MaritalStatus::Married)),
            member(Sex::Female, 7, Relationship::Child, None),
        ],
        enrolments: Vec::new(),
    }
}

fn with_car(car: bool) -> StoredAttributes {
    StoredAttributes::of(&[("has_car".to_owned(), serde_json::json!(car))].into_iter().collect())
}

fn decide(p: &Programme, h: &HouseholdFacts) -> Outcome {
    let id = h.id.to_string();
    let view = HouseholdView::new(h, &id);
    p.decide(h, &view, None)
}

fn refusal(def: ProgrammeDef) -> Vec<(String, &'static str, String)> {
    Programme::compile(def, &pk())
        .unwrap_err()
        .errors
        .into_iter()
        .map(|e| (e.field, e.code, e.message))
        .collect()
}

#[test]
fn kafalat_takes_a_poor_family_and_pays_the_woman() {
    let p = Programme::compile(kafalat(), &pk()).unwrap();
    let h = family(Some(20.0));
    assert_eq!(
        decide(&p, &h),
        Outcome::Eligible {
            amount: 1_350_000,
            recipient: Some(1)
        }
    );
    assert_eq!(
        decide(&p, &family(Some(33.0))),
        Outcome::NotEligible(Refusal::Clause { clause: 0 })
    );
    // A member with a disability raises the cut-off to 37.
    let mut h = family(Some(33.0));
    h.members[2].disability = true;
    assert!(matches!(decide(&p, &h), Outcome::Eligible { .. }));
    // A car excludes whatever the score.
    let mut h = family(Some(10.0));
    h.attributes = with_car(true);
    assert_eq!(decide(&p, &h), Outcome::NotEligible(Refusal::Clause { clause: 2 }));
    // No score: an error for this household, reported, not a guess.
    match decide(&p, &family(None)) {
        Outcome::Error(e) => assert!(e.contains("no proxy means test score"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_explanation_gives_every_clause_in_the_familys_language() {
    let p = Programme::compile(kafalat(), &pk()).unwrap();
    let mut h = family(Some(40.0));
    h.attributes = with_car(true);
    let e = p.explain(&h, None, "ur");
    assert!(!e.eligible);
    let holds: Vec<Option<bool>> = e.clauses.iter().map(|c| c.holds).collect();
    assert_eq!(holds, [Some(false), Some(true), Some(false), Some(true)]);
    assert!(e.clauses[0].label.starts_with("غربت اسکور"));
    let h = family(Some(12.5));
    let e = p.explain(&h, None, "en");
    assert!(e.eligible);
    assert_eq!(e.amount, Some(1_350_000));
    assert_eq!(e.recipient, Some(h.members[1].id));
}

#[test]
fn an_overridden_threshold_simulates_a_policy_change() {
    let p = Programme::compile(kafalat(), &pk()).unwrap();
    let wider = p.with_parameters(&[("pmt_threshold".into(), "35".into())]).unwrap();
    let h = family(Some(34.0));
    assert!(matches!(decide(&p, &h), Outcome::NotEligible(_)));
    assert!(matches!(decide(&wider, &h), Outcome::Eligible { .. }));
    let e = p.with_parameters(&[("threshold".into(), "35".into())]).unwrap_err();
    assert!(e.errors[0].message.contains("pmt_threshold"), "{e}");
    let e = p
        .with_parameters(&[("quarterly_amount".into(), "1.5".into())])
        .unwrap_err();
    assert_eq!(e.errors[0].field, "parameters.quarterly_amount");
}

#[test]
fn exclusive_programmes_refuse_someone_already_in_the_other() {
    let mut def = kafalat();
    def.exclusive_with = vec!["pk-other".into()];
    let p = Programme::compile(def, &pk()).unwrap();
    let mut h = family(Some(10.0));
    h.enrolments.push("pk-other".into());
    assert_eq!(
        decide(&p, &h),
        Outcome::NotEligible(Refusal::Exclusive {
            programme: "pk-other".into()
        })
    );
}

#[test]
fn a_rule_that_does_not_parse_is_refused_with_its_position() {
    let mut def = kafalat();
    def.eligibility[1].rule = "household.pmt_score <= ".into();
    let errors = refusal(def);
    assert_eq!(errors[0].0, "eligibility[1].rule");
    assert_eq!(errors[0].1, "rule-syntax");
    assert!(errors[0].2.starts_with("line 1, column 25:"), "{}", errors[0].2);
}

#[test]
fn unknown_fields_wrong_types_zero_divisors_and_impossible_codes_are_refused() {
    let cases = [
        (
            "household.pmt_scor <= 32.0",
            "rule-unknown-field",
            "line 1, column 10: a household has no field \"pmt_scor\"",
        ),
        (
            "household.attributes.has_boat",
            "rule-unknown-field",
            "no household attribute is named \"has_boat\"",
        ),
        (
            "params.threshold > 1.0",
            "rule-unknown-field",
            "no parameter is named \"threshold\"",
        ),
        (
            "household.members.exists(x, x.gender == 'female')",
            "rule-unknown-field",
            "no field is named \"gender\"",
        ),
        ("hh.size > 2", "rule-unknown-field", "unknown name \"hh\""),
        (
            "household.size",
            "rule-type",
            "gives an int on a sample household; it must give true or false",
        ),
        (
            "household.size / 0 > 1",
            "rule-divides-by-zero",
            "line 1, column 18: divides by zero",
        ),
        (
            "household.members.exists(m, m.sex == 'F')",
            "rule-unknown-value",
            "sex is never \"F\"; it is one of male, female, other",
        ),
        (
            "household.attributes.roof_material == 'tin'",
            "rule-unknown-value",
            "roof_material is never \"tin\"",
        ),
    ];
    for (rule, code, message) in cases {
        let mut def = kafalat();
        def.eligibility[0].rule = rule.into();
        let errors = refusal(def);
        assert_eq!(errors.len(), 1, "{rule}: {errors:?}");
        assert_eq!(errors[0].0, "eligibility[0].rule", "{rule}");
        assert_eq!(errors[0].1, code, "{rule}: {errors:?}");
        assert!(errors[0].2.contains(message), "{rule}: {}", errors[0].2);
    }
    let mut def = kafalat();
    def.benefit = "13500.0".into();
    let errors = refusal(def);
    assert_eq!((errors[0].0.as_str(), errors[0].1), ("benefit", "rule-type"));
    assert!(errors[0].2.contains("write 1350000, not 13500.0"));
}

#[test]
fn the_definition_itself_is_checked() {
    let mut def = kafalat();
    def.code = "PK Kafalat".into();
    def.currency = "BDT".into();
    def.name.remove("ur");
    def.quota = Some(0);
    def.payment_validity_days = Some(0);
    def.eligibility[0].label.clear();
    let fields: Vec<String> = refusal(def).into_iter().map(|e| e.0).collect();
    assert_eq!(
        fields,
        [
            "code",
            "name.ur",
            "currency",
            "quota",
            "payment_validity_days",
            "eligibility[0].label.en"
        ]
    );
    let mut def = kafalat();
    def.payment_validity_days = Some(MAX_PAYMENT_VALIDITY_DAYS + 1);
    assert_eq!(refusal(def)[0].0, "payment_validity_days");
    let mut def = kafalat();
    def.payment_validity_days = Some(90);
    assert!(Programme::compile(def, &pk()).is_ok());
}

#[test]
fn programmes_for_people_see_the_person() {
    let mut def = kafalat();
    def.target = TargetUnit::Person;
    def.recipient = None;
    def.eligibility = vec![Clause {
        rule: "person.age >= 6 && person.age <= 12".into(),
        label: [("en".to_owned(), "Of primary school age".to_owned())]
            .into_iter()
            .collect(),
    }];
    def.benefit = "person.sex == 'female' ? 300000 : 250000".into();
    let p = Programme::compile(def, &pk()).unwrap();
    let h = family(Some(20.0));
    let id = h.id.to_string();
    let view = HouseholdView::new(&h, &id);
    assert_eq!(
        p.decide(&h, &view, Some(2)),
        Outcome::Eligible {
            amount: 300_000,
            recipient: Some(2)
        }
    );
    assert!(matches!(p.decide(&h, &view, Some(0)), Outcome::NotEligible(_)));
}

#[test]
fn every_shipped_programme_compiles_against_its_country() {
    let root = format!("{}/../../config", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(format!("{root}/programmes")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let def = ProgrammeDef::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let country = &def.code[..2];
        let config = std::fs::read_to_string(format!("{root}/{country}.toml")).unwrap();
        let deployment = Deployment::from_toml_with_files(&config, |f| {
            std::fs::read_to_string(format!("{root}/{f}")).map_err(|e| e.to_string())
        })
        .unwrap();
        assert_eq!(
            format!("{}.toml", def.code),
            path.file_name().unwrap().to_str().unwrap()
        );
        Programme::compile(def, &deployment).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert_eq!(seen, 8);
}

#[test]
fn fields_are_checked_on_branches_the_sample_does_not_take() {
    let mut def = kafalat();
    // The sample household's score is 25: the else branch never runs on it.
    def.benefit = "household.pmt_score < 10.0 ? params.quarterly_amont : params.quarterly_amount".into();
    def.eligibility[1].rule =
        "household.size > 20 && household.members.exists(x, x.?maritl_status.orValue('') == 'widowed')".into();
    def.eligibility[2].rule = "household.size > 50 && household.attributes.has_boat".into();
    let errors = refusal(def);
    let got: Vec<(&str, &str)> = errors.iter().map(|e| (e.0.as_str(), e.2.as_str())).collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got[0].0 == "eligibility[1].rule" && got[0].1.contains("\"maritl_status\""),
        "{got:?}"
    );
    assert!(
        got[1].0 == "eligibility[2].rule" && got[1].1.contains("\"has_boat\""),
        "{got:?}"
    );
    assert!(
        got[2].0 == "benefit" && got[2].1.contains("\"quarterly_amont\""),
        "{got:?}"
    );
}

#[test]
fn a_very_long_rule_is_refused_not_a_crash() {
    let mut def = kafalat();
    def.benefit = format!("1{}", " + 1".repeat(50_000));
    let errors = refusal(def);
    assert_eq!(
        (errors[0].0.as_str(), errors[0].1),
        ("benefit", "too-long"),
        "{errors:?}"
    );
    // The longest rule accepted parses, checks and runs without exhausting the stack.
    let mut def = kafalat();
    let terms = (MAX_RULE_CHARS - 1) / 4;
    def.benefit = format!("1{}", " + 1".repeat(terms));
    let p = Programme::compile(def, &pk()).unwrap();
    match decide(&p, &family(Some(10.0))) {
        Outcome::Eligible { amount, .. } => assert_eq!(amount, terms as i64 + 1),
        other => panic!("{other:?}"),
    }
    let mut def = kafalat();
    def.eligibility[0].rule = format!("{}true{}", "(".repeat(900), ")".repeat(900));
    assert!(
        Programme::compile(def, &pk()).is_err(),
        "nesting beyond the parser's depth is refused"
    );
}

#[test]
fn a_payment_prepares_the_score_and_attributes_only_for_rules_that_can_read_them() {
    let d = pk();
    let reads = |benefit: &str, conditions: &[&str]| {
        let mut def = kafalat();
        def.benefit = benefit.into();
        def.conditions = conditions
            .iter()
            .map(|rule| Clause {
                rule: (*rule).into(),
                label: [("en".to_owned(), "A condition".to_owned())].into_iter().collect(),
            })
            .collect();
        Programme::compile(def, &d).unwrap().entitlement_reads()
    };
    let none = FactsRead {
        pmt_score: false,
        attributes: false,
    };
    // Kafalat's flat benefit reads neither (its eligibility reads the score).
    assert_eq!(reads("params.quarterly_amount", &[]), none);
    assert_eq!(
        reads("household.pmt_score < 10.0 ? 2 : 1", &[]),
        FactsRead {
            pmt_score: true,
            attributes: false
        }
    );
    assert_eq!(
        reads("1", &["household.attributes.rooms > 0"]),
        FactsRead {
            pmt_score: false,
            attributes: true
        }
    );
    // A rule that indexes may reach any field, so it is given everything.
    assert_eq!(
        reads("params.quarterly_amount", &["household.members[0].age > 0"]),
        FactsRead::ALL
    );
}
