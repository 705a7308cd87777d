//! The op layer on the rings: TCP and UDP inside processes, multishot and its fallback, small
//! rings (a full SQ, an overflowing CQ), requests cancelled mid-flight, and use off a worker.

mod support;

use ergors::io::net::{TcpListener, TcpStream, UdpSocket, ring_timeout};
use ergors::{Actor, Context, ExitReason, Message, Node, NodeOptions, Pid, SpawnOptions};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::mpsc::{Sender, channel};
use std::task::Poll;
use std::time::Duration;
use support::*;

fn io_node(name: &str, opts: NodeOptions) -> Node {
    let opts = opts.workers(2).pin_workers(false).spin(Duration::from_micros(20));
    Node::start(&format!("{name}@localhost"), opts).expect("node starts")
}

/// Accepts `n` connections and gives each to an `Echo` process.
struct Acceptor {
    listener: TcpListener,
    n: usize,
}

impl Actor for Acceptor {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        for _ in 0..self.n {
            let (stream, _peer) = self.listener.accept().await.map_err(|e| ExitReason::Panic(e.to_string()))?;
            let echo =
                ctx.spawn(Echo(Some(stream)), SpawnOptions::default()).map_err(|e| ExitReason::Panic(e.to_string()))?;
            let _ = ctx.send(echo, ());
        }
        Ok(())
    }
}

struct Echo(Option<TcpStream>);

impl Actor for Echo {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let Some(mut stream) = self.0.take() else { return Ok(()) };
        let mut buf = Vec::new();
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return Err(ExitReason::Normal),
                Ok(_) => {
                    buf = stream.write_all(buf).await.map_err(|_| ExitReason::Normal)?;
                    buf.clear();
                }
            }
        }
    }
}

/// Connects, writes `len` patterned bytes in uneven pieces, reads them back, reports.
struct Client {
    addr: SocketAddr,
    len: usize,
    seed: u8,
    report: Sender<Result<(), String>>,
}

impl Client {
    async fn run(&self) -> std::io::Result<()> {
        let mut stream = TcpStream::connect(self.addr).await?;
        let data: Vec<u8> = (0..self.len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(self.seed)).collect();
        let mut at = 0;
        let mut piece = 1 + self.seed as usize % 700;
        while at < data.len() {
            let end = (at + piece).min(data.len());
            stream.write_all(data[at..end].to_vec()).await?;
            at = end;
            piece = piece * 7 % 3001 + 1;
        }
        let mut got = Vec::new();
        while got.len() < data.len() {
            if stream.read(&mut got).await? == 0 {
                return Err(std::io::Error::other(format!("closed after {} of {} bytes", got.len(), data.len())));
            }
        }
        if got != data {
            return Err(std::io::Error::other("echoed bytes differ"));
        }
        Ok(())
    }
}

impl Actor for Client {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let outcome = self.run().await.map_err(|e| e.to_string());
        let _ = self.report.send(outcome);
        Err(ExitReason::Normal)
    }
}

/// Runs `clients` echo round trips of `len` bytes through one acceptor; all must succeed.
fn echo_round(node: &Node, clients: usize, len: usize) {
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).expect("bind");
    let addr = listener.local_addr();
    let acceptor = node.spawn(Acceptor { listener, n: clients }, SpawnOptions::default()).unwrap();
    node.send(acceptor, ()).unwrap();
    let (tx, rx) = channel();
    for i in 0..clients {
        let c = Client { addr, len, seed: i as u8, report: tx.clone() };
        let pid = node.spawn(c, SpawnOptions::default()).unwrap();
        node.send(pid, ()).unwrap();
    }
    for _ in 0..clients {
        let outcome = rx.recv_timeout(PATIENCE).expect("every client reports");
        assert_eq!(outcome, Ok(()));
    }
}

