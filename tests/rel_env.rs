//! Environment: node variables (options, `ERGORS_ENV_*`), copied into processes at spawn and
//! overridden by spawn options; the leader's layer between the node's and the parent's;
//! per-process set/get/list, also seen from the node handle; names are case-insensitive.

mod support;

use ergors::{Node, NodeOptions, SpawnOptions};
use std::collections::BTreeMap;
use support::agent::*;

#[test]
fn node_env_reaches_processes_and_set_get_list_work() {
    let opts = NodeOptions::default().workers(1).pin_workers(false).env("region", "eu").env("Tier", "gold");
    let node = Node::start("env1@localhost", opts).unwrap();
    let h = node.handle();
    let (a, _arx) = agent(&h, false);
    assert_eq!(on(&h, a, |ctx| ctx.env("REGION")), Some("eu".to_string()));
    assert_eq!(on(&h, a, |ctx| ctx.env("tier")), Some("gold".to_string()));
    on(&h, a, |ctx| {
        ctx.set_env("color", Some("blue"));
        ctx.set_env("tier", None);
    });
    let list = on(&h, a, |ctx| ctx.env_list());
    assert_eq!(list, vec![("COLOR".to_string(), "blue".to_string()), ("REGION".to_string(), "eu".to_string())]);
    // Changes stay in the process: a new node-spawned process sees the node's values, and
    // spawn options override them (inheritance from a parent: tests/rt_spawn_options.rs).
    let (tx, _rx) = std::sync::mpsc::channel();
    let (c, _) = agent(&h, false);
    assert_eq!(on(&h, c, |ctx| ctx.env_list().len()), 2);
    let p = node.spawn(support::Probe { tx }, SpawnOptions::default().env("REGION", "us")).unwrap();
    assert!(node.is_alive(p));
    node.stop();
}

fn env_of(h: &ergors::NodeHandle, pid: ergors::Pid) -> BTreeMap<String, String> {
    on(h, pid, |ctx| ctx.env_list()).into_iter().collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn env_layers_node_then_leader_then_parent() {
    let opts = NodeOptions::default().workers(2).pin_workers(false).env("region", "eu").env("tier", "gold");
    let node = Node::start("env3@localhost", opts).unwrap();
    let h = node.handle();
    // A leader (as an application master will be) with its own settings.
    let (leader, _lrx) = agent_with(&h, SpawnOptions::default().env("tier", "silver").env("team", "core"));
    on(&h, leader, |ctx| ctx.set_env("owner", Some("ops")));

    // Spawned by the node under that leader: the leader's values over the node's.
    let (member, _mrx) = agent_with(&h, SpawnOptions::default().leader(leader).env("slot", "1"));
    assert_eq!(on(&h, member, |ctx| ctx.leader()), leader);
    assert_eq!(
        env_of(&h, member),
        map(&[("REGION", "eu"), ("TIER", "silver"), ("TEAM", "core"), ("OWNER", "ops"), ("SLOT", "1")])
    );

    // Spawned by another process under that leader: the parent's values over the leader's, so
    // the leader fills in only what the parent lacks (the parent already holds the node's).
    let (parent, _prx) = agent_with(&h, SpawnOptions::default().env("zone", "z1"));
    let (child, _crx) = on(&h, parent, move |ctx| child_agent(ctx, SpawnOptions::default().leader(leader)));
    assert_eq!(on(&h, child, |ctx| (ctx.parent(), ctx.leader())), (parent, leader));
    assert_eq!(
        env_of(&h, child),
        map(&[("REGION", "eu"), ("TIER", "gold"), ("TEAM", "core"), ("OWNER", "ops"), ("ZONE", "z1")])
    );
    // The child's own children keep the leader and copy the child's environment; a later change
    // in the leader reaches only processes spawned after it.
    on(&h, leader, |ctx| ctx.set_env("owner", Some("sre")));
    let (grandchild, _grx) = on(&h, child, |ctx| child_agent(ctx, SpawnOptions::default()));
    assert_eq!(on(&h, grandchild, |ctx| ctx.leader()), leader);
    assert_eq!(env_of(&h, grandchild), env_of(&h, child));
    assert_eq!(env_of(&h, child)["OWNER"], "ops");
    let (late, _) = agent_with(&h, SpawnOptions::default().leader(leader));
    assert_eq!(env_of(&h, late)["OWNER"], "sre");

    // A leader that is gone (or never was a process here) adds nothing.
    node.send(leader, Stop(ergors::ExitReason::Normal)).unwrap();
    assert!(support::eventually(|| !node.is_alive(leader)));
    let (orphan, _) = agent_with(&h, SpawnOptions::default().leader(leader));
    assert_eq!(env_of(&h, orphan), map(&[("REGION", "eu"), ("TIER", "gold")]));

    // The node handle sees a process's environment as the process does.
    assert_eq!(node.process_info(child).unwrap().env, on(&h, child, |ctx| ctx.env_list()));
    node.stop();
}

#[test]
fn ergors_env_variables_populate_the_node_env() {
    // Run in a child process so the variable is set before anything reads the environment.
    if std::env::var("ERGORS_TEST_CHILD").is_ok() {
        let opts = NodeOptions::from_env().unwrap().workers(1).pin_workers(false);
        let node = Node::start("env2@localhost", opts).unwrap();
        let h = node.handle();
        let (a, _arx) = agent(&h, false);
        println!("CHILD-ENV: {:?}", on(&h, a, |ctx| ctx.env("db_url")));
        node.stop();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "ergors_env_variables_populate_the_node_env", "--nocapture"])
        .env("ERGORS_TEST_CHILD", "1")
        .env("ERGORS_ENV_DB_URL", "postgres://x")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CHILD-ENV: Some(\"postgres://x\")"), "{text}");
}

#[test]
fn node_env_changes_at_run_time_reach_later_spawns_only() {
    let opts = NodeOptions::default().workers(1).pin_workers(false).env("region", "eu");
    let node = Node::start("env9@localhost", opts).unwrap();
    let h = node.handle();
    let (before, _brx) = agent(&h, false);
    assert_eq!(node.env("Region"), Some("eu".to_string()));
    node.set_env("color", Some("blue"));
    node.set_env("REGION", None);
    assert_eq!(node.env("region"), None);
    assert_eq!(node.env_list(), vec![("COLOR".to_string(), "blue".to_string())]);
    // A process spawned now starts with the new environment (and its children inherit it);
    // one spawned before keeps what it had.
    let (after, _arx) = agent(&h, false);
    assert_eq!(env_of(&h, after), map(&[("COLOR", "blue")]));
    let child = on(&h, after, |ctx| child_agent(ctx, SpawnOptions::default()).0);
    assert_eq!(env_of(&h, child), map(&[("COLOR", "blue")]));
    assert_eq!(env_of(&h, before), map(&[("REGION", "eu")]));
    node.stop();
}
