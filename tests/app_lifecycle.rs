//! Step 4, item 3: applications. Ergo's t012 cases in our words (load, start, members registered
//! and inheriting the environment, what members spawn belongs to the application, unload refused
//! while running, dependencies, the three modes against every way a member ends) plus ordered
//! starts and stops, start failures, the node's stop, and a permanent application's failure
//! stopping the node (D87, D88).

mod support;

use ergors::application::{
    Application, ApplicationError, ApplicationMode, ApplicationSpec, ApplicationState, DEFAULT_STOP_TIMEOUT,
};
use ergors::{Actor, ChildSpec, Context, Error, ExitReason, Message, NodeHandle, Pid, SpawnOptions};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;
use support::sup::{Block, Crash, Kit, Rec};
use support::{PATIENCE, eventually, node};

/// An application with callbacks that reports them.
struct Reporting {
    spec: ApplicationSpec,
    tx: Sender<Cb>,
}

#[derive(Debug, PartialEq)]
enum Cb {
    Start(ApplicationMode),
    Terminate(ExitReason),
}

impl Application for Reporting {
    fn load(&mut self, _node: &NodeHandle) -> Result<ApplicationSpec, String> {
        Ok(self.spec.clone())
    }
    fn start(&mut self, mode: ApplicationMode) {
        let _ = self.tx.send(Cb::Start(mode));
    }
    fn terminate(&mut self, reason: &ExitReason) {
        let _ = self.tx.send(Cb::Terminate(reason.clone()));
    }
}

fn reporting(spec: ApplicationSpec) -> (Reporting, Receiver<Cb>) {
    let (tx, rx) = channel();
    (Reporting { spec, tx }, rx)
}

fn terminated(rx: &Receiver<Cb>) -> ExitReason {
    loop {
        match rx.recv_timeout(PATIENCE).expect("application terminates") {
            Cb::Terminate(r) => return r,
            Cb::Start(_) => continue,
        }
    }
}

/// Asks a process to spawn a child (with default options) and report its Pid.
struct SpawnChild(Sender<Pid>);

/// A member that can spawn a child on request and reports its environment.
struct Member;

struct EnvOf(Sender<Vec<(String, String)>>);

impl Actor for Member {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(SpawnChild(tx)) = msg.downcast_ref::<SpawnChild>() {
            let pid = ctx.spawn(Member, SpawnOptions::default()).expect("spawn");
            let _ = tx.send(pid);
        } else if let Some(EnvOf(tx)) = msg.downcast_ref::<EnvOf>() {
            let _ = tx.send(ctx.env_list());
        } else if let Some(Crash(reason)) = msg.downcast_ref::<Crash>() {
            return Err(reason.clone());
        }
        Ok(())
    }
}

fn env_of(node: &NodeHandle, pid: Pid) -> Vec<(String, String)> {
    let (tx, rx) = channel();
    node.send(pid, EnvOf(tx)).unwrap();
    rx.recv_timeout(PATIENCE).unwrap()
}

