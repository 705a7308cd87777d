//! Supervision trees as a property: random trees (a root supervisor of random type, strategy and
//! order, whose children are workers or nested supervisors, depth at most 3) under a random
//! schedule of ends (a worker or a nested supervisor ends normally, with shutdown, abnormally or
//! is killed). After each end, once the tree is quiet: every child a live supervisor lists as
//! running is alive, a child it lists as not running is one its strategy says not to restart
//! (never under permanent; under transient only after a normal or shutdown end), and a
//! temporary supervisor never started a child of its spec twice. After the root is stopped no
//! process and no name is left.
//!
//! A killed nested supervisor's children end through their link to it, after it: its restart
//! may find their names still taken and fail (the parent then ends with `StartFailed`, D97).
//! The properties hold all the same; the tree is just gone sooner.
//!
//! Simple-one-for-one is left out: its instances are started by request, not by the tree (its
//! own cases are in sup_matrix.rs and sup_many_children.rs).

mod support;

use ergors::supervisor::{self, ChildSpec, SupervisorType};
use ergors::{
    Actor, Context, ExitReason, From, Message, Node, NodeHandle, NodeOptions, Pid, Restart, SpawnOptions, Supervisor,
    SupervisorSpec,
};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

fn shared_node() -> &'static Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        let opts = NodeOptions::default().workers(2).pin_workers(false).spin(Duration::from_micros(20));
        Node::start("suptree@localhost", opts).unwrap()
    })
}

/// A tree node of the plan.
#[derive(Clone, Debug)]
enum Plan {
    Worker,
    Sup { kind: SupervisorType, restart: Restart, keep_order: bool, auto_shutdown: bool, children: Vec<(Plan, bool)> },
}

fn sup_plan(depth: u32) -> BoxedStrategy<Plan> {
    let child = if depth >= 3 {
        Just(Plan::Worker).boxed()
    } else {
        prop_oneof![3 => Just(Plan::Worker), 1 => sup_plan(depth + 1)].boxed()
    };
    (
        prop_oneof![Just(SupervisorType::OneForOne), Just(SupervisorType::AllForOne), Just(SupervisorType::RestForOne)],
        prop_oneof![Just(Restart::Permanent), Just(Restart::Transient), Just(Restart::Temporary)],
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec((child, proptest::bool::weighted(0.1)), 1..4),
    )
        .prop_map(|(kind, restart, keep_order, auto_shutdown, children)| Plan::Sup {
            kind,
            restart,
            keep_order,
            auto_shutdown,
            children,
        })
        .boxed()
}

/// What happened to the processes of a case: by tree path, each start (Pid, parent) and the
/// bare reason of each end.
#[derive(Default)]
struct Log {
    starts: HashMap<String, Vec<(Pid, Pid)>>,
    ends: HashMap<String, Vec<(Pid, ExitReason)>>,
    events: usize,
}

type Shared = Arc<Mutex<Log>>;

fn note_start(log: &Shared, path: &str, ctx: &Context) {
    let mut l = log.lock().unwrap();
    l.starts.entry(path.to_string()).or_default().push((ctx.pid(), ctx.parent()));
    l.events += 1;
}

fn note_end(log: &Shared, path: &str, ctx: &Context, reason: &ExitReason) {
    let mut l = log.lock().unwrap();
    l.ends.entry(path.to_string()).or_default().push((ctx.pid(), reason.bare().clone()));
    l.events += 1;
}

/// Ends the worker that receives it with this reason.
struct End(ExitReason);

struct Worker {
    path: String,
    log: Shared,
}

impl Actor for Worker {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        note_start(&self.log, &self.path, ctx);
        Ok(())
    }
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        match msg.downcast::<End>() {
            Ok(End(reason)) => Err(reason),
            Err(_) => Ok(()),
        }
    }
    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        note_end(&self.log, &self.path, ctx, reason);
    }
}

/// A supervisor that also notes its starts and ends (delegating everything else).
struct Tracked {
    inner: Supervisor,
    path: String,
    log: Shared,
}

impl Actor for Tracked {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        // Noted once it started: a supervisor whose `init` fails never runs `terminate`.
        self.inner.init(ctx).await?;
        note_start(&self.log, &self.path, ctx);
        Ok(())
    }
    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        self.inner.handle_message(ctx, from, msg).await
    }
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        self.inner.handle_call(ctx, from, req).await
    }
    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        note_end(&self.log, &self.path, ctx, reason);
    }
}

