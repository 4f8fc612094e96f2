//! Who is acting, what they may do and where: every use case asks the
//! [`Actor`] before it reads or writes, so the API, the pages and the
//! command line share one set of rules. Deny by default.

use himaya_domain::access::{FieldSet, Permission, Permissions, Role, Scope};

use crate::{App, AppError};

/// What kind of principal an actor is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActorKind {
    /// A staff member, signed in or using a personal token.
    User { id: String },
    /// A partner agency's API client.
    Agency { id: String, rate_limit: u32 },
    /// The command line or a batch job started by an operator on the server.
    System,
}

/// A principal with its permissions, area scope and, for agencies, the
/// fields it may be shown. Built only by authentication (or
/// [`Actor::system`] for the command line).
#[derive(Clone, Debug)]
pub struct Actor {
    /// Recorded in every version and audit entry: the username,
    /// `agency:NAME` or `system:WHAT`.
    pub name: String,
    kind: ActorKind,
    roles: Vec<Role>,
    permissions: Permissions,
    scope: Scope,
    fields: Option<FieldSet>,
    /// For cookie sessions: the token a state-changing request must echo.
    csrf_token: Option<String>,
    /// For cookie sessions: the hash that identifies the session.
    pub(crate) session: Option<String>,
    must_change_password: bool,
    /// For staff: the language they chose for the pages, if any.
    language: Option<String>,
}

impl Actor {
    /// The operator at the server's command line: every permission,
    /// everywhere. Never built from a request.
    pub fn system(what: &str) -> Actor {
        Actor {
            name: format!("system:{what}"),
            kind: ActorKind::System,
            roles: vec![Role::Administrator],
            permissions: Permissions::all(),
            scope: Scope::National,
            fields: None,
            csrf_token: None,
            session: None,
            must_change_password: false,
            language: None,
        }
    }

    /// Someone not (yet) authenticated, named for the audit trail: no permissions.
    pub(crate) fn nobody(name: &str) -> Actor {
        Actor {
            name: name.to_owned(),
            kind: ActorKind::System,
            roles: Vec::new(),
            permissions: Permissions::default(),
            scope: Scope::Areas(Vec::new()),
            fields: None,
            csrf_token: None,
            session: None,
            must_change_password: false,
            language: None,
        }
    }

    pub(crate) fn user(id: String, username: String, roles: Vec<Role>, scope: Scope) -> Actor {
        Actor {
            name: username,
            kind: ActorKind::User { id },
            permissions: Permissions::of_roles(&roles),
            roles,
            scope,
            fields: None,
            csrf_token: None,
            session: None,
            must_change_password: false,
            language: None,
        }
    }

    pub(crate) fn agency(
        id: String,
        name: &str,
        permissions: Permissions,
        scope: Scope,
        fields: FieldSet,
        rate_limit: u32,
    ) -> Actor {
        Actor {
            name: format!("agency:{name}"),
            kind: ActorKind::Agency { id, rate_limit },
            roles: Vec::new(),
            permissions,
            scope,
            fields: Some(fields),
            csrf_token: None,
            session: None,
            must_change_password: false,
            language: None,
        }
    }

    pub(crate) fn with_session(mut self, hash: String, csrf: String, must_change_password: bool) -> Actor {
        self.session = Some(hash);
        self.csrf_token = Some(csrf);
        self.must_change_password = must_change_password;
        self
    }

    pub(crate) fn with_language(mut self, language: Option<String>) -> Actor {
        self.language = language;
        self
    }

    /// The language the user chose for the pages (ISO 639-1), if any.
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    pub fn kind(&self) -> &ActorKind {
        &self.kind
    }

    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub fn permissions(&self) -> Permissions {
        self.permissions
    }

    /// The fields an agency may be shown; `None` for staff (all fields).
    pub fn fields(&self) -> Option<&FieldSet> {
        self.fields.as_ref()
    }

    pub fn csrf_token(&self) -> Option<&str> {
        self.csrf_token.as_deref()
    }

    pub fn must_change_password(&self) -> bool {
        self.must_change_password
    }

    /// Removes from a household, as serialised, what the actor may not see:
    /// for an agency, everything outside its field set, and the members
    /// unless it may read people.
    pub fn show_household(&self, household: &mut serde_json::Value) {
        if let Some(fields) = &self.fields {
            fields.project_household(household);
            if !self.permissions.allows(Permission::PersonsRead)
                && let Some(map) = household.as_object_mut()
            {
                map.remove("members");
            }
        }
    }

    /// Removes from a person, as serialised, what the actor may not see.
    pub fn show_person(&self, person: &mut serde_json::Value) {
        if let Some(fields) = &self.fields {
            fields.project_person(person);
        }
    }

    /// Refuses unless the actor holds the permission.
    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        if self.must_change_password {
            return Err(AppError::forbidden(
                "password-change-required",
                "change the one-time password first (POST /api/v1/session/password)",
            ));
        }
        if self.permissions.allows(p) {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "permission-denied",
                format!("{} may not perform {p}", self.name),
            ))
        }
    }
}

impl App {
    /// Refuses unless the area lies in the actor's scope. An area this
    /// deployment does not know lies in no one's scope but the nation's.
    /// A batch job over `area`, or over the whole country when none is
    /// named, which only a national scope may run.
    pub(crate) fn require_run_scope(&self, actor: &Actor, area: Option<&str>) -> Result<(), AppError> {
        match area {
            Some(a) => {
                if self.area_path(a).is_none() {
                    return Err(AppError::invalid(
                        "area",
                        "unknown",
                        format!("no area has the code {a:?}"),
                    ));
                }
                self.require_area(actor, a)
            }
            None if *actor.scope() != Scope::National => Err(AppError::forbidden(
                "outside-area",
                "a run over the whole country needs a national scope; name an area",
            )),
            None => Ok(()),
        }
    }

    pub(crate) fn require_area(&self, actor: &Actor, area: &str) -> Result<(), AppError> {
        let covered = match self.area_path(area) {
            Some(path) => actor.scope.covers_path(path),
            None => actor.scope == Scope::National,
        };
        if covered {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "outside-area",
                format!("the record is outside the areas of {}", actor.name),
            ))
        }
    }

    /// The area codes a query must stay within; `None` for the whole country.
    pub(crate) fn scope_filter(&self, actor: &Actor) -> Option<Vec<String>> {
        match &actor.scope {
            Scope::National => None,
            Scope::Areas(codes) => Some(codes.clone()),
        }
    }
}
