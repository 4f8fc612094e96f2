//! Staff accounts, sign-in, sessions, personal and agency bearer tokens.
//!
//! Secrets (session cookies, tokens) are 256 random bits; only their SHA-256
//! is stored, so a copy of the database opens no session. Passwords are
//! hashed with Argon2id, on a blocking thread, with a cost measured to take
//! about 50 ms on a 2-core server (`himaya bench` prints it).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use chrono::{DateTime, Duration, Utc};
use himaya_domain::Problem;
use himaya_domain::access::{AGENCY_PERMISSIONS, FieldSet, Permission, Permissions, Role, Scope};
use himaya_domain::audit::{hex, token_hash};
use himaya_store::{AgencyRow, TokenOwner, TokenRow, UserRow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::Record;
use crate::{Actor, App, AppError};

/// Argon2id memory cost (KiB) and passes: 19 MiB, 5 passes ≈ 45–50 ms on a
/// 2-core server (`himaya bench` measures it).
pub const PASSWORD_M_COST_KIB: u32 = 19 * 1024;
pub const PASSWORD_T_COST: u32 = 5;
/// Consecutive failed sign-ins that lock an account, and for how long.
pub const MAX_FAILED_LOGINS: i64 = 5;
pub const LOCKOUT_MINUTES: i64 = 15;
/// A session lasts one working day.
pub const SESSION_HOURS: i64 = 8;
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 128;
pub const DEFAULT_TOKEN_DAYS: u32 = 90;
pub const MAX_TOKEN_DAYS: u32 = 3650;
/// Prefix of every bearer token, so secret scanners can recognise them.
pub const TOKEN_PREFIX: &str = "hmy_";

fn argon2() -> Argon2<'static> {
    let params = Params::new(PASSWORD_M_COST_KIB, PASSWORD_T_COST, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], AppError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
    Ok(b)
}

/// A fresh 256-bit secret as hex.
fn secret() -> Result<String, AppError> {
    Ok(hex(&random_bytes::<32>()?))
}

/// Hashes a password (blocking: call from a blocking thread).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = random_bytes::<16>()?;
    argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored hash (blocking). The hash carries
/// its own cost, so older hashes keep verifying after the cost changes.
pub fn verify_password(password: &str, hash: &str) -> bool {
    argon2().verify_password(password.as_bytes(), hash).is_ok()
}

/// A hash to check unknown usernames against, so that a sign-in takes as
/// long whether or not the account exists.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password nobody has").unwrap_or_default())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(format!("worker thread failed: {e}")))
}

/// A one-time password: 20 characters without look-alikes (0/O, 1/l/I).
fn generate_password() -> Result<String, AppError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes = random_bytes::<20>()?;
    // 256 is not a multiple of 55: the small bias does not matter at 20 characters.
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

/// Why a password is refused, or nothing.
pub fn check_password(password: &str, username: &str, field: &str) -> Result<(), Problem> {
    let n = password.chars().count();
    let why = if n < MIN_PASSWORD_CHARS {
        format!("use at least {MIN_PASSWORD_CHARS} characters (a few words make a good password)")
    } else if n > MAX_PASSWORD_CHARS {
        format!("use at most {MAX_PASSWORD_CHARS} characters")
    } else if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        "the password must not contain the username".to_owned()
    } else {
        return Ok(());
    };
    Err(Problem::single(field, "weak-password", why))
}

fn check_username(raw: &str) -> Result<String, Problem> {
    let u = raw.trim().to_lowercase();
    let ok = (3..=64).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(u)
    } else {
        Err(Problem::single(
            "username",
            "invalid-username",
            "use 3 to 64 characters: letters a-z, digits, dot, hyphen, underscore",
        ))
    }
}

/// Sign-in credentials.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// A new session: the cookie's secret and the token forms must echo.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub secret: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub must_change_password: bool,
    /// The language the user chose for the pages, if any.
    pub language: Option<String>,
}

/// Who the caller is, as shown to them.
#[derive(Clone, Debug, Serialize)]
pub struct Me {
    pub name: String,
    pub kind: &'static str,
    pub roles: Vec<Role>,
    pub areas: Vec<String>,
    pub permissions: Vec<Permission>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    pub must_change_password: bool,
}

