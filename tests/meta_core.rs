//! Meta processes: spawn, messages and calls through the alias, inspection, the loop's sends, how
//! a meta ends (its parent's end, its loop's end, panics, exit signals, kill) and what its
//! watchers see, blocking loops that ignore their end. Ergo's t013_meta_process cases in our
//! words, plus the ends Ergo does not test.

mod support;

use ergors::meta::{Meta, MetaContext, MetaOptions, MetaState};
use ergors::{
    Actor, Alias, Context, Error, ExitReason, From, Message, MessageDown, MessageExit, Node, NodeOptions, Pid,
    SpawnOptions, Target,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use support::{Capture, PATIENCE, eventually};

/// Every log record of this binary (one global subscriber).
fn logs() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        capture
    })
}

#[derive(Debug)]
enum Ev {
    Msg(Pid, String),
    Tick(Pid),
    Terminate(ExitReason),
    Exit(MessageExit),
    Down(MessageDown),
}

/// What the test meta's loop does.
#[derive(Clone)]
enum Run {
    /// Waits forever (the meta lives by its messages).
    Park,
    /// Sends its parent a `Tick` every few ms.
    Tick,
    /// Returns at once with this outcome.
    Return(Result<(), ExitReason>),
    /// Returns the outcome the test sends, once it sends it (read on a blocking thread).
    ReturnWhenTold(Arc<Mutex<Receiver<Result<(), ExitReason>>>>),
    Panic,
    /// A blocking job that never looks at `is_terminating`; it stops when the flag is set.
    BlockingDeaf(Arc<AtomicBool>),
    /// A blocking job that stops once the meta is ending.
    BlockingPolite,
}

struct Tick;

struct TestMeta {
    run: Run,
    events: Sender<Ev>,
    fail_init: bool,
    trap_exit: bool,
}

fn meta(run: Run, events: &Sender<Ev>) -> TestMeta {
    TestMeta { run, events: events.clone(), fail_init: false, trap_exit: false }
}

impl Meta for TestMeta {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_trap_exit(self.trap_exit);
        if self.fail_init { Err(ExitReason::error("init refused")) } else { Ok(()) }
    }

    fn start(&mut self, ctx: MetaContext) -> impl Future<Output = Result<(), ExitReason>> + Send + 'static {
        let run = self.run.clone();
        async move {
            match run {
                Run::Park => std::future::pending().await,
                Run::Tick => loop {
                    ctx.sleep(Duration::from_millis(3)).await;
                    if ctx.send(ctx.parent(), Tick).is_err() {
                        return Ok(());
                    }
                },
                Run::Return(outcome) => outcome,
                Run::ReturnWhenTold(told) => {
                    let job = ctx.spawn_blocking(move || told.lock().unwrap().recv_timeout(PATIENCE));
                    job.await.map_err(ExitReason::error)?.map_err(ExitReason::error)?
                }
                Run::Panic => panic!("loop broke"),
                Run::BlockingDeaf(release) => {
                    let job = ctx.spawn_blocking(move || {
                        while !release.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    });
                    job.await.map_err(ExitReason::error)
                }
                Run::BlockingPolite => {
                    let watch = ctx.clone();
                    let job = ctx.spawn_blocking(move || {
                        while !watch.is_terminating() {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    });
                    job.await.map_err(ExitReason::error)
                }
            }
        }
    }

    async fn handle_message(&mut self, _ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(reason) = msg.downcast_ref::<ExitReason>() {
            return Err(reason.clone());
        }
        match msg.downcast::<&'static str>() {
            Ok("panic") => panic!("handler broke"),
            Ok(text) => {
                let _ = self.events.send(Ev::Msg(from, text.to_string()));
            }
            Err(other) => {
                let _ = self.events.send(Ev::Msg(from, format!("{other:?}")));
            }
        }
        Ok(())
    }

    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        if req.is::<bool>() {
            // A child meta, spawned from the meta's own callback.
            let child = ctx.spawn_meta(meta(Run::Park, &self.events), MetaOptions::default()).await;
            return Ok(Some(Message::new(child)));
        }
        Ok(Some(req))
    }

    async fn terminate(&mut self, _ctx: &mut Context, reason: &ExitReason) {
        let _ = self.events.send(Ev::Terminate(reason.clone()));
    }

    fn handle_inspect(&mut self, _ctx: &mut Context, from: Pid, items: &[String]) -> Vec<(String, String)> {
        let mut out = vec![(from.to_string(), "ok".to_string())];
        out.extend(items.iter().map(|i| (i.clone(), "asked".to_string())));
        out
    }
}

