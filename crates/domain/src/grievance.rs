//! Grievances: a complaint or appeal brought by a household or anyone left
//! out of the registry — wrong data, a refusal, a missed or short payment,
//! the conduct of staff — from the day it is received until it is settled.
//! Its lifecycle is an explicit transition table, like an enrolment's.

use serde::{Deserialize, Serialize};

use crate::vocab::vocabulary;

vocabulary!(
    /// What the grievance is about.
    GrievanceCategory {
        /// Wrong or missing data in the registry.
        Registration = "registration",
        /// Refused by a programme, or left out of it.
        Eligibility = "eligibility",
        /// A payment not received, short or late.
        Payment = "payment",
        /// How staff or a payment agent behaved.
        Conduct = "conduct",
        Other = "other",
    }
);

vocabulary!(
    /// How the grievance reached the office.
    GrievanceChannel {
        InPerson = "in_person",
        Phone = "phone",
        Sms = "sms",
        Letter = "letter",
        Online = "online",
    }
);

vocabulary!(
    GrievanceStatus {
        Open = "open",
        /// Settled: what was done is recorded.
        Resolved = "resolved",
        /// Not founded: why is recorded.
        Dismissed = "dismissed",
    }
);

/// The longest description, resolution or note kept.
pub const MAX_GRIEVANCE_TEXT: usize = 2_000;

impl GrievanceStatus {
    /// The statuses this one may move to. A settled grievance may be opened
    /// again when the complainant comes back.
    pub fn next(self) -> &'static [GrievanceStatus] {
        use GrievanceStatus::*;
        match self {
            Open => &[Resolved, Dismissed],
            Resolved | Dismissed => &[Open],
        }
    }
}

/// A move the lifecycle does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a grievance cannot go from {from} to {to}; from {from} it can go to {}", allowed(*.from))]
pub struct IllegalGrievanceMove {
    pub from: GrievanceStatus,
    pub to: GrievanceStatus,
}

fn allowed(from: GrievanceStatus) -> String {
    from.next().iter().map(|s| s.code()).collect::<Vec<_>>().join(", ")
}

/// Checks a move against the table.
pub fn check_grievance_move(from: GrievanceStatus, to: GrievanceStatus) -> Result<(), IllegalGrievanceMove> {
    if from.next().contains(&to) {
        Ok(())
    } else {
        Err(IllegalGrievanceMove { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::GrievanceStatus::*;
    use super::*;

    #[test]
    fn a_grievance_is_settled_or_opened_again_and_nothing_else() {
        assert!(check_grievance_move(Open, Resolved).is_ok());
        assert!(check_grievance_move(Open, Dismissed).is_ok());
        assert!(check_grievance_move(Resolved, Open).is_ok());
        assert!(check_grievance_move(Dismissed, Open).is_ok());
        for (from, to) in [
            (Open, Open),
            (Resolved, Dismissed),
            (Dismissed, Resolved),
            (Resolved, Resolved),
        ] {
            let e = check_grievance_move(from, to).unwrap_err();
            assert!(e.to_string().contains("it can go to"), "{e}");
        }
    }

    #[test]
    fn codes_round_trip() {
        for c in GrievanceCategory::ALL {
            assert_eq!(GrievanceCategory::from_code(c.code()), Some(*c));
        }
        for c in GrievanceChannel::ALL {
            assert_eq!(GrievanceChannel::from_code(c.code()), Some(*c));
        }
        assert_eq!(GrievanceStatus::from_code("closed"), None);
    }
}
