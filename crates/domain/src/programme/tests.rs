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

/// A deterministic stream of choices, to build varied households.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        // xorshift64*: plenty for test data.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, of: &[T]) -> T {
        of[self.below(of.len() as u64) as usize]
    }
}

fn deployment(country: &str) -> Deployment {
    let dir = format!("{}/../../config", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(format!("{dir}/{country}.toml")).unwrap();
    Deployment::from_toml_with_files(&text, |f| {
        std::fs::read_to_string(format!("{dir}/{f}")).map_err(|e| e.to_string())
    })
    .unwrap()
}

/// A household with any mix of members, values present and missing, and
/// attributes of the deployment's schema (some missing, some of the wrong kind).
fn random_household(d: &Deployment, dice: &mut Dice, codes: &[&str]) -> HouseholdFacts {
    let mut attributes = crate::attributes::Attributes::new();
    for def in d.household_attributes.defs() {
        if dice.chance(15) {
            continue;
        }
        let value = match def.kind {
            AttributeType::Boolean => serde_json::json!(dice.chance(30)),
            AttributeType::Integer => {
                serde_json::json!(dice.below(40_000) as i64 - 20 + [0, 2000][dice.below(2) as usize])
            }
            AttributeType::Decimal => serde_json::json!(dice.below(10_000) as f64 / 7.0),
            AttributeType::Choice if !def.choices.is_empty() => {
                serde_json::json!(def.choices[dice.below(def.choices.len() as u64) as usize])
            }
            _ => serde_json::json!("text"),
        };
        attributes.insert(def.name.clone(), value);
    }
    if dice.chance(5) {
        attributes.insert("has_car".into(), serde_json::json!("yes"));
    }
    let enrolled = |dice: &mut Dice| -> Vec<String> {
        codes
            .iter()
            .filter(|_| dice.chance(20))
            .map(|c| (*c).to_owned())
            .collect()
    };
    let members = (0..dice.below(9))
        .map(|i| MemberFacts {
            id: PersonId(uuid::Uuid::from_u64_pair(dice.next(), i)),
            sex: dice.pick(Sex::ALL),
            age: (!dice.chance(10)).then(|| dice.below(90) as u32),
            relationship: if i == 0 {
                Relationship::Head
            } else {
                dice.pick(Relationship::ALL)
            },
            marital_status: (!dice.chance(20)).then(|| dice.pick(MaritalStatus::ALL)),
            maternal_status: dice.chance(15).then(|| dice.pick(MaternalStatus::ALL)),
            disability: dice.chance(10),
            school_level: dice.chance(40).then(|| dice.pick(SchoolLevel::ALL)),
            identifier_types: ["pk_cnic", "birth_registration", "bd_nid", "jo_national_number"]
                .into_iter()
                .filter(|_| dice.chance(40))
                .collect(),
            enrolments: enrolled(dice),
            attendance: dice.chance(50).then(|| dice.below(1001) as f64 / 10.0),
            health_visits: dice.chance(50).then(|| dice.below(4) as i64),
        })
        .collect();
    HouseholdFacts {
        id: HouseholdId(uuid::Uuid::from_u64_pair(dice.next(), dice.next())),
        area: "AREA-01".into(),
        areas: vec!["AREA".to_owned(), "AREA-01".to_owned()].into(),
        pmt_score: (!dice.chance(8)).then(|| dice.below(10_000) as f64 / 100.0),
        attributes: StoredAttributes::of(&attributes),
        members,
        enrolments: enrolled(dice),
    }
}

#[test]
fn the_direct_evaluation_decides_as_the_interpreter_does_for_every_shipped_programme() {
    let dir = format!("{}/../../config/programmes", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 8);
    let codes: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    let mut dice = Dice(0x5eed_1234_abcd_0001);
    for file in &files {
        let def = ProgrammeDef::from_toml(&std::fs::read_to_string(file).unwrap()).unwrap();
        let d = deployment(&def.code[..2]);
        let base = Programme::compile(def, &d).unwrap();
        // Each shipped rule has a direct form: the fast path is the one taken.
        let f = &base.fast;
        let all = f.eligibility.iter().chain(&f.conditions).chain([&f.benefit]);
        assert!(
            all.chain(f.recipient.iter()).all(Option::is_some),
            "{}: {f:?}",
            base.code()
        );
        // And with a parameter moved, as a simulation runs it.
        let moved: Vec<(String, String)> = base
            .parameters()
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Param::Int(i) => (i + 7).to_string(),
                    Param::Float(x) => (x + 3.5).to_string(),
                };
                (k.clone(), v)
            })
            .collect();
        let simulated = base.with_parameters(&moved).unwrap();
        let (mut fast, mut total) = (0, 0);
        // Of the units found eligible, as a payment cycle computes them.
        let (mut entitled_fast, mut eligible) = (0, 0);
        for _ in 0..3_000 {
            let h = random_household(&d, &mut dice, &codes);
            let id = h.id.to_string();
            let view = HouseholdView::new(&h, &id);
            let units: Vec<Option<usize>> = match base.def.target {
                TargetUnit::Household => vec![None],
                TargetUnit::Person => (0..h.members.len()).map(Some).collect(),
            };
            for p in [&base, &simulated] {
                for &person in &units {
                    total += 1;
                    let interpreted = p.decide_interpreted(&view, person);
                    if let Some(direct) = p.decide_fast(&h, &id, person) {
                        fast += 1;
                        assert_eq!(direct, interpreted, "{} on {h:?}, person {person:?}", p.code());
                    }
                    let met = p.conditions_interpreted(&view, person);
                    if let Some(direct) = p.conditions_fast(&h, &id, person) {
                        assert_eq!(Ok(direct), met, "{} conditions on {h:?}, person {person:?}", p.code());
                    }
                    // A payment cycle's computation, with the values it freezes.
                    let entitled = p.entitle_interpreted(&h, &id, person);
                    let is_eligible = matches!(interpreted, Outcome::Eligible { .. });
                    eligible += u32::from(is_eligible);
                    if let Some(direct) = p.entitle_fast(&h, &id, person) {
                        entitled_fast += u32::from(is_eligible);
                        assert_eq!(direct, entitled, "{} entitlement on {h:?}, person {person:?}", p.code());
                    }
                    assert_eq!(p.entitle(&h, person), entitled);
                    // The whole decision, exclusions first, is the same either way.
                    let whole = p.decide(&h, &view, person);
                    let expected = match p.excluded_by(&h, person) {
                        Some(programme) => Outcome::NotEligible(Refusal::Exclusive { programme }),
                        None => interpreted,
                    };
                    assert_eq!(whole, expected);
                }
            }
        }
        // Errors (a missing score, a missing field) are the interpreter's; the rest is direct.
        assert!(
            fast * 10 >= total * 6,
            "{}: {fast} of {total} decided directly",
            base.code()
        );
        assert!(
            eligible > 0 && entitled_fast * 10 >= eligible * 9,
            "{}: {entitled_fast} of {eligible} computed directly",
            base.code()
        );
    }
}