fn spec_of(plan: &Plan, path: &str, log: &Shared) -> SupervisorSpec {
    let Plan::Sup { kind, restart, keep_order, auto_shutdown, children } = plan else { unreachable!() };
    let mut spec = SupervisorSpec::new(*kind)
        .restart(*restart)
        .keep_order(*keep_order)
        .intensity(u16::MAX, Duration::from_secs(3600));
    if !auto_shutdown {
        spec = spec.disable_auto_shutdown();
    }
    for (i, (child, significant)) in children.iter().enumerate() {
        let cpath = format!("{path}.{i}");
        let log = log.clone();
        let cs = match child {
            Plan::Worker => {
                let p = cpath.clone();
                ChildSpec::new(&cpath, move || Worker { path: p.clone(), log: log.clone() })
            }
            Plan::Sup { .. } => {
                let (p, nested) = (cpath.clone(), child.clone());
                ChildSpec::new(&cpath, move || Tracked {
                    inner: Supervisor::new(spec_of(&nested, &p, &log)),
                    path: p.clone(),
                    log: log.clone(),
                })
            }
        };
        spec = spec.child(cs.significant(*significant));
    }
    spec
}

/// The plan of each tree path.
fn index<'a>(plan: &'a Plan, path: String, out: &mut HashMap<String, &'a Plan>) {
    if let Plan::Sup { children, .. } = plan {
        for (i, (c, _)) in children.iter().enumerate() {
            index(c, format!("{path}.{i}"), out);
        }
    }
    out.insert(path, plan);
}

/// A supervisor's children: (spec name, Pid while running).
type Listed = Vec<(String, Option<Pid>)>;

/// The live tree as its supervisors list it: (path, Pid, running child Pids) for every
/// supervisor reachable from the root, plus every running child (path, Pid, is a supervisor).
#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    sups: Vec<(String, Pid, Listed)>,
    procs: Vec<(String, Pid, bool)>,
}

fn snapshot(h: &NodeHandle, root: Pid, plans: &HashMap<String, &Plan>) -> Snapshot {
    let mut snap = Snapshot { sups: Vec::new(), procs: Vec::new() };
    let mut todo = vec![("r".to_string(), root)];
    while let Some((path, pid)) = todo.pop() {
        // A supervisor that ended meanwhile has no children to list.
        let Ok(listed) = supervisor::children(h, pid) else { continue };
        let mut kids = Vec::new();
        for c in listed {
            if let Some(p) = c.pid {
                let is_sup = matches!(plans.get(&c.spec), Some(Plan::Sup { .. }));
                snap.procs.push((c.spec.clone(), p, is_sup));
                if is_sup {
                    todo.push((c.spec.clone(), p));
                }
            }
            kids.push((c.spec, c.pid));
        }
        snap.sups.push((path, pid, kids));
    }
    snap
}

/// Waits until the tree is quiet: two walks some milliseconds apart see the same tree, no start
/// or end was logged in between, and every child listed as running is alive.
fn quiesce(h: &NodeHandle, root: Pid, plans: &HashMap<String, &Plan>, log: &Shared) -> Option<Snapshot> {
    let deadline = Instant::now() + support::PATIENCE;
    let mut last: Option<(Snapshot, usize)> = None;
    while Instant::now() < deadline {
        let events = log.lock().unwrap().events;
        let snap = snapshot(h, root, plans);
        let alive = snap.procs.iter().all(|(_, p, _)| h.is_alive(*p)) && (snap.sups.is_empty() || h.is_alive(root));
        if alive && last.as_ref().is_some_and(|(s, e)| *s == snap && *e == events) {
            return Some(snap);
        }
        last = Some((snap, events));
        std::thread::sleep(Duration::from_millis(15));
    }
    None
}

