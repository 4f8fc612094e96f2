//! The dashboard's headline figures for the actor's areas: households,
//! people, enrolments, the payments of the cycles being paid and the
//! grievances still open.

use std::collections::BTreeMap;

use himaya_domain::access::Permission;
use himaya_domain::payment::EntitlementStatus;
use serde::Serialize;

use crate::{Actor, App, AppError};

/// Headline figures within the actor's areas.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Dashboard {
    pub households: i64,
    pub people: i64,
    /// Active households by district (the second level of the area tree).
    pub households_by_district: BTreeMap<String, i64>,
    /// Enrolments by programme and status; `None` for those who may not read programmes.
    pub enrolments: Option<BTreeMap<String, BTreeMap<String, i64>>>,
    /// Payments this cycle by currency; `None` for those who may not read payments.
    pub payments: Option<BTreeMap<String, PaymentFigures>>,
    /// Grievances still open; `None` for those who may not read grievances.
    pub open_grievances: Option<i64>,
}

/// Payments this cycle: the entitlements of each programme's latest cycle
/// that is issued or reconciling, within the actor's areas. Amounts in
/// minor units.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PaymentFigures {
    /// Put in a payment file (paid, failed, returned, waiting and the rest).
    pub issued: i64,
    pub issued_amount: i64,
    pub paid: i64,
    pub paid_amount: i64,
}

impl App {
    /// Counts only, no records: nothing personal is shown, so nothing is audited.
    pub async fn dashboard(&self, actor: &Actor) -> Result<Dashboard, AppError> {
        actor.require(Permission::HouseholdsRead)?;
        let within = self.scope_filter(actor);
        let counts = self.store().area_counts(within.as_deref()).await?;
        let mut d = Dashboard::default();
        for (area, n) in &counts.households {
            d.households += n;
            *d.households_by_district.entry(self.district_of(area)).or_default() += n;
        }
        d.people = counts.persons.iter().map(|(_, n)| n).sum();
        if actor.permissions().allows(Permission::ProgrammesRead) {
            let mut by_programme: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
            for (programme, status, n) in counts.enrolments {
                *by_programme.entry(programme).or_default().entry(status).or_default() += n;
            }
            d.enrolments = Some(by_programme);
        }
        if actor.permissions().allows(Permission::PaymentsRead) {
            let mut by_currency: BTreeMap<String, PaymentFigures> = BTreeMap::new();
            for (currency, status, n, amount) in self.store().payment_counts(within.as_deref()).await?.rows {
                let Some(status) = EntitlementStatus::from_code(&status) else {
                    continue;
                };
                let f = by_currency.entry(currency).or_default();
                if status.is_issued() {
                    f.issued += n;
                    f.issued_amount += amount;
                }
                if status == EntitlementStatus::Paid {
                    f.paid += n;
                    f.paid_amount += amount;
                }
            }
            d.payments = Some(by_currency);
        }
        if actor.permissions().allows(Permission::GrievancesRead) {
            d.open_grievances = Some(self.store().open_grievances(within.as_deref()).await?);
        }
        Ok(d)
    }

    /// The district an area lies in: the second level of its path, or the area itself.
    pub(crate) fn district_of(&self, area: &str) -> String {
        self.area_path(area)
            .and_then(|p| {
                let levels: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
                levels.get(1).or(levels.first()).map(|s| (*s).to_owned())
            })
            .unwrap_or_else(|| area.to_owned())
    }
}
