//! Bulk import: households with their members, each carrying the source
//! key it has in the file, checked by the same rules as the API. A batch is
//! written in one transaction together with its source keys, so an import
//! run again — or resumed after a crash — skips what is already in and
//! ends with the same registry as one uninterrupted run.

use std::collections::HashMap;

use himaya_domain::Problem;
use himaya_domain::access::Permission;
use himaya_domain::household::HouseholdId;
use himaya_domain::identifier::IdentifierType;

use crate::registry::Checked;
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

/// The same words whether the earlier holder came in this run or an
/// earlier one, so that a resumed import writes the same rejects.
fn taken(id: &himaya_domain::identifier::Identifier) -> String {
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
        actor.require(Permission::HouseholdsWrite)?;
        let already = {
            let keys: Vec<&str> = batch.iter().map(|h| h.key.as_str()).collect();
            let mut tx = self.store().begin().await?;
            tx.imported_keys("household", &keys).await?
        };
        // Checking is computation only: off the async workers.
        let checked: Vec<(KeyedHousehold, Option<Result<Checked, AppError>>)> = {
            let (app, actor) = (self.clone(), actor.clone());
            tokio::task::spawn_blocking(move || {
                batch
                    .into_iter()
                    .map(|mut kh| {
                        if already.contains(&kh.key) {
                            return (kh, None);
                        }
                        kh.household.source = Some("import".into());
                        let result = app
                            .check_batch(&actor, std::slice::from_ref(&kh.household))
                            .map(|mut c| c.remove(0))
                            .map_err(|(_, e)| e);
                        (kh, Some(result))
                    })
                    .collect()
            })
            .await
            .map_err(|e| AppError::Internal(format!("checking an import batch failed: {e}")))?
        };

        // Every household that passed its own checks; then, in file order,
        // its identifiers against the registry and against those earlier in
        // the batch that are being written (a refused household takes none).
        let mut outcomes: Vec<Option<ImportOutcome>> = Vec::with_capacity(checked.len());
        let mut candidates: Vec<(usize, KeyedHousehold, Checked)> = Vec::new();
        for (i, (kh, result)) in checked.into_iter().enumerate() {
            match result {
                None => outcomes.push(Some(ImportOutcome::AlreadyImported)),
                Some(Err(AppError::Invalid(p))) => outcomes.push(Some(ImportOutcome::Refused(p))),
                Some(Err(AppError::Forbidden { code, message })) => outcomes.push(Some(ImportOutcome::Refused(
                    Problem::single("household.area", code, message),
                ))),
                Some(Err(e)) => return Err(e),
                Some(Ok(c)) => {
                    outcomes.push(None);
                    candidates.push((i, kh, c));
                }
            }
        }
        let wanted: Vec<(&str, &str)> = candidates
            .iter()
            .flat_map(|(_, _, c)| c.members().iter().flat_map(|(_, p)| &p.identifiers))
            .map(|id| (id.id_type.code(), id.value.as_str()))
            .collect();
        let person_keys: Vec<&str> = candidates
            .iter()
            .flat_map(|(_, kh, _)| kh.person_keys.iter().map(String::as_str))
            .collect();
        let (held, imported_people) = {
            let mut tx = self.store().begin().await?;
            let held = if wanted.is_empty() {
                HashMap::new()
            } else {
                tx.identifier_holders(&wanted).await?
            };
            (held, tx.imported_keys("person", &person_keys).await?)
        };
        let mut seen: HashMap<(IdentifierType, String), ()> = HashMap::new();
        let mut writes = Vec::with_capacity(candidates.len());
        let mut keys = Vec::with_capacity(candidates.len());
        let mut positions = Vec::with_capacity(candidates.len());
        for (i, kh, c) in candidates {
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
            for (m, (_, person)) in c.members().iter().enumerate() {
                for (j, id) in person.identifiers.iter().enumerate() {
                    let key = (id.id_type, id.value.clone());
                    if held.contains_key(&(id.id_type.code().to_owned(), id.value.clone())) || seen.contains_key(&key) {
                        problem.push(
                            format!("members[{m}].identifiers[{j}].value"),
                            "identifier-taken",
                            taken(id),
                        );
                    }
                }
            }
            if problem.is_empty() {
                for (_, person) in c.members() {
                    for id in &person.identifiers {
                        seen.insert((id.id_type, id.value.clone()), ());
                    }
                }
                writes.push(c);
                keys.push((kh.key, kh.person_keys));
                positions.push(i);
            } else {
                outcomes[i] = Some(ImportOutcome::Refused(problem));
            }
        }
        if !writes.is_empty() {
            // A concurrent registration that took an identifier since the
            // check fails the batch as a whole; the caller runs it again.
            let views = self
                .write_checked(actor, writes, Some(&keys))
                .await
                .map_err(|(_, e)| match e {
                    // Taken by someone else since the check: the caller runs the batch again.
                    AppError::Invalid(p) if p.errors.iter().any(|e| e.code == "identifier-taken") => {
                        AppError::Conflict {
                            code: "identifier-taken",
                            message: "an identifier was registered elsewhere during the import; run the batch again"
                                .into(),
                        }
                    }
                    e => e,
                })?;
            for (i, view) in positions.into_iter().zip(views) {
                outcomes[i] = Some(ImportOutcome::Imported(view.household.id));
            }
        }
        outcomes
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| AppError::Internal("an imported household got no outcome".into()))
    }
}
