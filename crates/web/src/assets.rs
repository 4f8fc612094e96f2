//! Static files compiled into the binary: the style sheet, htmx and the
//! Noto fonts (SIL Open Font License; see `assets/fonts/README.md`). Each
//! URL carries a hash of its content, so browsers may keep a file for a
//! year and still get a new one the day it changes.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    /// The same file gzipped, where it is worth it and was shipped so.
    gzip: Option<&'static [u8]>,
    version: String,
}

const FONTS: [&str; 3] = [
    "noto-nastaliq-urdu.woff2",
    "noto-naskh-arabic.woff2",
    "noto-sans-bengali.woff2",
];

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    let mut assets = vec![
        asset(
            "noto-nastaliq-urdu.woff2",
            "font/woff2",
            include_bytes!("../assets/fonts/noto-nastaliq-urdu.woff2").to_vec(),
            None,
        ),
        asset(
            "noto-naskh-arabic.woff2",
            "font/woff2",
            include_bytes!("../assets/fonts/noto-naskh-arabic.woff2").to_vec(),
            None,
        ),
        asset(
            "noto-sans-bengali.woff2",
            "font/woff2",
            include_bytes!("../assets/fonts/noto-sans-bengali.woff2").to_vec(),
            None,
        ),
        asset(
            "htmx.min.js",
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/htmx.min.js").to_vec(),
            Some(include_bytes!("../assets/htmx.min.js.gz")),
        ),
    ];
    // The style sheet names the fonts by their versioned URLs.
    let mut css = include_str!("../assets/app.css").to_owned();
    for font in FONTS {
        let url = assets
            .iter()
            .find(|a| a.name == font)
            .map(|a| format!("/assets/{}?v={}", a.name, a.version))
            .unwrap_or_default();
        css = css.replace(&format!("url({font})"), &format!("url({url})"));
    }
    assets.push(asset("app.css", "text/css; charset=utf-8", css.into_bytes(), None));
    assets
});

fn asset(name: &'static str, content_type: &'static str, body: Vec<u8>, gzip: Option<&'static [u8]>) -> Asset {
    let hash = Sha256::digest(&body);
    let version = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
    Asset {
        name,
        content_type,
        body,
        gzip,
        version,
    }
}

/// The URL of an asset, with its content's version.
pub fn url(name: &str) -> String {
    ASSETS.iter().find(|a| a.name == name).map_or_else(
        || format!("/assets/{name}"),
        |a| format!("/assets/{}?v={}", a.name, a.version),
    )
}

/// The size of an asset as sent to a browser that takes gzip, in bytes.
pub fn transferred_size(name: &str) -> Option<usize> {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.gzip.map_or(a.body.len(), <[u8]>::len))
}

pub(crate) async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let gzip_ok = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut out = HeaderMap::new();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    match a.gzip {
        Some(gz) if gzip_ok => {
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            (out, gz).into_response()
        }
        _ => (out, a.body.clone()).into_response(),
    }
}
