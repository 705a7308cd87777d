//! Step 4, item 1: spawning for supervisors. `spawn_wait` returns `init`'s outcome (Ergo's
//! `Spawn`), and `SpawnOptions::link_parent` / `link_child` link child and parent before the child
//! runs (Ergo's `LinkParent` / `LinkChild`), so a child that dies in `init` is never missed
//! (docs/decisions.md D80).

mod support;

use ergors::{Actor, Context, Error, ExitReason, Message, MessageExit, Pid, SpawnOptions};
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;
use support::{PATIENCE, eventually, node};

/// `init` registers a name (so the spawner can see it ran), then fails, panics or succeeds.
#[derive(Clone, Copy)]
enum Init {
    Ok,
    /// Succeeds without registering anything.
    Quiet,
    Fail,
    Panic,
}

struct Child {
    init: Init,
}

impl Actor for Child {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        match self.init {
            Init::Ok => {
                ctx.register_name(&format!("child-{}", ctx.pid().id)).map_err(ExitReason::error)?;
                Ok(())
            }
            Init::Quiet => Ok(()),
            Init::Fail => Err(ExitReason::error("no config")),
            Init::Panic => panic!("init blew up"),
        }
    }
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(r) = msg.downcast_ref::<ExitReason>() {
            return Err(r.clone());
        }
        Ok(())
    }
}

/// Spawns children on request with `spawn_wait` and reports the outcome, and every exit signal
/// it traps.
struct Spawner {
    report: Sender<Report>,
}

#[derive(Debug)]
enum Report {
    Spawned(Result<Pid, Error>),
    Exit(Pid, ExitReason),
}

struct SpawnChild(Init, SpawnOptions);

impl Actor for Spawner {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_trap_exit(true);
        Ok(())
    }
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(SpawnChild(init, opts)) = msg.downcast_ref::<SpawnChild>() {
            let r = ctx.spawn_wait(Child { init: *init }, opts.clone()).await;
            let _ = self.report.send(Report::Spawned(r));
        } else if let Some(exit) = msg.downcast_ref::<MessageExit>()
            && let ergors::Target::Pid(p) = exit.target
        {
            let _ = self.report.send(Report::Exit(p, exit.reason.clone()));
        }
        Ok(())
    }
}

fn spawned(rx: &std::sync::mpsc::Receiver<Report>) -> Result<Pid, Error> {
    match rx.recv_timeout(PATIENCE).expect("a report") {
        Report::Spawned(r) => r,
        other => panic!("expected the spawn's outcome, got {other:?}"),
    }
}

#[test]
fn spawn_wait_returns_after_init_ran() {
    let node = node("spawnwait-ok", 2);
    let (tx, rx) = channel();
    let spawner = node.spawn(Spawner { report: tx }, SpawnOptions::default()).unwrap();
    node.send(spawner, SpawnChild(Init::Ok, SpawnOptions::default())).unwrap();
    let pid = spawned(&rx).expect("init succeeded");
    // `init` has run when the spawn returns: its name is registered, the process is up.
    assert_eq!(node.whereis(&format!("child-{}", pid.id)), Some(pid));
    assert_eq!(node.process_info(pid).unwrap().parent, spawner);
    node.stop();
}

#[test]
fn spawn_wait_reports_a_failed_init_and_the_child_is_gone() {
    let node = node("spawnwait-fail", 2);
    let (tx, rx) = channel();
    let spawner = node.spawn(Spawner { report: tx }, SpawnOptions::default()).unwrap();
    node.send(spawner, SpawnChild(Init::Fail, SpawnOptions::default())).unwrap();
    match spawned(&rx) {
        Err(Error::InitFailed(reason)) => assert_eq!(*reason, ExitReason::error("no config")),
        other => panic!("{other:?}"),
    }
    // Gone by the time the spawner learns it: only the spawner is left.
    assert_eq!(node.processes(), vec![spawner]);
    node.send(spawner, SpawnChild(Init::Panic, SpawnOptions::default())).unwrap();
    match spawned(&rx) {
        Err(Error::InitFailed(reason)) => assert!(matches!(*reason, ExitReason::Panic(ref m) if m.contains("blew up"))),
        other => panic!("{other:?}"),
    }
    assert_eq!(node.processes(), vec![spawner]);
    node.stop();
}

