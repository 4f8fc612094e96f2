//! The registry's use cases: register, read, update, move, split, merge,
//! transfer, inactivate, history and search.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use himaya_domain::Problem;
use himaya_domain::access::Permission;
use himaya_domain::config::Area;
use himaya_domain::digits::to_ascii_digits;
use himaya_domain::history::{FieldChange, diff, merge_patch};
use himaya_domain::household::{
    Household, HouseholdDraft, HouseholdId, HouseholdRecord, check_change_reason, check_one_head,
};
use himaya_domain::identifier::{Identifier, IdentifierType, IdentifierWarning};
use himaya_domain::name::search_tokens;
use himaya_domain::person::{Person, PersonDraft, PersonId, PersonRecord, Rules};
use himaya_domain::phone::Phone;
use himaya_domain::vocab::{ChangeKind, HouseholdStatus, PersonStatus, Relationship, Source};
use himaya_store::{
    HouseholdFilter, HouseholdWrite, PersonFilter, PersonWrite, PreparedPerson, Tx, VersionRow, WriteMeta,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audit::{Record, entry};
use crate::{Actor, App, AppError};

/// A household to register, with its members.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHousehold {
    pub household: HouseholdDraft,
    pub members: Vec<PersonDraft>,
    pub source: Option<String>,
    pub reason: Option<String>,
}

/// A partial update: an RFC 7396 merge patch over the record's fields.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    pub changes: serde_json::Map<String, Value>,
    pub source: Option<String>,
    pub reason: Option<String>,
}

/// Why and from where, for operations whose body carries nothing else.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub source: Option<String>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub person: PersonDraft,
    pub source: Option<String>,
    pub reason: Option<String>,
}

/// Some members leave to form a new household.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub members: Vec<PersonId>,
    pub head: PersonId,
    /// Relationships to the new head; members not listed keep theirs.
    #[serde(default)]
    pub relationships: BTreeMap<PersonId, String>,
    /// The new household's fields; area, address and location default to the old household's.
    #[serde(default)]
    pub household: HouseholdDraft,
    pub source: Option<String>,
    pub reason: Option<String>,
}

/// Another household's active members join this one; the other becomes inactive.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    pub from: HouseholdId,
    /// Relationships to this household's head; the other household's head
    /// becomes `other_relative` unless listed.
    #[serde(default)]
    pub relationships: BTreeMap<PersonId, String>,
    pub source: Option<String>,
    pub reason: Option<String>,
}

/// A person moves to another existing household.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub to_household: HouseholdId,
    pub relationship: String,
    pub source: Option<String>,
    pub reason: Option<String>,
}

/// Another member becomes head of the household.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeHead {
    pub person: PersonId,
    /// The former head's relationship to the new one, when the former head is still active.
    pub previous_head_relationship: Option<String>,
    pub source: Option<String>,
    pub reason: Option<String>,
}

/// A new household whose fields and members passed their checks.
pub(crate) struct Checked {
    record: HouseholdRecord,
    members: Vec<(PersonId, PersonRecord)>,
    meta: WriteMeta,
}

impl Checked {
    pub(crate) fn members(&self) -> &[(PersonId, PersonRecord)] {
        &self.members
    }

    pub(crate) fn into_members(self) -> Vec<(PersonId, PersonRecord)> {
        self.members
    }

    /// Gives the members the ids made for them beforehand (in file order,
    /// so that ids — and registration order — follow the file).
    pub(crate) fn set_person_ids(&mut self, ids: &[PersonId]) {
        for ((id, _), new) in self.members.iter_mut().zip(ids) {
            *id = *new;
        }
    }

    pub(crate) fn record(&self) -> &HouseholdRecord {
        &self.record
    }

    pub(crate) fn meta(&self) -> &WriteMeta {
        &self.meta
    }
}

/// A household with everyone linked to it.
#[derive(Clone, Debug, Serialize)]
pub struct HouseholdView {
    #[serde(flatten)]
    pub household: Household,
    pub members: Vec<Person>,
    /// Notes that did not refuse the change (CNIC parity…), by member index.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<MemberWarning>,
}

impl HouseholdView {
    /// A household as read, with the warnings its members' identifiers raise.
    pub fn new(household: Household, members: Vec<Person>) -> HouseholdView {
        let warnings = member_warnings(members.iter().map(|m| &m.record));
        HouseholdView {
            household,
            members,
            warnings,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MemberWarning {
    pub field: String,
    #[serde(flatten)]
    pub warning: IdentifierWarning,
}

/// One version of a record, read back field by field.
#[derive(Clone, Debug, Serialize)]
pub struct VersionEntry {
    pub version: i64,
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub source: String,
    pub change: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub changes: Vec<FieldChange>,
}

/// Filters of a person search, as given (raw text is normalised here).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonQuery {
    pub identifier: Option<String>,
    pub identifier_type: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub area: Option<String>,
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HouseholdQuery {
    pub area: Option<String>,
    pub status: Option<String>,
    pub registration_number: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// One page of results and the cursor of the next, if any.
#[derive(Clone, Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;
/// A person's names hold a handful of words; more in a search is a mistake
/// (and each word is one more condition in the query).
pub const MAX_NAME_WORDS: usize = 12;

/// Where a change comes from: as given, or by default a desk update; an
/// agency's changes always come from its feed.
pub(crate) fn parse_source(source: Option<&str>, actor: &Actor) -> Result<Source, Problem> {
    let agency = matches!(actor.kind(), crate::ActorKind::Agency { .. });
    let source = match source.map(str::trim).filter(|s| !s.is_empty()) {
        None if agency => Source::AgencyFeed,
        None => Source::DeskUpdate,
        Some(s) => Source::from_code(s).ok_or_else(|| {
            Problem::single(
                "source",
                "not-allowed",
                format!("{s:?} is not one of: {}", Source::codes()),
            )
        })?,
    };
    if agency && source != Source::AgencyFeed {
        return Err(Problem::single(
            "source",
            "not-allowed",
            "a partner agency's changes are recorded as agency_feed",
        ));
    }
    Ok(source)
}

fn relationship(code: &str, field: &str) -> Result<Relationship, AppError> {
    Relationship::from_code(code.trim()).ok_or_else(|| {
        AppError::invalid(
            field,
            "not-allowed",
            format!("{code:?} is not one of: {}", Relationship::codes()),
        )
    })
}

fn not_found_household(id: HouseholdId) -> AppError {
    AppError::NotFound {
        what: "household",
        id: id.to_string(),
    }
}

pub(crate) fn not_found_person(id: PersonId) -> AppError {
    AppError::NotFound {
        what: "person",
        id: id.to_string(),
    }
}

fn check_version(found: i64, expected: Option<i64>) -> Result<(), AppError> {
    match expected {
        Some(v) if v != found => Err(AppError::VersionConflict { current: found }),
        _ => Ok(()),
    }
}

fn require_active(h: &Household) -> Result<(), AppError> {
    if h.record.status != HouseholdStatus::Active {
        return Err(AppError::conflict(
            "household-inactive",
            format!("household {} is inactive", h.registration_number),
        ));
    }
    Ok(())
}

fn entries(rows: Vec<VersionRow>) -> Vec<VersionEntry> {
    let mut prev = Value::Null;
    rows.into_iter()
        .map(|r| {
            let changes = diff(&prev, &r.data);
            prev = r.data;
            VersionEntry {
                version: r.version,
                recorded_at: r.recorded_at,
                actor: r.actor,
                source: r.source,
                change: r.change,
                reason: r.reason,
                changes,
            }
        })
        .collect()
}

/// Decodes an opaque cursor (the last id of the previous page).
fn cursor<T: std::str::FromStr>(c: Option<&str>) -> Result<Option<T>, AppError> {
    c.filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<T>()
                .map_err(|_| AppError::invalid("cursor", "cursor-invalid", "not a cursor this server issued"))
        })
        .transpose()
}

pub(crate) fn page_size(limit: Option<u32>) -> Result<u32, AppError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(AppError::invalid(
            "limit",
            "out-of-range",
            format!("limit must be between 1 and {MAX_PAGE}"),
        )),
    }
}