#[test]
fn tcp_echo_with_many_clients_on_multishot() {
    let node = io_node("io_echo", NodeOptions::default());
    let io = node.info().io;
    assert!(io.multishot_accept && io.multishot_recv, "this kernel (6.x) offers multishot: {io:?}");
    echo_round(&node, 200, 32 * 1024);
    node.stop();
}

#[test]
fn tcp_echo_on_the_fallback_without_multishot() {
    let node = io_node("io_fallback", NodeOptions::default().io_multishot(false));
    let io = node.info().io;
    assert!(!io.multishot_accept && !io.multishot_recv && io.recv_buffers == 0, "{io:?}");
    echo_round(&node, 100, 32 * 1024);
    node.stop();
}

#[test]
fn tcp_echo_on_tiny_rings_overflows_nothing() {
    // Two SQ entries and four CQ entries: submissions wait in the backlog, completions overflow
    // into the kernel's list; none is lost.
    let node = io_node("io_tiny", NodeOptions::default().ring_entries(2));
    echo_round(&node, 100, 16 * 1024);
    node.stop();
}

/// Polls every future until all are done (a join of many).
async fn join_all<F: Future<Output = std::io::Result<()>>>(futs: Vec<F>) -> Vec<std::io::Result<()>> {
    let mut futs: Vec<Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<std::io::Result<()>>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(r) => *o = Some(r),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|o| o.expect("done")).collect()
}

struct ManyTimeouts(Sender<usize>);

impl Actor for ManyTimeouts {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        let n = msg.downcast::<usize>().unwrap_or(0);
        let futs = (0..n).map(|i| ring_timeout(Duration::from_millis(1 + (i % 5) as u64))).collect();
        let ok = join_all(futs).await.into_iter().filter(|r| r.is_ok()).count();
        let _ = self.0.send(ok);
        Ok(())
    }
}

#[test]
fn five_hundred_requests_through_a_two_entry_ring() {
    let node = io_node("io_many", NodeOptions::default().ring_entries(2));
    let (tx, rx) = channel();
    let p = node.spawn(ManyTimeouts(tx), SpawnOptions::default()).unwrap();
    node.send(p, 500usize).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), 500, "every completion arrives");
    assert!(eventually(|| node.info().io_in_flight == 0));
    node.stop();
}

struct Canceller(Sender<u8>);

impl Actor for Canceller {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let won = first_of(ring_timeout(Duration::from_secs(3600)), ctx.sleep(Duration::from_millis(10))).await;
        let _ = self.0.send(won);
        Ok(())
    }
}

/// Waits forever for bytes that never come.
struct SilentReader(Option<TcpStream>, Sender<()>);

impl Actor for SilentReader {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(addr) = msg.downcast::<SocketAddr>() {
            self.0 = Some(TcpStream::connect(addr).await.map_err(|_| ExitReason::Normal)?);
            let _ = self.1.send(());
            let mut buf = Vec::new();
            let _ = self.0.as_mut().expect("connected").read(&mut buf).await;
        }
        Ok(())
    }
}

#[test]
fn requests_dropped_mid_flight_are_cancelled() {
    let node = io_node("io_cancel", NodeOptions::default());
    let (tx, rx) = channel();
    let p = node.spawn(Canceller(tx), SpawnOptions::default()).unwrap();
    for _ in 0..3 {
        node.send(p, ()).unwrap();
        assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), 2, "the sleep wins");
    }
    assert!(eventually(|| node.info().io_in_flight == 0), "the hour-long timeouts were cancelled");

    // A reader killed while its receive waits: the receive is cancelled with it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = channel();
    let reader = node.spawn(SilentReader(None, tx), SpawnOptions::default()).unwrap();
    node.send(reader, addr).unwrap();
    rx.recv_timeout(PATIENCE).unwrap();
    let (_peer, _) = listener.accept().unwrap();
    assert!(eventually(|| node.info().io_in_flight == 1), "the receive is armed");
    node.kill(reader).unwrap();
    assert!(eventually(|| node.info().io_in_flight == 0), "and cancelled when its process ends");
    node.stop();
}

