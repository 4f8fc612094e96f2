//! Just enough of the W3C WebDriver protocol to drive Chromium through
//! ChromeDriver from a test: a session, navigation, elements found by CSS,
//! typing, clicking, reading, scripts and screenshots. Written here rather
//! than taken from a WebDriver crate because the crates at hand switch on
//! serde_json's `preserve_order` for the whole test build, which changes
//! the order the product's own JSON maps iterate in under test.

use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Keys that are no characters, as WebDriver codes them, for `send_keys`.
pub mod key {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
}

pub struct Browser {
    http: reqwest::Client,
    /// `…/session/{id}`.
    session: String,
}

pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    /// Starts a browser session on the driver at `driver_url`.
    pub async fn start(driver_url: &str, binary: &str, args: &[String]) -> Result<Browser, String> {
        let http = reqwest::Client::new();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": binary, "args": args},
        }}});
        let reply = call(
            &http,
            reqwest::Method::POST,
            &format!("{driver_url}/session"),
            Some(capabilities),
        )
        .await?;
        let id = reply["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {reply}"))?;
        Ok(Browser {
            http,
            session: format!("{driver_url}/session/{id}"),
        })
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        call(&self.http, method, &format!("{}{path}", self.session), body).await
    }

    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await
            .map(drop)
    }

    /// The first element `css` selects, if there is one now.
    pub async fn find(&self, css: &str) -> Result<Element<'_>, String> {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        let id = found[ELEMENT]
            .as_str()
            .ok_or_else(|| format!("no element id in {found}"))?;
        Ok(Element {
            browser: self,
            id: id.to_owned(),
        })
    }

    /// The element that has the keyboard's focus (the body when none has).
    pub async fn active_element(&self) -> Result<Element<'_>, String> {
        let found = self.command(reqwest::Method::GET, "/element/active", None).await?;
        let id = found[ELEMENT]
            .as_str()
            .ok_or_else(|| format!("no element id in {found}"))?;
        Ok(Element {
            browser: self,
            id: id.to_owned(),
        })
    }

    /// Runs a script in the page and returns what it returns.
    pub async fn execute(&self, script: &str) -> Result<Value, String> {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<(), String> {
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"x": 0, "y": 0, "width": width, "height": height})),
        )
        .await
        .map(drop)
    }

    /// Saves a PNG of the window.
    pub async fn screenshot(&self, path: &Path) -> Result<(), String> {
        let png = self.command(reqwest::Method::GET, "/screenshot", None).await?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .map_err(|e| format!("screenshot: {e}"))?;
        std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub async fn quit(self) -> Result<(), String> {
        call(&self.http, reqwest::Method::DELETE, &self.session, None)
            .await
            .map(drop)
    }
}

impl Element<'_> {
    async fn command(&self, method: reqwest::Method, what: &str, body: Option<Value>) -> Result<Value, String> {
        self.browser
            .command(method, &format!("/element/{}{what}", self.id), body)
            .await
    }

    pub async fn send_keys(&self, text: &str) -> Result<(), String> {
        self.command(reqwest::Method::POST, "/value", Some(json!({"text": text})))
            .await
            .map(drop)
    }

    pub async fn clear(&self) -> Result<(), String> {
        self.command(reqwest::Method::POST, "/clear", Some(json!({})))
            .await
            .map(drop)
    }

    pub async fn click(&self) -> Result<(), String> {
        self.command(reqwest::Method::POST, "/click", Some(json!({})))
            .await
            .map(drop)
    }

    pub async fn text(&self) -> Result<String, String> {
        let text = self.command(reqwest::Method::GET, "/text", None).await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    pub async fn attr(&self, name: &str) -> Result<Option<String>, String> {
        let value = self
            .command(reqwest::Method::GET, &format!("/attribute/{name}"), None)
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    pub async fn scroll_into_view(&self) -> Result<(), String> {
        let element = json!({ELEMENT: self.id});
        self.browser
            .command(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({"script": "arguments[0].scrollIntoView({block: 'center'});", "args": [element]})),
            )
            .await
            .map(drop)
    }
}

/// One WebDriver command: its `value`, or the driver's error.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    let ok = reply.status().is_success();
    let body: Value = reply.json().await.map_err(|e| format!("{url}: {e}"))?;
    let value = body.get("value").cloned().unwrap_or(Value::Null);
    if ok {
        Ok(value)
    } else {
        Err(format!("{url}: {} {}", value["error"], value["message"]))
    }
}
