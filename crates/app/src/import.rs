//! Bulk import: households with their members, each carrying the source
//! key it has in the file, checked by the same rules as the API. A batch is
//! written in one transaction together with its source keys, so an import
//! run again — or resumed after a crash — skips what is already in and
//! ends with the same registry as one uninterrupted run.
//!
//! Two phases, so that one batch can be checked while the one before it is
//! written: [`App::check_import`] needs nothing the previous batch changes
//! (the rules, and source keys written by earlier runs); [`App::write_import`]
//! looks up identifiers against the registry as it is now, then writes.

use std::collections::{HashMap, HashSet};

use himaya_domain::Problem;
use himaya_domain::access::Permission;
use himaya_domain::household::HouseholdId;
use himaya_domain::identifier::{Identifier, IdentifierType};
use himaya_domain::person::PersonId;
use himaya_store::{LoadHousehold, StoreError};
use serde_json::json;

use crate::audit::entry;
use crate::registry::household_record;
use crate::{Actor, App, AppError, NewHousehold};

/// A household from an import file.
#[derive(Clone, Debug)]
pub struct KeyedHousehold {
    /// The household's key in the source.
    pub key: String,
    /// Its members' keys, in the order of `household.members`.
    pub person_keys: Vec<String>,
    pub household: NewHousehold,
}

/// What became of one imported household.
#[derive(Clone, Debug, PartialEq)]
pub enum ImportOutcome {
    Imported(HouseholdId),
    /// An earlier run imported this key.
    AlreadyImported,
    /// Refused, with every field at fault (`members[i]…` for its members).
    Refused(Problem),
}

/// A batch after its own checks, ready for [`App::write_import`].
pub struct CheckedImport {
    /// Outcomes known already; `None` for the candidates.
    outcomes: Vec<Option<ImportOutcome>>,
    candidates: Vec<Candidate>,
}

/// Of a checked household, only what the write still needs: the records
/// themselves are in `load` as stored text, so the batches waiting to be
/// written hold no second copy of them.
struct Candidate {
    position: usize,
    /// Each member's id and identifiers, to look up and to audit.
    members: Vec<(PersonId, Vec<Identifier>)>,
    id: HouseholdId,
    load: LoadHousehold,
}

/// The same words whether the earlier holder came in this run or an
/// earlier one, so that a resumed import writes the same rejects.
fn taken(id: &Identifier) -> String {
    format!(
        "{} {} already belongs to another active person (in the registry, or earlier in the file)",
        id.id_type,
        id.display()
    )
}

impl App {
    /// Imports a batch: every household is checked on its own, those already
    /// imported are skipped, those refused are reported, and the rest are
    /// written in one transaction with their source keys. A household whose
    /// identifier another active person holds — in the registry or earlier in
    /// the batch — is refused. Returns one outcome per household, in order.
    pub async fn import_households(
        &self,
        actor: &Actor,
        batch: Vec<KeyedHousehold>,
    ) -> Result<Vec<ImportOutcome>, AppError> {
        let checked = self.check_import(actor, batch).await?;
        self.write_import(actor, checked).await
    }