#[test]
fn basic_load_start_stop_unload() {
    let node = node("app-basic", 2);
    let spec = ApplicationSpec::new("test_app")
        .description("a test")
        .version("1.2.3")
        .env("test", "12345")
        .env("VALUE", "09887")
        .member(ChildSpec::new("test_member", || Member));
    assert_eq!(node.application_load(spec.clone()).unwrap(), "test_app");
    assert_eq!(node.application_load(spec), Err(ApplicationError::Taken("test_app".into())));
    let info = node.application_info("test_app").unwrap();
    assert_eq!(
        (info.state, info.mode, info.uptime, info.master),
        (ApplicationState::Loaded, ApplicationMode::Temporary, None, None)
    );
    assert!(node.applications_running().is_empty());

    node.application_start("test_app").unwrap();
    assert_eq!(node.applications_running(), vec!["test_app".to_string()]);
    let info = node.application_info("test_app").unwrap();
    assert_eq!(info.state, ApplicationState::Running);
    assert_eq!((info.description.as_str(), info.version.as_str()), ("a test", "1.2.3"));
    assert!(info.uptime.is_some());
    let member = node.whereis("test_member").expect("member registered under its name");
    assert_eq!(info.members, vec![member]);
    let master = info.master.expect("a master");
    assert_eq!(node.process_info(member).unwrap().leader, master);
    assert_eq!(node.application_of(member).as_deref(), Some("test_app"));
    // The application's environment reaches its members.
    let env = env_of(&node, member);
    assert!(env.contains(&("TEST".into(), "12345".into())), "{env:?}");
    assert!(env.contains(&("VALUE".into(), "09887".into())), "{env:?}");

    // What a member spawns belongs to the application too, with the same environment, but is
    // not a member.
    let (tx, rx) = channel();
    node.send(member, SpawnChild(tx)).unwrap();
    let child = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(node.application_of(child).as_deref(), Some("test_app"));
    assert_eq!(node.process_info(child).unwrap().name, None);
    assert_eq!(env_of(&node, child), env);
    assert_eq!(node.application_info("test_app").unwrap().members, vec![member]);
    let outsider = node.spawn(Member, SpawnOptions::default()).unwrap();
    assert_eq!(node.application_of(outsider), None);

    assert_eq!(node.application_unload("test_app"), Err(ApplicationError::Running("test_app".into())));
    assert_eq!(node.application_start("test_app"), Err(ApplicationError::Running("test_app".into())));
    node.application_stop("test_app").unwrap();
    assert!(!node.is_alive(member) && !node.is_alive(master));
    assert!(node.applications_running().is_empty());
    let info = node.application_info("test_app").unwrap();
    assert_eq!((info.state, info.last_reason), (ApplicationState::Loaded, Some(ExitReason::Shutdown)));
    // Stopping a loaded application is no error.
    node.application_stop("test_app").unwrap();
    node.application_unload("test_app").unwrap();
    assert!(node.applications().is_empty());
    assert_eq!(node.application_start("test_app"), Err(ApplicationError::Unknown("test_app".into())));
    node.stop();
}

#[test]
fn a_spec_without_name_or_members_is_refused() {
    let node = node("app-refused", 1);
    assert_eq!(
        node.application_load(ApplicationSpec::new("").member(ChildSpec::new("m", || Member))),
        Err(ApplicationError::NoName)
    );
    assert_eq!(node.application_load(ApplicationSpec::new("empty")), Err(ApplicationError::Empty("empty".into())));
    struct Refuses;
    impl Application for Refuses {
        fn load(&mut self, _node: &NodeHandle) -> Result<ApplicationSpec, String> {
            Err("no config".into())
        }
    }
    assert_eq!(node.application_load(Refuses), Err(ApplicationError::Load("no config".into())));
    node.stop();
}

#[test]
fn dependencies_start_first_and_missing_or_cyclic_ones_are_errors() {
    let node = node("app-deps", 2);
    let kit = Kit::new();
    node.application_load(ApplicationSpec::new("web").depends_on("db").member(kit.child("web1"))).unwrap();
    assert_eq!(
        node.application_start("web"),
        Err(ApplicationError::DependencyUnknown { app: "web".into(), dep: "db".into() })
    );
    assert!(kit.quiet(), "nothing started");
    node.application_load(ApplicationSpec::new("db").depends_on("log").member(kit.child("db1"))).unwrap();
    node.application_load(ApplicationSpec::new("log").member(kit.child("log1"))).unwrap();
    node.application_start("web").unwrap();
    kit.started("log1");
    kit.started("db1");
    kit.started("web1");
    let mut running = node.applications_running();
    running.sort();
    assert_eq!(running, vec!["db", "log", "web"]);
    // Stopping a dependency does not stop what depends on it (Ergo).
    node.application_stop("db").unwrap();
    kit.stopped("db1");
    assert_eq!(node.application_info("web").unwrap().state, ApplicationState::Running);

    node.application_load(ApplicationSpec::new("a").depends_on("b").member(kit.child("a1"))).unwrap();
    node.application_load(ApplicationSpec::new("b").depends_on("c").member(kit.child("b1"))).unwrap();
    node.application_load(ApplicationSpec::new("c").depends_on("a").member(kit.child("c1"))).unwrap();
    assert_eq!(
        node.application_start("a"),
        Err(ApplicationError::DependencyCycle(vec!["a".into(), "b".into(), "c".into(), "a".into()]))
    );
    assert!(kit.quiet(), "nothing of the cycle started");
    node.stop();
}

