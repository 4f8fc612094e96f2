//! G2P payments: the lifecycles of payment cycles and entitlements as
//! explicit transition tables, what a cycle pays (a share of the benefit
//! formula, a flat amount, or nothing with arrears owed), payment
//! providers, and the totals that must balance at every step.

use serde::{Deserialize, Serialize};

use crate::vocab::vocabulary;

vocabulary!(
    /// Where a payment cycle stands.
    CycleStatus {
        Draft = "draft",
        Computed = "computed",
        Submitted = "submitted",
        Approved = "approved",
        Issued = "issued",
        Reconciling = "reconciling",
        Closed = "closed",
        Rejected = "rejected",
        Cancelled = "cancelled",
    }
);

impl CycleStatus {
    /// The statuses this one may move to.
    pub fn next(self) -> &'static [CycleStatus] {
        use CycleStatus::*;
        match self {
            Draft => &[Computed, Cancelled],
            // Computing again replaces the entitlements; only a computed cycle is submitted.
            Computed => &[Computed, Submitted, Cancelled],
            Submitted => &[Approved, Rejected],
            // A rejected cycle is corrected and computed again, or given up.
            Rejected => &[Computed, Cancelled],
            Approved => &[Issued],
            // Failed payments are issued again in new batches.
            Issued => &[Issued, Reconciling, Closed],
            Reconciling => &[Issued, Reconciling, Closed],
            Closed | Cancelled => &[],
        }
    }
}

/// A move a lifecycle does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a cycle cannot go from {from} to {to}{}", allowed(*.from))]
pub struct IllegalCycleTransition {
    pub from: CycleStatus,
    pub to: CycleStatus,
}

fn allowed(from: CycleStatus) -> String {
    let next = from.next();
    if next.is_empty() {
        format!("; {from} is final")
    } else {
        let list: Vec<&str> = next.iter().map(|s| s.code()).collect();
        format!("; from {from} it can go to {}", list.join(", "))
    }
}

pub fn check_cycle_transition(from: CycleStatus, to: CycleStatus) -> Result<(), IllegalCycleTransition> {
    if from.next().contains(&to) {
        Ok(())
    } else {
        Err(IllegalCycleTransition { from, to })
    }
}

vocabulary!(
    /// Where one beneficiary's entitlement in a cycle stands.
    EntitlementStatus {
        /// Owed, waiting for approval.
        Computed = "computed",
        /// Not paid this cycle: suspended, a condition not met, nothing owed.
        Withheld = "withheld",
        /// A skipped cycle: owed, and paid as arrears by a later one.
        Deferred = "deferred",
        Approved = "approved",
        /// In a payment file sent to its provider.
        Issued = "issued",
        Paid = "paid",
        /// Not paid: no account, or refused by the provider.
        Failed = "failed",
        /// Paid, then reversed by the provider.
        Returned = "returned",
        /// Not paid and given up when the cycle closed.
        WrittenOff = "written_off",
        /// Not paid, and owed as arrears by a later cycle.
        CarriedForward = "carried_forward",
        /// Issued but not collected within the programme's validity period.
        Expired = "expired",
        Cancelled = "cancelled",
    }
);

impl EntitlementStatus {
    /// Counted among the issued in a cycle's totals.
    pub fn is_issued(self) -> bool {
        use EntitlementStatus::*;
        matches!(
            self,
            Issued | Paid | Failed | Returned | WrittenOff | CarriedForward | Expired
        )
    }

    /// Nothing more will happen to it in its cycle: a cycle closes when
    /// every entitlement is settled.
    pub fn is_settled(self) -> bool {
        use EntitlementStatus::*;
        matches!(
            self,
            Withheld | Deferred | Paid | WrittenOff | CarriedForward | Expired | Cancelled
        )
    }

    /// Owed to the beneficiary by a later cycle.
    pub fn is_arrears(self) -> bool {
        matches!(self, EntitlementStatus::Deferred | EntitlementStatus::CarriedForward)
    }
}

vocabulary!(
    /// Why an entitlement was withheld or failed.
    EntitlementReason {
        Suspended = "suspended",
        ConditionNotMet = "condition_not_met",
        NothingOwed = "nothing_owed",
        NoRecipient = "no_recipient",
        OutsideAreas = "outside_areas",
        NoAccount = "no_account",
        RejectedByProvider = "rejected_by_provider",
        RuleError = "rule_error",
        Other = "other",
    }
);