    /// The first phase: skips households an earlier run imported, checks the
    /// others on their own (in parallel), refuses people whose keys an earlier
    /// run imported elsewhere, and builds the stored text of the rest.
    ///
    /// The records' ids are made when this is called, before anything is
    /// awaited: batches started in file order get ids in file order, so that
    /// registration order (and with it the order of exports) follows the file
    /// however their checks are scheduled.
    pub fn check_import(
        &self,
        actor: &Actor,
        batch: Vec<KeyedHousehold>,
    ) -> impl Future<Output = Result<CheckedImport, AppError>> + Send + 'static {
        let ids: Vec<(HouseholdId, Vec<PersonId>)> = batch
            .iter()
            .map(|kh| {
                (
                    HouseholdId::new(),
                    kh.household.members.iter().map(|_| PersonId::new()).collect(),
                )
            })
            .collect();
        let (app, actor) = (self.clone(), actor.clone());
        async move { app.check_import_with(&actor, batch, ids).await }
    }

    async fn check_import_with(
        &self,
        actor: &Actor,
        batch: Vec<KeyedHousehold>,
        ids: Vec<(HouseholdId, Vec<PersonId>)>,
    ) -> Result<CheckedImport, AppError> {
        actor.require(Permission::HouseholdsWrite)?;
        let (already, imported_people) = {
            let keys: Vec<&str> = batch.iter().map(|h| h.key.as_str()).collect();
            let person_keys: Vec<&str> = batch
                .iter()
                .flat_map(|h| h.person_keys.iter().map(String::as_str))
                .collect();
            (
                self.store().imported_keys("household", &keys).await?,
                self.store().imported_keys("person", &person_keys).await?,
            )
        };
        // Keys repeated within the batch, and keys that do not match the
        // members, are refused here: the import's own source keys must be unique.
        let mut seen_households = HashSet::new();
        let mut seen_people = HashSet::new();
        let refused: Vec<Option<Problem>> = batch
            .iter()
            .map(|kh| {
                let mut problem = Problem::default();
                if kh.person_keys.len() != kh.household.members.len() {
                    problem.push(
                        "members",
                        "invalid",
                        format!(
                            "{} people but {} person keys",
                            kh.household.members.len(),
                            kh.person_keys.len()
                        ),
                    );
                }
                if !seen_households.insert(kh.key.as_str()) {
                    problem.push("household_key", "repeated", "the key is used by an earlier household");
                }
                for (m, key) in kh.person_keys.iter().enumerate() {
                    if !seen_people.insert(key.as_str()) {
                        problem.push(
                            format!("members[{m}].person_key"),
                            "repeated",
                            "the key is used by an earlier person",
                        );
                    }
                }
                (!problem.is_empty()).then_some(problem)
            })
            .collect();
        let (already, imported_people) = (std::sync::Arc::new(already), std::sync::Arc::new(imported_people));
        let ids = std::sync::Arc::new(ids);
        let refused = std::sync::Arc::new(refused);
        // Checking is computation only: off the async workers, on every core.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = batch.len().div_ceil(cores).max(1);
        let mut parts = Vec::new();
        let mut rest = batch;
        let mut offset = 0;
        while !rest.is_empty() {
            let tail = rest.split_off(per.min(rest.len()));
            let part = std::mem::replace(&mut rest, tail);
            let (app, actor, already, imported_people, ids, refused) = (
                self.clone(),
                actor.clone(),
                already.clone(),
                imported_people.clone(),
                ids.clone(),
                refused.clone(),
            );
            let first = offset;
            offset += part.len();
            parts.push(tokio::task::spawn_blocking(move || {
                part.into_iter()
                    .enumerate()
                    .map(|(i, kh)| {
                        if already.contains(&kh.key) {
                            return Ok(Err(ImportOutcome::AlreadyImported));
                        }
                        if let Some(problem) = &refused[first + i] {
                            return Ok(Err(ImportOutcome::Refused(problem.clone())));
                        }
                        app.check_one_import(&actor, first + i, kh, &ids[first + i], &imported_people)
                    })
                    .collect::<Result<Vec<_>, AppError>>()
            }));
        }
        let mut outcomes = Vec::with_capacity(offset);
        let mut candidates = Vec::new();
        for part in parts {
            let part = part
                .await
                .map_err(|e| AppError::Internal(format!("checking an import batch failed: {e}")))??;
            for result in part {
                match result {
                    Ok(candidate) => {
                        outcomes.push(None);
                        candidates.push(candidate);
                    }
                    Err(outcome) => outcomes.push(Some(outcome)),
                }
            }
        }
        Ok(CheckedImport { outcomes, candidates })
    }

    fn check_one_import(
        &self,
        actor: &Actor,
        position: usize,
        mut kh: KeyedHousehold,
        (id, person_ids): &(HouseholdId, Vec<PersonId>),
        imported_people: &HashSet<String>,
    ) -> Result<Result<Candidate, ImportOutcome>, AppError> {
        kh.household.source = Some("import".into());
        let mut checked = match self
            .check_batch(actor, std::slice::from_ref(&kh.household))
            .map(|mut c| c.remove(0))
            .map_err(|(_, e)| e)
        {
            Ok(c) => c,
            Err(AppError::Invalid(p)) => return Ok(Err(ImportOutcome::Refused(p))),
            Err(AppError::Forbidden { code, message }) => {
                return Ok(Err(ImportOutcome::Refused(Problem::single(
                    "household.area",
                    code,
                    message,
                ))));
            }
            Err(e) => return Err(e),
        };
        let mut problem = Problem::default();
        for (m, key) in kh.person_keys.iter().enumerate() {
            if imported_people.contains(key) {
                problem.push(
                    format!("members[{m}].person_key"),
                    "repeated",
                    format!("person {key} was imported before, in another household"),
                );
            }
        }
        if !problem.is_empty() {
            return Ok(Err(ImportOutcome::Refused(problem)));
        }
        checked.set_person_ids(person_ids);
        let id = *id;
        let people: Vec<_> = checked
            .members()
            .iter()
            .zip(&kh.person_keys)
            .map(|((pid, record), pkey)| (*pid, record, pkey.as_str()))
            .collect();
        let load = LoadHousehold::new(id, &kh.key, checked.record(), checked.meta(), &people);
        let members = checked
            .into_members()
            .into_iter()
            .map(|(pid, person)| (pid, person.identifiers))
            .collect();
        Ok(Ok(Candidate {
            position,
            members,
            id,
            load,
        }))
    }

    /// The second phase: refuses, in file order, households with an
    /// identifier held by an active person in the registry or by a household
    /// before them in the batch, writes the rest with their source keys in
    /// one transaction, and audits each registration. Should a concurrent
    /// registration take one of their identifiers between the lookup and the
    /// write, the lookup is made again and the batch written without the
    /// household that lost it.
    pub async fn write_import(&self, actor: &Actor, batch: CheckedImport) -> Result<Vec<ImportOutcome>, AppError> {
        actor.require(Permission::HouseholdsWrite)?;
        let CheckedImport {
            mut outcomes,
            mut candidates,
        } = batch;
        let mut attempts = 0;
        let (written, numbers) = loop {
            let refused = self.refuse_taken(&candidates).await?;
            let mut loads = Vec::with_capacity(candidates.len());
            let mut kept = Vec::with_capacity(candidates.len());
            for (c, problem) in candidates.into_iter().zip(refused) {
                match problem {
                    Some(problem) => outcomes[c.position] = Some(ImportOutcome::Refused(problem)),
                    None => {
                        loads.push(c.load);
                        kept.push((c.position, c.id, c.members));
                    }
                }
            }
            let app = self.clone();
            match self.store().load(&mut loads, move |n| app.registration_number(n)).await {
                Ok(numbers) => break (kept, numbers),
                Err(StoreError::IdentifierTaken) if attempts < 3 => {
                    attempts += 1;
                    candidates = kept
                        .into_iter()
                        .zip(loads)
                        .map(|((position, id, members), load)| Candidate {
                            position,
                            members,
                            id,
                            load,
                        })
                        .collect();
                }
                Err(e) => return Err(e.into()),
            }
        };
        let audit = written
            .iter()
            .zip(&numbers)
            .map(|((_, id, members), number)| {
                let members: Vec<PersonId> = members.iter().map(|(pid, _)| *pid).collect();
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
        self.audit_many(audit).await?;
        for (position, id, _) in written {
            outcomes[position] = Some(ImportOutcome::Imported(id));
        }
        outcomes
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| AppError::Internal("an imported household got no outcome".into()))
    }

    /// For each candidate, in order, the identifiers an active person in the
    /// registry, or a candidate before it, already holds.
    async fn refuse_taken(&self, candidates: &[Candidate]) -> Result<Vec<Option<Problem>>, AppError> {
        let wanted: Vec<(&str, &str)> = candidates
            .iter()
            .flat_map(|c| c.members.iter().flat_map(|(_, ids)| ids))
            .map(|id| (id.id_type.code(), id.value.as_str()))
            .collect();
        let held = if wanted.is_empty() {
            HashMap::new()
        } else {
            self.store().identifier_holders(&wanted).await?
        };
        let mut seen: HashSet<(IdentifierType, &str)> = HashSet::new();
        let mut refused = Vec::with_capacity(candidates.len());
        for c in candidates {
            let mut problem = Problem::default();
            for (m, (_, ids)) in c.members.iter().enumerate() {
                for (j, id) in ids.iter().enumerate() {
                    if held.contains_key(&(id.id_type.code().to_owned(), id.value.clone()))
                        || seen.contains(&(id.id_type, id.value.as_str()))
                    {
                        problem.push(
                            format!("members[{m}].identifiers[{j}].value"),
                            "identifier-taken",
                            taken(id),
                        );
                    }
                }
            }
            if problem.is_empty() {
                for (_, ids) in &c.members {
                    seen.extend(ids.iter().map(|id| (id.id_type, id.value.as_str())));
                }
                refused.push(None);
            } else {
                refused.push(Some(problem));
            }
        }
        Ok(refused)
    }
}