#[test]
fn a_dependency_that_fails_to_start_fails_the_start() {
    let node = node("app-dep-fails", 2);
    let kit = Kit::new();
    let fail = Arc::new(AtomicUsize::new(1));
    node.application_load(ApplicationSpec::new("base").member(kit.failing("base1", fail))).unwrap();
    node.application_load(ApplicationSpec::new("top").depends_on("base").member(kit.child("top1"))).unwrap();
    match node.application_start("top") {
        Err(ApplicationError::DependencyFailed { dep, error }) => {
            assert_eq!(dep, "base");
            assert!(
                matches!(*error, ApplicationError::StartFailed { ref member, .. } if member == "base1"),
                "{error:?}"
            );
        }
        other => panic!("expected DependencyFailed, got {other:?}"),
    }
    assert!(kit.quiet());
    assert_eq!(node.application_info("base").unwrap().state, ApplicationState::Loaded);
    // The failure was passing: it starts now.
    node.application_start("top").unwrap();
    kit.started("base1");
    kit.started("top1");
    node.stop();
}

#[test]
fn a_member_failing_init_stops_the_ones_started_before() {
    let node = node("app-start-fails", 2);
    let kit = Kit::new();
    let fail = Arc::new(AtomicUsize::new(1));
    let spec = ApplicationSpec::new("app").member(kit.child("a")).member(kit.failing("b", fail)).member(kit.child("c"));
    let (app, cb) = reporting(spec);
    node.application_load(app).unwrap();
    match node.application_start("app") {
        Err(ApplicationError::StartFailed { app, member, error: Error::InitFailed(reason) }) => {
            assert_eq!((app.as_str(), member.as_str()), ("app", "b"));
            assert_eq!(*reason, ExitReason::error("init refused"));
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    let (a, _) = (kit.started("a"), ());
    let (stopped, _) = kit.stopped("a");
    assert_eq!(stopped, a);
    assert!(kit.quiet(), "c never started");
    assert!(cb.try_recv().is_err(), "neither start nor terminate is called for a failed start");
    let info = node.application_info("app").unwrap();
    assert_eq!((info.state, info.master), (ApplicationState::Loaded, None));
    assert!(node.whereis("a").is_none());
    node.application_start("app").unwrap();
    for n in ["a", "b", "c"] {
        kit.started(n);
    }
    assert_eq!(cb.recv_timeout(PATIENCE).unwrap(), Cb::Start(ApplicationMode::Temporary));
    node.stop();
}

#[test]
fn members_start_in_order_and_stop_in_reverse_a_stuck_one_is_killed() {
    let node = node("app-order", 2);
    let kit = Kit::new();
    let spec = ApplicationSpec::new("app")
        .member(kit.child("a"))
        .member(kit.child("b").shutdown(Duration::from_millis(50)))
        .member(kit.child("c"));
    let (app, cb) = reporting(spec);
    node.application_load(app).unwrap();
    node.application_start("app").unwrap();
    let pids: Vec<Pid> = ["a", "b", "c"].iter().map(|n| kit.started(n)).collect();
    assert_eq!(cb.recv_timeout(PATIENCE).unwrap(), Cb::Start(ApplicationMode::Temporary));
    assert_eq!(node.application_info("app").unwrap().members, pids);
    // b does not finish stopping (its terminate hangs): it is killed after its shutdown
    // timeout, then a stops.
    node.send(pids[1], Block).unwrap();
    assert_eq!(kit.next(), Rec::Blocked("b".into(), pids[1]));
    node.application_stop("app").unwrap();
    assert_eq!(kit.stopped("c"), (pids[2], ExitReason::Shutdown));
    let stops = vec![kit.next(), kit.next()];
    assert_eq!(
        stops,
        [Rec::Stop("b".into(), pids[1], ExitReason::Shutdown), Rec::Stop("a".into(), pids[0], ExitReason::Shutdown)]
    );
    assert!(!node.is_alive(pids[1]));
    assert_eq!(terminated(&cb), ExitReason::Shutdown);
    node.stop();
}

/// Ends every member of a running application with `reason` and returns the application's.
fn end_members(node: &NodeHandle, rx: &Receiver<Cb>, reason: &ExitReason) -> ExitReason {
    let members = node.application_info("app").unwrap().members;
    assert_eq!(members.len(), 3);
    for pid in members {
        if *reason == ExitReason::Kill {
            let _ = node.kill(pid);
        } else {
            let _ = node.send(pid, Crash(reason.clone()));
        }
    }
    terminated(rx)
}

fn reasons() -> Vec<ExitReason> {
    vec![ExitReason::Normal, ExitReason::Shutdown, ExitReason::Kill, ExitReason::error("whatever")]
}

fn three_members(mode: ApplicationMode) -> (Reporting, Receiver<Cb>) {
    let spec = ApplicationSpec::new("app")
        .mode(mode)
        .member(ChildSpec::new("", || Member))
        .member(ChildSpec::new("", || Member))
        .member(ChildSpec::new("", || Member));
    reporting(spec)
}

#[test]
fn temporary_application_ends_normal_when_its_last_member_ends() {
    let node = node("app-temporary", 2);
    let (app, rx) = three_members(ApplicationMode::Temporary);
    node.application_load(app).unwrap();
    for reason in reasons() {
        node.application_start("app").unwrap();
        // One member ending changes nothing.
        let first = node.application_info("app").unwrap().members[0];
        node.send(first, Crash(ExitReason::error("alone"))).unwrap();
        assert!(eventually(|| node.application_info("app").unwrap().members.len() == 2));
        assert_eq!(node.application_info("app").unwrap().state, ApplicationState::Running);
        let others = node.application_info("app").unwrap().members;
        for pid in others {
            if reason == ExitReason::Kill {
                node.kill(pid).unwrap();
            } else {
                node.send(pid, Crash(reason.clone())).unwrap();
            }
        }
        assert_eq!(terminated(&rx), ExitReason::Normal, "after members ended with {reason}");
        assert_eq!(node.application_info("app").unwrap().state, ApplicationState::Loaded);
    }
    node.stop();
}

#[test]
fn transient_application_stops_on_an_abnormal_end_with_its_reason() {
    let node = node("app-transient", 2);
    let (app, rx) = three_members(ApplicationMode::Transient);
    node.application_load(app).unwrap();
    for reason in reasons() {
        node.application_start("app").unwrap();
        let members = node.application_info("app").unwrap().members;
        let abnormal = !matches!(reason, ExitReason::Normal | ExitReason::Shutdown);
        if abnormal {
            // One abnormal end stops the others.
            if reason == ExitReason::Kill {
                node.kill(members[1]).unwrap();
            } else {
                node.send(members[1], Crash(reason.clone())).unwrap();
            }
            assert_eq!(terminated(&rx), reason);
            assert!(!node.is_alive(members[0]) && !node.is_alive(members[2]));
        } else {
            assert_eq!(end_members(&node, &rx, &reason), ExitReason::Normal, "after {reason}");
        }
    }
    node.stop();
}

#[test]
fn permanent_application_failure_stops_the_node() {
    for (i, reason) in reasons().into_iter().enumerate() {
        let node = node(&format!("app-permanent{i}"), 2);
        let kit = Kit::new();
        let (app, rx) = reporting(
            ApplicationSpec::new("app")
                .mode(ApplicationMode::Permanent)
                .member(kit.child("a"))
                .member(kit.child("b"))
                .member(kit.child("c")),
        );
        node.application_load(app).unwrap();
        // Another (temporary) application on the same node is stopped with it.
        node.application_load(ApplicationSpec::new("other").member(kit.child("o"))).unwrap();
        node.application_start("other").unwrap();
        kit.started("o");
        node.application_start("app").unwrap();
        let pids: Vec<Pid> = ["a", "b", "c"].iter().map(|n| kit.started(n)).collect();
        if reason == ExitReason::Kill {
            node.kill(pids[1]).unwrap();
        } else {
            node.send(pids[1], Crash(reason.clone())).unwrap();
        }
        assert_eq!(terminated(&rx), reason);
        // The rest of the application stopped in reverse order, then the node.
        let mut stops = Vec::new();
        while let Ok(r) = kit.rx.recv_timeout(PATIENCE) {
            if let Rec::Stop(n, _, _) = r {
                stops.push(n);
            }
            if stops.len() == 4 {
                break;
            }
        }
        if reason == ExitReason::Kill {
            // A killed process is gone at once; its terminate runs later, on its worker.
            assert!(stops.contains(&"b".to_string()));
            stops.retain(|n| n != "b");
            assert_eq!(stops, ["c", "a", "o"]);
        } else {
            assert_eq!(stops, ["b", "c", "a", "o"], "after {reason}");
        }
        let waiter = node.clone();
        let (tx, done) = channel();
        std::thread::spawn(move || tx.send(waiter.wait()));
        done.recv_timeout(PATIENCE).expect("the node stops").unwrap();
    }
}

#[test]
fn a_requested_stop_of_a_permanent_application_leaves_the_node_running() {
    let node = node("app-permanent-stop", 1);
    let (app, rx) = three_members(ApplicationMode::Permanent);
    node.application_load(app).unwrap();
    node.application_start("app").unwrap();
    node.application_stop("app").unwrap();
    assert_eq!(terminated(&rx), ExitReason::Shutdown);
    assert!(!node.is_stopping());
    node.application_start("app").unwrap();
    node.stop();
}

#[test]
fn start_mode_overrides_the_spec_and_force_stop_kills() {
    let node = node("app-mode-force", 2);
    let (app, rx) = three_members(ApplicationMode::Temporary);
    node.application_load(app).unwrap();
    node.application_start_mode("app", ApplicationMode::Transient).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Cb::Start(ApplicationMode::Transient));
    assert_eq!(node.application_info("app").unwrap().mode, ApplicationMode::Transient);
    let members = node.application_info("app").unwrap().members;
    node.send(members[0], Crash(ExitReason::error("boom"))).unwrap();
    assert_eq!(terminated(&rx), ExitReason::error("boom"));

    node.application_start("app").unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Cb::Start(ApplicationMode::Temporary));
    let members = node.application_info("app").unwrap().members;
    node.application_stop_force("app").unwrap();
    assert_eq!(terminated(&rx), ExitReason::Kill);
    assert!(members.iter().all(|p| !node.is_alive(*p)));
    node.stop();
}

