//! Step 5, items 8 and 9: the HTTP/1.1 server codec without sockets. Requests come out whole
//! however the bytes are cut, pipelined requests in order, bodies by length or chunked;
//! keep-alive follows HTTP/1.0 and 1.1 rules; every limit and every kind of bad input is a typed
//! error with its status (so bad input costs its own connection only); garbage never panics.
//! Also the router (Go ServeMux subset), `response_for` and the response bytes.

use ergors::web::{
    CONTINUE, Flow, HttpVersion, Router, RouterError, ServerCodec, WebError, WebLimits, WebRequest, WebResponse,
    http_date, response_for,
};
use ergors::{Error, Message, To};
use proptest::prelude::*;
use std::time::{Duration, UNIX_EPOCH};

const GET: &[u8] = b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n";
const POST: &[u8] = b"POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 11\r\n\r\nhello world";
const CHUNKED: &[u8] = b"PUT /c HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n\
5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n";

fn all(codec: &mut ServerCodec) -> Result<Vec<WebRequest>, WebError> {
    let mut out = Vec::new();
    while let Some(req) = codec.next_request()? {
        out.push(req);
    }
    Ok(out)
}

fn parse_one(bytes: &[u8]) -> Result<WebRequest, WebError> {
    let mut c = ServerCodec::new(WebLimits::default());
    c.push(bytes);
    c.next_request().map(|r| r.expect("a complete request"))
}

fn error_of(bytes: &[u8], limits: WebLimits) -> WebError {
    let mut c = ServerCodec::new(limits);
    c.push(bytes);
    all(&mut c).expect_err("refused")
}

#[test]
fn a_get_request_in_parts() {
    let req = parse_one(GET).unwrap();
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/a/b");
    assert_eq!(req.query.as_deref(), Some("x=1&y=2"));
    assert_eq!(req.version, HttpVersion::Http11);
    assert_eq!(req.header_str("ACCEPT"), Some("*/*"));
    assert_eq!(req.headers.len(), 2);
    assert!(req.body.is_empty());
}

#[test]
fn content_length_and_chunked_bodies() {
    assert_eq!(parse_one(POST).unwrap().body, b"hello world");
    let put = parse_one(CHUNKED).unwrap();
    assert_eq!((put.method.as_str(), put.body.as_slice()), ("PUT", &b"hello world"[..]));
    // Trailer fields are dropped, not mixed with the headers.
    assert_eq!(put.header("x-trailer"), None);
}

