//! The dashboard: headline figures for the signed-in user's areas.

use askama::Template;
use axum::extract::{RawQuery, State};
use himaya_app::{Dashboard, PaymentFigures};

use super::chart::{Bar, BarChart};
use super::{Ctx, OrPage, PageResult, ok, view};
use crate::AppState;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Page<'a> {
    c: &'a Ctx,
    d: Dashboard,
    /// (programme name, enrolled, all decided)
    programmes: Vec<(String, i64, i64)>,
    enrolled: i64,
    notice: Option<String>,
}

impl Page<'_> {
    fn money(&self, currency: &str, minor: &i64) -> String {
        super::payments::cycle_money(self.c, currency, *minor)
    }

    fn paid_of_issued(&self, f: &PaymentFigures) -> String {
        crate::i18n::message(
            self.c.lang,
            "payments-paid-of-issued",
            &[("paid", self.c.num(&f.paid)), ("issued", self.c.num(&f.issued))],
        )
    }
    fn district_chart(&self) -> String {
        let mut bars: Vec<Bar> = self
            .d
            .households_by_district
            .iter()
            .map(|(code, n)| Bar {
                label: view::area_name(self.c, code),
                value: u64::try_from(*n).unwrap_or(0),
                text: self.c.num(n),
            })
            .collect();
        bars.sort_by_key(|b| std::cmp::Reverse(b.value));
        BarChart {
            title: self.c.t("chart-households-by-district"),
            bars,
            rtl: self.c.lang.is_rtl(),
        }
        .svg()
    }

    fn programme_chart(&self) -> String {
        BarChart {
            title: self.c.t("chart-enrolled-by-programme"),
            bars: self
                .programmes
                .iter()
                .map(|(name, enrolled, _)| Bar {
                    label: name.clone(),
                    value: u64::try_from(*enrolled).unwrap_or(0),
                    text: self.c.num(enrolled),
                })
                .collect(),
            rtl: self.c.lang.is_rtl(),
        }
        .svg()
    }
}

pub(crate) async fn show(State(s): State<AppState>, c: Ctx, RawQuery(q): RawQuery) -> PageResult {
    let actor = c.actor()?;
    let d = s.app.dashboard(actor).await.or_page(&c)?;
    let mut programmes = Vec::new();
    if let Some(by_programme) = &d.enrolments {
        let names = s.app.programmes(actor).await.or_page(&c)?;
        for (code, statuses) in by_programme {
            let name = names
                .iter()
                .find(|p| &p.code == code)
                .and_then(|p| view::pick(c.lang, &p.definition.name))
                .unwrap_or(code)
                .to_owned();
            let enrolled = statuses.get("enrolled").copied().unwrap_or(0);
            programmes.push((name, enrolled, statuses.values().sum()));
        }
    }
    let enrolled = programmes.iter().map(|p| p.1).sum();
    let notice = q
        .filter(|q| q.contains("password=changed"))
        .map(|_| c.t("notice-password-changed"));
    ok(&Page {
        c: &c,
        d,
        programmes,
        enrolled,
        notice,
    })
}
