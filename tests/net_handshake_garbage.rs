//! A thousand malformed handshakes leave a node's memory flat and its acceptor working
//! (RELIABILITY.md R7, R8). Alone in its test binary: it reads the process's RSS, which other
//! tests running beside it would move.

mod support;

use ergors::net::NetworkOptions;
use ergors::{Actor, Atom, Context, ExitReason, From, Message, Node, NodeOptions, ProcessId, SpawnOptions};

/// Answers calls with what it got.
struct Echo;

impl Actor for Echo {
    async fn handle_call(&mut self, _: &mut Context, _: From, req: Message) -> Result<Option<Message>, ExitReason> {
        Ok(Some(req))
    }
}

fn start(name: &str, routes: &[(&str, std::net::SocketAddr)]) -> Node {
    let mut net = NetworkOptions::enabled("secret", "127.0.0.1:0".parse().unwrap()).registrar_port(0);
    for (n, a) in routes {
        net = net.route(*n, *a);
    }
    Node::start(name, NodeOptions::default().workers(2).network(net)).expect("node starts")
}

fn pair(tag: &str) -> (Node, Node, Atom) {
    let a = start(&format!("a-{tag}@localhost"), &[]);
    let addr = a.handle().network_address().expect("a listens");
    let b = start(&format!("b-{tag}@localhost"), &[(&format!("a-{tag}@localhost"), addr)]);
    (a, b, Atom::new(&format!("a-{tag}@localhost")))
}

/// This process's resident memory (bytes), from /proc.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()).unwrap_or(0) * 4096
}

#[test]
fn a_thousand_malformed_handshakes_leave_memory_flat_and_the_acceptor_working() {
    use std::io::{Read, Write};
    let (a, b, a_name) = pair("garbage");
    let addr = a.handle().network_address().expect("a listens");
    let garbage: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\n\r\n",                // not a handshake at all
        &[b'W', 1, 0, 0, 0xff, 0xff, 0x83],       // a frame that claims 64 KiB and stops
        &[b'W', 1, 0, 0, 0, 3, 0x83, 0x00, 0x40], // a registered type name cut short
        &[b'W', 9, 0, 0, 0, 1, 0],                // a wrong version
    ];
    let round = |n: usize| {
        for i in 0..n {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            let _ = s.write_all(garbage[i % garbage.len()]);
            let _ = s.shutdown(std::net::Shutdown::Write);
            // The acceptor closes it (at once, or at the handshake's 1 s deadline).
            s.set_read_timeout(Some(std::time::Duration::from_secs(5))).expect("timeout");
            let _ = s.read(&mut [0u8; 64]);
        }
    };
    round(200); // warm up: allocator arenas, ring buffers, the table
    let before = rss();
    round(1000);
    let grown = rss().saturating_sub(before);
    assert!(grown < 4 << 20, "memory grew by {grown} bytes over 1,000 malformed handshakes");
    // The acceptor still works.
    a.spawn(Echo, SpawnOptions::default()).and_then(|p| a.register_name("echo", p)).expect("echo");
    let reply = b.call(ProcessId { name: "echo".into(), node: a_name }, String::from("still there?"));
    assert!(reply.is_ok(), "{reply:?}");
}