struct UdpEcho(UdpSocket, usize);

impl Actor for UdpEcho {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let mut buf = Vec::new();
        for _ in 0..self.1 {
            let (got, peer) = self.0.recv_from(std::mem::take(&mut buf)).await.map_err(|_| ExitReason::Normal)?;
            buf = self.0.send_to(got, peer).await.map_err(|_| ExitReason::Normal)?;
            buf.clear();
        }
        Ok(())
    }
}

struct UdpClient(SocketAddr, Sender<Vec<Vec<u8>>>);

impl Actor for UdpClient {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        let n = msg.downcast::<usize>().unwrap_or(0);
        let sock = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).map_err(|_| ExitReason::Normal)?;
        let mut echoed = Vec::new();
        for i in 0..n {
            let dgram = format!("datagram {i}").into_bytes();
            sock.send_to(dgram, self.0).await.map_err(|_| ExitReason::Normal)?;
            let (got, from) = sock.recv_from(vec![0; 2048]).await.map_err(|_| ExitReason::Normal)?;
            assert_eq!(from, self.0, "the echo comes from the server");
            echoed.push(got);
        }
        let _ = self.1.send(echoed);
        Ok(())
    }
}

#[test]
fn udp_echo_keeps_datagram_boundaries_and_peers() {
    let node = io_node("io_udp", NodeOptions::default());
    let server = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr();
    let s = node.spawn(UdpEcho(server, 50), SpawnOptions::default()).unwrap();
    node.send(s, ()).unwrap();
    let (tx, rx) = channel();
    let c = node.spawn(UdpClient(addr, tx), SpawnOptions::default()).unwrap();
    node.send(c, 50usize).unwrap();
    let echoed = rx.recv_timeout(PATIENCE).unwrap();
    let expected: Vec<Vec<u8>> = (0..50).map(|i| format!("datagram {i}").into_bytes()).collect();
    assert_eq!(echoed, expected);
    node.stop();
}

#[test]
fn ring_io_off_a_worker_is_an_error_not_a_hang() {
    let _node = io_node("io_off", NodeOptions::default());
    let mut fut = Box::pin(TcpStream::connect("127.0.0.1:9".parse().unwrap()));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Err(e)) => assert!(e.to_string().contains("worker"), "{e}"),
        Poll::Ready(Ok(_)) => panic!("connected off a worker"),
        Poll::Pending => panic!("pending off a worker: it would never be woken"),
    }
}

/// Busy-loops on a message (pinned where it is spawned) until released, or for 300 ms without
/// a release flag; says when it starts and ends.
struct Hog(Sender<&'static str>, Option<std::sync::Arc<std::sync::atomic::AtomicBool>>);

impl Actor for Hog {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let _ = self.0.send("hog busy");
        let started = std::time::Instant::now();
        let released = || match &self.1 {
            Some(flag) => flag.load(std::sync::atomic::Ordering::Acquire) || started.elapsed() > PATIENCE,
            None => started.elapsed() > Duration::from_millis(300),
        };
        while !released() {
            std::hint::spin_loop();
        }
        let _ = self.0.send("hog done");
        Ok(())
    }
}

/// A meta whose loop receives datagrams (a request on its ring, armed once and left waiting
/// while the message half runs); reports its Pid, each message and each datagram.
struct DatagramMeta(Option<UdpSocket>, Sender<&'static str>, Sender<Pid>);

impl ergors::meta::Meta for DatagramMeta {
    fn start(
        &mut self,
        ctx: ergors::meta::MetaContext,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let (sock, report, pid) = (self.0.take(), self.1.clone(), self.2.clone());
        async move {
            let sock = sock.ok_or(ExitReason::Normal)?;
            let _ = pid.send(ctx.pid());
            loop {
                sock.recv_from(vec![0; 64]).await.map_err(|_| ExitReason::Normal)?;
                let _ = report.send("datagram");
            }
        }
    }

    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let _ = self.1.send("message");
        Ok(())
    }
}