/// An account to create.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub username: String,
    pub roles: Vec<String>,
    pub areas: Vec<String>,
    /// `None` generates a one-time password that must be changed at first sign-in.
    pub password: Option<String>,
}

/// An account as shown (never its password hash).
#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    pub username: String,
    pub roles: Vec<String>,
    pub areas: Vec<String>,
    pub disabled: bool,
    pub locked_until: Option<DateTime<Utc>>,
}

impl From<&UserRow> for UserView {
    fn from(u: &UserRow) -> Self {
        UserView {
            username: u.username.clone(),
            roles: u.roles.clone(),
            areas: u.areas.clone(),
            disabled: u.disabled,
            locked_until: u.locked_until,
        }
    }
}

/// A partner agency to register.
#[derive(Clone, Debug, Default)]
pub struct NewAgency {
    pub name: String,
    pub scopes: Vec<String>,
    pub fields: Vec<String>,
    pub areas: Vec<String>,
    /// Requests per minute.
    pub rate_limit: u32,
    pub expires_days: u32,
}

/// What an agency may do and see.
#[derive(Clone, Debug)]
pub struct AgencySettings {
    pub scopes: Vec<String>,
    pub fields: Vec<String>,
    pub areas: Vec<String>,
    /// Requests per minute.
    pub rate_limit: u32,
}

/// A token as listed: whose, and how long it lives; never its secret.
#[derive(Clone, Debug, Serialize)]
pub struct TokenView {
    pub id: String,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token as handed out: the secret is shown once and never stored.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub id: String,
    pub secret: String,
    pub expires_at: DateTime<Utc>,
}

/// How long a checked token or session is trusted without asking the
/// database again. Changes made through this process (sign-out, password
/// change, disable, revoke, new roles) take effect at once; those made by
/// another process (`himaya user disable` on the command line, another
/// server) within this time.
pub const CREDENTIAL_CACHE_SECONDS: u64 = 5;
const CREDENTIAL_CACHE_ENTRIES: usize = 10_000;

/// Recently checked credentials, by the hash of their secret.
#[derive(Default)]
pub(crate) struct CredentialCache {
    entries: Mutex<HashMap<String, (Actor, Instant)>>,
}

