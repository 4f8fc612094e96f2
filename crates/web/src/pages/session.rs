//! Signing in and out, and changing one's password (a one-time password
//! must be changed before anything else, as the use cases insist).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use himaya_app::{AppError, Login, PasswordChange};

use super::{Ctx, FieldErrors, FormData, PageResult, html, ok, view};
use crate::AppState;
use crate::auth::{ClientIp, LOGIN_ATTEMPTS_PER_MINUTE, SESSION_COOKIE};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignIn<'a> {
    c: &'a Ctx,
    username: String,
    next: String,
    /// Why the last attempt was refused, in the reader's words.
    refused: Option<String>,
}

/// Only a path on this server may be returned to after signing in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

pub(crate) async fn sign_in_form(c: Ctx, axum::extract::RawQuery(q): axum::extract::RawQuery) -> PageResult {
    if c.actor.is_some() {
        return super::see("/");
    }
    let q = super::form::parse_urlencoded(q.unwrap_or_default().as_bytes());
    let next = q.iter().find(|(k, _)| k == "next").map(|(_, v)| v.as_str());
    ok(&SignIn {
        c: &c,
        username: String::new(),
        next: safe_next(next),
        refused: None,
    })
}

pub(crate) async fn sign_in(State(s): State<AppState>, c: Ctx, ClientIp(ip): ClientIp, form: FormData) -> PageResult {
    let username = form.get("username").unwrap_or_default().to_owned();
    let next = safe_next(form.get("next"));
    let client = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let refuse = |code: &str, status: StatusCode| {
        let page = SignIn {
            c: &c,
            username: username.clone(),
            next: next.clone(),
            refused: Some(c.t(&format!("problem-{code}"))),
        };
        html(status, &page)
    };
    if s.limits.logins.check(&client, LOGIN_ATTEMPTS_PER_MINUTE).is_err() {
        return Err(refuse("rate-limited", StatusCode::TOO_MANY_REQUESTS));
    }
    let login = Login {
        username: username.clone(),
        password: form.get("password").unwrap_or_default().to_owned(),
    };
    let session = match s.app.login(login).await {
        Ok(session) => session,
        Err(AppError::Unauthenticated { code, .. }) => return Err(refuse(code, StatusCode::UNAUTHORIZED)),
        Err(e) => return Err(c.fail(e)),
    };
    let max_age = (session.expires_at - chrono::Utc::now()).num_seconds().max(0);
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict",
        session.secret
    );
    let to = if session.must_change_password {
        "/password"
    } else {
        &next
    };
    let mut response = Redirect::to(to).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    // The language the user chose before, on whatever device, is theirs again.
    if let Some(v) = session
        .language
        .as_deref()
        .and_then(crate::i18n::Lang::from_tag)
        .and_then(super::lang_cookie)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

pub(crate) async fn sign_out(State(s): State<AppState>, c: Ctx, form: FormData) -> PageResult {
    let Some(actor) = &c.actor else {
        return super::see("/sign-in");
    };
    c.check_csrf(&form)?;
    s.app.logout(actor).await.map_err(|e| c.fail(e))?;
    let mut headers = HeaderMap::new();
    let clear = format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((headers, Redirect::to("/sign-in")).into_response())
}

#[derive(Template)]
#[template(path = "password.html")]
struct Password<'a> {
    c: &'a Ctx,
    errors: FieldErrors,
    /// The account still has its one-time password.
    first: bool,
}

impl Password<'_> {
    fn err(&self, name: &str) -> Option<&String> {
        self.errors.get(name)
    }
}

pub(crate) async fn password_form(c: Ctx) -> PageResult {
    let first = c.actor()?.must_change_password();
    ok(&Password {
        c: &c,
        errors: FieldErrors::new(),
        first,
    })
}

pub(crate) async fn change_password(State(s): State<AppState>, c: Ctx, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let first = actor.must_change_password();
    let mut errors = FieldErrors::new();
    let new = form.get("new_password").unwrap_or_default();
    if new != form.get("confirm_password").unwrap_or_default() {
        errors.insert("confirm_password".into(), c.t("field-error-passwords-differ"));
    }
    if errors.is_empty() {
        let change = PasswordChange {
            current_password: form.get("current_password").unwrap_or_default().to_owned(),
            new_password: new.to_owned(),
        };
        match s.app.change_password(actor, change).await {
            // The session stays; the password is no longer one-time.
            Ok(()) => return Ok(password_changed(&c)),
            Err(AppError::Invalid(p)) => errors = view::field_errors(&c, &p),
            Err(e) => return Err(c.fail(e)),
        }
    }
    Err(html(
        StatusCode::UNPROCESSABLE_ENTITY,
        &Password { c: &c, errors, first },
    ))
}

fn password_changed(_c: &Ctx) -> Response {
    Redirect::to("/?password=changed").into_response()
}
