//! A supervision tree you can break: an application ("shop") whose supervisor runs an order
//! desk, a pool of checkout workers and a nested billing supervisor, and a cron job that sends
//! the order desk a report tick every minute; a crash you trigger is restarted in place, too many
//! crashes in a row take the application (transient) down.
//!
//! ```text
//! cargo run --release --example supervision                   # a scripted tour, then exits
//! cargo run --release --example supervision -- --interactive  # type: order, crash, crash-ledger,
//!                                                              #       storm, tree, apps, quit
//!                                                              # (wait a minute to see the cron)
//! ```
//! Logs go to stderr (`RUST_LOG=info` shows the supervisor's and the application's records).

use ergors::application::{ApplicationMode, ApplicationSpec};
use ergors::cron::{CronActionMessage, CronJob, CronMessage};
use ergors::pool::PoolSpec;
use ergors::{
    Actor, ChildSpec, Context, ExitReason, From, Message, Node, NodeHandle, NodeOptions, Pid, Priority, Restart,
    SupervisorSpec,
};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Duration;

/// Ends the process that gets it, with an error.
struct Crash;

/// A request to the order desk: place an order of this many items; the reply is the count so far.
struct Order(u64);

/// The order desk: counts orders, hands each to the checkout pool, crashes on request.
#[derive(Default)]
struct OrderDesk {
    orders: u64,
}

impl Actor for OrderDesk {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Crash>() {
            return Err(ExitReason::error("order desk crashed on request"));
        }
        if let Ok(tick) = msg.downcast::<CronMessage>() {
            println!("cron job {} at {}: {} orders so far", tick.job, tick.time, self.orders);
        }
        Ok(())
    }
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        let Ok(Order(items)) = req.downcast::<Order>() else { return Ok(None) };
        // A call from inside a process suspends only this process.
        let total = ctx.call("checkout", items).await.ok().and_then(|m| m.downcast::<u64>().ok()).unwrap_or(0);
        self.orders += 1;
        Ok(Some(Message::new((self.orders, total))))
    }
}

/// A checkout worker: prices an order (10 per item).
struct Checkout;

impl Actor for Checkout {
    async fn handle_call(
        &mut self,
        _ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        Ok(req.downcast::<u64>().ok().map(|items| Message::new(items * 10)))
    }
}

/// The ledger (under the billing supervisor): only crashes on request.
struct Ledger;

impl Actor for Ledger {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Crash>() {
            return Err(ExitReason::error("ledger crashed on request"));
        }
        Ok(())
    }
}

fn shop() -> ApplicationSpec {
    ApplicationSpec::new("shop")
        .description("an order desk, a checkout pool and billing")
        .version("1.0.0")
        .mode(ApplicationMode::Transient)
        .env("CURRENCY", "EUR")
        .member(ChildSpec::supervisor(
            "shop_sup",
            SupervisorSpec::one_for_one()
                .restart(Restart::Permanent)
                .intensity(3, Duration::from_secs(5))
                .child(ChildSpec::new("orders", OrderDesk::default))
                .child(ChildSpec::pool("checkout", PoolSpec::new(|| Checkout).size(4)))
                .child(ChildSpec::supervisor(
                    "billing_sup",
                    SupervisorSpec::rest_for_one()
                        .restart(Restart::Transient)
                        .child(ChildSpec::new("ledger", || Ledger))
                        .child(ChildSpec::new("invoices", || Ledger)),
                )),
        ))
}