impl CredentialCache {
    fn get(&self, hash: &str) -> Option<Actor> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(hash)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(actor, _)| actor.clone())
    }

    /// Trusts `actor` until the cache time passes or `expires_at`, whichever is first.
    fn put(&self, hash: String, actor: &Actor, expires_at: DateTime<Utc>) {
        let left = (expires_at - Utc::now()).to_std().unwrap_or_default();
        let until = Instant::now() + left.min(std::time::Duration::from_secs(CREDENTIAL_CACHE_SECONDS));
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CREDENTIAL_CACHE_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= CREDENTIAL_CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(hash, (actor.clone(), until));
    }

    /// Forgets everything: after any change to accounts, tokens or agencies.
    pub(crate) fn clear(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

fn bad_token() -> AppError {
    AppError::unauthenticated("invalid-token", "the bearer token is not valid")
}

impl App {
    fn parse_roles(&self, roles: &[String], areas: &[String]) -> Result<Vec<Role>, AppError> {
        let mut problem = Problem::default();
        let mut parsed = Vec::new();
        if roles.is_empty() {
            problem.push("role", "required", format!("give at least one role: {}", Role::codes()));
        }
        for r in roles {
            match Role::from_code(r.trim()) {
                Some(role) if !parsed.contains(&role) => parsed.push(role),
                Some(_) => {}
                None => problem.push("role", "not-allowed", format!("{r:?} is not one of: {}", Role::codes())),
            }
        }
        self.check_areas(areas, &mut problem);
        if areas.is_empty()
            && let Some(r) = parsed.iter().find(|r| r.needs_area())
        {
            problem.push("area", "required", format!("a {r} works in an area: give --area"));
        }
        if problem.is_empty() {
            Ok(parsed)
        } else {
            Err(AppError::Invalid(problem))
        }
    }

    fn check_areas(&self, areas: &[String], problem: &mut Problem) {
        for a in areas {
            if !self.area_known(a) {
                problem.push(
                    "area",
                    "area-unknown",
                    format!("{a:?} is not an area of this deployment"),
                );
            }
        }
    }

    fn user_actor(&self, u: &UserRow) -> Actor {
        let roles = u.roles.iter().filter_map(|r| Role::from_code(r)).collect();
        Actor::user(
            u.id.clone(),
            u.username.clone(),
            roles,
            Scope::from_codes(u.areas.clone()),
        )
        .with_language(u.language.clone())
    }

    /// Whether any enabled administrator exists: the server will not start without one.
    pub async fn has_administrator(&self) -> Result<bool, AppError> {
        Ok(self.store().count_administrators().await? > 0)
    }

    /// Creates an account. Returns the one-time password when none was given.
    pub async fn add_user(&self, by: &Actor, new: NewUser) -> Result<(UserView, Option<String>), AppError> {
        by.require(Permission::UsersManage)?;
        let mut problem = Problem::default();
        let username = check_username(&new.username)
            .map_err(|p| problem.errors.extend(p.errors))
            .unwrap_or_default();
        let roles = match self.parse_roles(&new.roles, &new.areas) {
            Ok(r) => r,
            Err(AppError::Invalid(p)) => {
                problem.errors.extend(p.errors);
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        if let Some(p) = &new.password
            && let Err(weak) = check_password(p, &username, "password")
        {
            problem.errors.extend(weak.errors);
        }
        if !problem.is_empty() {
            return Err(AppError::Invalid(problem));
        }
        let (password, one_time) = match new.password {
            Some(p) => (p, None),
            None => {
                let p = generate_password()?;
                (p.clone(), Some(p))
            }
        };
        let password_hash = blocking(move || hash_password(&password)).await??;
        let now = Utc::now();
        let row = UserRow {
            id: uuid::Uuid::now_v7().to_string(),
            username: username.clone(),
            password_hash,
            roles: roles.iter().map(|r| r.code().to_owned()).collect(),
            areas: new.areas.clone(),
            disabled: false,
            must_change_password: one_time.is_some(),
            failed_logins: 0,
            locked_until: None,
            created_at: now,
            language: None,
        };
        if !self.store().insert_user(&row).await? {
            return Err(AppError::Invalid(Problem::single(
                "username",
                "username-taken",
                format!("there is already an account {username:?}"),
            )));
        }
        self.audit(
            by,
            "user.add",
            Some(Record::new("user", &username)),
            json!({"roles": row.roles, "areas": row.areas}),
        )
        .await?;
        Ok((UserView::from(&row), one_time))
    }

    async fn user_named(&self, username: &str) -> Result<UserRow, AppError> {
        let u = username.trim().to_lowercase();
        self.store()
            .user_by_username(&u)
            .await?
            .ok_or_else(|| AppError::NotFound { what: "user", id: u })
    }

    /// Replaces an account's roles and areas.
    pub async fn set_user_roles(
        &self,
        by: &Actor,
        username: &str,
        roles: &[String],
        areas: &[String],
    ) -> Result<UserView, AppError> {
        by.require(Permission::UsersManage)?;
        let mut user = self.user_named(username).await?;
        let parsed = self.parse_roles(roles, areas)?;
        let codes: Vec<String> = parsed.iter().map(|r| r.code().to_owned()).collect();
        if !parsed.contains(&Role::Administrator) {
            self.keep_an_administrator(&user).await?;
        }
        self.store().set_user_roles(&user.id, &codes, areas).await?;
        self.credentials.clear();
        self.audit(
            by,
            "user.set_role",
            Some(Record::new("user", &user.username)),
            json!({"before": {"roles": user.roles, "areas": user.areas}, "after": {"roles": codes, "areas": areas}}),
        )
        .await?;
        user.roles = codes;
        user.areas = areas.to_vec();
        Ok(UserView::from(&user))
    }

    /// Disables (or re-enables) an account; disabling ends its sessions and
    /// stops its tokens working.
    pub async fn set_user_disabled(&self, by: &Actor, username: &str, disabled: bool) -> Result<UserView, AppError> {
        by.require(Permission::UsersManage)?;
        let mut user = self.user_named(username).await?;
        if disabled {
            self.keep_an_administrator(&user).await?;
        }
        self.store().set_user_disabled(&user.id, disabled).await?;
        self.credentials.clear();
        let action = if disabled { "user.disable" } else { "user.enable" };
        self.audit(by, action, Some(Record::new("user", &user.username)), json!({}))
            .await?;
        user.disabled = disabled;
        Ok(UserView::from(&user))
    }

    /// Refuses to take the administrator role from the last enabled
    /// administrator: no one could manage the registry afterwards.
    async fn keep_an_administrator(&self, user: &UserRow) -> Result<(), AppError> {
        let is_admin = !user.disabled && user.roles.iter().any(|r| r == Role::Administrator.code());
        if is_admin && self.store().count_administrators().await? <= 1 {
            return Err(AppError::conflict(
                "last-administrator",
                format!(
                    "{} is the last enabled administrator: make another one first",
                    user.username
                ),
            ));
        }
        Ok(())
    }

    pub async fn users(&self, by: &Actor) -> Result<Vec<UserView>, AppError> {
        by.require(Permission::UsersManage)?;
        Ok(self.store().users().await?.iter().map(UserView::from).collect())
    }

    /// On a registry with no accounts at all, creates `admin` with a
    /// one-time password and returns it; otherwise does nothing.
    pub async fn ensure_first_administrator(&self) -> Result<Option<(String, String)>, AppError> {
        if self.store().count_users().await? > 0 {
            return Ok(None);
        }
        let (user, password) = self
            .add_user(
                &Actor::system("demo"),
                NewUser {
                    username: "admin".into(),
                    roles: vec![Role::Administrator.code().into()],
                    ..Default::default()
                },
            )
            .await?;
        Ok(password.map(|p| (user.username, p)))
    }

    /// Signs in. Five wrong passwords in a row lock the account for 15
    /// minutes; every attempt is audited.
    pub async fn login(&self, login: Login) -> Result<NewSession, AppError> {
        let username = login.username.trim().to_lowercase();
        // Failed attempts on an account are recorded under its name; what was
        // typed for an unknown account (perhaps a password) is not kept.
        let attempt = Actor::nobody(&username);
        let refused = || AppError::unauthenticated("invalid-credentials", "the username or password is wrong");
        let user = self.store().user_by_username(&username).await?;
        let Some(user) = user else {
            let password = login.password;
            blocking(move || verify_password(&password, decoy_hash())).await?;
            self.audit(
                &Actor::nobody("(unknown account)"),
                "session.login_failed",
                None,
                json!({"reason": "unknown-user"}),
            )
            .await?;
            return Err(refused());
        };
        let now = Utc::now();
        if let Some(until) = user.locked_until.filter(|t| *t > now) {
            self.audit(&attempt, "session.login_failed", None, json!({"reason": "locked"}))
                .await?;
            return Err(AppError::unauthenticated(
                "account-locked",
                format!(
                    "too many wrong passwords: the account is locked until {} UTC",
                    until.format("%H:%M")
                ),
            ));
        }
        let (password, hash) = (login.password, user.password_hash.clone());
        let matches = blocking(move || verify_password(&password, &hash)).await?;
        if !matches || user.disabled {
            let reason = if user.disabled { "disabled" } else { "wrong-password" };
            if !user.disabled {
                self.store()
                    .record_failed_login(
                        &user.id,
                        MAX_FAILED_LOGINS,
                        now,
                        now + Duration::minutes(LOCKOUT_MINUTES),
                    )
                    .await?;
            }
            self.audit(&attempt, "session.login_failed", None, json!({"reason": reason}))
                .await?;
            return Err(refused());
        }
        self.store().clear_failed_logins(&user.id).await?;
        let session = NewSession {
            secret: secret()?,
            csrf_token: secret()?,
            expires_at: now + Duration::hours(SESSION_HOURS),
            must_change_password: user.must_change_password,
            language: user.language.clone(),
        };
        self.store()
            .insert_session(
                &token_hash(&session.secret),
                &user.id,
                &session.csrf_token,
                now,
                session.expires_at,
            )
            .await?;
        self.audit(&self.user_actor(&user), "session.login", None, json!({}))
            .await?;
        Ok(session)
    }

    /// The actor of a session cookie.
    pub async fn session_actor(&self, secret: &str) -> Result<Actor, AppError> {
        let hash = token_hash(secret);
        if let Some(actor) = self.credentials.get(&hash) {
            return Ok(actor);
        }
        let expired = || AppError::unauthenticated("session-expired", "the session has ended: sign in again");
        let Some((session, user)) = self.store().session(&hash).await? else {
            return Err(expired());
        };
        if session.expires_at <= Utc::now() || user.disabled {
            return Err(expired());
        }
        let actor = self
            .user_actor(&user)
            .with_session(hash.clone(), session.csrf_token, user.must_change_password);
        self.credentials.put(hash, &actor, session.expires_at);
        Ok(actor)
    }

    /// The operator at the server's command line acting as a named user,
    /// with that user's roles and areas (so that who made and who checked a
    /// payment cycle is on record); a disabled or unknown user is refused.
    pub async fn operator_as(&self, username: &str) -> Result<Actor, AppError> {
        match self.store().user_by_username(username).await? {
            Some(u) if !u.disabled => Ok(self.user_actor(&u)),
            Some(_) => Err(AppError::unauthenticated(
                "account-disabled",
                format!("{username} is disabled"),
            )),
            None => Err(AppError::NotFound {
                what: "user",
                id: username.to_owned(),
            }),
        }
    }

    /// The actor of a bearer token: a user's personal token or an agency's.
    pub async fn token_actor(&self, secret: &str) -> Result<Actor, AppError> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Err(bad_token());
        }
        let hash = token_hash(secret);
        if let Some(actor) = self.credentials.get(&hash) {
            return Ok(actor);
        }
        let Some((token, owner)) = self.store().token(&hash).await? else {
            return Err(bad_token());
        };
        if token.revoked_at.is_some() {
            return Err(AppError::unauthenticated(
                "token-revoked",
                "the bearer token was revoked",
            ));
        }
        if token.expires_at <= Utc::now() {
            return Err(AppError::unauthenticated(
                "token-expired",
                "the bearer token has expired",
            ));
        }
        let actor = match owner {
            TokenOwner::User(u) if u.disabled => {
                return Err(AppError::unauthenticated(
                    "account-disabled",
                    "the token's account is disabled",
                ));
            }
            TokenOwner::User(u) => self.user_actor(&u),
            TokenOwner::Agency(a) if a.disabled => {
                return Err(AppError::unauthenticated(
                    "token-revoked",
                    "the agency's access was withdrawn",
                ));
            }
            TokenOwner::Agency(a) => self.agency_actor(&a)?,
        };
        self.credentials.put(hash, &actor, token.expires_at);
        Ok(actor)
    }

    fn agency_actor(&self, a: &AgencyRow) -> Result<Actor, AppError> {
        let permissions = a
            .scopes
            .iter()
            .filter_map(|s| Permission::from_code(s))
            .filter(|p| AGENCY_PERMISSIONS.contains(p))
            .collect::<Permissions>();
        let fields = FieldSet::parse(a.fields.iter().map(String::as_str), |n| {
            self.deployment().household_attributes.get(n).is_some()
        })
        .map_err(|e| AppError::Internal(format!("agency {}: stored field set: {e}", a.name)))?;
        Ok(Actor::agency(
            a.id.clone(),
            &a.name,
            permissions,
            Scope::from_codes(a.areas.clone()),
            fields,
            u32::try_from(a.rate_limit).unwrap_or(u32::MAX),
        ))
    }

    /// Ends a session.
    pub async fn logout(&self, actor: &Actor) -> Result<(), AppError> {
        if let Some(hash) = &actor.session {
            self.store().delete_session(hash).await?;
            self.credentials.clear();
            self.audit(actor, "session.logout", None, json!({})).await?;
        }
        Ok(())
    }

    /// Who the caller is.
    pub fn me(&self, actor: &Actor) -> Me {
        Me {
            name: actor.name.clone(),
            kind: match actor.kind() {
                crate::ActorKind::User { .. } => "user",
                crate::ActorKind::Agency { .. } => "agency",
                crate::ActorKind::System => "system",
            },
            roles: actor.roles().to_vec(),
            areas: actor.scope().codes().to_vec(),
            permissions: actor.permissions().iter().collect(),
            csrf_token: actor.csrf_token().map(str::to_owned),
            must_change_password: actor.must_change_password(),
        }
    }

    /// Changes the signed-in user's own password; other sessions end.
    pub async fn change_password(&self, actor: &Actor, change: PasswordChange) -> Result<(), AppError> {
        let crate::ActorKind::User { .. } = actor.kind() else {
            return Err(AppError::forbidden(
                "permission-denied",
                "only staff accounts have passwords",
            ));
        };
        let user = self.user_named(&actor.name).await?;
        let (current, hash) = (change.current_password.clone(), user.password_hash.clone());
        if !blocking(move || verify_password(&current, &hash)).await? {
            return Err(AppError::invalid(
                "current_password",
                "wrong-password",
                "the current password is wrong",
            ));
        }
        check_password(&change.new_password, &user.username, "new_password")?;
        if change.new_password == change.current_password {
            return Err(AppError::invalid(
                "new_password",
                "weak-password",
                "choose a password different from the current one",
            ));
        }
        let new = change.new_password;
        let new_hash = blocking(move || hash_password(&new)).await??;
        self.store()
            .set_password(&user.id, &new_hash, false, actor.session.as_deref())
            .await?;
        self.credentials.clear();
        self.audit(
            actor,
            "user.password_change",
            Some(Record::new("user", &user.username)),
            json!({}),
        )
        .await
    }

    /// Keeps the language the signed-in user chose for the pages, so that
    /// it is theirs at their next sign-in on any device.
    pub async fn set_language(&self, actor: &Actor, language: &str) -> Result<(), AppError> {
        let crate::ActorKind::User { id } = actor.kind() else {
            return Err(AppError::forbidden(
                "permission-denied",
                "only staff accounts choose a language for the pages",
            ));
        };
        let code = (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_lowercase());
        if !code {
            return Err(AppError::invalid(
                "language",
                "not-allowed",
                "a language is an ISO 639 code: two or three lower-case letters",
            ));
        }
        if actor.language() == Some(language) {
            return Ok(());
        }
        self.store().set_user_language(id, language).await?;
        self.credentials.clear();
        self.audit(
            actor,
            "user.language",
            Some(Record::new("user", &actor.name)),
            json!({"language": language}),
        )
        .await
    }

    /// A personal token carrying the user's roles and areas, shown once.
    pub async fn create_user_token(&self, by: &Actor, username: &str, days: u32) -> Result<IssuedToken, AppError> {
        by.require(Permission::UsersManage)?;
        let user = self.user_named(username).await?;
        if user.disabled {
            return Err(AppError::conflict(
                "account-disabled",
                format!("{} is disabled", user.username),
            ));
        }
        let token = self.issue_token(Some(user.id.clone()), None, days).await?;
        self.audit(
            by,
            "token.create",
            Some(Record::new("user", &user.username)),
            json!({"token": token.id, "expires_at": token.expires_at}),
        )
        .await?;
        Ok(token)
    }

    async fn issue_token(
        &self,
        user_id: Option<String>,
        agency_id: Option<String>,
        days: u32,
    ) -> Result<IssuedToken, AppError> {
        let (issued, row) = new_token(user_id, agency_id, days)?;
        self.store().insert_token(&token_hash(&issued.secret), &row).await?;
        Ok(issued)
    }
}

/// A fresh token and the row that records it.
fn new_token(
    user_id: Option<String>,
    agency_id: Option<String>,
    days: u32,
) -> Result<(IssuedToken, TokenRow), AppError> {
    if !(1..=MAX_TOKEN_DAYS).contains(&days) {
        return Err(AppError::invalid(
            "expires_days",
            "out-of-range",
            format!("give 1 to {MAX_TOKEN_DAYS} days"),
        ));
    }
    let now = Utc::now();
    let issued = IssuedToken {
        id: uuid::Uuid::now_v7().to_string(),
        secret: format!("{TOKEN_PREFIX}{}", secret()?),
        expires_at: now + Duration::days(i64::from(days)),
    };
    let row = TokenRow {
        id: issued.id.clone(),
        user_id,
        agency_id,
        created_at: now,
        expires_at: issued.expires_at,
        revoked_at: None,
    };
    Ok((issued, row))
}

impl App {
    /// The tokens issued (never their secrets), oldest first; only those of
    /// `owner` (a username or `agency:NAME`) when given.
    pub async fn tokens(&self, by: &Actor, owner: Option<&str>) -> Result<Vec<TokenView>, AppError> {
        by.require(Permission::UsersManage)?;
        let owner = owner.map(|o| o.trim().to_lowercase());
        Ok(self
            .store()
            .tokens()
            .await?
            .into_iter()
            .filter(|(_, o)| owner.as_ref().is_none_or(|w| w == o))
            .map(|(t, owner)| TokenView {
                id: t.id,
                owner,
                created_at: t.created_at,
                expires_at: t.expires_at,
                revoked_at: t.revoked_at,
            })
            .collect())
    }

    /// Revokes a token by its id.
    pub async fn revoke_token(&self, by: &Actor, id: &str) -> Result<(), AppError> {
        by.require(Permission::UsersManage)?;
        let revoked = self.store().revoke_token(id.trim(), Utc::now()).await?;
        self.credentials.clear();
        if !revoked {
            return Err(AppError::NotFound {
                what: "live token (never issued, or already revoked)",
                id: id.trim().to_owned(),
            });
        }
        self.audit(by, "token.revoke", Some(Record::new("token", id.trim())), json!({}))
            .await
    }

    /// Checks what an agency is to do and see: its scopes and the entries
    /// of its field set, as stored; each wrong one named in `problem`.
    fn checked_agency_settings(&self, settings: &AgencySettings, problem: &mut Problem) -> (Vec<String>, Vec<String>) {
        let mut scopes = Vec::new();
        for s in &settings.scopes {
            match Permission::from_code(s.trim()) {
                Some(p) if AGENCY_PERMISSIONS.contains(&p) => scopes.push(p.code().to_owned()),
                _ => problem.push(
                    "scope",
                    "not-allowed",
                    format!(
                        "{s:?} is not an agency scope: {}",
                        AGENCY_PERMISSIONS
                            .iter()
                            .map(|p| p.code())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
        if scopes.is_empty() && settings.scopes.is_empty() {
            problem.push("scope", "required", "give at least one scope");
        }
        let attribute_known = |n: &str| self.deployment().household_attributes.get(n).is_some();
        for f in &settings.fields {
            if let Err(e) = FieldSet::parse([f.as_str()], attribute_known) {
                problem.push(
                    "field",
                    "field-unknown",
                    format!(
                        "{e}; person fields: {}; household fields: {}",
                        himaya_domain::access::PERSON_FIELDS.join(", "),
                        himaya_domain::access::HOUSEHOLD_FIELDS.join(", ")
                    ),
                );
            }
        }
        let fields = FieldSet::parse(settings.fields.iter().map(String::as_str), attribute_known).unwrap_or_default();
        self.check_areas(&settings.areas, problem);
        if !(1..=100_000).contains(&settings.rate_limit) {
            problem.push("rate_limit", "out-of-range", "give 1 to 100000 requests per minute");
        }
        (scopes, fields.entries())
    }

    /// Registers a partner agency and issues its first token.
    pub async fn add_agency(&self, by: &Actor, new: NewAgency) -> Result<IssuedToken, AppError> {
        by.require(Permission::UsersManage)?;
        let mut problem = Problem::default();
        let name = new.name.trim().to_owned();
        if check_username(&name).is_err() {
            problem.push(
                "name",
                "invalid-name",
                "use 3 to 64 characters: letters a-z, digits, dot, hyphen, underscore",
            );
        }
        let settings = AgencySettings {
            scopes: new.scopes.clone(),
            fields: new.fields.clone(),
            areas: new.areas.clone(),
            rate_limit: new.rate_limit,
        };
        let (scopes, fields) = self.checked_agency_settings(&settings, &mut problem);
        if !(1..=MAX_TOKEN_DAYS).contains(&new.expires_days) {
            problem.push(
                "expires_days",
                "out-of-range",
                format!("give 1 to {MAX_TOKEN_DAYS} days"),
            );
        }
        if !problem.is_empty() {
            return Err(AppError::Invalid(problem));
        }
        let row = AgencyRow {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_lowercase(),
            scopes,
            fields,
            areas: new.areas.clone(),
            rate_limit: i64::from(new.rate_limit),
            disabled: false,
            created_at: Utc::now(),
        };
        // The agency and its first token are written together, or neither.
        let (token, token_row) = new_token(None, Some(row.id.clone()), new.expires_days)?;
        if !self
            .store()
            .insert_agency(&row, &token_hash(&token.secret), &token_row)
            .await?
        {
            return Err(AppError::Invalid(Problem::single(
                "name",
                "name-taken",
                format!("there is already an agency {:?}", row.name),
            )));
        }
        self.audit(
            by,
            "agency.add",
            Some(Record::new("agency", &row.name)),
            json!({"scopes": row.scopes, "fields": row.fields, "areas": row.areas,
                   "rate_limit": row.rate_limit, "token": token.id}),
        )
        .await?;
        Ok(token)
    }

    /// Changes what an agency may do and see (a withdrawn one's too, before
    /// its access is restored). Its tokens act on the new settings from the
    /// next request.
    pub async fn update_agency(&self, by: &Actor, name: &str, settings: AgencySettings) -> Result<AgencyRow, AppError> {
        by.require(Permission::UsersManage)?;
        let before = self.agency_named(name).await?;
        let mut problem = Problem::default();
        let (scopes, fields) = self.checked_agency_settings(&settings, &mut problem);
        if !problem.is_empty() {
            return Err(AppError::Invalid(problem));
        }
        let after = AgencyRow {
            scopes,
            fields,
            areas: settings.areas,
            rate_limit: i64::from(settings.rate_limit),
            ..before.clone()
        };
        if (&after.scopes, &after.fields, &after.areas, after.rate_limit)
            == (&before.scopes, &before.fields, &before.areas, before.rate_limit)
        {
            return Ok(after);
        }
        self.store().update_agency(&after).await?;
        // Its tokens' cached actors carry the old scopes and fields.
        self.credentials.clear();
        self.audit(
            by,
            "agency.update",
            Some(Record::new("agency", &after.name)),
            json!({"before": {"scopes": before.scopes, "fields": before.fields, "areas": before.areas, "rate_limit": before.rate_limit},
                   "after": {"scopes": after.scopes, "fields": after.fields, "areas": after.areas, "rate_limit": after.rate_limit}}),
        )
        .await?;
        Ok(after)
    }

    /// Gives a withdrawn agency its access back with a new token, shown
    /// once; the tokens it had stay revoked.
    pub async fn restore_agency(&self, by: &Actor, name: &str, days: u32) -> Result<IssuedToken, AppError> {
        by.require(Permission::UsersManage)?;
        let agency = self.agency_named(name).await?;
        let not_withdrawn = || {
            AppError::conflict(
                "agency-active",
                format!("{} has its access: issue it another token instead", agency.name),
            )
        };
        if !agency.disabled {
            return Err(not_withdrawn());
        }
        let (token, row) = new_token(None, Some(agency.id.clone()), days)?;
        if !self
            .store()
            .restore_agency(&agency.id, &token_hash(&token.secret), &row)
            .await?
        {
            return Err(not_withdrawn());
        }
        self.credentials.clear();
        self.audit(
            by,
            "agency.restore",
            Some(Record::new("agency", &agency.name)),
            json!({"token": token.id, "expires_at": token.expires_at}),
        )
        .await?;
        Ok(token)
    }

    /// A further token for an agency (to rotate the old one before revoking it).
    pub async fn create_agency_token(&self, by: &Actor, name: &str, days: u32) -> Result<IssuedToken, AppError> {
        by.require(Permission::UsersManage)?;
        let agency = self.agency_named(name).await?;
        if agency.disabled {
            // Its tokens would not work: a secret that opens nothing is not handed out.
            return Err(AppError::conflict(
                "account-disabled",
                format!("{}'s access was withdrawn", agency.name),
            ));
        }
        let token = self.issue_token(None, Some(agency.id.clone()), days).await?;
        self.audit(
            by,
            "token.create",
            Some(Record::new("agency", &agency.name)),
            json!({"token": token.id, "expires_at": token.expires_at}),
        )
        .await?;
        Ok(token)
    }

    async fn agency_named(&self, name: &str) -> Result<AgencyRow, AppError> {
        let n = name.trim().to_lowercase();
        self.store()
            .agency_by_name(&n)
            .await?
            .ok_or_else(|| AppError::NotFound { what: "agency", id: n })
    }

    /// Withdraws an agency's access: every token stops working.
    pub async fn disable_agency(&self, by: &Actor, name: &str) -> Result<(), AppError> {
        by.require(Permission::UsersManage)?;
        let agency = self.agency_named(name).await?;
        self.store().disable_agency(&agency.id, Utc::now()).await?;
        self.credentials.clear();
        self.audit(
            by,
            "agency.disable",
            Some(Record::new("agency", &agency.name)),
            json!({}),
        )
        .await
    }

    pub async fn agencies(&self, by: &Actor) -> Result<Vec<AgencyRow>, AppError> {
        by.require(Permission::UsersManage)?;
        Ok(self.store().agencies().await?)
    }
}
