//! Closed vocabularies shared by every record: the values a field may take,
//! with the stable snake_case codes used in JSON, CSV and the database.

use serde::{Deserialize, Serialize};

/// The four countries Himaya ships configurations for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Country {
    Pk,
    Bd,
    Jo,
    Ps,
}

impl Country {
    pub const ALL: [Country; 4] = [Country::Pk, Country::Bd, Country::Jo, Country::Ps];

    /// ISO 3166-1 alpha-2 code.
    pub fn alpha2(self) -> &'static str {
        match self {
            Country::Pk => "PK",
            Country::Bd => "BD",
            Country::Jo => "JO",
            Country::Ps => "PS",
        }
    }

    /// The lower-case code used on the command line (`--country pk`).
    pub fn code(self) -> &'static str {
        match self {
            Country::Pk => "pk",
            Country::Bd => "bd",
            Country::Jo => "jo",
            Country::Ps => "ps",
        }
    }

    pub fn from_code(code: &str) -> Option<Country> {
        Country::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(code) || c.alpha2().eq_ignore_ascii_case(code))
    }
}

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $code)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            pub fn from_code(code: &str) -> Option<$name> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }

            /// The allowed codes, for error messages.
            pub fn codes() -> String {
                [$($code),+].join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary!(
    /// Sex as recorded; `other` covers third-gender registration (Bangladesh's Hijra allowance).
    Sex { Male = "male", Female = "female", Other = "other" }
);

vocabulary!(
    /// Relationship to the head of the household.
    Relationship {
        Head = "head",
        Spouse = "spouse",
        Child = "child",
        ChildInLaw = "child_in_law",
        Grandchild = "grandchild",
        Parent = "parent",
        ParentInLaw = "parent_in_law",
        Sibling = "sibling",
        OtherRelative = "other_relative",
        NonRelative = "non_relative",
    }
);

vocabulary!(
    MaritalStatus {
        NeverMarried = "never_married",
        Married = "married",
        Widowed = "widowed",
        Divorced = "divorced",
        Separated = "separated",
    }
);

vocabulary!(
    /// An answer to one Washington Group short-set question.
    WgAnswer {
        NoDifficulty = "no_difficulty",
        SomeDifficulty = "some_difficulty",
        ALotOfDifficulty = "a_lot_of_difficulty",
        CannotDoAtAll = "cannot_do_at_all",
    }
);

vocabulary!(
    MaternalStatus { Pregnant = "pregnant", Lactating = "lactating" }
);

vocabulary!(
    SchoolLevel {
        NotEnrolled = "not_enrolled",
        PrePrimary = "pre_primary",
        Primary = "primary",
        Secondary = "secondary",
        HigherSecondary = "higher_secondary",
        Tertiary = "tertiary",
        Vocational = "vocational",
    }
);

vocabulary!(
    /// `merged`: a duplicate record of another person, who carries on in its place.
    PersonStatus { Active = "active", Deceased = "deceased", MovedOut = "moved_out", Merged = "merged" }
);

vocabulary!(
    HouseholdStatus { Active = "active", Inactive = "inactive" }
);

vocabulary!(
    /// Where a change came from.
    Source {
        FieldSurvey = "field_survey",
        DeskUpdate = "desk_update",
        AgencyFeed = "agency_feed",
        Import = "import",
    }
);

vocabulary!(
    /// What a recorded version did to its record.
    ChangeKind {
        Create = "create",
        Update = "update",
        Move = "move",
        Split = "split",
        Merge = "merge",
        Transfer = "transfer",
        Inactivate = "inactivate",
        Reactivate = "reactivate",
    }
);
