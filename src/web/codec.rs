//! The server side of an HTTP/1.1 connection as a state machine (sans-IO): received bytes in,
//! complete [`WebRequest`]s out, in order; [`WebResponse`]s in, bytes out, in the same order.
//! Request heads are parsed by `httparse`; bodies by `Content-Length` or chunked transfer coding.
//! Owns no socket and never blocks: the Web meta reads into it and writes what it produces.

use super::{HttpVersion, WebRequest, WebResponse, split_target};
use std::collections::VecDeque;

/// The largest input buffer kept by a connection with nothing left to parse.
const KEEP_BUFFER: usize = 16 * 1024;

/// What the server sends a client that sent `Expect: 100-continue`, before it reads the body
/// (see [`ServerCodec::take_continue`]).
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Limits on what one request may take (defaults in parentheses): the head, its request line
/// and header fields (64 KiB); the number of header fields (100); the body (8 MiB); the requests
/// parsed whose responses are not written yet (16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebLimits {
    max_head: usize,
    max_headers: usize,
    max_body: usize,
    max_pipelined: usize,
}

impl Default for WebLimits {
    fn default() -> Self {
        WebLimits { max_head: 64 * 1024, max_headers: 100, max_body: 8 * 1024 * 1024, max_pipelined: 16 }
    }
}

impl WebLimits {
    /// The largest request head in bytes (request line and header fields; also bounds a chunk
    /// size line and the trailer fields). Beyond it: 431.
    pub fn max_head(mut self, bytes: usize) -> Self {
        self.max_head = bytes.max(16);
        self
    }

    /// The most header fields in a request. Beyond it: 431.
    pub fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// The largest body in bytes (after de-chunking). Beyond it: 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// How many requests are handed out before their responses are encoded (pipelining depth,
    /// at least 1): beyond it, [`ServerCodec::next_request`] waits.
    pub fn max_pipelined(mut self, count: usize) -> Self {
        self.max_pipelined = count.max(1);
        self
    }
}

/// Why a connection's input is not acceptable HTTP/1.1. Each maps to the status the client is
/// sent ([`status`](Self::status)) before the connection closes: bad input costs its own
/// connection only.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// Malformed: a bad request line, header field, length or chunk (400).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The request head (or a chunk line, or the trailers) is longer than the limit (431).
    #[error("request head larger than {limit} bytes")]
    HeadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// More header fields than the limit (431).
    #[error("more than {limit} header fields")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// The body is larger than the limit (413).
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A transfer coding other than `chunked` (501).
    #[error("unsupported transfer encoding {0:?}")]
    UnsupportedTransferEncoding(String),
    /// Not HTTP/1.0 or HTTP/1.1 (505).
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
}

impl WebError {
    /// The status code the client is sent.
    pub fn status(&self) -> u16 {
        match self {
            WebError::BadRequest(_) => 400,
            WebError::HeadTooLarge { .. } | WebError::TooManyHeaders { .. } => 431,
            WebError::BodyTooLarge { .. } => 413,
            WebError::UnsupportedTransferEncoding(_) => 501,
            WebError::UnsupportedVersion => 505,
        }
    }

    /// The response the client is sent: the status and a short text.
    pub fn response(&self) -> WebResponse {
        WebResponse::text(self.status(), &self.to_string())
    }
}

/// What the server does after writing a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep the connection for the next request.
    KeepAlive,
    /// Close the connection once the bytes are written.
    Close,
}

/// How a response must be written: what its request said.
#[derive(Clone, Copy, Debug)]
struct Pending {
    version: HttpVersion,
    keep_alive: bool,
    head: bool,
}

#[derive(Debug)]
enum BodyState {
    Length(usize),
    ChunkSize,
    ChunkData(usize),
    ChunkEnd,
    Trailers { seen: usize },
}

#[derive(Debug)]
enum State {
    Head,
    Body { request: WebRequest, pending: Pending, body: BodyState },
}

