//! Environment: node variables (options, `ERGORS_ENV_*`), copied into processes at spawn and
//! overridden by spawn options; per-process set/get/list; names are case-insensitive.

mod support;

use ergors::{Node, NodeOptions, SpawnOptions};
use support::agent::*;

#[test]
fn node_env_reaches_processes_and_set_get_list_work() {
    let opts = NodeOptions::default().workers(1).pin_workers(false).env("region", "eu").env("Tier", "gold");
    let node = Node::start("env1@localhost", opts).unwrap();
    let h = node.handle();
    let (a, _arx) = agent(&h, false);
    assert_eq!(on(&h, a, |ctx| ctx.env("REGION").map(String::from)), Some("eu".to_string()));
    assert_eq!(on(&h, a, |ctx| ctx.env("tier").map(String::from)), Some("gold".to_string()));
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

#[test]
fn ergors_env_variables_populate_the_node_env() {
    // Run in a child process so the variable is set before anything reads the environment.
    if std::env::var("ERGORS_TEST_CHILD").is_ok() {
        let opts = NodeOptions::from_env().unwrap().workers(1).pin_workers(false);
        let node = Node::start("env2@localhost", opts).unwrap();
        let h = node.handle();
        let (a, _arx) = agent(&h, false);
        println!("CHILD-ENV: {:?}", on(&h, a, |ctx| ctx.env("db_url").map(String::from)));
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