/// Each form the direct evaluation knows, against the interpreter, on one household.
#[test]
fn the_direct_evaluation_of_each_form_agrees_with_the_interpreter() {
    let d = pk();
    let mut dice = Dice(77);
    let params: BTreeMap<String, Param> = [("n".to_owned(), Param::Int(3)), ("x".to_owned(), Param::Float(2.5))].into();
    let sources = [
        "1 + 2 * 3 - 4 / 2 == 5",
        "7 % 3 == 1 && -(2) < 0",
        "9223372036854775807 + 1 > 0",
        "10 / 0 == 1",
        "2.5 * 2.0 / 4.0 > 1.0",
        "1.0 / 0.0 > 1.0",
        "1 < 2.5 && 2.5 > 1 && 3 == 3.0 && 3 != 3.5",
        "1 == 'a'",
        "'ab' < 'b' && 'b' >= 'b'",
        "null == null && true != false",
        "params.n * 2 == 6 && params.x > 2.0",
        "household.size == size(household.members)",
        "size(household.enrolments) >= 0 && size(household.areas) == 2",
        "household.pmt_score <= params.x * 10.0",
        "has(household.pmt_score) ? household.pmt_score > 50.0 : false",
        "household.attributes.?has_car.orValue(false) == true",
        "household.attributes.has_car",
        "has(household.attributes.rooms) && household.attributes.rooms > 2",
        "household.attributes.?main_income_source.orValue('') in ['government_job', 'farming']",
        "'pk-kafalat' in household.enrolments || 'AREA' in household.areas",
        "household.members.exists(m, m.age > 60)",
        "household.members.all(m, has(m.age) && m.age < 80)",
        "household.members.exists_one(m, m.relationship == 'head')",
        "size(household.members.filter(m, m.sex == 'female')) >= 1",
        "household.members.map(m, m.?age.orValue(0)).exists(a, a > 30)",
        "household.members.exists(m, household.members.exists(n, n.id != m.id && n.age == m.age))",
        "household.members.exists(m, 'pk_cnic' in m.identifier_types && m.?attendance.orValue(0.0) > 50.0)",
        "household.members.exists(m, m.?health_visits.orValue(0) >= 2 && m.disability)",
        "household.members.exists(m, m.?school_level.orValue('') == 'primary' && m.?maternal_status.orValue('') == '')",
        "size(household.members) > 0 && household.members.exists(m, m.id == household.members.filter(x, true).map(x, x.id)[0])",
        "household.id != '' && household.area == 'AREA-01'",
        "[1, 2] + [3] == [1, 2, 3]",
        "size('abc') == 3",
    ];
    let mut direct_seen = 0;
    for source in sources {
        let program = ENV.compile(source).unwrap();
        let node = fast::Node::translate(program.expression(), &params);
        for _ in 0..300 {
            let h = random_household(&d, &mut dice, &["pk-kafalat", "pk-nashonuma"]);
            let id = h.id.to_string();
            let view = HouseholdView::new(&h, &id);
            let ctx = context(&view, &params, None, None);
            let interpreted = program.execute(&ctx);
            let Some(node) = &node else { continue };
            if let Some(direct) = fast::Unit::new(&h, &id, None).holds(node) {
                direct_seen += 1;
                assert_eq!(interpreted, Ok(Value::Bool(direct)), "{source} on {h:?}");
            }
        }
    }
    assert!(direct_seen > 3_000, "{direct_seen}");
}