/// Prints the application's processes as a tree, by parent.
fn print_tree(node: &NodeHandle) {
    let mut by_parent: BTreeMap<Pid, Vec<Pid>> = BTreeMap::new();
    let mut roots = Vec::new();
    for pid in node.processes() {
        if node.application_of(pid).as_deref() != Some("shop") {
            continue;
        }
        let Ok(info) = node.process_info(pid) else { continue };
        if node.application_of(info.parent).as_deref() == Some("shop") {
            by_parent.entry(info.parent).or_default().push(pid);
        } else {
            roots.push(pid);
        }
    }
    fn show(node: &NodeHandle, pid: Pid, depth: usize, by_parent: &BTreeMap<Pid, Vec<Pid>>) {
        if let Ok(info) = node.process_info(pid) {
            let name = info.name.map(|n| n.to_string()).unwrap_or_default();
            let kind = info.behaviour.rsplit("::").next().unwrap_or(info.behaviour);
            println!("  {}{pid} {name} ({kind}, worker {})", "  ".repeat(depth), info.worker);
        }
        for child in by_parent.get(&pid).into_iter().flatten() {
            show(node, *child, depth + 1, by_parent);
        }
    }
    println!("shop:");
    for root in roots {
        show(node, root, 0, &by_parent);
    }
}

fn print_apps(node: &NodeHandle) {
    for app in node.applications() {
        let up = app.uptime.map(|u| format!("up {:.1?}", u)).unwrap_or_default();
        let last = app.last_reason.map(|r| format!("last ended: {r}")).unwrap_or_default();
        println!("application {} {} ({}, {}) {up} {last}", app.name, app.version, app.state, app.mode);
    }
}

fn order(node: &NodeHandle, items: u64) {
    match node.call("orders", Order(items)) {
        Ok(reply) => match reply.downcast::<(u64, u64)>() {
            Ok((n, price)) => println!("order #{n}: {items} items cost {price}"),
            Err(other) => println!("unexpected reply {other:?}"),
        },
        Err(e) => println!("order failed: {e}"),
    }
}

/// Sends `Crash` to a registered process and waits until its name points to a new Pid.
fn crash(node: &NodeHandle, name: &str) {
    let Some(old) = node.whereis(name) else {
        println!("{name} is not running");
        return;
    };
    let _ = node.send(old, Crash);
    for _ in 0..200 {
        match node.whereis(name) {
            Some(new) if new != old => {
                println!("{name} crashed ({old}) and was restarted as {new}");
                return;
            }
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    println!("{name} ({old}) crashed and is not back");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let node = Node::start("supervision@localhost", NodeOptions::from_env()?)?;
    node.application_load(shop())?;
    node.application_start("shop")?;
    // Every minute, on the minute, the order desk gets a CronMessage (by name: whichever
    // instance is running then).
    node.cron().add_job(CronJob::new("report", "* * * * *", CronActionMessage::new("orders", Priority::Main))?)?;
    print_apps(&node);
    for job in node.cron().info().jobs {
        let next = job.next_run.map_or_else(|| "never".to_string(), |t| t.to_string());
        println!("cron job {} ({}, {}): next run {next}", job.name, job.spec, job.location);
    }
    print_tree(&node);

    if std::env::args().any(|a| a == "--interactive") {
        println!("commands: order, crash, crash-ledger, storm, tree, apps, quit");
        for line in std::io::stdin().lock().lines() {
            match line?.trim() {
                "order" => order(&node, 3),
                "crash" => crash(&node, "orders"),
                "crash-ledger" => crash(&node, "ledger"),
                "storm" => storm(&node),
                "tree" => print_tree(&node),
                "apps" => print_apps(&node),
                "quit" | "exit" => break,
                "" => {}
                other => println!("unknown command {other:?}"),
            }
        }
    } else {
        order(&node, 2);
        order(&node, 5);
        crash(&node, "orders");
        order(&node, 1);
        crash(&node, "ledger");
        print_tree(&node);
        storm(&node);
        print_apps(&node);
    }
    node.stop();
    Ok(())
}

/// Crashes the order desk more often than the supervisor's intensity (3 in 5 s) allows: the
/// supervisor gives up, and the transient application stops with its reason.
fn storm(node: &NodeHandle) {
    for _ in 0..4 {
        crash(node, "orders");
    }
    for _ in 0..200 {
        if node.applications_running().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    match node.application_info("shop") {
        Ok(info) => println!(
            "after the storm: shop is {}{}",
            info.state,
            info.last_reason.map(|r| format!(", ended with: {r}")).unwrap_or_default()
        ),
        Err(e) => println!("{e}"),
    }
}
