//! A person's financial accounts, for payment officers and registrars:
//! the accounts with their provider, number, holder and standing, a form
//! to record one (checked as the API checks it, each wrong field named
//! beside it), and the changes an account takes — primary, verified or
//! not, closed. A failed payment is re-issued once its account is fixed
//! here.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use himaya_app::{AccountChange, AccountRow, AppError, NewAccount};
use himaya_domain::access::Permission;
use himaya_domain::account::{AccountDraft, AccountKind, uses_iban};
use himaya_domain::person::Person;

use super::form::parse_urlencoded;
use super::registry::person_id;
use super::{Ctx, FieldErrors, FormData, OrPage, PageResult, html, see, view};
use crate::AppState;

/// The form that records an account, as typed.
#[derive(Default)]
struct AccountForm {
    provider: String,
    msisdn: String,
    iban: String,
    bank_code: String,
    account_number: String,
    holder_name: String,
    primary: bool,
    verified: bool,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct Accounts<'a> {
    c: &'a Ctx,
    person: Person,
    accounts: Vec<AccountRow>,
    /// The deployment's providers: code, name, the kind of account they hold.
    providers: Vec<(String, String, AccountKind)>,
    iban: bool,
    form: AccountForm,
    errors: FieldErrors,
    notice: Option<String>,
    /// The account whose change was refused, and why.
    refused: Option<(String, String)>,
}

impl Accounts<'_> {
    fn name(&self) -> String {
        view::full_name(&self.person)
    }

    fn provider_name(&self, code: &str) -> String {
        self.providers
            .iter()
            .find(|(c, _, _)| c == code)
            .map_or_else(|| code.to_owned(), |(_, n, _)| n.clone())
    }

    fn kind(&self, code: &str) -> String {
        view::vocab(self.c, "account-kind", code)
    }

    fn err(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }

    fn refused_at(&self, account: &str) -> Option<&String> {
        self.refused.as_ref().filter(|(a, _)| a == account).map(|(_, m)| m)
    }

    /// The form's text fields: name, value as typed, the hint's message.
    /// The bank fields are the country's: an IBAN, or a routing number.
    fn inputs(&self) -> Vec<(&'static str, &str, &'static str)> {
        let f = &self.form;
        let mut inputs = vec![("msisdn", f.msisdn.as_str(), "account-hint-msisdn")];
        if self.iban {
            inputs.push(("iban", &f.iban, "account-hint-iban"));
            inputs.push(("account_number", &f.account_number, "account-hint-agent-number"));
        } else {
            inputs.push(("bank_code", &f.bank_code, "account-hint-bank-code"));
            inputs.push(("account_number", &f.account_number, "account-hint-account-number"));
        }
        inputs.push(("holder_name", &f.holder_name, "account-hint-holder"));
        inputs
    }

    fn may_write(&self) -> bool {
        self.c.may(Permission::AccountsWrite)
    }
}

async fn accounts_page<'a>(s: &AppState, c: &'a Ctx, id: &str) -> Result<Accounts<'a>, Response> {
    let actor = c.actor()?;
    let person = s.app.person(actor, person_id(c, id)?).await.or_page(c)?;
    let accounts = s.app.person_accounts(actor, id).await.or_page(c)?;
    let deployment = s.app.deployment();
    let providers = deployment
        .payment_providers
        .iter()
        .map(|p| (p.code.clone(), p.name.clone(), AccountKind::of_provider(p.kind)))
        .collect();
    Ok(Accounts {
        c,
        person,
        accounts,
        providers,
        iban: uses_iban(deployment.country),
        form: AccountForm::default(),
        errors: FieldErrors::new(),
        notice: None,
        refused: None,
    })
}

pub(crate) async fn show(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let mut page = accounts_page(&s, &c, &id).await?;
    let flags = parse_urlencoded(raw.unwrap_or_default().as_bytes());
    page.notice = flags
        .iter()
        .find(|(k, _)| k == "done")
        .and_then(|(_, v)| match v.as_str() {
            "added" | "changed" => Some(c.t(&format!("notice-account-{v}"))),
            _ => None,
        });
    Ok(html(StatusCode::OK, &page))
}

/// Records an account from the form. The kind of account follows from the
/// provider chosen; every other check is the use case's.
pub(crate) async fn add(State(s): State<AppState>, c: Ctx, Path(id): Path<String>, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let mut page = accounts_page(&s, &c, &id).await?;
    let text = |k: &str| form.text(k).unwrap_or_default();
    page.form = AccountForm {
        provider: text("provider"),
        msisdn: text("msisdn"),
        iban: text("iban"),
        bank_code: text("bank_code"),
        account_number: text("account_number"),
        holder_name: text("holder_name"),
        primary: form.checked("primary"),
        verified: form.checked("verified"),
    };
    let kind = page
        .providers
        .iter()
        .find(|(code, _, _)| *code == page.form.provider)
        .map(|(_, _, k)| *k);
    let digits = |k: &str| {
        form.text(k)
            .map(|v| himaya_domain::digits::to_ascii_digits(&v).into_owned())
    };
    let draft = AccountDraft {
        // No provider, or one not of this deployment: no kind either, and the
        // use case names the provider.
        kind: kind.map(|k| k.code().to_owned()),
        provider: form.text("provider"),
        msisdn: digits("msisdn"),
        iban: digits("iban"),
        bank_code: digits("bank_code"),
        account_number: digits("account_number"),
        primary: page.form.primary,
        verified: page.form.verified,
    };
    let new = NewAccount {
        draft,
        holder_name: form.text("holder_name"),
    };
    match s.app.add_account(actor, &id, new).await {
        Ok(_) => see(&format!("/persons/{id}/accounts?done=added")),
        Err(AppError::Invalid(problem)) => {
            page.errors = view::field_errors(&c, &problem);
            // The form has no kind field: a missing kind is the missing provider's echo.
            page.errors.remove("kind");
            Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(c.fail(e)),
    }
}

/// Makes an account primary, verified or not, or closes it.
pub(crate) async fn change(
    State(s): State<AppState>,
    c: Ctx,
    Path((id, account)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let change = match form.get("change") {
        Some("primary") => AccountChange {
            primary: Some(true),
            ..AccountChange::default()
        },
        Some("verified") => AccountChange {
            verified: Some(true),
            ..AccountChange::default()
        },
        Some("unverified") => AccountChange {
            verified: Some(false),
            ..AccountChange::default()
        },
        Some("close") => AccountChange {
            close: true,
            ..AccountChange::default()
        },
        _ => return Err(c.status_page(StatusCode::UNPROCESSABLE_ENTITY, "problem-validation-failed")),
    };
    // The account must be one of this person's: the page it is changed from.
    let mine = s.app.person_accounts(actor, &id).await.or_page(&c)?;
    if !mine.iter().any(|a| a.id == account) {
        return Err(c.status_page(StatusCode::NOT_FOUND, "problem-not-found"));
    }
    match s.app.update_account(actor, &account, change).await {
        Ok(_) => see(&format!("/persons/{id}/accounts?done=changed")),
        Err(e @ (AppError::Conflict { .. } | AppError::Invalid(_))) => {
            let status = if matches!(e, AppError::Conflict { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let code = crate::ApiError::from(e).code;
            let mut page = accounts_page(&s, &c, &id).await?;
            page.refused = Some((account, view::problem(&c, code, "problem-validation-failed")));
            Err(html(status, &page))
        }
        Err(e) => Err(c.fail(e)),
    }
}