/// The parent: spawns the metas it is given (a call), reports ticks, ends on an `ExitReason`.
struct Host {
    events: Sender<Ev>,
}

impl Actor for Host {
    async fn handle_message(&mut self, _ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(reason) = msg.downcast_ref::<ExitReason>() {
            return Err(reason.clone());
        }
        if msg.is::<Tick>() {
            let _ = self.events.send(Ev::Tick(from));
        }
        Ok(())
    }

    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        if let Ok(m) = req.downcast::<TestMeta>() {
            return Ok(Some(Message::new(ctx.spawn_meta(m, MetaOptions::default()).await)));
        }
        Ok(None)
    }
}

/// Links to or monitors what it is asked to (trapping exits) and reports what it sees.
struct Watcher {
    events: Sender<Ev>,
}

enum Watch {
    Link(Alias),
    Monitor(Alias),
}

impl Actor for Watcher {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_trap_exit(true);
        Ok(())
    }
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        let msg = match msg.downcast::<MessageExit>() {
            Ok(exit) => {
                let _ = self.events.send(Ev::Exit(exit));
                return Ok(());
            }
            Err(msg) => msg,
        };
        if let Ok(down) = msg.downcast::<MessageDown>() {
            let _ = self.events.send(Ev::Down(down));
        }
        Ok(())
    }
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        let done = match req.downcast::<Watch>() {
            Ok(Watch::Link(a)) => ctx.link(a),
            Ok(Watch::Monitor(a)) => ctx.monitor(a),
            Err(_) => Err(Error::NotAllowed("?")),
        };
        Ok(Some(Message::new(done)))
    }
}

fn node(name: &str) -> Node {
    logs();
    support::node(name, 2)
}

fn host(node: &Node) -> (Pid, Receiver<Ev>, Sender<Ev>) {
    let (tx, rx) = channel();
    let pid = node.spawn(Host { events: tx.clone() }, SpawnOptions::default()).unwrap();
    (pid, rx, tx)
}

fn spawn_in(node: &Node, host: Pid, m: TestMeta) -> Result<Alias, Error> {
    node.call(host, m).unwrap().downcast::<Result<Alias, Error>>().unwrap()
}

fn watcher(node: &Node) -> (Pid, Receiver<Ev>) {
    let (tx, rx) = channel();
    (node.spawn(Watcher { events: tx }, SpawnOptions::default()).unwrap(), rx)
}

fn watch(node: &Node, w: Pid, how: Watch) {
    let done = node.call(w, how).unwrap().downcast::<Result<(), Error>>().unwrap();
    assert_eq!(done, Ok(()));
}

/// The next event that is not a tick.
fn next(rx: &Receiver<Ev>) -> Ev {
    loop {
        match rx.recv_timeout(PATIENCE).expect("an event arrives") {
            Ev::Tick(_) => continue,
            ev => return ev,
        }
    }
}

fn terminated(rx: &Receiver<Ev>) -> ExitReason {
    match next(rx) {
        Ev::Terminate(r) => r,
        other => panic!("expected terminate, got {other:?}"),
    }
}

