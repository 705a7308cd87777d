//! HTTP/1.1 for the Web meta, without I/O: requests and responses as values ([`WebRequest`],
//! [`WebResponse`]), a server-side connection state machine that turns received bytes into
//! requests and responses into bytes ([`ServerCodec`], on `httparse`), routing by path
//! ([`Router`]), and the mapping from the outcome of a `call` to a handler into the response a
//! client gets ([`response_for`]). Handlers are processes, typically
//! [`WebWorker`](crate::WebWorker)s: the server meta `call`s the routed handler with the
//! `WebRequest` and writes the `WebResponse` it answers.
//!
//! Nothing here blocks or touches a socket; bad input is a typed error, never a panic.

pub mod codec;
pub mod router;

pub use codec::{CONTINUE, Flow, ServerCodec, WebError, WebLimits};
pub use router::{Router, RouterError};

use crate::error::Error;
use crate::message::Message;
use std::fmt;
use std::time::SystemTime;

/// The HTTP version of a request (and of the response to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpVersion {
    /// HTTP/1.0: the connection closes after each response unless the client asks to keep it.
    Http10,
    /// HTTP/1.1: connections persist unless either side says `Connection: close`.
    Http11,
}

impl HttpVersion {
    fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
        }
    }
}

/// An HTTP request, complete with its body: what a handler process receives (as the request of
/// a `call`). Header names keep the case they were sent in; look them up with
/// [`header`](Self::header), which ignores case.
///
/// # Examples
/// ```
/// use ergors::web::WebRequest;
///
/// let req = WebRequest::new("POST", "/users?active=1").with_header("Content-Type", "text/plain").with_body("ann");
/// assert_eq!((req.path.as_str(), req.query.as_deref()), ("/users", Some("active=1")));
/// assert_eq!(req.header_str("content-type"), Some("text/plain"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WebRequest {
    /// The method, as sent (`GET`, `POST`, ... ; methods are case-sensitive).
    pub method: String,
    /// The path of the request target, as sent (not percent-decoded), without the query; `*`
    /// for `OPTIONS *`.
    pub path: String,
    /// The query string after `?`, if any, as sent.
    pub query: Option<String>,
    /// The request's HTTP version.
    pub version: HttpVersion,
    /// The header fields in the order sent: name, raw value.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (de-chunked when it came with `Transfer-Encoding: chunked`).
    pub body: Vec<u8>,
}

impl WebRequest {
    /// A request with no headers nor body, for tests and for handlers that build requests:
    /// `target` is split into path and query at the first `?`.
    pub fn new(method: impl Into<String>, target: &str) -> Self {
        let (path, query) = split_target(target);
        WebRequest {
            method: method.into(),
            path,
            query,
            version: HttpVersion::Http11,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }

    /// The first value of the header `name` (any case), if it is UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// Shows the request line and sizes, not the body (which may be large or private).
impl fmt::Debug for WebRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("version", &self.version)
            .field("headers", &self.headers.len())
            .field("body", &self.body.len())
            .finish()
    }
}

pub(crate) fn split_target(target: &str) -> (String, Option<String>) {
    match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target.to_owned(), None),
    }
}

/// An HTTP response: what a handler answers. `Content-Length`, `Transfer-Encoding` and
/// `Connection` are the codec's to write (they follow from the body and the connection's
/// state); set here, they are ignored.
///
/// # Examples
/// ```
/// use ergors::web::WebResponse;
///
/// let resp = WebResponse::new(201).header("Location", "/users/7").body("created");
/// assert_eq!(resp.status, 201);
/// assert_eq!(WebResponse::text(404, "no such user").header_value("content-type"), Some("text/plain; charset=utf-8"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebResponse {
    /// The status code (100–999).
    pub status: u16,
    /// Header fields in the order to send: name, value (no CR or LF).
    pub headers: Vec<(String, String)>,
    /// The body (not sent in reply to `HEAD`, nor with 1xx, 204 or 304).
    pub body: Vec<u8>,
}

