//! Step 5, item 8: web workers (Ergo's `act.WebWorker`) called with `WebRequest`s, as the Web
//! meta will call them; and, with no socket, the whole path the meta takes: bytes into the
//! codec, routing, a call to the handler, `response_for`, bytes out.
//!
//! Ports Ergo's `t015_web_test.go`: a worker answering GET with 202, POST unhandled (Ergo: 501,
//! here 405: D137), the handler process killed → 502 (its send fails in Ergo; here the call
//! finds no process). Added: unknown method → 405, a panicking or failing handler → 500, a
//! handler too slow → 504, a pool of web workers, and non-web messages and calls reaching the
//! behaviour.

mod support;

use ergors::pool::{self, PoolSpec};
use ergors::web::{Router, ServerCodec, WebLimits, WebRequest, WebResponse, response_for};
use ergors::{Context, Error, ExitReason, From, Message, Pid, Pool, SpawnOptions, WebWorker, WebWorkerBehavior};
use std::collections::HashSet;
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;
use support::{PATIENCE, eventually, node};

/// Ergo's `t15worker` and more: GET answers 202 with the path, POST is left unhandled, PUT
/// echoes the body, `/panic` panics, `/fail` ends the process, `/slow` takes a second.
struct Site {
    seen: Sender<String>,
}

impl WebWorkerBehavior for Site {
    async fn handle_get(&mut self, ctx: &mut Context, _from: Pid, req: WebRequest) -> Result<WebResponse, ExitReason> {
        let _ = self.seen.send(format!("GET {}", req.path));
        match req.path.as_str() {
            "/panic" => panic!("handler bug"),
            "/fail" => Err(ExitReason::error("gave up")),
            "/slow" => {
                ctx.sleep(Duration::from_secs(1)).await;
                Ok(WebResponse::new(200))
            }
            _ => Ok(WebResponse::new(202).header("X-Worker", ctx.pid().to_string()).body(req.path)),
        }
    }

    async fn handle_put(&mut self, _ctx: &mut Context, _from: Pid, req: WebRequest) -> Result<WebResponse, ExitReason> {
        Ok(WebResponse::new(200).body(req.body))
    }

    async fn handle_message(&mut self, _ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(text) = msg.downcast::<&'static str>() {
            let _ = self.seen.send(format!("message {text} from {from}"));
        }
        Ok(())
    }

    async fn handle_call(
        &mut self,
        _ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        Ok(req.downcast::<u32>().ok().map(|n| Message::new(n + 1)))
    }

    async fn terminate(&mut self, _ctx: &mut Context, reason: &ExitReason) {
        let _ = self.seen.send(format!("terminate {reason}"));
    }
}

fn status(outcome: Result<Message, Error>) -> u16 {
    response_for(outcome).status
}

#[test]
fn methods_reach_their_callbacks() {
    let node = node("web-methods", 2);
    let (tx, seen) = channel();
    let pid = node.spawn(WebWorker::new(Site { seen: tx }), SpawnOptions::default()).unwrap();

    let get = response_for(node.call(pid, WebRequest::new("GET", "/test?x=1")));
    assert_eq!((get.status, get.body.as_slice()), (202, &b"/test"[..]));
    assert_eq!(seen.recv_timeout(PATIENCE).unwrap(), "GET /test");
    let put = response_for(node.call(pid, WebRequest::new("PUT", "/p").with_body("data")));
    assert_eq!((put.status, put.body.as_slice()), (200, &b"data"[..]));
    // Not implemented by the behaviour, and not a method a worker knows: 405 both.
    assert_eq!(status(node.call(pid, WebRequest::new("POST", "/test").with_body(vec![1, 2, 3]))), 405);
    assert_eq!(status(node.call(pid, WebRequest::new("DELETE", "/test"))), 405);
    assert_eq!(status(node.call(pid, WebRequest::new("BREW", "/pot"))), 405);

    // Everything else reaches the behaviour's ordinary callbacks.
    assert_eq!(node.call(pid, 41u32).unwrap().downcast::<u32>().ok(), Some(42));
    node.send(pid, "hello").unwrap();
    assert!(seen.recv_timeout(PATIENCE).unwrap().starts_with("message hello from "));
    assert!(node.is_alive(pid));
    node.stop();
}

#[test]
fn a_dead_or_failing_handler_is_a_5xx_never_a_hang() {
    let node = node("web-fail", 2);
    let (tx, seen) = channel();
    let pid = node.spawn(WebWorker::new(Site { seen: tx.clone() }), SpawnOptions::default()).unwrap();
    // A panic ends only the handler; its caller gets a 500.
    assert_eq!(status(node.call(pid, WebRequest::new("GET", "/panic"))), 500);
    assert_eq!(seen.recv_timeout(PATIENCE).unwrap(), "GET /panic");
    assert!(seen.recv_timeout(PATIENCE).unwrap().starts_with("terminate "));
    // The call fails as soon as the handler is dying; it is gone a moment later.
    assert!(eventually(|| !node.is_alive(pid)));
    // Ergo's last case: the handler is gone, nothing to ask: 502.
    assert_eq!(status(node.call(pid, WebRequest::new("GET", "/test"))), 502);

    // A callback returning an error ends the process; the caller gets a 500 too.
    let pid = node.spawn(WebWorker::new(Site { seen: tx.clone() }), SpawnOptions::default()).unwrap();
    assert_eq!(status(node.call(pid, WebRequest::new("GET", "/fail"))), 500);
    assert!(eventually(|| !node.is_alive(pid)));

    // Too slow for the caller's patience: 504, and the handler lives on.
    let pid = node.spawn(WebWorker::new(Site { seen: tx }), SpawnOptions::default()).unwrap();
    let slow = node.call_timeout(pid, WebRequest::new("GET", "/slow"), Duration::from_millis(50));
    assert_eq!(status(slow), 504);
    assert!(node.is_alive(pid));
    node.stop();
}