#[test]
fn call_send_inspect_child_and_exit_signal_through_the_alias() {
    let node = node("metabasic");
    let (host, rx, tx) = host(&node);
    let alias = spawn_in(&node, host, meta(Run::Park, &tx)).unwrap();

    // A call to the alias: handle_call replies.
    assert_eq!(node.call(alias, "ping-pong").unwrap().downcast::<&str>().ok(), Some("ping-pong"));
    // A message to the alias: handle_message gets it.
    node.send(alias, "hello").unwrap();
    assert!(matches!(next(&rx), Ev::Msg(_, t) if t == "hello"));
    // Inspection (Ergo's InspectMeta): the asker and the items.
    let items = node.inspect_meta(alias, &["conn"]).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1], ("conn".to_string(), "asked".to_string()));

    // The parent lists it; its info names its parent and behaviour.
    assert_eq!(node.process_info(host).unwrap().metas, vec![alias]);
    let info = node.meta_info(alias).unwrap();
    assert_eq!((info.id, info.parent), (alias, host));
    assert!(info.behaviour.ends_with("TestMeta"), "{}", info.behaviour);
    assert_ne!(info.state, MetaState::Terminated);
    assert!(node.is_alive(info.pid) && node.processes().contains(&info.pid));

    // A child meta spawned by the meta itself: the meta is its parent.
    let child = node.call(alias, true).unwrap().downcast::<Result<Alias, Error>>().unwrap().unwrap();
    assert_eq!(node.meta_info(child).unwrap().parent, info.pid);
    assert_eq!(node.process_info(info.pid).unwrap().metas, vec![child]);

    // An exit signal to the alias ends it with that reason; its child ends with it.
    let reason = ExitReason::error("test meta exit");
    node.send_exit_meta(alias, reason.clone()).unwrap();
    let mut ends = vec![terminated(&rx).bare().clone(), terminated(&rx).bare().clone()];
    ends.sort_by_key(|r| r.to_string());
    assert_eq!(ends, vec![reason.clone(), reason]);
    assert!(eventually(|| node.process_info(host).unwrap().metas.is_empty()));
    // `terminate` runs before the meta is released: wait for that.
    assert!(eventually(|| node.meta_info(child).err() == Some(Error::MetaUnknown)));
    assert!(eventually(|| node.send(alias, "late").err() == Some(Error::ProcessUnknown)));
    assert_eq!(node.meta_info(alias).err(), Some(Error::MetaUnknown));
    assert_eq!(node.send_exit_meta(alias, ExitReason::Normal).err(), Some(Error::MetaUnknown));
    node.stop();
}

