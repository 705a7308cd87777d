//! The cleanup invariant, as a property: over random topologies of processes, links, monitors,
//! names, aliases and events, and random termination orders and reasons, every watcher that is
//! alive when its target ends gets exactly one exit (link) or down (monitor) for it, nobody gets
//! one twice, and when everything has ended nothing is left: no process, name, alias or event.
//! A second property ends random spawn trees by stopping the node.

mod support;

use ergors::{
    Alias, Event, EventOptions, ExitReason, MessageDown, MessageExit, Node, NodeHandle, NodeOptions, Pid, SpawnOptions,
    Target,
};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use support::agent::*;

fn shared_node() -> &'static Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        let opts = NodeOptions::default().workers(2).pin_workers(false).spin(std::time::Duration::from_micros(20));
        // Scripted panics are expected; everything else is reported as usual.
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"scripted panic") {
                default(info);
            }
        }));
        Node::start("cleanup@localhost", opts).unwrap()
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Link,
    Monitor,
}

#[derive(Clone, Debug)]
struct Plan {
    n: usize,
    /// (consumer, target process, kind, form: 0 pid, 1 name, 2 alias, 3 event, later unlinked)
    relations: Vec<(usize, usize, Kind, u8, bool)>,
    /// Termination reason per process: 0 normal, 1 error, 2 kill, 3 panic.
    reasons: Vec<u8>,
    order: Vec<usize>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (2usize..7).prop_flat_map(|n| {
        let relation =
            (0..n, 0..n, prop_oneof![Just(Kind::Link), Just(Kind::Monitor)], 0u8..4, proptest::bool::weighted(0.15));
        (
            Just(n),
            proptest::collection::vec(relation, 0..14),
            proptest::collection::vec(0u8..4, n),
            Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
        )
            .prop_map(|(n, relations, reasons, order)| Plan { n, relations, reasons, order })
    })
}

struct Proc {
    pid: Pid,
    rx: Receiver<Seen>,
    log: Vec<(Target, Kind, ExitReason)>,
    alive: bool,
}

impl Proc {
    /// Moves what the agent saw into its log.
    fn drain(&mut self) {
        while let Ok(seen) = self.rx.try_recv() {
            if let Seen::Msg(_, m) = seen {
                match m.downcast::<MessageExit>() {
                    Ok(e) => self.log.push((e.target, Kind::Link, e.reason)),
                    Err(m) => {
                        if let Ok(d) = m.downcast::<MessageDown>() {
                            self.log.push((d.target, Kind::Monitor, d.reason));
                        }
                    }
                }
            }
        }
    }
}

fn reason_of(code: u8) -> ExitReason {
    match code {
        0 => ExitReason::Normal,
        1 => ExitReason::error("planned failure"),
        2 => ExitReason::Kill,
        _ => ExitReason::Panic("scripted panic".into()),
    }
}

/// The processes of a case, the relations in force, and which process each watched target
/// belongs to.
struct World {
    procs: Vec<Proc>,
    active: HashSet<(usize, Target, Kind)>,
    owner: HashMap<Target, usize>,
}

/// Spawns the plan's processes (process `i` as a child of `parents[i]` when that is set, else
/// from the node, trapping exits) and sets up its relations.
fn build(h: &NodeHandle, case: usize, plan: &Plan, parents: &[Option<usize>]) -> Result<World, TestCaseError> {
    let mut procs: Vec<Proc> = Vec::new();
    for i in 0..plan.n {
        let (pid, rx) = match parents.get(i).copied().flatten() {
            Some(parent) => on(h, procs[parent].pid, |ctx| child_agent(ctx, SpawnOptions::default())),
            None => agent(h, true),
        };
        procs.push(Proc { pid, rx, log: Vec::new(), alive: true });
    }
    // Every process gets a name, an alias and an event, so any form can be watched.
    let mut aliases: Vec<Alias> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    for (i, p) in procs.iter().enumerate() {
        let name = format!("c{case}p{i}");
        let ev = format!("c{case}e{i}");
        let (alias, _) = on(h, p.pid, move |ctx| {
            ctx.register_name(&name).unwrap();
            ctx.register_event(&ev, EventOptions::default()).unwrap();
            (ctx.create_alias().unwrap(), ())
        });
        aliases.push(alias);
        events.push(h.event(&format!("c{case}e{i}")));
    }
    let target_of = |t: usize, form: u8| -> Target {
        match form {
            0 => Target::Pid(procs[t].pid),
            1 => Target::Name(h.process_id(&format!("c{case}p{t}"))),
            2 => Target::Alias(aliases[t]),
            _ => Target::Event(events[t].clone()),
        }
    };
    // Establish the relations (skipping what the API refuses: self-watch, duplicates).
    let mut active: HashSet<(usize, Target, Kind)> = HashSet::new();
    let mut owner: HashMap<Target, usize> = HashMap::new();
    for &(c, t, kind, form, unlink) in &plan.relations {
        let target = target_of(t, form);
        owner.insert(target.clone(), t);
        if (c == t && form != 3) || active.contains(&(c, target.clone(), kind)) {
            continue;
        }
        let watched = target.clone();
        let r = on(h, procs[c].pid, move |ctx| match kind {
            Kind::Link => ctx.link(watched),
            Kind::Monitor => ctx.monitor(watched),
        });
        prop_assert_eq!(r, Ok(()));
        active.insert((c, target.clone(), kind));
        if unlink {
            let watched = target.clone();
            let r = on(h, procs[c].pid, move |ctx| match kind {
                Kind::Link => ctx.unlink(watched),
                Kind::Monitor => ctx.demonitor(watched),
            });
            prop_assert_eq!(r, Ok(()));
            active.remove(&(c, target, kind));
        }
    }
    Ok(World { procs, active, owner })
}