impl App {
    pub(crate) fn rules(&self) -> Rules<'_> {
        Rules {
            deployment: self.deployment(),
            today: Utc::now().date_naive(),
        }
    }

    pub(crate) fn meta(&self, actor: &Actor, source: Source, change: ChangeKind, reason: Option<String>) -> WriteMeta {
        // Stored to the microsecond, so a record read back equals the one returned.
        let now = Utc::now();
        let at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        WriteMeta {
            actor: actor.name.clone(),
            source,
            change,
            reason,
            at,
        }
    }

    fn check_household_draft(&self, draft: &HouseholdDraft, path: &str) -> Result<HouseholdRecord, Problem> {
        draft.check(self.deployment(), |c| self.area_known(c), path)
    }

    /// Refuses identifiers that already belong to another active person.
    /// `owners` maps each identifier to the person who may hold it.
    async fn check_identifiers_free(
        &self,
        tx: &mut Tx,
        owners: &[(String, &Identifier, PersonId)],
    ) -> Result<(), AppError> {
        if owners.is_empty() {
            return Ok(());
        }
        let keys: Vec<(&str, &str)> = owners
            .iter()
            .map(|(_, i, _)| (i.id_type.code(), i.value.as_str()))
            .collect();
        let holders = tx.identifier_holders(&keys).await?;
        let mut problem = Problem::default();
        for (field, id, owner) in owners {
            if let Some(holder) = holders.get(&(id.id_type.code().to_owned(), id.value.clone()))
                && holder != owner
            {
                problem.push(
                    field.clone(),
                    "identifier-taken",
                    format!(
                        "{} {} already belongs to another active person ({holder})",
                        id.id_type,
                        id.display()
                    ),
                );
            }
        }
        problem.into_result(()).map_err(AppError::Invalid)
    }

    /// Registers one household with its members.
    pub async fn register_household(&self, actor: &Actor, new: NewHousehold) -> Result<HouseholdView, AppError> {
        let mut views = self.register_households(actor, vec![new]).await.map_err(|(_, e)| e)?;
        Ok(views.remove(0))
    }

    /// Registers many households in one transaction: all or none. On error,
    /// the index of the first household at fault comes with it.
    /// Checks a batch of new households: pure computation, run off the
    /// async workers so that a batch is checked while another is written.
    pub(crate) fn check_batch(&self, actor: &Actor, batch: &[NewHousehold]) -> Result<Vec<Checked>, (usize, AppError)> {
        actor.require(Permission::HouseholdsWrite).map_err(|e| (0, e))?;
        let rules = self.rules();
        let mut checked = Vec::with_capacity(batch.len());
        let mut seen: HashMap<(IdentifierType, String), usize> = HashMap::new();
        for (index, new) in batch.iter().enumerate() {
            let mut problem = Problem::default();
            let record = self
                .check_household_draft(&new.household, "household")
                .map_err(|p| problem.errors.extend(p.errors))
                .ok();
            if new.members.is_empty() {
                problem.push("members", "required", "a household needs at least one member, its head");
            }
            let mut members = Vec::with_capacity(new.members.len());
            for (i, m) in new.members.iter().enumerate() {
                match m.check(&rules, &format!("members[{i}]")) {
                    Ok(r) if r.status != PersonStatus::Active => problem.push(
                        format!("members[{i}].status"),
                        "not-allowed",
                        "new members are registered as active",
                    ),
                    Ok(r) => members.push((PersonId::new(), r)),
                    Err(p) => problem.errors.extend(p.errors),
                }
            }
            if members.len() == new.members.len()
                && !members.is_empty()
                && let Err(p) = check_one_head(members.iter().map(|(_, r)| r), "members")
            {
                problem.errors.extend(p.errors);
            }
            // Positions match the request only when every member parsed.
            let all_parsed = members.len() == new.members.len();
            for (i, (_, m)) in members.iter().enumerate().filter(|_| all_parsed) {
                for (j, id) in m.identifiers.iter().enumerate() {
                    if let Some(other) = seen.insert((id.id_type, id.value.clone()), index) {
                        let whose = if other == index {
                            "another member of this household".to_owned()
                        } else {
                            format!("household {other} of this batch")
                        };
                        problem.push(
                            format!("members[{i}].identifiers[{j}].value"),
                            "identifier-repeated",
                            format!("also given for {whose}"),
                        );
                    }
                }
            }
            let source = parse_source(new.source.as_deref(), actor)
                .map_err(|p| problem.errors.extend(p.errors))
                .ok();
            let reason = check_change_reason(new.reason.as_deref(), "reason", false)
                .map_err(|p| problem.errors.extend(p.errors))
                .ok()
                .flatten();
            let (Some(record), Some(source), true) = (record, source, problem.is_empty()) else {
                return Err((index, AppError::Invalid(problem)));
            };
            self.require_area(actor, &record.area).map_err(|e| (index, e))?;
            checked.push(Checked {
                record,
                members,
                meta: self.meta(actor, source, ChangeKind::Create, reason),
            });
        }

        Ok(checked)
    }

    pub async fn register_households(
        &self,
        actor: &Actor,
        batch: Vec<NewHousehold>,
    ) -> Result<Vec<HouseholdView>, (usize, AppError)> {
        let checked = {
            let (app, actor) = (self.clone(), actor.clone());
            tokio::task::spawn_blocking(move || app.check_batch(&actor, &batch))
                .await
                .map_err(|e| (0, AppError::Internal(format!("checking a batch failed: {e}"))))??
        };
        self.write_checked(actor, checked).await
    }

    /// The registration number the registration counter's value `n` stands for (`PK-00000042`).
    pub(crate) fn registration_number(&self, n: i64) -> String {
        format!("{}-{n:08}", self.deployment().registration_prefix)
    }

    /// Writes checked households in one transaction.
    pub(crate) async fn write_checked(
        &self,
        actor: &Actor,
        checked: Vec<Checked>,
    ) -> Result<Vec<HouseholdView>, (usize, AppError)> {
        // Everything that needs no database is done before the transaction,
        // so concurrent batches validate while another one writes.
        let ids: Vec<HouseholdId> = checked.iter().map(|_| HouseholdId::new()).collect();
        let member_ids: Vec<Vec<PersonId>> = checked
            .iter()
            .map(|c| c.members.iter().map(|(id, _)| *id).collect())
            .collect();
        let persons: Vec<PreparedPerson> = checked
            .iter()
            .zip(&ids)
            .flat_map(|(c, household_id)| {
                c.members.iter().map(move |(pid, r)| {
                    PersonWrite {
                        id: *pid,
                        household_id: *household_id,
                        area: &c.record.area,
                        version: 1,
                        record: r,
                        meta: &c.meta,
                    }
                    .prepare()
                })
            })
            .collect();
        let write = async {
            let mut tx = self.store().begin().await?;
            let first = tx.next_numbers("household_registration", checked.len() as i64).await?;
            let numbers: Vec<String> = (0..checked.len())
                .map(|i| self.registration_number(first + i as i64))
                .collect();
            let households: Vec<HouseholdWrite> = checked
                .iter()
                .enumerate()
                .map(|(i, c)| HouseholdWrite {
                    id: ids[i],
                    registration_number: &numbers[i],
                    version: 1,
                    record: &c.record,
                    members: &member_ids[i],
                    meta: &c.meta,
                })
                .collect();
            tx.insert_households(&households).await?;
            // The unique index refuses a taken identifier; only then do we
            // look for which one, to name it.
            tx.insert_persons(&persons).await?;
            tx.commit().await?;
            Ok::<_, AppError>(numbers)
        };
        let numbers = match write.await {
            Ok(numbers) => numbers,
            Err(AppError::Conflict {
                code: "identifier-taken",
                ..
            }) => {
                return Err(self
                    .name_taken_identifier(&checked.iter().map(|c| &c.members).collect::<Vec<_>>())
                    .await);
            }
            Err(e) => return Err((0, e)),
        };
        let audit = ids
            .iter()
            .zip(&numbers)
            .zip(&member_ids)
            .map(|((id, number), members)| {
                // The members are listed, not indexed as subjects: a person's
                // own history already says who registered them.
                entry(
                    actor,
                    "household.create",
                    Some(household_record(id)),
                    json!({"registration_number": number, "members": members}),
                )
            })
            .collect();
        self.audit_many(audit).await.map_err(|e| (0, e))?;

        Ok(checked
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let warnings = member_warnings(c.members.iter().map(|(_, r)| r));
                let at = c.meta.at;
                HouseholdView {
                    household: Household {
                        id: ids[i],
                        registration_number: numbers[i].clone(),
                        version: 1,
                        record: c.record,
                        created_at: at,
                        updated_at: at,
                    },
                    members: c
                        .members
                        .into_iter()
                        .map(|(id, record)| Person {
                            id,
                            household_id: ids[i],
                            version: 1,
                            record,
                            created_at: at,
                            updated_at: at,
                        })
                        .collect(),
                    warnings,
                }
            })
            .collect())
    }

    /// After the unique index refused a batch: which household and field hold
    /// an identifier that another active person already has.
    async fn name_taken_identifier(&self, households: &[&Vec<(PersonId, PersonRecord)>]) -> (usize, AppError) {
        let owners: Vec<(usize, String, &Identifier)> = households
            .iter()
            .enumerate()
            .flat_map(|(h, members)| {
                members.iter().enumerate().flat_map(move |(i, (_, m))| {
                    m.identifiers
                        .iter()
                        .enumerate()
                        .map(move |(j, id)| (h, format!("members[{i}].identifiers[{j}].value"), id))
                })
            })
            .collect();
        let keys: Vec<(&str, &str)> = owners
            .iter()
            .map(|(_, _, i)| (i.id_type.code(), i.value.as_str()))
            .collect();
        let holders = match self.store().begin().await {
            Ok(mut tx) => tx.identifier_holders(&keys).await,
            Err(e) => Err(e),
        };
        let holders = match holders {
            Ok(h) => h,
            Err(e) => return (0, e.into()),
        };
        match owners
            .iter()
            .find(|(_, _, id)| holders.contains_key(&(id.id_type.code().to_owned(), id.value.clone())))
        {
            Some((h, field, id)) => (
                *h,
                AppError::invalid(
                    field.clone(),
                    "identifier-taken",
                    format!(
                        "{} {} already belongs to another active person",
                        id.id_type,
                        id.display()
                    ),
                ),
            ),
            // Its holder went away meanwhile: the caller may simply retry.
            None => (
                0,
                AppError::conflict(
                    "identifier-taken",
                    "an identifier was taken at the same moment; try again",
                ),
            ),
        }
    }

    /// A household with all its members, read by an actor allowed to see it.
    pub async fn household(&self, actor: &Actor, id: HouseholdId) -> Result<HouseholdView, AppError> {
        actor.require(Permission::HouseholdsRead)?;
        let view = self.household_view(id).await?;
        self.require_area(actor, &view.household.record.area)?;
        // Members are shown only to those who may read people.
        let showed: Vec<String> = if actor.permissions().allows(Permission::PersonsRead) {
            view.members.iter().map(|m| m.id.to_string()).collect()
        } else {
            Vec::new()
        };
        self.audit_read(
            actor,
            "household.read",
            Some(household_record(&id)),
            json!({"members": showed}),
            showed.clone(),
        )
        .await?;
        Ok(view)
    }

    /// A person, read by an actor allowed to see them.
    pub async fn person(&self, actor: &Actor, id: PersonId) -> Result<Person, AppError> {
        actor.require(Permission::PersonsRead)?;
        let p = self.person_unchecked(id).await?;
        self.require_person_area(actor, &p).await?;
        self.audit_read(actor, "person.read", Some(person_record(&id)), json!({}), Vec::new())
            .await?;
        Ok(p)
    }

    /// Refuses unless the person's household lies in the actor's areas.
    async fn require_person_area(&self, actor: &Actor, p: &Person) -> Result<(), AppError> {
        if *actor.scope() == himaya_domain::access::Scope::National {
            return Ok(());
        }
        let h = self
            .store()
            .household(p.household_id)
            .await?
            .ok_or_else(|| not_found_household(p.household_id))?;
        self.require_area(actor, &h.record.area)
    }

    async fn household_view(&self, id: HouseholdId) -> Result<HouseholdView, AppError> {
        let household = self
            .store()
            .household(id)
            .await?
            .ok_or_else(|| not_found_household(id))?;
        let members = self.store().household_members(id).await?;
        Ok(HouseholdView::new(household, members))
    }

    async fn person_unchecked(&self, id: PersonId) -> Result<Person, AppError> {
        self.store().person(id).await?.ok_or_else(|| not_found_person(id))
    }

    pub(crate) async fn household_in(&self, tx: &mut Tx, id: HouseholdId) -> Result<Household, AppError> {
        tx.household(id).await?.ok_or_else(|| not_found_household(id))
    }

    /// Reads (and locks) two households in id order, so that two operations
    /// on the same pair cannot wait on each other; returns them as asked.
    pub(crate) async fn households_in(
        &self,
        tx: &mut Tx,
        a: HouseholdId,
        b: HouseholdId,
    ) -> Result<(Option<Household>, Option<Household>), AppError> {
        if a <= b {
            let first = tx.household(a).await?;
            Ok((first, tx.household(b).await?))
        } else {
            let second = tx.household(b).await?;
            Ok((tx.household(a).await?, second))
        }
    }

    /// Writes a household's next version with its current member list.
    pub(crate) async fn write_household(
        &self,
        tx: &mut Tx,
        h: &Household,
        record: &HouseholdRecord,
        meta: &WriteMeta,
    ) -> Result<Household, AppError> {
        let members: Vec<PersonId> = tx.household_members(h.id).await?.iter().map(|p| p.id).collect();
        let write = HouseholdWrite {
            id: h.id,
            registration_number: &h.registration_number,
            version: h.version + 1,
            record,
            members: &members,
            meta,
        };
        tx.update_household(&write).await.map_err(AppError::from)?;
        Ok(Household {
            version: h.version + 1,
            record: record.clone(),
            updated_at: meta.at,
            ..h.clone()
        })
    }

    pub(crate) async fn write_person(
        &self,
        tx: &mut Tx,
        p: &Person,
        household_id: HouseholdId,
        area: &str,
        record: &PersonRecord,
        meta: &WriteMeta,
    ) -> Result<(), AppError> {
        let write = PersonWrite {
            id: p.id,
            household_id,
            area,
            version: p.version + 1,
            record,
            meta,
        };
        tx.update_person(&write.prepare()).await.map_err(AppError::from)
    }

    /// Updates a household's fields with a merge patch; a changed area is a move.
    pub async fn update_household(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected: i64,
        changes: Changes,
    ) -> Result<HouseholdView, AppError> {
        self.change_household(actor, id, expected, changes, ChangeKind::Update)
            .await
    }

    /// Moves a household to another area or address.
    pub async fn move_household(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected: i64,
        changes: Changes,
    ) -> Result<HouseholdView, AppError> {
        if let Some(k) = changes
            .changes
            .keys()
            .find(|k| !matches!(k.as_str(), "area" | "address" | "location"))
        {
            return Err(AppError::invalid(
                format!("changes.{k}"),
                "not-allowed",
                "a move changes only area, address and location",
            ));
        }
        self.change_household(actor, id, expected, changes, ChangeKind::Move)
            .await
    }

    async fn change_household(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected: i64,
        changes: Changes,
        kind: ChangeKind,
    ) -> Result<HouseholdView, AppError> {
        actor.require(Permission::HouseholdsWrite)?;
        let source = parse_source(changes.source.as_deref(), actor)?;
        let reason = check_change_reason(changes.reason.as_deref(), "reason", false)?;
        let mut tx = self.store().begin().await?;
        let h = self.household_in(&mut tx, id).await?;
        self.require_area(actor, &h.record.area)?;
        check_version(h.version, Some(expected))?;
        require_active(&h)?;
        let mut doc = serde_json::to_value(HouseholdDraft::from(&h.record)).unwrap_or(Value::Null);
        merge_patch(&mut doc, &Value::Object(changes.changes));
        let draft: HouseholdDraft = serde_path_from_value(doc, "changes")?;
        let mut record = self.check_household_draft(&draft, "changes")?;
        record.status = h.record.status;
        record.status_reason = h.record.status_reason.clone();
        if record == h.record {
            drop(tx);
            return self.household_view(id).await;
        }
        let kind = if record.area != h.record.area {
            // Moving a household out of one's areas would hand it to someone else unasked.
            self.require_area(actor, &record.area)?;
            ChangeKind::Move
        } else {
            kind
        };
        let meta = self.meta(actor, source, kind, reason);
        self.write_household(&mut tx, &h, &record, &meta).await?;
        tx.commit().await?;
        let action = if kind == ChangeKind::Move {
            "household.move"
        } else {
            "household.update"
        };
        self.audit(actor, action, Some(household_record(&id)), json!({}))
            .await?;
        self.household_view(id).await
    }

    /// Inactivates (or, with `active`, reactivates) a household.
    pub async fn set_household_status(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected: i64,
        active: bool,
        note: Note,
    ) -> Result<HouseholdView, AppError> {
        actor.require(Permission::HouseholdsWrite)?;
        let source = parse_source(note.source.as_deref(), actor)?;
        let reason = check_change_reason(note.reason.as_deref(), "reason", !active)?;
        let mut tx = self.store().begin().await?;
        let h = self.household_in(&mut tx, id).await?;
        self.require_area(actor, &h.record.area)?;
        check_version(h.version, Some(expected))?;
        let (status, kind) = if active {
            (HouseholdStatus::Active, ChangeKind::Reactivate)
        } else {
            (HouseholdStatus::Inactive, ChangeKind::Inactivate)
        };
        if h.record.status == status {
            return Err(AppError::conflict(
                "status-unchanged",
                format!("household {} is already {status}", h.registration_number),
            ));
        }
        if active {
            let members = tx.household_members(id).await?;
            check_one_head(members.iter().map(|m| &m.record), "members")?;
        }
        let record = HouseholdRecord {
            status,
            status_reason: if active { None } else { reason.clone() },
            ..h.record.clone()
        };
        let meta = self.meta(actor, source, kind, reason);
        self.write_household(&mut tx, &h, &record, &meta).await?;
        tx.commit().await?;
        let action = if active {
            "household.reactivate"
        } else {
            "household.inactivate"
        };
        self.audit(actor, action, Some(household_record(&id)), json!({}))
            .await?;
        self.household_view(id).await
    }

    /// Adds a person to an active household.
    pub async fn add_member(
        &self,
        actor: &Actor,
        household_id: HouseholdId,
        expected: Option<i64>,
        new: NewMember,
    ) -> Result<HouseholdView, AppError> {
        actor.require(Permission::HouseholdsWrite)?;
        let record = new.person.check(&self.rules(), "person")?;
        if record.status != PersonStatus::Active {
            return Err(AppError::invalid(
                "person.status",
                "not-allowed",
                "new members are registered as active",
            ));
        }
        let source = parse_source(new.source.as_deref(), actor)?;
        let reason = check_change_reason(new.reason.as_deref(), "reason", false)?;
        let mut tx = self.store().begin().await?;
        let h = self.household_in(&mut tx, household_id).await?;
        self.require_area(actor, &h.record.area)?;
        check_version(h.version, expected)?;
        require_active(&h)?;
        let members = tx.household_members(household_id).await?;
        check_one_head(
            members.iter().map(|m| &m.record).chain([&record]),
            "person.relationship",
        )?;
        let id = PersonId::new();
        let owners: Vec<(String, &Identifier, PersonId)> = record
            .identifiers
            .iter()
            .enumerate()
            .map(|(j, i)| (format!("person.identifiers[{j}].value"), i, id))
            .collect();
        self.check_identifiers_free(&mut tx, &owners).await?;
        let meta = self.meta(actor, source, ChangeKind::Update, reason);
        tx.insert_persons(&[PersonWrite {
            id,
            household_id,
            area: &h.record.area,
            version: 1,
            record: &record,
            meta: &meta,
        }
        .prepare()])
            .await
            .map_err(AppError::from)?;
        self.write_household(&mut tx, &h, &h.record, &meta).await?;
        tx.commit().await?;
        self.audit(
            actor,
            "household.add_member",
            Some(household_record(&household_id)),
            json!({"person": id}),
        )
        .await?;
        self.household_view(household_id).await
    }

    /// Updates a person's fields with a merge patch.
    pub async fn update_person(
        &self,
        actor: &Actor,
        id: PersonId,
        expected: i64,
        changes: Changes,
    ) -> Result<Person, AppError> {
        actor.require(Permission::PersonsWrite)?;
        let source = parse_source(changes.source.as_deref(), actor)?;
        let reason = check_change_reason(changes.reason.as_deref(), "reason", false)?;
        let mut tx = self.store().begin().await?;
        let p = tx.person(id).await?.ok_or_else(|| not_found_person(id))?;
        let h = self.household_in(&mut tx, p.household_id).await?;
        self.require_area(actor, &h.record.area)?;
        check_version(p.version, Some(expected))?;
        let mut doc = serde_json::to_value(PersonDraft::from(&p.record)).unwrap_or(Value::Null);
        merge_patch(&mut doc, &Value::Object(changes.changes));
        let draft: PersonDraft = serde_path_from_value(doc, "changes")?;
        let record = draft.check(&self.rules(), "changes")?;
        if record == p.record {
            return Ok(p);
        }
        // Who is head changes only through the change-head operation, whatever
        // the household's status; a head's death or departure needs an
        // active household to have another head first.
        if (record.relationship == Relationship::Head) != (p.record.relationship == Relationship::Head) {
            return Err(AppError::conflict(
                "household-needs-one-head",
                "the head is changed with the change-head operation, not by editing relationships",
            ));
        }
        // A head who dies or leaves needs another head first (in an active
        // household); one who comes back must not make a second.
        if p.record.relationship == Relationship::Head && record.is_active() != p.record.is_active() {
            let members = tx.household_members(p.household_id).await?;
            let heads = members
                .iter()
                .map(|m| if m.id == id { &record } else { &m.record })
                .filter(|m| m.is_active() && m.relationship == Relationship::Head)
                .count();
            let enough = if h.record.status == HouseholdStatus::Active {
                heads == 1
            } else {
                heads <= 1
            };
            if !enough {
                return Err(AppError::conflict(
                    "household-needs-one-head",
                    "the household must keep exactly one active head: use the change-head operation first",
                ));
            }
        }
        if record.is_active() {
            let owners: Vec<(String, &Identifier, PersonId)> = record
                .identifiers
                .iter()
                .enumerate()
                .map(|(j, i)| (format!("changes.identifiers[{j}].value"), i, id))
                .collect();
            self.check_identifiers_free(&mut tx, &owners).await?;
        }
        let meta = self.meta(actor, source, ChangeKind::Update, reason);
        self.write_person(&mut tx, &p, p.household_id, &h.record.area, &record, &meta)
            .await?;
        tx.commit().await?;
        self.audit(actor, "person.update", Some(person_record(&id)), json!({}))
            .await?;
        self.person_unchecked(id).await
    }

    /// Moves an active person to another active household.
    pub async fn transfer_person(
        &self,
        actor: &Actor,
        id: PersonId,
        expected: i64,
        t: Transfer,
    ) -> Result<Person, AppError> {
        actor.require(Permission::PersonsWrite)?;
        let source = parse_source(t.source.as_deref(), actor)?;
        let reason = check_change_reason(t.reason.as_deref(), "reason", false)?;
        let rel = relationship(&t.relationship, "relationship")?;
        let mut tx = self.store().begin().await?;
        let p = tx.person(id).await?.ok_or_else(|| not_found_person(id))?;
        if t.to_household != p.household_id {
            let (from, to) = self.households_in(&mut tx, p.household_id, t.to_household).await?;
            if let Some(from) = &from {
                self.require_area(actor, &from.record.area)?;
            }
            if let Some(to) = &to {
                self.require_area(actor, &to.record.area)?;
            }
        }
        check_version(p.version, Some(expected))?;
        if !p.record.is_active() {
            return Err(AppError::conflict(
                "person-inactive",
                "only an active person can move to another household",
            ));
        }
        if t.to_household == p.household_id {
            return Err(AppError::invalid(
                "to_household",
                "same-household",
                "the person is already in this household",
            ));
        }
        let (from, to) = self.households_in(&mut tx, p.household_id, t.to_household).await?;
        let from = from.ok_or_else(|| not_found_household(p.household_id))?;
        let to = to.ok_or_else(|| AppError::invalid("to_household", "household-unknown", "no such household"))?;
        require_active(&to)?;
        let record = PersonRecord {
            relationship: rel,
            ..p.record.clone()
        };
        let to_members = tx.household_members(to.id).await?;
        check_one_head(to_members.iter().map(|m| &m.record).chain([&record]), "relationship")?;
        let from_members = tx.household_members(from.id).await?;
        let staying: Vec<&PersonRecord> = from_members.iter().filter(|m| m.id != id).map(|m| &m.record).collect();
        let anyone_left = staying.iter().any(|m| m.is_active());
        if anyone_left && check_one_head(staying.iter().copied(), "relationship").is_err() {
            return Err(AppError::conflict(
                "household-needs-one-head",
                "the person is the head of a household with other members: change its head first",
            ));
        }
        let meta = self.meta(actor, source, ChangeKind::Transfer, reason);
        self.write_person(&mut tx, &p, to.id, &to.record.area, &record, &meta)
            .await?;
        self.write_household(&mut tx, &to, &to.record, &meta).await?;
        let from_record = if anyone_left || from.record.status == HouseholdStatus::Inactive {
            from.record.clone()
        } else {
            // Nobody active remains: the household ends with the move.
            HouseholdRecord {
                status: HouseholdStatus::Inactive,
                status_reason: Some("all members left".into()),
                ..from.record.clone()
            }
        };
        self.write_household(&mut tx, &from, &from_record, &meta).await?;
        tx.commit().await?;
        self.audit(
            actor,
            "person.transfer",
            Some(person_record(&id)),
            json!({"from": from.id, "to": to.id}),
        )
        .await?;
        self.person_unchecked(id).await
    }

    /// Some members leave to form a new household; returns the new household.
    pub async fn split_household(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected: Option<i64>,
        s: Split,
    ) -> Result<HouseholdView, AppError> {
        actor.require(Permission::HouseholdsWrite)?;
        let source = parse_source(s.source.as_deref(), actor)?;
        let reason = check_change_reason(s.reason.as_deref(), "reason", true)?;
        let mut rels = HashMap::new();
        for (pid, code) in &s.relationships {
            rels.insert(*pid, relationship(code, &format!("relationships.{pid}"))?);
        }
        if s.members.is_empty() {
            return Err(AppError::invalid("members", "required", "name the members who leave"));
        }
        for (i, pid) in s.members.iter().enumerate() {
            if s.members[..i].contains(pid) {
                return Err(AppError::invalid(
                    format!("members[{i}]"),
                    "repeated",
                    format!("{pid} is named twice"),
                ));
            }
        }
        for pid in s.relationships.keys() {
            if !s.members.contains(pid) || *pid == s.head {
                return Err(AppError::invalid(
                    format!("relationships.{pid}"),
                    "not-a-member",
                    "relationships are given for the members who leave, other than the new head",
                ));
            }
        }
        if !s.members.contains(&s.head) {
            return Err(AppError::invalid(
                "head",
                "not-a-member",
                "the new head must be one of the members who leave",
            ));
        }
        let mut tx = self.store().begin().await?;
        let h = self.household_in(&mut tx, id).await?;
        self.require_area(actor, &h.record.area)?;
        check_version(h.version, expected)?;
        require_active(&h)?;
        let current = tx.household_members(id).await?;
        let leaving: HashSet<PersonId> = s.members.iter().copied().collect();
        for (i, pid) in s.members.iter().enumerate() {
            if !current.iter().any(|m| m.id == *pid && m.record.is_active()) {
                return Err(AppError::invalid(
                    format!("members[{i}]"),
                    "not-a-member",
                    format!("{pid} is not an active member of this household"),
                ));
            }
        }
        let staying: Vec<&PersonRecord> = current
            .iter()
            .filter(|m| !leaving.contains(&m.id))
            .map(|m| &m.record)
            .collect();
        if !staying.iter().any(|m| m.is_active()) {
            return Err(AppError::invalid(
                "members",
                "split-empties-household",
                "at least one active member must stay; to move everyone, move the household",
            ));
        }
        if check_one_head(staying.iter().copied(), "members").is_err() {
            return Err(AppError::conflict(
                "household-needs-one-head",
                "the head is leaving: change the household's head first",
            ));
        }
        let mut draft = s.household.clone();
        draft.area = draft.area.or_else(|| Some(h.record.area.clone()));
        draft.address = draft.address.or_else(|| h.record.address.clone());
        draft.location = draft.location.or(h.record.location);
        // Until the new household is surveyed, it starts from the old one's attributes.
        draft.attributes = draft.attributes.or_else(|| {
            Some(
                h.record
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        });
        let record = self.check_household_draft(&draft, "household")?;
        self.require_area(actor, &record.area)?;

        let meta = self.meta(actor, source, ChangeKind::Split, reason);
        let new_id = HouseholdId::new();
        let number = self.registration_number(tx.next_numbers("household_registration", 1).await?);
        let moving: Vec<&Person> = current.iter().filter(|m| leaving.contains(&m.id)).collect();
        let moving_ids: Vec<PersonId> = moving.iter().map(|m| m.id).collect();
        tx.insert_households(&[HouseholdWrite {
            id: new_id,
            registration_number: &number,
            version: 1,
            record: &record,
            members: &moving_ids,
            meta: &meta,
        }])
        .await?;
        for m in &moving {
            let rel = if m.id == s.head {
                Relationship::Head
            } else {
                rels.get(&m.id).copied().unwrap_or(m.record.relationship)
            };
            if rel == Relationship::Head && m.id != s.head {
                return Err(AppError::invalid(
                    format!("relationships.{}", m.id),
                    "not-allowed",
                    "only the new head is head",
                ));
            }
            let rel = if m.id != s.head && rel == Relationship::Head {
                Relationship::OtherRelative
            } else {
                rel
            };
            let r = PersonRecord {
                relationship: rel,
                ..m.record.clone()
            };
            self.write_person(&mut tx, m, new_id, &record.area, &r, &meta).await?;
        }
        self.write_household(&mut tx, &h, &h.record, &meta).await?;
        tx.commit().await?;
        self.audit(
            actor,
            "household.split",
            Some(household_record(&id)),
            json!({"new_household": new_id, "members": moving_ids}),
        )
        .await?;
        self.household_view(new_id).await
    }

    /// The active members of `m.from` join household `id`; `m.from` becomes inactive.
    pub async fn merge_households(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected: Option<i64>,
        m: Merge,
    ) -> Result<HouseholdView, AppError> {
        actor.require(Permission::HouseholdsWrite)?;
        let source = parse_source(m.source.as_deref(), actor)?;
        let reason = check_change_reason(m.reason.as_deref(), "reason", true)?;
        if m.from == id {
            return Err(AppError::invalid(
                "from",
                "same-household",
                "a household cannot merge into itself",
            ));
        }
        let mut rels = HashMap::new();
        for (pid, code) in &m.relationships {
            let rel = relationship(code, &format!("relationships.{pid}"))?;
            if rel == Relationship::Head {
                return Err(AppError::invalid(
                    format!("relationships.{pid}"),
                    "not-allowed",
                    "the household keeps its head; change it afterwards if needed",
                ));
            }
            rels.insert(*pid, rel);
        }
        let mut tx = self.store().begin().await?;
        let (into, from) = self.households_in(&mut tx, id, m.from).await?;
        let into = into.ok_or_else(|| not_found_household(id))?;
        self.require_area(actor, &into.record.area)?;
        check_version(into.version, expected)?;
        require_active(&into)?;
        let from = from.ok_or_else(|| AppError::invalid("from", "household-unknown", "no such household"))?;
        self.require_area(actor, &from.record.area)?;
        require_active(&from)?;
        let joining: Vec<Person> = tx
            .household_members(from.id)
            .await?
            .into_iter()
            .filter(|p| p.record.is_active())
            .collect();
        if let Some(pid) = rels.keys().find(|pid| !joining.iter().any(|p| p.id == **pid)) {
            return Err(AppError::invalid(
                format!("relationships.{pid}"),
                "not-a-member",
                "relationships are given for active members of the household that joins",
            ));
        }
        let meta = self.meta(actor, source, ChangeKind::Merge, reason);
        for p in &joining {
            let default = if p.record.relationship == Relationship::Head {
                Relationship::OtherRelative
            } else {
                p.record.relationship
            };
            let r = PersonRecord {
                relationship: rels.get(&p.id).copied().unwrap_or(default),
                ..p.record.clone()
            };
            self.write_person(&mut tx, p, into.id, &into.record.area, &r, &meta)
                .await?;
        }
        let ended = HouseholdRecord {
            status: HouseholdStatus::Inactive,
            status_reason: Some(format!("merged into {}", into.registration_number)),
            ..from.record.clone()
        };
        self.write_household(&mut tx, &from, &ended, &meta).await?;
        self.write_household(&mut tx, &into, &into.record, &meta).await?;
        tx.commit().await?;
        self.audit(
            actor,
            "household.merge",
            Some(household_record(&id)),
            json!({"from": from.id}),
        )
        .await?;
        self.household_view(id).await
    }

    /// Makes another active member the head.
    pub async fn change_head(
        &self,
        actor: &Actor,
        id: HouseholdId,
        expected: Option<i64>,
        c: ChangeHead,
    ) -> Result<HouseholdView, AppError> {
        actor.require(Permission::HouseholdsWrite)?;
        let source = parse_source(c.source.as_deref(), actor)?;
        let reason = check_change_reason(c.reason.as_deref(), "reason", false)?;
        let previous_rel = c
            .previous_head_relationship
            .as_deref()
            .map(|r| relationship(r, "previous_head_relationship"))
            .transpose()?;
        if previous_rel == Some(Relationship::Head) {
            return Err(AppError::invalid(
                "previous_head_relationship",
                "not-allowed",
                "the former head cannot stay head",
            ));
        }
        let mut tx = self.store().begin().await?;
        let h = self.household_in(&mut tx, id).await?;
        self.require_area(actor, &h.record.area)?;
        check_version(h.version, expected)?;
        // Allowed on an inactive household too: it is how one whose head died
        // gets a head again before reactivation.
        let members = tx.household_members(id).await?;
        let Some(new_head) = members.iter().find(|m| m.id == c.person && m.record.is_active()) else {
            return Err(AppError::invalid(
                "person",
                "not-a-member",
                "the new head must be an active member of this household",
            ));
        };
        if new_head.record.relationship == Relationship::Head {
            return Err(AppError::conflict(
                "status-unchanged",
                "this person is already the head",
            ));
        }
        let meta = self.meta(actor, source, ChangeKind::Update, reason);
        if let Some(old) = members
            .iter()
            .find(|m| m.record.relationship == Relationship::Head && m.record.is_active())
        {
            let Some(rel) = previous_rel else {
                return Err(AppError::invalid(
                    "previous_head_relationship",
                    "required",
                    "say what the former head becomes to the new one",
                ));
            };
            let r = PersonRecord {
                relationship: rel,
                ..old.record.clone()
            };
            self.write_person(&mut tx, old, id, &h.record.area, &r, &meta).await?;
        }
        let r = PersonRecord {
            relationship: Relationship::Head,
            ..new_head.record.clone()
        };
        self.write_person(&mut tx, new_head, id, &h.record.area, &r, &meta)
            .await?;
        self.write_household(&mut tx, &h, &h.record, &meta).await?;
        tx.commit().await?;
        self.audit(
            actor,
            "household.change_head",
            Some(household_record(&id)),
            json!({"head": c.person}),
        )
        .await?;
        self.household_view(id).await
    }

    pub async fn household_history(&self, actor: &Actor, id: HouseholdId) -> Result<Vec<VersionEntry>, AppError> {
        actor.require(Permission::HouseholdsHistory)?;
        let h = self
            .store()
            .household(id)
            .await?
            .ok_or_else(|| not_found_household(id))?;
        self.require_area(actor, &h.record.area)?;
        let rows = self.store().household_history(id).await?;
        self.audit_read(
            actor,
            "household.history",
            Some(household_record(&id)),
            json!({}),
            Vec::new(),
        )
        .await?;
        Ok(entries(rows))
    }

    pub async fn person_history(&self, actor: &Actor, id: PersonId) -> Result<Vec<VersionEntry>, AppError> {
        actor.require(Permission::PersonsHistory)?;
        let p = self.person_unchecked(id).await?;
        self.require_person_area(actor, &p).await?;
        let rows = self.store().person_history(id).await?;
        self.audit_read(actor, "person.history", Some(person_record(&id)), json!({}), Vec::new())
            .await?;
        Ok(entries(rows))
    }

    pub async fn areas(&self, actor: &Actor) -> Result<Vec<Area>, AppError> {
        actor.require(Permission::AreasRead)?;
        Ok(self.store().areas().await?)
    }

    fn check_area_filter(&self, area: Option<&str>, problem: &mut Problem) -> Option<String> {
        let a = area.map(str::trim).filter(|a| !a.is_empty())?;
        if !self.area_known(a) {
            problem.push(
                "area",
                "area-unknown",
                format!("{a:?} is not an area of this deployment"),
            );
        }
        Some(a.to_owned())
    }

    /// People matching every given filter, one page at a time.
    pub async fn search_persons(&self, actor: &Actor, q: &PersonQuery) -> Result<Page<Person>, AppError> {
        actor.require(Permission::PersonsRead)?;
        // Searching by a field one may not see would reveal it: an agency
        // shown no identifiers cannot find people by identifier.
        if let Some(fields) = actor.fields() {
            let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
            let hidden = [
                (given(&q.identifier), "identifier", fields.shows_person("identifiers")),
                (given(&q.phone), "phone", fields.shows_person("phone")),
                (
                    given(&q.name),
                    "name",
                    ["given_name", "family_name", "father_name"]
                        .iter()
                        .any(|f| fields.shows_person(f)),
                ),
            ];
            if let Some((_, filter, _)) = hidden.iter().find(|(asked, _, shown)| *asked && !*shown) {
                return Err(AppError::forbidden(
                    "permission-denied",
                    format!(
                        "{} may not search by {filter}: its field set does not show it",
                        actor.name
                    ),
                ));
            }
        }
        let mut problem = Problem::default();
        let mut filter = PersonFilter {
            within: self.scope_filter(actor),
            ..Default::default()
        };
        if let Some(raw) = q.identifier.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            match q.identifier_type.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(t) => match IdentifierType::from_code(t) {
                    None => problem.push(
                        "identifier_type",
                        "not-allowed",
                        format!("{t:?} is not one of: {}", IdentifierType::codes()),
                    ),
                    Some(t) => match Identifier::parse(t, raw) {
                        Ok(id) => filter.identifier = Some((Some(t.code().to_owned()), id.value)),
                        Err(e) => problem.push("identifier", e.code(), e.to_string()),
                    },
                },
                None => {
                    let value: String = to_ascii_digits(raw)
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric())
                        .map(|c| c.to_ascii_uppercase())
                        .collect();
                    if value.is_empty() {
                        problem.push(
                            "identifier",
                            "identifier-empty",
                            "no letters or digits in the identifier",
                        );
                    }
                    filter.identifier = Some((None, value));
                }
            }
        } else if q.identifier_type.is_some() {
            problem.push("identifier", "required", "identifier_type needs an identifier");
        }
        if let Some(raw) = q.phone.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            match Phone::parse(raw, self.deployment().country) {
                Ok(p) => filter.phone = Some(p.as_str().to_owned()),
                Err(e) => problem.push("phone", e.code(), e.to_string()),
            }
        }
        if let Some(name) = q.name.as_deref() {
            filter.name_tokens = search_tokens(name);
            if filter.name_tokens.len() > MAX_NAME_WORDS {
                problem.push(
                    "name",
                    "too-long",
                    format!("search with at most {MAX_NAME_WORDS} name words"),
                );
            }
            if filter.name_tokens.is_empty() && !name.trim().is_empty() {
                problem.push("name", "name-empty", "the name has no letters to search for");
            }
        }
        filter.area = self.check_area_filter(q.area.as_deref(), &mut problem);
        if let Some(s) = q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            match PersonStatus::from_code(s) {
                Some(s) => filter.status = Some(s),
                None => problem.push(
                    "status",
                    "not-allowed",
                    format!("{s:?} is not one of: {}", PersonStatus::codes()),
                ),
            }
        }
        let after = cursor::<PersonId>(q.cursor.as_deref());
        let limit = page_size(q.limit);
        if !problem.is_empty() {
            return Err(AppError::Invalid(problem));
        }
        let (after, limit) = (after?, limit?);
        let mut items = self.store().search_persons(&filter, after, limit + 1).await?;
        let next_cursor = (items.len() > limit as usize).then(|| {
            items.truncate(limit as usize);
            items[items.len() - 1].id.to_string()
        });
        // Who searched for whom: the query as given and the people it showed.
        self.audit_read(
            actor,
            "person.search",
            None,
            json!({
                "identifier": q.identifier, "identifier_type": q.identifier_type, "phone": q.phone,
                "name": q.name, "area": q.area, "status": q.status, "cursor": q.cursor,
                "results": items.iter().map(|p| p.id).collect::<Vec<_>>(),
            }),
            items.iter().map(|p| p.id.to_string()).collect(),
        )
        .await?;
        Ok(Page { items, next_cursor })
    }

    pub async fn list_households(&self, actor: &Actor, q: &HouseholdQuery) -> Result<Page<Household>, AppError> {
        actor.require(Permission::HouseholdsRead)?;
        let page = self.households_page(actor, q).await?;
        let items = &page.items;
        self.audit_read(
            actor,
            "household.list",
            None,
            json!({
                "area": q.area, "status": q.status, "registration_number": q.registration_number,
                "cursor": q.cursor, "results": items.iter().map(|h| h.id).collect::<Vec<_>>(),
            }),
            items.iter().map(|h| h.id.to_string()).collect(),
        )
        .await?;
        Ok(page)
    }

    /// A page of households within the actor's areas, unaudited: the callers audit.
    pub(crate) async fn households_page(&self, actor: &Actor, q: &HouseholdQuery) -> Result<Page<Household>, AppError> {
        let mut problem = Problem::default();
        let mut filter = HouseholdFilter {
            within: self.scope_filter(actor),
            area: self.check_area_filter(q.area.as_deref(), &mut problem),
            ..Default::default()
        };
        if let Some(s) = q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            match HouseholdStatus::from_code(s) {
                Some(s) => filter.status = Some(s),
                None => problem.push(
                    "status",
                    "not-allowed",
                    format!("{s:?} is not one of: {}", HouseholdStatus::codes()),
                ),
            }
        }
        filter.registration_number = q
            .registration_number
            .as_deref()
            .map(|r| to_ascii_digits(r.trim()).to_uppercase())
            .filter(|r| !r.is_empty());
        let after = cursor::<HouseholdId>(q.cursor.as_deref());
        let limit = page_size(q.limit);
        if !problem.is_empty() {
            return Err(AppError::Invalid(problem));
        }
        let (after, limit) = (after?, limit?);
        let mut items = self.store().list_households(&filter, after, limit + 1).await?;
        let next_cursor = (items.len() > limit as usize).then(|| {
            items.truncate(limit as usize);
            items[items.len() - 1].id.to_string()
        });
        Ok(Page { items, next_cursor })
    }
}

fn member_warnings<'a>(members: impl Iterator<Item = &'a PersonRecord>) -> Vec<MemberWarning> {
    members
        .enumerate()
        .flat_map(|(i, m)| {
            m.warnings().into_iter().map(move |w| MemberWarning {
                field: format!("members[{i}].identifiers"),
                warning: w,
            })
        })
        .collect()
}

/// Deserialises a patched document, naming the field at fault.
fn serde_path_from_value<T: serde::de::DeserializeOwned>(doc: Value, path: &str) -> Result<T, AppError> {
    crate::json::from_value(doc, path).map_err(|e| AppError::invalid(e.field, e.code, e.message))
}

pub(crate) fn household_record(id: &HouseholdId) -> Record {
    Record::new("household", id)
}

pub(crate) fn person_record(id: &PersonId) -> Record {
    Record::new("person", id)
}