impl WebResponse {
    /// A response with this status, no headers and no body.
    pub fn new(status: u16) -> Self {
        WebResponse { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A `text/plain` response (Go's `http.Error` shape: the text and a newline).
    pub fn text(status: u16, text: &str) -> Self {
        WebResponse::new(status).header("Content-Type", "text/plain; charset=utf-8").body(format!("{text}\n"))
    }

    /// Adds a header field.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of the header `name` (any case).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Appends this response to `out` as HTTP/1.x bytes: the status line in `version`, the
    /// headers, `Content-Length`, `Connection` when it differs from the version's default, the
    /// body unless `head_only` (a reply to `HEAD`) or the status has none. A response whose
    /// header is not valid on the wire (a bad name, CR or LF in a value) is written as a 500
    /// instead, so a handler's mistake cannot split the stream.
    pub fn encode(&self, version: HttpVersion, close: bool, head_only: bool, out: &mut Vec<u8>) {
        let valid = (100..=999).contains(&self.status)
            && self.headers.iter().all(|(n, v)| is_token(n) && !v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0));
        if !valid {
            WebResponse::text(500, "Internal Server Error").encode(version, close, head_only, out);
            return;
        }
        let bodiless = self.status < 200 || self.status == 204 || self.status == 304;
        out.extend_from_slice(version.as_str().as_bytes());
        out.extend_from_slice(format!(" {} {}\r\n", self.status, reason_phrase(self.status)).as_bytes());
        for (name, value) in &self.headers {
            if ["content-length", "transfer-encoding", "connection"].iter().any(|h| name.eq_ignore_ascii_case(h)) {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !bodiless {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        match (version, close) {
            (HttpVersion::Http11, true) => out.extend_from_slice(b"Connection: close\r\n"),
            (HttpVersion::Http10, false) => out.extend_from_slice(b"Connection: keep-alive\r\n"),
            _ => {}
        }
        out.extend_from_slice(b"\r\n");
        if !bodiless && !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The reason phrase of a status code (the standard one, or a generic one by class).
pub fn reason_phrase(status: u16) -> &'static str {
    let known = match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    };
    match (known, status / 100) {
        ("", 1) => "Informational",
        ("", 2) => "Success",
        ("", 3) => "Redirection",
        ("", 4) => "Client Error",
        ("", _) => "Server Error",
        (phrase, _) => phrase,
    }
}

/// The response a client gets for the outcome of a `call` to its handler (the server meta calls
/// the routed process with the [`WebRequest`]):
///
/// | outcome | status |
/// |---|---|
/// | a `WebResponse` | that response |
/// | any other reply | 500 (the handler is not a web handler) |
/// | [`Error::Terminated`] (the handler died, e.g. panicked, before replying) | 500 |
/// | [`Error::Timeout`] | 504 |
/// | [`Error::ProcessUnknown`], [`Error::NameUnknown`], [`Error::AliasUnknown`], [`Error::NoConnection`] (no handler to ask) | 502 (Ergo's answer when its send fails) |
/// | [`Error::MailboxFull`], [`Error::NodeStopped`] | 503 |
/// | anything else | 500 |
///
/// So a request always gets an answer, never a hang (as long as the call has a timeout).
///
/// # Examples
/// ```
/// use ergors::web::{WebResponse, response_for};
/// use ergors::{Error, Message};
/// use std::time::Duration;
///
/// assert_eq!(response_for(Ok(Message::new(WebResponse::new(204)))).status, 204);
/// assert_eq!(response_for(Err(Error::Terminated)).status, 500);
/// assert_eq!(response_for(Err(Error::Timeout(Duration::from_secs(5)))).status, 504);
/// ```
pub fn response_for(outcome: Result<Message, Error>) -> WebResponse {
    let status = match outcome {
        Ok(reply) => {
            return match reply.downcast::<WebResponse>() {
                Ok(resp) => resp,
                Err(_) => WebResponse::text(500, "Internal Server Error"),
            };
        }
        Err(Error::Timeout(_)) => 504,
        Err(Error::ProcessUnknown | Error::NameUnknown | Error::AliasUnknown | Error::NoConnection(_)) => 502,
        Err(Error::MailboxFull | Error::NodeStopped) => 503,
        Err(_) => 500,
    };
    WebResponse::text(status, reason_phrase(status))
}

/// The `Date` header's value for `time` (IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`), for a
/// server that adds one; times before 1970 or beyond year 9999 give the epoch's.
pub fn http_date(time: SystemTime) -> String {
    let ts = jiff::Timestamp::try_from(time).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}
