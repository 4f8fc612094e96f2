//! The event loop under the pain.002 and camt.054 readers: elements by
//! local name (any namespace prefix), their text with entities resolved,
//! the `Ccy` of amounts, and the line and byte of every event.

use std::io::{self, BufRead, Read};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::status::{Position, ReadError};

/// Counts the newlines the XML reader consumes, so that errors can name a line.
struct Lines<R> {
    inner: R,
    newlines: u64,
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

impl<R: BufRead> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines += count_newlines(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Lines<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        // The bytes consumed are those the last fill_buf returned, still buffered.
        if let Ok(buffered) = self.inner.fill_buf() {
            self.newlines += count_newlines(&buffered[..amount.min(buffered.len())]);
        }
        self.inner.consume(amount);
    }
}

pub(crate) enum Step<T> {
    Start(T),
    End(T),
    Eof,
}

/// `T` names the elements a reader reads, from their local names.
pub(crate) struct XmlCursor<R: BufRead, T> {
    reader: Reader<Lines<R>>,
    buf: Vec<u8>,
    /// The text since the last start or end of an element: at an end, the
    /// text of the element that ended, if it held no other element.
    pub text: String,
    text_is_stale: bool,
    /// `Ccy` of the element that started last, if it had one.
    pub currency: Option<String>,
    /// The tags of the open elements inside the document element.
    stack: Vec<T>,
    pending_end: bool,
}

impl<R: BufRead, T: Copy + std::fmt::Debug> XmlCursor<R, T> {
    pub fn new(input: R) -> Self {
        let reader = Reader::from_reader(Lines {
            inner: input,
            newlines: 0,
        });
        XmlCursor {
            reader,
            buf: Vec::with_capacity(1024),
            text: String::new(),
            text_is_stale: false,
            currency: None,
            stack: Vec::with_capacity(16),
            pending_end: false,
        }
    }

    pub fn position(&self) -> Position {
        Position {
            line: self.reader.get_ref().newlines + 1,
            byte: self.reader.buffer_position(),
        }
    }

    fn xml_error(&self, e: quick_xml::Error) -> ReadError {
        if let quick_xml::Error::Io(io) = &e {
            return ReadError::Io(io::Error::new(io.kind(), io.to_string()));
        }
        let at = Position {
            line: self.reader.get_ref().newlines + 1,
            byte: self.reader.error_position(),
        };
        ReadError::Xml {
            at,
            message: e.to_string(),
        }
    }

    /// Reads up to the start of the `Document` element (the root, or inside
    /// an envelope) and gives its namespace. Only this element's namespace
    /// matters: the elements inside it are read by local name, so a plain
    /// reader does, without resolving every element's namespace.
    pub fn open_document(&mut self) -> Result<String, ReadError> {
        let mut first: Option<String> = None;
        // Namespace declarations met so far: (prefix, namespace), "" for the default.
        let mut declared: Vec<(String, String)> = Vec::new();
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(e) => e,
                Err(e) => return Err(self.xml_error(e)),
            };
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    declare_namespaces(e, &mut declared);
                    let local = e.local_name();
                    if local.as_ref() == "Document" {
                        let name = e.name();
                        let prefix = name.as_ref().split_once(':').map_or("", |(p, _)| p);
                        let ns = declared
                            .iter()
                            .rev()
                            .find(|(p, _)| p == prefix)
                            .map(|(_, ns)| ns.clone());
                        let ns = ns.unwrap_or_default();
                        // `<Document/>` ends at once.
                        self.pending_end = matches!(event, Event::Empty(_));
                        return Ok(ns);
                    }
                    first.get_or_insert_with(|| local.as_ref().to_string());
                }
                Event::Eof => {
                    let found = match first {
                        Some(root) => format!("no <Document> element (the root is <{root}>)"),
                        None => "no XML element".into(),
                    };
                    return Err(ReadError::NotIso20022 {
                        at: self.position(),
                        found,
                    });
                }
                _ => {}
            }
        }
    }

    /// The next start or end of an element inside the document element,
    /// its tag given by `tag_of` from the local name; `Eof` at the end of
    /// the document element. Text, references and CDATA are gathered in `text`.
    pub fn next(&mut self, tag_of: fn(&str) -> T) -> Result<Step<T>, ReadError> {
        if self.pending_end {
            self.pending_end = false;
            self.text.clear();
            return Ok(match self.stack.pop() {
                Some(tag) => Step::End(tag),
                None => Step::Eof,
            });
        }
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(e) => e,
                Err(e) => return Err(self.xml_error(e)),
            };
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let empty = matches!(event, Event::Empty(_));
                    let tag = tag_of(e.local_name().as_ref());
                    self.text.clear();
                    self.text_is_stale = false;
                    self.currency = None;
                    // Only amounts have attributes (their Ccy) among the elements read.
                    if !e.attributes_raw().trim().is_empty()
                        && let Ok(Some(ccy)) = e.try_get_attribute("Ccy")
                    {
                        self.currency = Some(ccy.value.into_owned());
                    }
                    self.stack.push(tag);
                    self.pending_end = empty;
                    return Ok(Step::Start(tag));
                }
                Event::End(_) => {
                    self.text_is_stale = true;
                    return Ok(match self.stack.pop() {
                        Some(tag) => Step::End(tag),
                        // The end of the document element.
                        None => Step::Eof,
                    });
                }
                Event::Text(t) => fresh(&mut self.text, &mut self.text_is_stale).push_str(&t.xml10_content()),
                Event::CData(c) => fresh(&mut self.text, &mut self.text_is_stale).push_str(&c.xml10_content()),
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => Some(c),
                        Ok(None) => match &*r {
                            "amp" => Some('&'),
                            "lt" => Some('<'),
                            "gt" => Some('>'),
                            "quot" => Some('"'),
                            "apos" => Some('\''),
                            _ => None,
                        },
                        Err(_) => None,
                    };
                    match resolved {
                        Some(c) => fresh(&mut self.text, &mut self.text_is_stale).push(c),
                        None => {
                            let message = format!("unknown entity &{};", &*r);
                            return Err(ReadError::Xml {
                                at: self.position(),
                                message,
                            });
                        }
                    }
                }
                Event::Eof => {
                    let element = self.stack.last().map_or("Document".to_string(), |t| format!("{t:?}"));
                    return Err(ReadError::Truncated {
                        at: self.position(),
                        element,
                    });
                }
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }

    /// The tags of the open elements, innermost last (the one just started included).
    pub fn path(&self) -> &[T] {
        &self.stack
    }

    /// The trimmed text of the element that just ended.
    pub fn value(&self) -> &str {
        self.text.trim()
    }
}

/// The text buffer, emptied first when it holds an ended element's text.
fn fresh<'a>(text: &'a mut String, stale: &mut bool) -> &'a mut String {
    if *stale {
        text.clear();
        *stale = false;
    }
    text
}

/// Adds the `xmlns` and `xmlns:prefix` attributes of `e` to `declared`.
fn declare_namespaces(e: &BytesStart<'_>, declared: &mut Vec<(String, String)>) {
    for attribute in e.attributes().flatten() {
        let key = attribute.key.as_ref();
        let prefix = if key == "xmlns" {
            ""
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            p
        } else {
            continue;
        };
        declared.push((prefix.to_string(), attribute.value.trim().to_string()));
    }
}