/// The server side of one HTTP/1.1 connection, without I/O.
///
/// Feed what the socket gave with [`push`](Self::push), then take requests with
/// [`next_request`](Self::next_request) until it has none; answer each, in order, with
/// [`encode_response`](Self::encode_response), which tells whether to keep the connection.
/// Pipelined requests come out in order. After a [`WebError`] no request follows: write
/// [`encode_error`](Self::encode_error) (after the responses still owed) and close.
///
/// Memory: calling `next_request` after each push keeps what is held to a partial head (below
/// `max_head`) and the request being received (below `max_body`); [`wants_more`](Self::wants_more)
/// says when to stop reading (too many responses owed, or closing).
///
/// # Examples
/// ```
/// use ergors::web::{Flow, ServerCodec, WebLimits, WebResponse};
///
/// let mut conn = ServerCodec::new(WebLimits::default());
/// conn.push(b"GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /p HTTP/1.1\r\nHost: a\r\nContent-Le");
/// let get = conn.next_request()?.expect("a whole request");
/// assert_eq!((get.method.as_str(), get.path.as_str(), get.query.as_deref()), ("GET", "/hello", Some("x=1")));
/// assert!(conn.next_request()?.is_none()); // the POST is not complete yet
/// conn.push(b"ngth: 2\r\n\r\nhi");
/// assert_eq!(conn.next_request()?.expect("the POST").body, b"hi");
///
/// let mut out = Vec::new();
/// assert_eq!(conn.encode_response(&WebResponse::new(200).body("hey"), &mut out), Flow::KeepAlive);
/// assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhey");
/// # Ok::<(), ergors::web::WebError>(())
/// ```
#[derive(Debug)]
pub struct ServerCodec {
    limits: WebLimits,
    buf: Vec<u8>,
    /// Where the unparsed bytes start in `buf` (consumed bytes are dropped at the next push).
    start: usize,
    state: State,
    owed: VecDeque<Pending>,
    /// A request asked to close: no request after it is read.
    closing: bool,
    failed: Option<WebError>,
    send_continue: bool,
    /// How many unparsed bytes are known to hold no end of what is awaited (a head's blank
    /// line, a chunk-size or trailer line's `\n`): each byte is searched once, so a client
    /// sending a head byte by byte costs linear time, not quadratic.
    scanned: usize,
    /// The unparsed length at the last attempt to parse an unfinished head: the next attempt
    /// waits for twice as many bytes (bad input is still refused early, in linear time).
    tried: usize,
}

impl ServerCodec {
    /// A fresh connection with these limits.
    pub fn new(limits: WebLimits) -> Self {
        ServerCodec {
            limits,
            buf: Vec::new(),
            start: 0,
            state: State::Head,
            owed: VecDeque::new(),
            closing: false,
            failed: None,
            send_continue: false,
            scanned: 0,
            tried: 0,
        }
    }