/// With `link_child` the parent is linked before the child runs: a child that fails in `init`
/// is seen by the parent as an exit signal (besides `spawn_wait`'s error), and so is a later one.
#[test]
fn link_child_sees_a_child_die_in_init_and_later() {
    let node = node("spawnwait-linkchild", 2);
    let (tx, rx) = channel();
    let spawner = node.spawn(Spawner { report: tx }, SpawnOptions::default()).unwrap();
    node.send(spawner, SpawnChild(Init::Fail, SpawnOptions::default().link_child())).unwrap();
    let mut exit = None;
    let mut failed = false;
    for _ in 0..2 {
        match rx.recv_timeout(PATIENCE).expect("a report") {
            Report::Spawned(Err(Error::InitFailed(_))) => failed = true,
            Report::Exit(p, reason) => exit = Some((p, reason)),
            other => panic!("{other:?}"),
        }
    }
    assert!(failed);
    let (_, reason) = exit.expect("the exit signal of the child that failed in init");
    assert_eq!(reason, ExitReason::error("no config"));
    // A child that is up, then crashes: the link is in place.
    node.send(spawner, SpawnChild(Init::Ok, SpawnOptions::default().link_child())).unwrap();
    let child = spawned(&rx).unwrap();
    assert!(node.process_info(spawner).unwrap().links.contains(&ergors::Target::Pid(child)));
    node.send(child, ExitReason::error("crash")).unwrap();
    match rx.recv_timeout(PATIENCE).unwrap() {
        Report::Exit(p, reason) => {
            assert_eq!(p, child);
            assert_eq!(reason, ExitReason::error("crash"));
        }
        other => panic!("{other:?}"),
    }
    node.stop();
}

/// With `link_parent` the child is linked to its parent before it runs: when the parent ends,
/// even before the child has run once, the child ends too.
#[test]
fn link_parent_takes_the_child_down_with_its_parent() {
    struct Parent {
        spawned: Sender<Pid>,
    }
    struct Go;
    impl Actor for Parent {
        async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
            if msg.is::<Go>() {
                // Spawned and the parent ends in the same callback: the child has not run yet.
                let child = ctx.spawn(Child { init: Init::Ok }, SpawnOptions::default().link_parent()).unwrap();
                let _ = self.spawned.send(child);
                return Err(ExitReason::error("parent gone"));
            }
            Ok(())
        }
    }
    let node = node("spawnwait-linkparent", 2);
    let (tx, rx) = channel();
    let parent = node.spawn(Parent { spawned: tx }, SpawnOptions::default()).unwrap();
    node.send(parent, Go).unwrap();
    let child = rx.recv_timeout(PATIENCE).unwrap();
    assert!(eventually(|| !node.is_alive(child)), "the child outlived its linked parent");
    assert!(!node.is_alive(parent));
    // Without the option, a child outlives its parent (Ergo's default).
    let (tx, rx) = channel();
    struct Plain {
        spawned: Sender<Pid>,
    }
    impl Actor for Plain {
        async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
            if msg.is::<Go>() {
                let child = ctx.spawn(Child { init: Init::Ok }, SpawnOptions::default()).unwrap();
                let _ = self.spawned.send(child);
                return Err(ExitReason::error("parent gone"));
            }
            Ok(())
        }
    }
    let parent = node.spawn(Plain { spawned: tx }, SpawnOptions::default()).unwrap();
    node.send(parent, Go).unwrap();
    let child = rx.recv_timeout(PATIENCE).unwrap();
    assert!(eventually(|| !node.is_alive(parent)));
    std::thread::sleep(Duration::from_millis(50));
    assert!(node.is_alive(child));
    node.stop();
}

/// The blocking twin from a plain thread; refused on a worker thread.
#[test]
fn blocking_spawn_wait_from_a_thread() {
    let node = node("spawnwait-blocking", 2);
    let pid = node.spawn_wait(Child { init: Init::Ok }, SpawnOptions::default()).unwrap();
    assert_eq!(node.whereis(&format!("child-{}", pid.id)), Some(pid));
    match node.spawn_wait(Child { init: Init::Fail }, SpawnOptions::default()) {
        Err(Error::InitFailed(r)) => assert_eq!(*r, ExitReason::error("no config")),
        other => panic!("{other:?}"),
    }
    let named = node.spawn_register_wait("named", Child { init: Init::Quiet }, SpawnOptions::default()).unwrap();
    assert_eq!(node.whereis("named"), Some(named));
    assert_eq!(
        node.spawn_register_wait("named", Child { init: Init::Quiet }, SpawnOptions::default()),
        Err(Error::Taken)
    );
    struct OnWorker {
        result: Sender<Result<Pid, Error>>,
    }
    impl Actor for OnWorker {
        async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
            let _ = self.result.send(ctx.node().spawn_wait(Child { init: Init::Ok }, SpawnOptions::default()));
            Ok(())
        }
    }
    let (tx, rx) = channel();
    node.spawn(OnWorker { result: tx }, SpawnOptions::default()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Err(Error::WouldBlockWorker("spawn_wait")));
    node.stop();
}