/// Starts a `DatagramMeta` near `near` and reports its alias.
struct MetaParent(Option<DatagramMeta>, Pid, Sender<ergors::Alias>);

impl Actor for MetaParent {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let meta = self.0.take().ok_or(ExitReason::Normal)?;
        let opts = ergors::meta::MetaOptions::default().near(self.1);
        let alias = ctx.spawn_meta(meta, opts).await.map_err(ExitReason::error)?;
        let _ = self.2.send(alias);
        Ok(())
    }
}

#[test]
fn a_process_taken_by_another_worker_comes_back_with_its_next_completion() {
    let node = io_node("io_adopt", NodeOptions::default());
    let (tx, rx) = channel();
    let release = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hog = node.spawn(Hog(tx.clone(), Some(release.clone())), SpawnOptions::default().worker(0)).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = sock.local_addr();
    let (pid_tx, pid_rx) = channel();
    let (alias_tx, alias_rx) = channel();
    let meta = DatagramMeta(Some(sock), tx, pid_tx);
    node.spawn(MetaParent(Some(meta), hog, alias_tx), SpawnOptions::default().near(hog)).unwrap();
    let alias = alias_rx.recv_timeout(PATIENCE).unwrap();
    let meta = pid_rx.recv_timeout(PATIENCE).unwrap();
    assert!(eventually(|| node.info().io_in_flight >= 1), "the receive is armed on worker 0's ring");
    assert_eq!(node.process_info(meta).unwrap().worker, 0);
    // Worker 0 is stuck in the hog: worker 1 takes the meta, woken by a message, and runs it.
    node.send(hog, ()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "hog busy");
    node.send(alias, ()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "message");
    assert_eq!(node.process_info(meta).unwrap().worker, 1, "taken by the idle worker");
    release.store(true, std::sync::atomic::Ordering::Release);
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "hog done");
    // Its receive still waits on worker 0's ring: the completion brings it back there (D225),
    // instead of waking worker 1 for it from then on.
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().send_to(b"hi", addr).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "datagram");
    assert_eq!(node.process_info(meta).unwrap().worker, 0, "back on the ring's worker");
    assert!(node.info().adoptions >= 1);
    node.stop();
}

#[test]
fn a_process_bound_to_its_ring_is_not_taken_by_an_idle_worker_while_its_own_is_busy() {
    // The idle worker spins (and looks for work to take) the whole time; no stall is declared.
    let opts = NodeOptions::default()
        .spin(Duration::from_secs(1))
        .io_spin(Duration::from_secs(1))
        .stall(Duration::from_secs(30));
    let node = Node::start("io_bound@localhost", opts.workers(2).pin_workers(false)).expect("node starts");
    let (tx, rx) = channel();
    let hog = node.spawn(Hog(tx.clone(), None), SpawnOptions::default().worker(0)).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = sock.local_addr();
    let (pid_tx, pid_rx) = channel();
    let (alias_tx, alias_rx) = channel();
    let meta = DatagramMeta(Some(sock), tx, pid_tx);
    node.spawn(MetaParent(Some(meta), hog, alias_tx), SpawnOptions::default().near(hog)).unwrap();
    let alias = alias_rx.recv_timeout(PATIENCE).unwrap();
    let meta = pid_rx.recv_timeout(PATIENCE).unwrap();
    assert!(eventually(|| node.info().io_in_flight >= 1), "the receive is armed on worker 0's ring");
    // A datagram binds the meta to worker 0's ring (D227).
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().send_to(b"hi", addr).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "datagram");
    // Worker 0 is busy (not stalled); a message queues the meta there, and worker 1 leaves it.
    node.send(hog, ()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "hog busy");
    node.send(alias, ()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "hog done", "the meta waited for its worker");
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "message");
    assert_eq!(node.process_info(meta).unwrap().worker, 0);
    node.stop();
}