#[test]
fn split_at_every_byte_boundary() {
    let stream = [GET, POST, CHUNKED, GET].concat();
    let want = all(&mut {
        let mut c = ServerCodec::new(WebLimits::default());
        c.push(&stream);
        c
    })
    .unwrap();
    assert_eq!(want.len(), 4);
    for cut in 0..=stream.len() {
        let mut c = ServerCodec::new(WebLimits::default());
        let mut got = Vec::new();
        for part in [&stream[..cut], &stream[cut..]] {
            c.push(part);
            got.extend(all(&mut c).unwrap());
        }
        assert_eq!(got, want, "cut at {cut}");
    }
    // And one byte at a time.
    let mut c = ServerCodec::new(WebLimits::default());
    let mut got = Vec::new();
    for b in &stream {
        c.push(std::slice::from_ref(b));
        got.extend(all(&mut c).unwrap());
    }
    assert_eq!(got, want);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut c = ServerCodec::new(WebLimits::default());
    c.push(&[GET, POST, b"GET /last HTTP/1.1\r\nHost: h\r\n\r\n"].concat());
    let reqs = all(&mut c).unwrap();
    let paths: Vec<_> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/a/b", "/upload", "/last"]);
    assert_eq!(c.owed(), 3);
    let mut out = Vec::new();
    for (i, _) in reqs.iter().enumerate() {
        let flow = c.encode_response(&WebResponse::new(200).body(format!("r{i}")), &mut out);
        assert_eq!(flow, Flow::KeepAlive);
    }
    let want: String = (0..3).map(|i| format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr{i}")).collect();
    assert_eq!(String::from_utf8(out).unwrap(), want);
    assert_eq!(c.owed(), 0);
}

#[test]
fn pipelining_depth_is_bounded() {
    let mut c = ServerCodec::new(WebLimits::default().max_pipelined(2));
    c.push(&[GET, GET, GET].concat());
    assert_eq!(all(&mut c).unwrap().len(), 2);
    assert!(!c.wants_more());
    let mut out = Vec::new();
    c.encode_response(&WebResponse::new(204), &mut out);
    assert!(c.wants_more());
    assert_eq!(all(&mut c).unwrap().len(), 1);
}

#[test]
fn connection_close_ends_the_connection_after_its_response() {
    let mut c = ServerCodec::new(WebLimits::default());
    c.push(&[&b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n"[..], GET].concat());
    assert_eq!(all(&mut c).unwrap().len(), 1); // nothing after a request that closes is read
    assert!(!c.wants_more());
    let mut out = Vec::new();
    assert_eq!(c.encode_response(&WebResponse::new(200), &mut out), Flow::Close);
    assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    // A handler may close too.
    let mut c = ServerCodec::new(WebLimits::default());
    c.push(GET);
    all(&mut c).unwrap();
    let mut out = Vec::new();
    assert_eq!(c.encode_response(&WebResponse::new(200).header("Connection", "close"), &mut out), Flow::Close);
    assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    let mut c = ServerCodec::new(WebLimits::default());
    c.push(b"GET /old HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n");
    let reqs = all(&mut c).unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].version, HttpVersion::Http10);
    let mut out = Vec::new();
    assert_eq!(c.encode_response(&WebResponse::new(200).body("x"), &mut out), Flow::Close);
    assert_eq!(out, b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx");

    let mut c = ServerCodec::new(WebLimits::default());
    c.push(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
    assert_eq!(all(&mut c).unwrap().len(), 2);
    let mut out = Vec::new();
    assert_eq!(c.encode_response(&WebResponse::new(200), &mut out), Flow::KeepAlive);
    assert_eq!(out, b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(c.encode_response(&WebResponse::new(200), &mut Vec::new()), Flow::Close);
}

#[test]
fn head_responses_carry_the_length_but_no_body() {
    let mut c = ServerCodec::new(WebLimits::default());
    c.push(b"HEAD /f HTTP/1.1\r\nHost: h\r\n\r\n");
    all(&mut c).unwrap();
    let mut out = Vec::new();
    c.encode_response(&WebResponse::new(200).body("12345"), &mut out);
    assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
}

#[test]
fn response_bytes() {
    let mut out = Vec::new();
    // The codec's own framing headers win over the handler's; 204 has neither length nor body.
    WebResponse::new(204).header("Content-Length", "99").header("X-A", "1").body("ignored").encode(
        HttpVersion::Http11,
        false,
        false,
        &mut out,
    );
    assert_eq!(out, b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n");
    // A header that would split the response makes it a 500.
    out.clear();
    WebResponse::new(200).header("X-Evil", "a\r\nSet-Cookie: x").encode(HttpVersion::Http11, false, false, &mut out);
    assert!(out.starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
    assert!(!out.windows(10).any(|w| w == b"Set-Cookie"));
    out.clear();
    WebResponse::new(1000).encode(HttpVersion::Http11, false, false, &mut out);
    assert!(out.starts_with(b"HTTP/1.1 500 "));
}

#[test]
fn expect_100_continue() {
    let mut c = ServerCodec::new(WebLimits::default());
    c.push(b"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    assert_eq!(c.next_request().unwrap(), None);
    assert!(c.take_continue());
    assert!(!c.take_continue());
    assert_eq!(CONTINUE, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.push(b"abc");
    assert_eq!(c.next_request().unwrap().unwrap().body, b"abc");
    // With the body already here, no 100.
    let mut c = ServerCodec::new(WebLimits::default());
    c.push(b"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc");
    assert!(c.next_request().unwrap().is_some());
    assert!(!c.take_continue());
}

#[test]
fn targets() {
    let req = parse_one(b"GET http://example.com/x/y?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n").unwrap();
    assert_eq!((req.path.as_str(), req.query.as_deref()), ("/x/y", Some("q=1")));
    let req = parse_one(b"GET HTTPS://example.com?q HTTP/1.1\r\nHost: example.com\r\n\r\n").unwrap();
    assert_eq!((req.path.as_str(), req.query.as_deref()), ("/", Some("q")));
    assert_eq!(parse_one(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().path, "*");
    assert_eq!(parse_one(b"CONNECT example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n").unwrap_err().status(), 400);
    assert_eq!(parse_one(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n").unwrap_err().status(), 400);
    // Empty lines before a request are skipped (RFC 9112, 2.2).
    assert_eq!(parse_one(&[b"\r\n\r\n", GET].concat()).unwrap().path, "/a/b");
}

#[test]
fn limits_map_to_their_statuses() {
    let d = WebLimits::default;
    let long_head = [&b"GET / HTTP/1.1\r\nHost: h\r\nX: "[..], &[b'a'; 300], b"\r\n\r\n"].concat();
    assert_eq!(error_of(&long_head, d().max_head(200)), WebError::HeadTooLarge { limit: 200 });
    // Without its end in sight, too: a client cannot make the server hold an endless head.
    assert_eq!(error_of(&long_head[..250], d().max_head(200)).status(), 431);
    let many = [&b"GET / HTTP/1.1\r\nHost: h\r\n"[..], &b"X: 1\r\n".repeat(5), b"\r\n"].concat();
    assert_eq!(error_of(&many, d().max_headers(4)), WebError::TooManyHeaders { limit: 4 });
    assert!(parse_one(&many).is_ok());
    let big = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n";
    assert_eq!(error_of(big, d().max_body(100)), WebError::BodyTooLarge { limit: 100 });
    let huge = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n";
    assert_eq!(error_of(huge, d()).status(), 413);
    let chunks = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n";
    assert_eq!(error_of(&[&chunks[..], &[b'a'; 64], b"\r\n40\r\n"].concat(), d().max_body(100)).status(), 413);
    let endless_chunk_line = [&chunks[..chunks.len() - 4], b"1;", &[b'e'; 300]].concat();
    assert_eq!(error_of(&endless_chunk_line, d().max_head(200)).status(), 431);
    let endless_trailers = [&chunks[..chunks.len() - 4], b"0\r\n", &b"T: 1\r\n".repeat(50)].concat();
    assert_eq!(error_of(&endless_trailers, d().max_head(200)).status(), 431);
}

#[test]
fn a_long_head_byte_by_byte_and_garbage_refused_early() {
    // A head near the limit, one byte per push (a slow client): it comes out whole.
    let head = [&b"GET /slow HTTP/1.1\r\nHost: h\r\nX-Big: "[..], &[b'v'; 60_000], b"\r\n\r\n"].concat();
    let mut c = ServerCodec::new(WebLimits::default());
    let mut got = Vec::new();
    for b in &head {
        c.push(std::slice::from_ref(b));
        got.extend(all(&mut c).unwrap());
    }
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-big").map(<[u8]>::len), Some(60_000));
    // Garbage with no blank line is refused long before the head limit, byte by byte too.
    let mut c = ServerCodec::new(WebLimits::default());
    let mut refused_at = None;
    for (i, b) in [&b"\x16\x03\x01"[..], &[0xAB; 5000]].concat().iter().enumerate() {
        c.push(std::slice::from_ref(b));
        if let Err(e) = all(&mut c) {
            assert_eq!(e.status(), 400);
            refused_at = Some(i);
            break;
        }
    }
    assert!(refused_at.is_some_and(|i| i < 16), "{refused_at:?}");
}

#[test]
fn bad_requests() {
    let d = WebLimits::default;
    for (bytes, status) in [
        (&b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"[..], 501),
        (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400), // a TLS hello
        (b"G\0T / HTTP/1.1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", 400),
    ] {
        let err = error_of(bytes, d());
        assert_eq!(err.status(), status, "{:?}: {err}", String::from_utf8_lossy(bytes));
        assert_eq!(err.response().status, status);
    }
    // Duplicate but equal lengths are accepted.
    assert!(parse_one(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na").is_ok());
}

#[test]
fn an_error_comes_after_the_responses_owed_and_sticks() {
    let mut c = ServerCodec::new(WebLimits::default());
    c.push(&[GET, b"BAD REQUEST\r\n\r\n"].concat());
    assert!(c.next_request().unwrap().is_some());
    let err = c.next_request().unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(c.next_request().unwrap_err(), err);
    assert!(!c.wants_more());
    c.push(GET);
    assert_eq!(c.next_request().unwrap_err(), err);
    let mut out = Vec::new();
    // The last response owed before the error closes the connection.
    assert_eq!(c.encode_response(&WebResponse::new(200), &mut out), Flow::Close);
    out.clear();
    c.encode_error(&err, &mut out);
    assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    assert!(out.windows(19).any(|w| w == b"Connection: close\r\n"));
}

#[test]
fn the_router_follows_serve_mux_for_paths() {
    let mut r = Router::new();
    r.handle("/", "root").unwrap();
    r.handle("/api/", "api").unwrap();
    r.handle("/api/v1/", "v1").unwrap();
    r.handle("/api/v1/health", "health").unwrap();
    r.handle("/docs/{$}", "docs-index").unwrap();
    let to = |p: &str| r.lookup(p).cloned();
    assert_eq!(to("/api/v1/health"), Some(To::from("health")));
    assert_eq!(to("/api/v1/health/x"), Some(To::from("v1")));
    assert_eq!(to("/api/v2"), Some(To::from("api")));
    assert_eq!(to("/api"), Some(To::from("root"))); // no redirect to /api/
    assert_eq!(to("/docs/"), Some(To::from("docs-index")));
    assert_eq!(to("/docs/x"), Some(To::from("root")));
    // Dot and empty segments never match, so a subtree cannot be escaped.
    for bad in ["/api/../secret", "/api/./x", "/api//x", "/..", "*", ""] {
        assert_eq!(to(bad), None, "{bad}");
    }
    assert_eq!(r.handle("/api/", "again").unwrap_err(), RouterError::Duplicate("/api/".into()));
    assert_eq!(r.handle("api", "x").unwrap_err(), RouterError::BadPattern("api".into()));

    let mut exact = Router::new();
    exact.handle("/{$}", "home").unwrap();
    exact.handle("/only", "only").unwrap();
    assert_eq!(exact.lookup("/").cloned(), Some(To::from("home")));
    assert_eq!(exact.lookup("/only/"), None);
    let miss = exact.dispatch(&WebRequest::new("GET", "/nothing")).unwrap_err();
    assert_eq!(miss.status, 404);
}

#[test]
fn call_outcomes_map_to_responses() {
    let status = |o: Result<Message, Error>| response_for(o).status;
    assert_eq!(status(Ok(Message::new(WebResponse::new(202)))), 202);
    assert_eq!(status(Ok(Message::new("not a response"))), 500);
    assert_eq!(status(Err(Error::Terminated)), 500);
    assert_eq!(status(Err(Error::Timeout(Duration::from_secs(5)))), 504);
    assert_eq!(status(Err(Error::ProcessUnknown)), 502);
    assert_eq!(status(Err(Error::NameUnknown)), 502);
    assert_eq!(status(Err(Error::MailboxFull)), 503);
    assert_eq!(status(Err(Error::NodeStopped)), 503);
}

#[test]
fn dates() {
    assert_eq!(http_date(UNIX_EPOCH + Duration::from_secs(784111777)), "Sun, 06 Nov 1994 08:49:37 GMT");
}

proptest! {
    #[test]
    fn garbage_never_panics(reads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16)) {
        let mut c = ServerCodec::new(WebLimits::default().max_head(256).max_body(256));
        for read in &reads {
            c.push(read);
            match all(&mut c) {
                Ok(reqs) => {
                    for r in reqs {
                        prop_assert!(r.body.len() <= 256);
                        let mut out = Vec::new();
                        c.encode_response(&WebResponse::new(200), &mut out);
                    }
                }
                Err(e) => {
                    prop_assert!([400, 413, 431, 501, 505].contains(&e.status()));
                    break;
                }
            }
        }
    }

    #[test]
    fn mutated_requests_never_panic(
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut stream = [GET, POST, CHUNKED].concat();
        let i = at.index(stream.len());
        stream[i] = byte;
        let j = cut.index(stream.len());
        let mut c = ServerCodec::new(WebLimits::default());
        for part in [&stream[..j], &stream[j..]] {
            c.push(part);
            if all(&mut c).is_err() {
                break;
            }
        }
    }

    #[test]
    fn chunked_bodies_survive_any_chunking(
        pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..40), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut wire = b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for p in &pieces {
            wire.extend_from_slice(format!("{:X}\r\n", p.len()).as_bytes());
            wire.extend_from_slice(p);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        let j = cut.index(wire.len() + 1);
        let mut c = ServerCodec::new(WebLimits::default());
        c.push(&wire[..j]);
        let mut got = all(&mut c).unwrap();
        c.push(&wire[j..]);
        got.extend(all(&mut c).unwrap());
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(&got[0].body, &pieces.concat());
    }
}
