//! `web::ServerCodec` (the Web meta's HTTP/1.1 parser) on any input, fed in any cuts, driven
//! as the meta drives it: read only while it wants more, take every request, answer in order.
//!
//! Checks, beyond "no panic": what it holds stays within its limits (`max_head + max_body`
//! while it reads); bodies stay within `max_body` and heads within `max_head` and
//! `max_headers`; at most `max_pipelined` responses are owed; an error sticks and is answered
//! with its status and `Connection: close`; the same input in one read gives the same requests.
//! The input is mostly made of HTTP's own pieces (request lines, header fields, lengths,
//! chunks) so that the fuzzer gets past the request line often.
#![no_main]

use ergors::web::{Flow, ServerCodec, WebLimits, WebResponse};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

const PIECES: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\n",
    b"POST /p?q=1 HTTP/1.1\r\n",
    b"HEAD http://h/x HTTP/1.0\r\n",
    b"OPTIONS * HTTP/1.1\r\n",
    b"PUT /u HTTP/1.2\r\n",
    b"Host: a\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive\r\n",
    b"Expect: 100-continue\r\n",
    b"X: y\r\n",
    b"\r\n",
    b"\n",
    b"5\r\nhello\r\n",
    b"0\r\n\r\n",
    b"3;ext=1\r\nabc\r\n",
    b"ffffffffffffffffff\r\n",
    b"0\r\nTrailer: t\r\n\r\n",
    b"hello",
];

fn input(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while !u.is_empty() && out.len() < 8192 {
        if u.ratio(3, 4)? {
            out.extend_from_slice(u.choose(PIECES)?);
        } else {
            let n = u.int_in_range(0..=8)?;
            out.extend_from_slice(u.bytes(n)?);
        }
    }
    Ok(out)
}

#[derive(Clone, Copy)]
struct Limits {
    head: usize,
    headers: usize,
    body: usize,
    pipelined: usize,
}

impl Limits {
    fn web(self) -> WebLimits {
        WebLimits::default()
            .max_head(self.head)
            .max_headers(self.headers)
            .max_body(self.body)
            .max_pipelined(self.pipelined)
    }
}

/// What a run produced: the requests (method, path, query, header count, body) and whether the
/// input failed.
#[derive(Debug, PartialEq)]
struct Outcome {
    requests: Vec<(String, String, Option<String>, usize, Vec<u8>)>,
    failed: bool,
}

/// Feeds `reads` as the meta does. `answer_late`: requests are answered only when the codec
/// stops wanting input (pipelining fills up), else at once.
fn drive(limits: Limits, reads: &[&[u8]], answer_late: bool) -> Outcome {
    let mut codec = ServerCodec::new(limits.web());
    let head_limit = limits.head.max(16);
    let mut out = Vec::new();
    let mut requests = Vec::new();
    let mut failed = false;
    let mut owed = 0usize;
    let mut reads = reads.iter();
    loop {
        if !codec.wants_more() {
            if failed || owed == 0 {
                // Closing (a request said so, or the input failed): nothing more is read.
                break;
            }
            // Pipelining is full: answer one, as the meta's message half does.
            let flow = codec.encode_response(&WebResponse::new(200).body("ok"), &mut out);
            owed -= 1;
            if flow == Flow::Close {
                break;
            }
            continue;
        }
        let Some(read) = reads.next() else { break };
        codec.push(read);
        loop {
            match codec.next_request() {
                Ok(Some(req)) => {
                    assert!(req.body.len() <= limits.body, "body {} over {}", req.body.len(), limits.body);
                    assert!(req.headers.len() <= limits.headers);
                    requests.push((req.method, req.path, req.query, req.headers.len(), req.body));
                    owed += 1;
                    assert_eq!(codec.owed(), owed);
                    assert!(owed <= limits.pipelined.max(1), "{owed} owed");
                    if !answer_late {
                        codec.encode_response(&WebResponse::new(204), &mut out);
                        owed -= 1;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    // Sticky, and answered with its status and a close.
                    assert_eq!(codec.next_request().err(), Some(err.clone()));
                    assert!(!codec.wants_more());
                    assert_eq!(codec.buffered(), 0, "a failed connection holds nothing");
                    let mut resp = Vec::new();
                    codec.encode_error(&err, &mut resp);
                    let text = String::from_utf8_lossy(&resp);
                    assert!(text.starts_with(&format!("HTTP/1.1 {} ", err.status())));
                    assert!(text.contains("Connection: close\r\n"));
                    failed = true;
                    break;
                }
            }
        }
        let _ = codec.take_continue();
        if codec.wants_more() {
            let held = codec.buffered();
            assert!(held <= head_limit + limits.body, "holds {held} bytes");
        }
    }
    Outcome { requests, failed }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let limits = Limits {
        head: u.int_in_range(0..=600)?,
        headers: u.int_in_range(0..=10)?,
        body: u.int_in_range(0..=300)?,
        pipelined: u.int_in_range(0..=4)?,
    };
    let answer_late = u.arbitrary()?;
    let cut_seed: Vec<u16> = (0..u.int_in_range(0..=64)?).map(|_| u.arbitrary()).collect::<Result<_>>()?;
    let stream = input(u)?;
    let mut reads = Vec::new();
    let mut rest = &stream[..];
    for c in cut_seed {
        let n = usize::from(c) % (rest.len() + 1);
        let (read, tail) = rest.split_at(n);
        reads.push(read);
        rest = tail;
    }
    reads.push(rest);
    let cut = drive(limits, &reads, answer_late);
    if !answer_late {
        // Answered at once, the cuts change nothing: the same requests, and no failure the
        // whole input does not have. (The whole input may fail where the cut one has not yet:
        // an unfinished head is parsed again only once its bytes doubled, D133, so a bad
        // one cut short is refused when more bytes come.)
        let whole = drive(limits, &[&stream], false);
        assert_eq!(cut.requests, whole.requests);
        assert!(!cut.failed || whole.failed, "failed only when cut");
    }
    Ok(())
}