fn check(snap: &Snapshot, plans: &HashMap<String, &Plan>, log: &Shared) -> Result<(), TestCaseError> {
    let log = log.lock().unwrap();
    for (path, pid, kids) in &snap.sups {
        let Some(Plan::Sup { restart, .. }) = plans.get(path) else { unreachable!() };
        for (cpath, cpid) in kids {
            let last_end = log.ends.get(cpath).and_then(|e| e.last()).map(|(_, r)| r.clone());
            if cpid.is_none() {
                prop_assert!(*restart != Restart::Permanent, "{} under permanent {} not restarted", cpath, path);
                if *restart == Restart::Transient {
                    prop_assert!(
                        matches!(last_end, Some(ExitReason::Normal | ExitReason::Shutdown)),
                        "{} under transient {} not restarted after {:?}",
                        cpath,
                        path,
                        last_end
                    );
                }
            }
            if *restart == Restart::Temporary {
                let by_this = log.starts.get(cpath).map_or(0, |s| s.iter().filter(|(_, parent)| parent == pid).count());
                prop_assert!(by_this <= 1, "{} started {} times by temporary {}", cpath, by_this, path);
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum How {
    Normal,
    Shutdown,
    Abnormal,
    Kill,
}

fn end(h: &NodeHandle, pid: Pid, is_sup: bool, how: How) {
    let reason = match how {
        How::Normal => ExitReason::Normal,
        How::Shutdown => ExitReason::Shutdown,
        How::Abnormal => ExitReason::error("planned"),
        How::Kill => {
            let _ = h.kill(pid);
            return;
        }
    };
    // A nested supervisor is told from outside (it stops its children, then ends).
    let _ = if is_sup { h.send_exit(pid, reason) } else { h.send(pid, End(reason)) };
}

/// Ends processes of the tree by the schedule, checking the tree after each once it is quiet.
fn schedule_ends(
    h: &NodeHandle,
    root: Pid,
    plans: &HashMap<String, &Plan>,
    log: &Shared,
    schedule: &[(usize, How)],
) -> Result<(), TestCaseError> {
    let snap = quiesce(h, root, plans, log).ok_or_else(|| TestCaseError::fail("never quiet after start"))?;
    check(&snap, plans, log)?;
    let mut snap = snap;
    for &(pick, how) in schedule {
        if snap.procs.is_empty() {
            break;
        }
        let (_, pid, is_sup) = snap.procs[pick % snap.procs.len()].clone();
        end(h, pid, is_sup, how);
        prop_assert!(support::eventually(|| !h.is_alive(pid)), "{:?} did not end", pid);
        snap = quiesce(h, root, plans, log).ok_or_else(|| TestCaseError::fail("never quiet"))?;
        check(&snap, plans, log)?;
    }
    Ok(())
}

fn run_case(h: &NodeHandle, case: usize, plan: &Plan, schedule: &[(usize, How)]) -> Result<(), TestCaseError> {
    let log: Shared = Arc::default();
    let root_path = format!("c{case}");
    let mut plans = HashMap::new();
    index(plan, root_path.clone(), &mut plans);
    // Snapshots name the root "r"; everything below goes by its spec name (the path).
    plans.insert("r".to_string(), plan);
    let root = Tracked { inner: Supervisor::new(spec_of(plan, &root_path, &log)), path: root_path, log: log.clone() };
    let root = h.spawn_wait(root, SpawnOptions::default()).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    let outcome = schedule_ends(h, root, &plans, &log, schedule);
    // Stopped whatever the outcome, so that a failing case does not leave its tree to the next.
    let _ = h.send_exit(root, ExitReason::Shutdown);
    prop_assert!(support::eventually(|| h.process_count() == 0), "{} processes left", h.process_count());
    outcome?;
    let info = h.info();
    prop_assert_eq!((info.registered_names, info.registered_aliases, info.registered_events), (0, 0, 0));
    // Everything that started has ended, once. A killed process is released before its
    // `terminate` runs (D34), so its end may be noted just after the count reached zero.
    let counts = || {
        let log = log.lock().unwrap();
        let started: usize = log.starts.values().map(Vec::len).sum();
        let ended: usize = log.ends.values().map(Vec::len).sum();
        (started, ended)
    };
    prop_assert!(support::eventually(|| counts().0 == counts().1), "started and ended: {:?}", counts());
    let log = log.lock().unwrap();
    for (path, starts) in &log.starts {
        let mut started: Vec<Pid> = starts.iter().map(|(p, _)| *p).collect();
        let mut ended: Vec<Pid> = log.ends.get(path).map_or(Vec::new(), |e| e.iter().map(|(p, _)| *p).collect());
        started.sort_by_key(|p| p.id);
        ended.sort_by_key(|p| p.id);
        prop_assert_eq!(started, ended, "{}", path);
    }
    Ok(())
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![Just(How::Normal), Just(How::Shutdown), Just(How::Abnormal), Just(How::Kill)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn supervision_trees_restart_what_they_should_and_leave_nothing(
        plan in sup_plan(1),
        schedule in proptest::collection::vec((any::<usize>(), how()), 1..6),
    ) {
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let case = CASE.fetch_add(1, Ordering::Relaxed);
        let h = shared_node().handle();
        run_case(&h, case, &plan, &schedule)?;
    }
}