/// What a cycle pays each beneficiary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CyclePlan {
    /// The share of the benefit formula paid, in percent (100 normally).
    #[serde(default = "full_share")]
    pub share_percent: u32,
    /// A flat amount in minor units paid instead of the formula (a top-up
    /// after a shock, an emergency payment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flat_amount: Option<i64>,
    /// Nothing is paid this cycle; each amount is owed as arrears.
    #[serde(default)]
    pub skip: bool,
    /// Pay only beneficiaries in these areas (and below); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub areas: Vec<String>,
    /// The funding lines the cycle draws on, in order.
    pub funding: Vec<String>,
}

fn full_share() -> u32 {
    100
}

impl CyclePlan {
    /// Checks the plan; `(field, reason)` for each fault.
    pub fn check(&self, area_known: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        let mut faults = Vec::new();
        if !(1..=100).contains(&self.share_percent) {
            faults.push(("share_percent".into(), "a share is a percentage from 1 to 100".into()));
        }
        if self.flat_amount.is_some_and(|a| a <= 0) {
            faults.push((
                "flat_amount".into(),
                "a flat amount is more than zero, in minor units".into(),
            ));
        }
        if self.flat_amount.is_some() && self.share_percent != 100 {
            faults.push((
                "share_percent".into(),
                "a flat amount is paid whole: give a share or a flat amount, not both".into(),
            ));
        }
        for (i, a) in self.areas.iter().enumerate() {
            if !area_known(a) {
                faults.push((format!("areas[{i}]"), format!("{a:?} is not an area of the deployment")));
            }
        }
        if self.funding.is_empty() {
            faults.push(("funding".into(), "name at least one funding line".into()));
        }
        faults
    }

    /// The amount this cycle owes for a formula's `amount`.
    pub fn amount_of(&self, formula: i64) -> i64 {
        match self.flat_amount {
            Some(flat) => flat,
            // Whole minor units, rounded down: a share never pays more than the formula.
            None => (i128::from(formula) * i128::from(self.share_percent) / 100) as i64,
        }
    }
}

/// Counts and sums of a cycle's entitlements, which must balance:
/// entitled = issued + withheld, and issued = paid + failed + returned +
/// pending (+ those written off, carried forward or expired after failing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub count: u64,
    pub amount: i64,
}

impl Tally {
    pub fn add(&mut self, amount: i64) {
        self.count += 1;
        self.amount = self.amount.saturating_add(amount);
    }

    fn plus(self, other: Tally) -> Tally {
        Tally {
            count: self.count + other.count,
            amount: self.amount.saturating_add(other.amount),
        }
    }
}

/// A cycle's totals by entitlement status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CycleTotals {
    pub entitled: Tally,
    pub withheld: Tally,
    pub deferred: Tally,
    /// Computed or approved, not yet issued.
    pub awaiting: Tally,
    pub issued: Tally,
    pub pending: Tally,
    pub paid: Tally,
    pub failed: Tally,
    pub returned: Tally,
    pub written_off: Tally,
    pub carried_forward: Tally,
    pub expired: Tally,
    pub cancelled: Tally,
}

impl CycleTotals {
    /// Adds one entitlement (cancelled ones are counted apart, outside the entitled).
    pub fn count(&mut self, status: EntitlementStatus, amount: i64) {
        self.count_many(status, 1, amount);
    }

    /// Adds `count` entitlements of one status whose amounts sum to `amount`.
    pub fn count_many(&mut self, status: EntitlementStatus, count: u64, amount: i64) {
        use EntitlementStatus::*;
        let group = Tally { count, amount };
        let add = |t: &mut Tally| *t = t.plus(group);
        if status == Cancelled {
            add(&mut self.cancelled);
            return;
        }
        add(&mut self.entitled);
        match status {
            Withheld => add(&mut self.withheld),
            Deferred => add(&mut self.deferred),
            Computed | Approved => add(&mut self.awaiting),
            Issued => add(&mut self.pending),
            Paid => add(&mut self.paid),
            Failed => add(&mut self.failed),
            Returned => add(&mut self.returned),
            WrittenOff => add(&mut self.written_off),
            CarriedForward => add(&mut self.carried_forward),
            Expired => add(&mut self.expired),
            Cancelled => {}
        }
        if status.is_issued() {
            add(&mut self.issued);
        }
    }

    /// Whether the totals balance; the reason when they do not.
    pub fn check(&self) -> Result<(), String> {
        let not_issued = self.withheld.plus(self.deferred).plus(self.awaiting);
        if self.entitled != self.issued.plus(not_issued) {
            return Err(format!(
                "entitled {:?} is not issued {:?} plus withheld, deferred and awaiting {:?}",
                self.entitled, self.issued, not_issued
            ));
        }
        let outcomes = self
            .paid
            .plus(self.failed)
            .plus(self.returned)
            .plus(self.pending)
            .plus(self.written_off)
            .plus(self.carried_forward)
            .plus(self.expired);
        if self.issued != outcomes {
            return Err(format!(
                "issued {:?} is not paid, failed, returned and pending {:?}",
                self.issued, outcomes
            ));
        }
        Ok(())
    }
}