#[test]
fn the_loop_sends_to_its_parent_while_the_meta_handles_messages() {
    let node = node("metatick");
    let (host, rx, tx) = host(&node);
    let alias = spawn_in(&node, host, meta(Run::Tick, &tx)).unwrap();
    let pid = node.meta_info(alias).unwrap().pid;
    // The node's own Pid, the sender of `node.send`.
    let core = node.process_info(host).unwrap().parent;
    let (mut ticks, mut message) = (0, false);
    while ticks < 5 || !message {
        match rx.recv_timeout(PATIENCE).unwrap() {
            Ev::Tick(from) => {
                // The loop's sends carry the meta's own Pid (D122).
                assert_eq!(from, pid);
                ticks += 1;
                if ticks == 2 {
                    node.send(alias, "between ticks").unwrap();
                }
            }
            // The message half runs while the loop ticks on.
            Ev::Msg(from, text) => {
                assert_eq!((from, text.as_str()), (core, "between ticks"));
                message = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(eventually(|| node.meta_info(alias).unwrap().messages_out >= 5));
    node.stop();
}

#[test]
fn a_meta_ends_with_its_parent_and_its_reason_even_trapping_exits() {
    let node = node("metaparent");
    let (host, rx, tx) = host(&node);
    let (w, wrx) = watcher(&node);
    let mut trapping = meta(Run::Tick, &tx);
    trapping.trap_exit = true;
    let alias = spawn_in(&node, host, trapping).unwrap();
    watch(&node, w, Watch::Monitor(alias));

    let reason = ExitReason::error("blabla");
    node.send(host, reason.clone()).unwrap();
    let ended = terminated(&rx);
    assert_eq!(ended.bare(), &reason);
    match next(&wrx) {
        Ev::Down(down) => assert_eq!((down.target, down.reason), (Target::Alias(alias), reason)),
        other => panic!("{other:?}"),
    }
    assert!(!node.is_alive(host));
    node.stop();
    // Terminated once.
    assert!(rx.try_iter().all(|e| matches!(e, Ev::Tick(_))));
}

#[test]
fn the_loop_returning_ends_the_meta_with_its_outcome() {
    let node = node("metareturn");
    let (host, rx, tx) = host(&node);
    let (w, wrx) = watcher(&node);
    for (outcome, expected) in
        [(Ok(()), ExitReason::Normal), (Err(ExitReason::error("loop gave up")), ExitReason::error("loop gave up"))]
    {
        let alias = spawn_in(&node, host, meta(Run::Return(outcome), &tx)).unwrap();
        assert_eq!(terminated(&rx), expected);
        assert!(eventually(|| node.meta_info(alias).is_err()));
        // The parent lives on.
        assert!(node.is_alive(host));
    }
    // A handler's error ends it too, and its watchers (a link and a monitor on the alias) see
    // the reason.
    let alias = spawn_in(&node, host, meta(Run::Park, &tx)).unwrap();
    watch(&node, w, Watch::Link(alias));
    watch(&node, w, Watch::Monitor(alias));
    node.send(alias, ExitReason::error("handler said stop")).unwrap();
    assert_eq!(terminated(&rx), ExitReason::error("handler said stop"));
    let mut seen = (None, None);
    for _ in 0..2 {
        match next(&wrx) {
            Ev::Exit(e) => seen.0 = Some(e),
            Ev::Down(d) => seen.1 = Some(d),
            other => panic!("{other:?}"),
        }
    }
    let (exit, down) = (seen.0.unwrap(), seen.1.unwrap());
    assert_eq!((exit.target, exit.reason), (Target::Alias(alias), ExitReason::error("handler said stop")));
    assert_eq!((down.target, down.reason), (Target::Alias(alias), ExitReason::error("handler said stop")));
    node.stop();
}

#[test]
fn watchers_of_the_alias_see_the_loops_outcome() {
    let node = node("metaloopwatch");
    let (host, rx, tx) = host(&node);
    for outcome in [Ok(()), Err(ExitReason::error("loop failed"))] {
        let (tell, told) = channel();
        let alias = spawn_in(&node, host, meta(Run::ReturnWhenTold(Arc::new(Mutex::new(told))), &tx)).unwrap();
        let (w, wrx) = watcher(&node);
        watch(&node, w, Watch::Link(alias));
        watch(&node, w, Watch::Monitor(alias));
        let expected = outcome.clone().err().unwrap_or(ExitReason::Normal);
        tell.send(outcome).unwrap();
        assert_eq!(terminated(&rx), expected);
        for _ in 0..2 {
            match next(&wrx) {
                Ev::Exit(e) => assert_eq!((e.target, e.reason), (Target::Alias(alias), expected.clone())),
                Ev::Down(d) => assert_eq!((d.target, d.reason), (Target::Alias(alias), expected.clone())),
                other => panic!("{other:?}"),
            }
        }
        assert!(node.is_alive(host));
    }
    node.stop();
}

#[test]
fn panics_in_the_loop_and_in_a_handler_end_only_the_meta() {
    let node = node("metapanic");
    let (host, rx, tx) = host(&node);
    spawn_in(&node, host, meta(Run::Panic, &tx)).unwrap();
    assert!(matches!(terminated(&rx), ExitReason::Panic(t) if t.contains("loop broke")));

    let alias = spawn_in(&node, host, meta(Run::Park, &tx)).unwrap();
    let (w, wrx) = watcher(&node);
    watch(&node, w, Watch::Monitor(alias));
    node.send(alias, "panic").unwrap();
    assert!(matches!(terminated(&rx), ExitReason::Panic(t) if t.contains("handler broke")));
    assert!(matches!(next(&wrx), Ev::Down(d) if matches!(d.reason, ExitReason::Panic(_))));
    assert!(node.is_alive(host));
    node.stop();
}

#[test]
fn kill_and_node_stop_end_a_meta_with_terminate_once() {
    let node = node("metakill");
    let (host, rx, tx) = host(&node);
    let (w, wrx) = watcher(&node);
    let alias = spawn_in(&node, host, meta(Run::Tick, &tx)).unwrap();
    watch(&node, w, Watch::Link(alias));
    node.kill(node.meta_info(alias).unwrap().pid).unwrap();
    assert_eq!(terminated(&rx), ExitReason::Kill);
    assert!(matches!(next(&wrx), Ev::Exit(e) if e.reason == ExitReason::Kill && e.target == Target::Alias(alias)));

    spawn_in(&node, host, meta(Run::Park, &tx)).unwrap();
    node.stop();
    assert_eq!(terminated(&rx), ExitReason::Shutdown);
    // Exactly once each.
    assert!(rx.try_iter().all(|e| matches!(e, Ev::Tick(_))));
}

#[test]
fn a_failing_init_fails_spawn_meta() {
    let node = node("metainit");
    let (host, rx, tx) = host(&node);
    let mut failing = meta(Run::Park, &tx);
    failing.fail_init = true;
    match spawn_in(&node, host, failing) {
        Err(Error::InitFailed(r)) => assert_eq!(*r, ExitReason::error("init refused")),
        other => panic!("{other:?}"),
    }
    assert!(rx.try_recv().is_err(), "no terminate after a failed init");
    assert!(node.process_info(host).unwrap().metas.is_empty());
    node.stop();
}

#[test]
fn spawn_meta_from_a_plain_thread_and_a_polite_blocking_loop() {
    let node = node("metaplain");
    let (tx, rx) = channel();
    let alias = node.spawn_meta(meta(Run::BlockingPolite, &tx), MetaOptions::default()).unwrap();
    assert!(eventually(|| node.meta_info(alias).unwrap().blocking_jobs == 1));
    node.send_exit_meta(alias, ExitReason::error("enough")).unwrap();
    assert_eq!(terminated(&rx).bare(), &ExitReason::error("enough"));
    // Its job saw `is_terminating` and returned.
    assert!(eventually(|| node.info().blocking_busy == 0));
    node.stop();
}

#[test]
fn a_deaf_blocking_loop_is_detached_with_a_warning_and_never_hangs_stop() {
    let capture = logs();
    let release = Arc::new(AtomicBool::new(false));
    let opts = NodeOptions::default().workers(1).pin_workers(false).shutdown_timeout(Duration::from_millis(300));
    let node = Node::start("metadeaf@localhost", opts).unwrap();
    let (host, rx, tx) = host(&node);
    // One ended by its parent: the meta ends anyway, and says its job was detached.
    let alias = spawn_in(&node, host, meta(Run::BlockingDeaf(release.clone()), &tx)).unwrap();
    assert!(eventually(|| node.meta_info(alias).unwrap().blocking_jobs == 1));
    node.send(host, ExitReason::error("parent gone")).unwrap();
    assert_eq!(terminated(&rx).bare(), &ExitReason::error("parent gone"));
    assert!(eventually(|| capture.text().contains("blocking job(s); detached")), "{}", capture.text());

    // One still running when the node stops: stop returns, with a warning.
    let (host, rx, tx) = self::host(&node);
    spawn_in(&node, host, meta(Run::BlockingDeaf(release.clone()), &tx)).unwrap();
    let stopper = std::thread::spawn(move || node.stop());
    assert!(eventually(|| stopper.is_finished()), "stop returned");
    stopper.join().unwrap();
    assert_eq!(terminated(&rx), ExitReason::Shutdown);
    assert!(capture.text().contains("blocking thread(s) still running a job"), "{}", capture.text());
    release.store(true, Ordering::SeqCst);
}
