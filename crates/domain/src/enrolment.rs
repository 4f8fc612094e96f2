//! The enrolment lifecycle of a household or person in a programme, as an
//! explicit transition table: a move the table does not allow is an error,
//! never a silent write.

use serde::{Deserialize, Serialize};

use crate::vocab::vocabulary;

vocabulary!(
    EnrolmentStatus {
        Candidate = "candidate",
        Eligible = "eligible",
        NotEligible = "not_eligible",
        Enrolled = "enrolled",
        Paused = "paused",
        Exited = "exited",
    }
);

vocabulary!(
    /// Why an enrolment is paused.
    PauseReason { NonCompliance = "non_compliance", Investigation = "investigation" }
);

vocabulary!(
    /// Why an enrolment ended.
    ExitReason {
        Deceased = "deceased",
        AgedOut = "aged_out",
        FailedRecertification = "failed_recertification",
        Graduated = "graduated",
        Duplicate = "duplicate",
        Voluntary = "voluntary",
    }
);

impl EnrolmentStatus {
    /// The statuses this one may move to.
    pub fn next(self) -> &'static [EnrolmentStatus] {
        use EnrolmentStatus::*;
        match self {
            Candidate => &[Eligible, NotEligible],
            // A later targeting run may decide again.
            Eligible => &[Enrolled, NotEligible, Eligible],
            NotEligible => &[Eligible, NotEligible],
            Enrolled => &[Paused, Exited],
            Paused => &[Enrolled, Exited],
            Exited => &[],
        }
    }

    /// Targeting runs decide these again; the others are left as they are.
    pub fn is_decision(self) -> bool {
        matches!(
            self,
            EnrolmentStatus::Candidate | EnrolmentStatus::Eligible | EnrolmentStatus::NotEligible
        )
    }

    /// Receiving benefits now or about to again.
    pub fn is_active(self) -> bool {
        matches!(self, EnrolmentStatus::Enrolled | EnrolmentStatus::Paused)
    }
}

/// A move the lifecycle does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an enrolment cannot go from {from} to {to}{}", allowed(*.from))]
pub struct IllegalTransition {
    pub from: EnrolmentStatus,
    pub to: EnrolmentStatus,
}

fn allowed(from: EnrolmentStatus) -> String {
    let next = from.next();
    if next.is_empty() {
        format!("; {from} is final")
    } else {
        let list: Vec<&str> = next.iter().map(|s| s.code()).collect();
        format!("; from {from} it can go to {}", list.join(", "))
    }
}

/// Checks a move against the table.
pub fn check_transition(from: EnrolmentStatus, to: EnrolmentStatus) -> Result<(), IllegalTransition> {
    if from.next().contains(&to) {
        Ok(())
    } else {
        Err(IllegalTransition { from, to })
    }
}

/// The reason a move needs, checked against its vocabulary: pauses and exits
/// name one of theirs; other moves take free text or none.
pub fn check_reason(to: EnrolmentStatus, reason: Option<&str>) -> Result<(), String> {
    match to {
        EnrolmentStatus::Paused => match reason {
            Some(r) if PauseReason::from_code(r).is_some() => Ok(()),
            _ => Err(format!("a pause needs a reason: one of {}", PauseReason::codes())),
        },
        EnrolmentStatus::Exited => match reason {
            Some(r) if ExitReason::from_code(r).is_some() => Ok(()),
            _ => Err(format!("an exit needs a reason: one of {}", ExitReason::codes())),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::EnrolmentStatus::*;
    use super::*;

    #[test]
    fn the_table_allows_the_lifecycle_and_nothing_else() {
        assert!(check_transition(Candidate, Eligible).is_ok());
        assert!(check_transition(Eligible, Enrolled).is_ok());
        assert!(check_transition(Enrolled, Paused).is_ok());
        assert!(check_transition(Paused, Enrolled).is_ok());
        assert!(check_transition(Paused, Exited).is_ok());
        let e = check_transition(NotEligible, Enrolled).unwrap_err();
        assert_eq!(
            e.to_string(),
            "an enrolment cannot go from not_eligible to enrolled; from not_eligible it can go to eligible, not_eligible"
        );
        assert!(
            check_transition(Exited, Enrolled)
                .unwrap_err()
                .to_string()
                .ends_with("exited is final")
        );
        assert!(check_transition(Candidate, Enrolled).is_err());
        assert!(check_transition(Enrolled, Eligible).is_err());
    }

    #[test]
    fn pauses_and_exits_need_a_reason_from_their_vocabulary() {
        assert!(check_reason(Paused, Some("investigation")).is_ok());
        assert!(check_reason(Paused, None).is_err());
        assert!(
            check_reason(Exited, Some("moved"))
                .unwrap_err()
                .contains("deceased, aged_out")
        );
        assert!(check_reason(Enrolled, None).is_ok());
    }
}