#[test]
fn a_pool_of_web_workers() {
    let node = node("web-pool", 2);
    let (tx, _seen) = channel();
    let spec = PoolSpec::new(move || WebWorker::new(Site { seen: tx.clone() })).size(3);
    let pool = node.spawn_wait(Pool::new(spec), SpawnOptions::default()).unwrap();
    let workers: HashSet<String> = pool::workers(&node, pool).unwrap().iter().map(|p| p.to_string()).collect();
    // Each request goes to one of the workers, round-robin, and every worker serves.
    let mut served = HashSet::new();
    for i in 0..6 {
        let resp = response_for(node.call(pool, WebRequest::new("GET", &format!("/item/{i}"))));
        assert_eq!(resp.status, 202);
        assert_eq!(resp.body, format!("/item/{i}").into_bytes());
        served.insert(resp.header_value("X-Worker").unwrap().to_owned());
    }
    assert_eq!(served, workers);
    // A worker's panic costs that request a 500; the pool replaces the worker and serves on.
    assert_eq!(status(node.call(pool, WebRequest::new("GET", "/panic"))), 500);
    assert!(eventually(|| pool::info(&node, pool).unwrap().restarts == 1));
    assert_eq!(status(node.call(pool, WebRequest::new("GET", "/after"))), 202);
    node.stop();
}

/// What the Web meta will do, in a process and without a socket: bytes in, each request routed
/// and called, `response_for`, bytes out, in order.
struct Front {
    router: Router,
    codec: ServerCodec,
}

struct Bytes(Vec<u8>);

impl ergors::Actor for Front {
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        let Ok(Bytes(input)) = req.downcast::<Bytes>() else {
            return Ok(None);
        };
        self.codec.push(&input);
        let mut out = Vec::new();
        loop {
            match self.codec.next_request() {
                Ok(Some(request)) => {
                    let response = match self.router.dispatch(&request) {
                        Ok(to) => {
                            let to = to.clone();
                            response_for(ctx.call_timeout(to, request, Duration::from_millis(500)).await)
                        }
                        Err(not_found) => not_found,
                    };
                    self.codec.encode_response(&response, &mut out);
                }
                Ok(None) => break,
                Err(err) => {
                    self.codec.encode_error(&err, &mut out);
                    break;
                }
            }
        }
        Ok(Some(Message::new(Bytes(out))))
    }
}

#[test]
fn bytes_to_bytes_through_a_router_and_handlers() {
    let node = node("web-front", 2);
    let (tx, _seen) = channel();
    node.spawn_register("webworker", WebWorker::new(Site { seen: tx }), SpawnOptions::default()).unwrap();
    let mut router = Router::new();
    router.handle("/test", "webworker").unwrap();
    router.handle("/panic", "webworker").unwrap();
    router.handle("/gone", "nobody").unwrap();
    let front = Front { router, codec: ServerCodec::new(WebLimits::default()) };
    let pid = node.spawn(front, SpawnOptions::default()).unwrap();
    let exchange = |input: &[u8]| -> String {
        let out = node.call(pid, Bytes(input.to_vec())).unwrap().downcast::<Bytes>().ok().unwrap().0;
        String::from_utf8(out).unwrap()
    };
    let status_lines = |text: &str| -> Vec<String> {
        // Bodies are not CRLF-terminated, so look for status lines anywhere.
        text.match_indices("HTTP/1.1 ")
            .map(|(at, _)| text[at..].split("\r\n").next().unwrap_or("").to_owned())
            .collect()
    };
    // Pipelined: a routed GET, an unhandled POST, an unrouted path, a handler with no process,
    // a handler that panics; answered in order.
    let out = exchange(
        b"GET /test HTTP/1.1\r\nHost: h\r\n\r\nPOST /test HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n\x01\x02\x03\
GET /missing HTTP/1.1\r\nHost: h\r\n\r\nGET /gone HTTP/1.1\r\nHost: h\r\n\r\nGET /panic HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert_eq!(
        status_lines(&out),
        [
            "HTTP/1.1 202 Accepted",
            "HTTP/1.1 405 Method Not Allowed",
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 502 Bad Gateway",
            "HTTP/1.1 500 Internal Server Error"
        ]
    );
    // Bad input: a 400 and the connection's end, but the front (and the node) go on.
    let out = exchange(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert!(out.contains("Connection: close\r\n"));
    assert!(node.is_alive(pid));
    node.stop();
}