    /// Takes received bytes. Nothing is parsed until [`next_request`](Self::next_request).
    /// Bytes that can never be read are dropped: after a failure, and after a request that
    /// closes the connection.
    pub fn push(&mut self, data: &[u8]) {
        let unread = self.closing && matches!(self.state, State::Head);
        if self.failed.is_some() || unread || data.is_empty() {
            return;
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Whether the server should read more from this connection: false once a request asked to
    /// close or the input failed, and while `max_pipelined` responses are owed.
    pub fn wants_more(&self) -> bool {
        self.failed.is_none() && !self.closing && self.owed.len() < self.limits.max_pipelined
    }

    /// Whether a client waits for [`CONTINUE`] before sending the body of the request being
    /// received (`Expect: 100-continue`); true once per such request.
    pub fn take_continue(&mut self) -> bool {
        std::mem::take(&mut self.send_continue)
    }

    /// How many bytes are held for requests not handed out yet: unparsed input plus the body of
    /// the request being received. While [`wants_more`](Self::wants_more) is true after
    /// [`next_request`](Self::next_request) returned `None`, this is at most `max_head +
    /// max_body`.
    pub fn buffered(&self) -> usize {
        let body = match &self.state {
            State::Body { request, .. } => request.body.len(),
            State::Head => 0,
        };
        self.buf.len() - self.start + body
    }

    /// How many responses are owed (requests handed out, not answered yet).
    pub fn owed(&self) -> usize {
        self.owed.len()
    }

    /// The next complete request, or `None` until more bytes come (or while `max_pipelined`
    /// responses are owed, or after a request that closes the connection).
    ///
    /// # Errors
    /// A [`WebError`] when the input is not acceptable; the same error from then on.
    pub fn next_request(&mut self) -> Result<Option<WebRequest>, WebError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match self.step() {
            Ok(None) if self.start == self.buf.len() => {
                // Everything received is parsed: an idle keep-alive connection keeps no large
                // buffer (memory per connection, D167), and the next push appends without
                // moving anything.
                self.start = 0;
                if self.buf.capacity() > KEEP_BUFFER {
                    self.buf = Vec::new();
                } else {
                    self.buf.clear();
                }
                Ok(None)
            }
            Ok(request) => Ok(request),
            Err(err) => {
                self.failed = Some(err.clone());
                self.buf = Vec::new();
                self.start = 0;
                self.state = State::Head;
                Err(err)
            }
        }
    }

    /// Appends the response to the oldest request still owed one to `out`, and says whether to
    /// keep the connection. The response is in the request's HTTP version, without a body for
    /// `HEAD`, and says `Connection: close` when the connection ends after it: because the
    /// request asked so (or was HTTP/1.0 without keep-alive), the response has
    /// `Connection: close`, or the input failed after this request. With no request owed (a
    /// server bug), it is written as HTTP/1.1 and the connection closes.
    pub fn encode_response(&mut self, response: &WebResponse, out: &mut Vec<u8>) -> Flow {
        let pending =
            self.owed.pop_front().unwrap_or(Pending { version: HttpVersion::Http11, keep_alive: false, head: false });
        let asked_close = response
            .header_value("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
        let last_before_error = self.failed.is_some() && self.owed.is_empty();
        let close = !pending.keep_alive || asked_close || last_before_error;
        if close {
            // Nothing after this response will be read (or answered).
            self.closing = true;
        }
        response.encode(pending.version, close, pending.head, out);
        if close { Flow::Close } else { Flow::KeepAlive }
    }

    /// Appends the response for `error` (its status, `Connection: close`) to `out`; write it
    /// after the responses still owed, then close.
    pub fn encode_error(&mut self, error: &WebError, out: &mut Vec<u8>) {
        self.owed.clear();
        self.closing = true;
        error.response().encode(HttpVersion::Http11, true, false, out);
    }

    fn step(&mut self) -> Result<Option<WebRequest>, WebError> {
        loop {
            match &mut self.state {
                State::Head => {
                    if self.closing || self.owed.len() >= self.limits.max_pipelined {
                        return Ok(None);
                    }
                    let avail = &self.buf[self.start..];
                    let ended = has_head_end(avail, self.scanned);
                    self.scanned = avail.len();
                    if !ended {
                        if avail.len() > self.limits.max_head {
                            return Err(WebError::HeadTooLarge { limit: self.limits.max_head });
                        }
                        if avail.len() < 2 * self.tried {
                            return Ok(None);
                        }
                    }
                    self.tried = avail.len();
                    let Some(head) = parse_head(avail, &self.limits)? else {
                        return Ok(None);
                    };
                    self.start += head.len;
                    self.scanned = 0;
                    self.tried = 0;
                    let body = match head.body {
                        BodyKind::None => {
                            self.finish(head.pending);
                            return Ok(Some(head.request));
                        }
                        BodyKind::Length(n) => BodyState::Length(n),
                        BodyKind::Chunked => BodyState::ChunkSize,
                    };
                    let mut request = head.request;
                    if let BodyState::Length(n) = body {
                        request.body.reserve_exact(n.min(64 * 1024));
                    }
                    // Only worth a 100 if the body is not already here.
                    self.send_continue = head.expect_continue && self.buf.len() == self.start;
                    self.state = State::Body { request, pending: head.pending, body };
                }
                State::Body { request, body, .. } => {
                    let avail = &self.buf[self.start..];
                    let (used, done) = body_step(body, request, avail, &mut self.scanned, &self.limits)?;
                    self.start += used;
                    if used > 0 {
                        self.scanned = 0;
                    }
                    if done {
                        let State::Body { request, pending, .. } = std::mem::replace(&mut self.state, State::Head)
                        else {
                            return Ok(None);
                        };
                        self.send_continue = false;
                        self.finish(pending);
                        return Ok(Some(request));
                    }
                    if used == 0 {
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn finish(&mut self, pending: Pending) {
        if !pending.keep_alive {
            self.closing = true;
        }
        self.owed.push_back(pending);
    }
}

/// Advances a body over `avail`: how many bytes it used, and whether the body is complete.
fn body_step(
    state: &mut BodyState,
    request: &mut WebRequest,
    avail: &[u8],
    scanned: &mut usize,
    limits: &WebLimits,
) -> Result<(usize, bool), WebError> {
    // A line-based state waits for its `\n`, searching only bytes not searched before.
    let line_states = matches!(state, BodyState::ChunkSize | BodyState::Trailers { .. });
    if line_states && !avail[(*scanned).min(avail.len())..].contains(&b'\n') {
        *scanned = avail.len();
        let seen = match state {
            BodyState::Trailers { seen } => *seen,
            _ => 0,
        };
        if seen + avail.len() > limits.max_head {
            return Err(WebError::HeadTooLarge { limit: limits.max_head });
        }
        return Ok((0, false));
    }
    match state {
        BodyState::Length(rest) => {
            let take = (*rest).min(avail.len());
            request.body.extend_from_slice(&avail[..take]);
            *rest -= take;
            Ok((take, *rest == 0))
        }
        BodyState::ChunkSize => match httparse::parse_chunk_size(avail) {
            Ok(httparse::Status::Complete((used, size))) => {
                let fits = usize::try_from(size)
                    .ok()
                    .filter(|&s| request.body.len().checked_add(s).is_some_and(|total| total <= limits.max_body));
                let Some(size) = fits else {
                    return Err(WebError::BodyTooLarge { limit: limits.max_body });
                };
                *state = if size == 0 { BodyState::Trailers { seen: 0 } } else { BodyState::ChunkData(size) };
                Ok((used, false))
            }
            Ok(httparse::Status::Partial) if avail.len() > limits.max_head => {
                Err(WebError::HeadTooLarge { limit: limits.max_head })
            }
            Ok(httparse::Status::Partial) => Ok((0, false)),
            Err(httparse::InvalidChunkSize) => Err(WebError::BadRequest("invalid chunk size")),
        },
        BodyState::ChunkData(rest) => {
            let take = (*rest).min(avail.len());
            request.body.extend_from_slice(&avail[..take]);
            *rest -= take;
            if *rest == 0 {
                *state = BodyState::ChunkEnd;
            }
            Ok((take, false))
        }
        BodyState::ChunkEnd => match avail {
            [b'\r', b'\n', ..] => {
                *state = BodyState::ChunkSize;
                Ok((2, false))
            }
            [] | [b'\r'] => Ok((0, false)),
            _ => Err(WebError::BadRequest("chunk data not followed by CRLF")),
        },
        BodyState::Trailers { seen } => {
            // Trailer fields are read and dropped (Go's server keeps them apart from the
            // headers; none of our handlers needs them), within the head limit.
            let Some(end) = avail.iter().position(|&b| b == b'\n') else {
                if *seen + avail.len() > limits.max_head {
                    return Err(WebError::HeadTooLarge { limit: limits.max_head });
                }
                return Ok((0, false));
            };
            *seen += end + 1;
            if *seen > limits.max_head {
                return Err(WebError::HeadTooLarge { limit: limits.max_head });
            }
            let line = &avail[..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Ok((end + 1, line.is_empty()))
        }
    }
}

/// Whether `avail` holds the blank line that ends a head (`\n\n` or `\n\r\n`), searching from a
/// little before `from` (a terminator may straddle the bytes searched before).
fn has_head_end(avail: &[u8], from: usize) -> bool {
    let rest = &avail[from.saturating_sub(2).min(avail.len())..];
    rest.windows(2).any(|w| w == b"\n\n") || rest.windows(3).any(|w| w == b"\n\r\n")
}

enum BodyKind {
    None,
    Length(usize),
    Chunked,
}

struct Head {
    len: usize,
    request: WebRequest,
    pending: Pending,
    body: BodyKind,
    expect_continue: bool,
}

/// Header fields parsed into a stack array (the default limit, 100, fits).
const STACK_HEADERS: usize = 128;

/// Parses a request head at the start of `avail`, or `None` while it is incomplete.
fn parse_head(avail: &[u8], limits: &WebLimits) -> Result<Option<Head>, WebError> {
    if avail.is_empty() {
        return Ok(None);
    }
    // On the stack for the usual limits: a request costs no allocation for its parse.
    let mut on_stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut on_heap = Vec::new();
    let fields = if limits.max_headers <= STACK_HEADERS {
        &mut on_stack[..limits.max_headers]
    } else {
        on_heap.resize(limits.max_headers, httparse::EMPTY_HEADER);
        &mut on_heap[..]
    };
    let mut req = httparse::Request::new(fields);
    let len = match req.parse(avail) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if avail.len() > limits.max_head {
                return Err(WebError::HeadTooLarge { limit: limits.max_head });
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(WebError::TooManyHeaders { limit: limits.max_headers }),
        Err(httparse::Error::Version) => return Err(WebError::UnsupportedVersion),
        Err(httparse::Error::Token) => return Err(WebError::BadRequest("invalid method or target")),
        Err(_) => return Err(WebError::BadRequest("malformed request head")),
    };
    if len > limits.max_head {
        return Err(WebError::HeadTooLarge { limit: limits.max_head });
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(WebError::BadRequest("incomplete request line"));
    };
    let version = if minor == 0 { HttpVersion::Http10 } else { HttpVersion::Http11 };
    let (path, query) = path_and_query(method, target)?;

    let mut keep_alive = version == HttpVersion::Http11;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut codings = Vec::new();
    let mut hosts = 0;
    let mut expect_continue = false;
    let mut headers = Vec::with_capacity(req.headers.len());
    for field in req.headers.iter() {
        let value = trim(field.value);
        if field.name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == HttpVersion::Http10 {
                    keep_alive = true;
                }
            }
        } else if field.name.eq_ignore_ascii_case("content-length") {
            let n = parse_length(value)?;
            if length.is_some_and(|l| l != n) {
                return Err(WebError::BadRequest("conflicting Content-Length"));
            }
            length = Some(n);
        } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
            codings.extend(value.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty()).map(<[u8]>::to_vec));
        } else if field.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if field.name.eq_ignore_ascii_case("expect") && value.eq_ignore_ascii_case(b"100-continue") {
            expect_continue = version == HttpVersion::Http11;
        }
        headers.push((field.name.to_owned(), field.value.to_vec()));
    }
    if version == HttpVersion::Http11 && hosts != 1 {
        return Err(WebError::BadRequest("HTTP/1.1 needs exactly one Host header"));
    }
    if !codings.is_empty() {
        if length.is_some() {
            // Both framings at once is how requests are smuggled past proxies: refuse.
            return Err(WebError::BadRequest("both Content-Length and Transfer-Encoding"));
        }
        if version == HttpVersion::Http10 {
            return Err(WebError::BadRequest("Transfer-Encoding in an HTTP/1.0 request"));
        }
        match codings.as_slice() {
            [only] if only.eq_ignore_ascii_case(b"chunked") => chunked = true,
            _ => {
                let named = codings.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>();
                return Err(WebError::UnsupportedTransferEncoding(named.join(", ")));
            }
        }
    }
    let body = match (chunked, length) {
        (true, _) => BodyKind::Chunked,
        (false, Some(n)) if n > limits.max_body as u64 => {
            return Err(WebError::BodyTooLarge { limit: limits.max_body });
        }
        (false, Some(0) | None) => BodyKind::None,
        // Within max_body, so it fits a usize.
        (false, Some(n)) => BodyKind::Length(usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let head = method == "HEAD";
    let request = WebRequest { method: method.to_owned(), path, query, version, headers, body: Vec::new() };
    let expect_continue = expect_continue && !matches!(body, BodyKind::None);
    Ok(Some(Head { len, request, pending: Pending { version, keep_alive, head }, body, expect_continue }))
}

/// The path and query of a request target: absolute-form targets (`http://host/path?q`) lose
/// their scheme and authority (an empty path is `/`); `*` is accepted for `OPTIONS`; anything
/// else (authority-form, as `CONNECT` uses) is refused.
fn path_and_query(method: &str, target: &str) -> Result<(String, Option<String>), WebError> {
    if target.starts_with('/') || (target == "*" && method == "OPTIONS") {
        return Ok(split_target(target));
    }
    let bytes = target.as_bytes();
    let scheme = if bytes.get(..7).is_some_and(|p| p.eq_ignore_ascii_case(b"http://")) {
        7
    } else if bytes.get(..8).is_some_and(|p| p.eq_ignore_ascii_case(b"https://")) {
        8
    } else {
        return Err(WebError::BadRequest("request target is not a path"));
    };
    // The prefix is ASCII, so `scheme` is a char boundary.
    let rest = &target[scheme..];
    Ok(match rest.find(['/', '?']) {
        Some(at) if rest[at..].starts_with('/') => split_target(&rest[at..]),
        Some(at) => ("/".to_owned(), Some(rest[at + 1..].to_owned())),
        None => ("/".to_owned(), None),
    })
}

fn parse_length(value: &[u8]) -> Result<u64, WebError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(WebError::BadRequest("invalid Content-Length"));
    }
    // All digits: only overflow can fail, and a length beyond u64 is beyond any limit.
    Ok(value.iter().try_fold(0u64, |acc, &d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))).unwrap_or(u64::MAX))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |e| e + 1);
    &bytes[start..end]
}
