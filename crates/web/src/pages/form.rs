//! Posted forms: `application/x-www-form-urlencoded` fields in order, read
//! as text. Turning them into a use case's request is the page's job;
//! checking the values is the domain's.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::{AppState, MAX_BODY};

/// The largest file a page takes: a status file as large as the API takes.
pub(crate) const MAX_UPLOAD: usize = crate::payments_api::MAX_STATUS_FILE;

/// The fields of a posted form, in order (a name may repeat).
pub(crate) struct FormData(pub Vec<(String, String)>);

impl FromRequest<AppState> for FormData {
    type Rejection = Response;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        let form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !form {
            return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())?;
        Ok(FormData(parse_urlencoded(&bytes)))
    }
}

impl FormData {
    /// The first value of a field, as sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The value of a field, trimmed; `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every value of a field that repeats (checkboxes, a multiple
    /// select), trimmed, blanks left out.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

/// A posted `multipart/form-data` form (a file upload): its text fields,
/// and each file with its field name and the name it was sent under.
pub(crate) struct Upload {
    pub fields: FormData,
    pub files: Vec<UploadedFile>,
}

pub(crate) struct UploadedFile {
    pub field: String,
    pub file_name: String,
    pub bytes: Bytes,
}

/// Why an upload could not be read; the page says so in the reader's words.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UploadError {
    /// Not `multipart/form-data` with a boundary.
    NotMultipart,
    TooLarge,
    /// Cut short or without the parts' headers.
    Malformed,
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        match self {
            UploadError::NotMultipart => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UploadError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UploadError::Malformed => StatusCode::BAD_REQUEST,
        }
        .into_response()
    }
}

impl FromRequest<AppState> for Upload {
    type Rejection = UploadError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        let boundary = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(multipart_boundary)
            .ok_or(UploadError::NotMultipart)?;
        let body = axum::body::to_bytes(req.into_body(), MAX_UPLOAD)
            .await
            .map_err(|_| UploadError::TooLarge)?;
        parse_multipart(&body, &boundary)
    }
}

impl Upload {
    /// The first file sent in a field, if one was chosen.
    pub fn file(&self, field: &str) -> Option<&UploadedFile> {
        self.files.iter().find(|f| f.field == field)
    }
}

/// The boundary of a `multipart/form-data` content type.
fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts.next()?.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= haystack.len() {
        let at = i + haystack[i..haystack.len() - needle.len() + 1]
            .iter()
            .position(|b| *b == first)?;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// A parameter of a part's `Content-Disposition` header (`name="file"`).
fn disposition_param(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The parts of a multipart body: text fields in order, files as slices of the body.
fn parse_multipart(body: &Bytes, boundary: &str) -> Result<Upload, UploadError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut upload = Upload {
        fields: FormData(Vec::new()),
        files: Vec::new(),
    };
    // The body starts with the first delimiter (after an ignored preamble).
    let mut at = find(body, delimiter, 0).ok_or(UploadError::Malformed)? + delimiter.len();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(upload);
        }
        if !rest.starts_with(b"\r\n") {
            return Err(UploadError::Malformed);
        }
        let head_start = at + 2;
        let head_end = find(body, b"\r\n\r\n", head_start).ok_or(UploadError::Malformed)?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]);
        let content_start = head_end + 4;
        let mut closing = Vec::with_capacity(delimiter.len() + 2);
        closing.extend_from_slice(b"\r\n");
        closing.extend_from_slice(delimiter);
        let content_end = find(body, &closing, content_start).ok_or(UploadError::Malformed)?;
        let disposition = head
            .split("\r\n")
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case("content-disposition").then_some(v)
            })
            .ok_or(UploadError::Malformed)?;
        let name = disposition_param(disposition, "name").ok_or(UploadError::Malformed)?;
        match disposition_param(disposition, "filename") {
            Some(file_name) => upload.files.push(UploadedFile {
                field: name,
                file_name,
                bytes: body.slice(content_start..content_end),
            }),
            None => {
                let value = String::from_utf8_lossy(&body[content_start..content_end]).into_owned();
                upload.fields.0.push((name, value));
            }
        }
        at = content_end + closing.len();
    }
}

/// Name–value pairs of a query string or form body.
pub(crate) fn parse_urlencoded(input: &[u8]) -> Vec<(String, String)> {
    input
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |b| *b == b'=');
            let k = decode(it.next().unwrap_or_default());
            let v = decode(it.next().unwrap_or_default());
            (k, v)
        })
        .collect()
}

fn decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes one component of a URL (unreserved characters stay).
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from name–value pairs.
pub(crate) fn encode(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_decode_and_encode_back() {
        let pairs = parse_urlencoded("name=%D9%85%D8%AD%D9%85%D8%AF+%D8%B9%D9%84%DB%8C&x=1%2&y=&lang=ur".as_bytes());
        assert_eq!(pairs[0], ("name".into(), "محمد علی".into()));
        assert_eq!(pairs[1], ("x".into(), "1%2".into()));
        assert_eq!(pairs[2], ("y".into(), String::new()));
        let back = parse_urlencoded(encode(&pairs).as_bytes());
        assert_eq!(back, pairs);
        assert!(parse_urlencoded(b"%").first().is_some_and(|(k, _)| k == "%"));
    }

    #[test]
    fn multipart_forms_give_their_fields_and_files() {
        let body = Bytes::from_static(
            b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"status.xml\"\r\n\
              Content-Type: application/xml\r\n\r\n<a>\r\n--X</a>\r\n--XyZ--\r\n",
        );
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"XyZ\"").as_deref(),
            Some("XyZ")
        );
        assert_eq!(multipart_boundary("application/x-www-form-urlencoded"), None);
        let upload = parse_multipart(&body, "XyZ").unwrap();
        assert_eq!(upload.fields.get("csrf"), Some("abc"));
        let file = upload.file("file").unwrap();
        assert_eq!(file.file_name, "status.xml");
        assert_eq!(&file.bytes[..], b"<a>\r\n--X</a>");
        // Cut short: refused, nothing read.
        assert_eq!(
            parse_multipart(&body.slice(..60), "XyZ").err(),
            Some(UploadError::Malformed)
        );
        assert_eq!(parse_multipart(&body, "other").err(), Some(UploadError::Malformed));
    }
}