fn run_case(h: &NodeHandle, case: usize, plan: &Plan) -> Result<(), TestCaseError> {
    let World { mut procs, mut active, owner } = build(h, case, plan, &[])?;
    // End every process in the planned order; after each, wait for the deliveries owed to the
    // watchers still alive.
    let mut expected: Vec<(usize, Target, Kind, ExitReason)> = Vec::new();
    for &v in &plan.order {
        let reason = reason_of(plan.reasons[v]);
        match plan.reasons[v] {
            2 => h.kill(procs[v].pid).unwrap(),
            3 => h.send(procs[v].pid, Panic).unwrap(),
            _ => h.send(procs[v].pid, Stop(reason.clone())).unwrap(),
        }
        let victim = procs[v].pid;
        prop_assert!(support::eventually(|| !h.is_alive(victim)), "process {} did not end", v);
        procs[v].alive = false;
        let owed: Vec<(usize, Target, Kind)> =
            active.iter().filter(|(c, t, _)| owner.get(t) == Some(&v) && procs[*c].alive).cloned().collect();
        for (c, t, kind) in owed {
            active.remove(&(c, t.clone(), kind));
            expected.push((c, t.clone(), kind, reason.clone()));
            let arrived = support::eventually(|| {
                procs[c].drain();
                procs[c].log.iter().any(|(lt, lk, _)| *lt == t && *lk == kind)
            });
            prop_assert!(arrived, "watcher {} never heard of {:?} ({:?})", c, t, kind);
        }
        // Relations held by the victim itself, or on it by dead watchers, just go away.
        active.retain(|(c, t, _)| *c != v && owner.get(t) != Some(&v));
    }
    prop_assert!(support::eventually(|| h.process_count() == 0), "processes left");
    for p in procs.iter_mut() {
        p.drain();
    }
    // Exactly once, with the victim's reason; nothing that was not owed.
    for (c, p) in procs.iter().enumerate() {
        let mut seen: HashSet<(Target, Kind)> = HashSet::new();
        for (t, k, r) in &p.log {
            prop_assert!(seen.insert((t.clone(), *k)), "watcher {} got {:?} {:?} twice", c, t, k);
            let owed = expected.iter().find(|(ec, et, ek, _)| *ec == c && et == t && ek == k);
            prop_assert!(owed.is_some(), "watcher {} got an unexpected {:?} {:?}", c, t, k);
            prop_assert_eq!(&owed.unwrap().3, r);
        }
    }
    prop_assert_eq!(
        expected.iter().filter(|(c, t, k, _)| procs[*c].log.iter().any(|(lt, lk, _)| lt == t && lk == k)).count(),
        expected.len()
    );
    let info = h.info();
    prop_assert_eq!((info.registered_names, info.registered_aliases, info.registered_events), (0, 0, 0));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_watcher_hears_exactly_once_and_nothing_leaks(plan in plan()) {
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let case = CASE.fetch_add(1, Ordering::Relaxed);
        let h = shared_node().handle();
        run_case(&h, case, &plan)?;
    }
}

/// Random spawn trees: each process but the first is a child of an earlier one, or of the node.
fn stop_plan() -> impl Strategy<Value = (Plan, Vec<Option<usize>>)> {
    plan().prop_flat_map(|plan| {
        let n = plan.n;
        let parents = (0..n)
            .map(|i| if i == 0 { Just(None).boxed() } else { proptest::option::of(0..i).boxed() })
            .collect::<Vec<_>>();
        (Just(plan), parents)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, failure_persistence: None, ..ProptestConfig::default() })]

    /// Node stop ends the deepest processes first. A watcher that is itself being stopped may
    /// end before it handles what it was sent, so here the property is: nothing arrives twice or
    /// unasked, every reason is `shutdown`, and afterwards no process, name, alias or event is
    /// left.
    #[test]
    fn node_stop_delivers_at_most_once_and_releases_everything((plan, parents) in stop_plan()) {
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let case = CASE.fetch_add(1, Ordering::Relaxed);
        let opts = NodeOptions::default().workers(2).pin_workers(false).spin(std::time::Duration::from_micros(20));
        let node = Node::start(&format!("stop{case}@localhost"), opts).unwrap();
        let h = node.handle();
        let World { mut procs, active, .. } = build(&h, case, &plan, &parents)?;
        node.stop();
        prop_assert_eq!(h.process_count(), 0);
        let info = h.info();
        prop_assert_eq!((info.registered_names, info.registered_aliases, info.registered_events), (0, 0, 0));
        for (c, p) in procs.iter_mut().enumerate() {
            p.drain();
            let mut seen: HashSet<(Target, Kind)> = HashSet::new();
            for (t, k, r) in &p.log {
                prop_assert!(seen.insert((t.clone(), *k)), "watcher {} got {:?} {:?} twice", c, t, k);
                prop_assert!(active.contains(&(c, t.clone(), *k)), "watcher {} got an unexpected {:?} {:?}", c, t, k);
                prop_assert_eq!(r, &ExitReason::Shutdown);
            }
        }
    }
}
