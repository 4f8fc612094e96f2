//! Export: households with their people, page by page, for files that
//! `himaya import` reads back. The export as a whole is one audit entry
//! (who exported what, with which filters, how many records).

use himaya_domain::access::Permission;
use himaya_domain::household::Household;
use himaya_domain::person::Person;
use serde_json::json;

use crate::{Actor, App, AppError, HouseholdQuery};

impl App {
    /// One page of households (filtered as a household list is, within the
    /// actor's areas) with all their people. `None` ends the export.
    pub async fn export_page(
        &self,
        actor: &Actor,
        query: &HouseholdQuery,
    ) -> Result<(Vec<(Household, Vec<Person>)>, Option<String>), AppError> {
        actor.require(Permission::HouseholdsRead)?;
        actor.require(Permission::PersonsRead)?;
        let page = self.households_page(actor, query).await?;
        let ids: Vec<_> = page.items.iter().map(|h| h.id).collect();
        let mut members = self.store().members_of(&ids).await?.into_iter().peekable();
        let mut out = Vec::with_capacity(page.items.len());
        for h in page.items {
            let mut people = Vec::new();
            while let Some(p) = members.next_if(|p| p.household_id == h.id) {
                people.push(p);
            }
            out.push((h, people));
        }
        Ok((out, page.next_cursor))
    }

    /// Records that an export was made: by whom, with which filters and how much.
    pub async fn record_export(
        &self,
        actor: &Actor,
        query: &HouseholdQuery,
        households: u64,
        persons: u64,
        fields: &[String],
    ) -> Result<(), AppError> {
        self.audit(
            actor,
            "registry.export",
            None,
            json!({"area": query.area, "status": query.status, "fields": fields,
                   "households": households, "persons": persons}),
        )
        .await
    }
}