#[test]
fn the_node_stops_applications_in_reverse_start_order() {
    let node = node("app-node-stop", 2);
    let kit = Kit::new();
    node.application_load(ApplicationSpec::new("base").member(kit.child("b1")).member(kit.child("b2"))).unwrap();
    node.application_load(
        ApplicationSpec::new("top").depends_on("base").member(kit.child("t1")).member(kit.child("t2")),
    )
    .unwrap();
    node.application_start("top").unwrap();
    for n in ["b1", "b2", "t1", "t2"] {
        kit.started(n);
    }
    node.stop();
    for n in ["t2", "t1", "b2", "b1"] {
        assert_eq!(kit.stopped(n).1, ExitReason::Shutdown);
    }
}

#[test]
fn a_killed_master_leaves_the_application_loaded() {
    let node = node("app-master-killed", 2);
    let kit = Kit::new();
    let (app, rx) = reporting(ApplicationSpec::new("app").member(kit.child("a")));
    node.application_load(app).unwrap();
    node.application_start("app").unwrap();
    let a = kit.started("a");
    let master = node.application_info("app").unwrap().master.unwrap();
    node.kill(master).unwrap();
    assert_eq!(terminated(&rx), ExitReason::Kill);
    assert_eq!(kit.stopped("a").0, a);
    assert_eq!(node.application_info("app").unwrap().state, ApplicationState::Loaded);
    node.application_start("app").unwrap();
    kit.started("a");
    node.stop();
}

#[test]
fn blocking_calls_are_refused_on_a_worker() {
    let node = node("app-worker", 1);
    node.application_load(ApplicationSpec::new("app").member(ChildSpec::new("m", || Member))).unwrap();
    struct Starter(Sender<(Result<(), ApplicationError>, Result<(), ApplicationError>)>);
    impl Actor for Starter {
        async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
            let started = ctx.node().application_start("app");
            let stopped = ctx.node().application_stop("app");
            let _ = self.0.send((started, stopped));
            Ok(())
        }
    }
    let (tx, rx) = channel();
    node.spawn(Starter(tx), SpawnOptions::default()).unwrap();
    let (started, stopped) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(started, Err(ApplicationError::Node(Error::WouldBlockWorker("application_start"))));
    assert_eq!(stopped, Err(ApplicationError::Node(Error::WouldBlockWorker("application_stop"))));
    assert_eq!(DEFAULT_STOP_TIMEOUT, Duration::from_secs(5));
    node.stop();
}