vocabulary!(
    /// How a payment provider reaches a beneficiary.
    ProviderKind { MobileWallet = "mobile_wallet", Bank = "bank", AgentBanking = "agent_banking" }
);

vocabulary!(
    /// The file a payment provider takes.
    FileFormat {
        Pain001V09 = "pain.001.001.09",
        Pain001V03 = "pain.001.001.03",
        Csv = "csv",
    }
);

/// The end-to-end id of a payment: the entitlement's id, and for a payment
/// issued again after a failure, the attempt after it (at most 35 characters).
pub fn end_to_end_id(entitlement: uuid::Uuid, attempt: u32) -> String {
    let id = entitlement.simple().to_string();
    if attempt <= 1 { id } else { format!("{id}R{attempt}") }
}

/// The entitlement and attempt of an end-to-end id, if it is one of ours.
pub fn parse_end_to_end_id(text: &str) -> Option<(uuid::Uuid, u32)> {
    let text = text.trim();
    let (id, attempt) = match text.split_once(['R', 'r']) {
        Some((id, n)) => (id, n.parse().ok().filter(|n| *n >= 2)?),
        None => (text, 1),
    };
    if id.len() != 32 {
        return None;
    }
    uuid::Uuid::try_parse(id).ok().map(|u| (u, attempt))
}

#[cfg(test)]
mod tests {
    use super::CycleStatus::*;
    use super::*;

    #[test]
    fn a_cycle_follows_its_table() {
        for (from, to) in [
            (Draft, Computed),
            (Computed, Submitted),
            (Submitted, Approved),
            (Approved, Issued),
            (Issued, Reconciling),
            (Reconciling, Closed),
            (Submitted, Rejected),
            (Rejected, Computed),
        ] {
            assert!(check_cycle_transition(from, to).is_ok(), "{from} → {to}");
        }
        assert_eq!(
            check_cycle_transition(Computed, Approved).unwrap_err().to_string(),
            "a cycle cannot go from computed to approved; from computed it can go to computed, submitted, cancelled"
        );
        assert!(check_cycle_transition(Approved, Approved).is_err(), "approving twice");
        assert!(
            check_cycle_transition(Closed, Issued)
                .unwrap_err()
                .to_string()
                .ends_with("closed is final")
        );
    }

    #[test]
    fn a_plan_pays_a_share_or_a_flat_amount_and_is_checked() {
        let plan = |share, flat| CyclePlan {
            share_percent: share,
            flat_amount: flat,
            skip: false,
            areas: vec!["PK-PB".into()],
            funding: vec!["treasury".into()],
        };
        assert_eq!(plan(100, None).amount_of(1_350_000), 1_350_000);
        assert_eq!(plan(50, None).amount_of(1_350_001), 675_000);
        assert_eq!(plan(100, Some(500_000)).amount_of(1_350_000), 500_000);
        assert!(plan(100, None).check(|a| a == "PK-PB").is_empty());
        let faults: Vec<String> = plan(0, Some(-1)).check(|_| false).into_iter().map(|f| f.0).collect();
        assert_eq!(faults, ["share_percent", "flat_amount", "share_percent", "areas[0]"]);
    }

    #[test]
    fn totals_balance_or_say_why() {
        let mut t = CycleTotals::default();
        for (s, a) in [
            (EntitlementStatus::Paid, 100),
            (EntitlementStatus::Failed, 50),
            (EntitlementStatus::Withheld, 0),
            (EntitlementStatus::Issued, 70),
            (EntitlementStatus::Cancelled, 30),
        ] {
            t.count(s, a);
        }
        assert_eq!(t.entitled, Tally { count: 4, amount: 220 });
        assert_eq!(t.issued, Tally { count: 3, amount: 220 });
        assert!(t.check().is_ok());
        t.paid.amount += 1;
        assert!(t.check().unwrap_err().starts_with("issued"));
    }

    #[test]
    fn end_to_end_ids_name_the_entitlement_and_the_attempt() {
        let id = uuid::Uuid::now_v7();
        let first = end_to_end_id(id, 1);
        assert_eq!(first.len(), 32);
        assert_eq!(parse_end_to_end_id(&first), Some((id, 1)));
        let again = end_to_end_id(id, 3);
        assert!(again.len() <= 35);
        assert_eq!(parse_end_to_end_id(&again), Some((id, 3)));
        for bad in ["", "x", &format!("{first}R1"), &format!("{first}R"), &first[..31]] {
            assert_eq!(parse_end_to_end_id(bad), None, "{bad}");
        }
    }
}
