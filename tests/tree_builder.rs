//! Step 4, item 6: a tree declared as one expression (an application of a supervisor over a
//! worker, a pool and a nested supervisor) starts in order, has the shape declared, restarts what
//! crashes at any depth, and leaves nothing behind when stopped.

mod support;

use ergors::application::ApplicationSpec;
use ergors::pool::{self, PoolSpec};
use ergors::supervisor;
use ergors::{Actor, ChildSpec, Context, ExitReason, From, Message, Pid, Restart, SupervisorSpec};
use support::sup::{Crash, Kit};
use support::{eventually, node};

/// Answers a call with its request.
struct Echo;

impl Actor for Echo {
    async fn handle_call(
        &mut self,
        _ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        Ok(Some(req))
    }
}

fn parent(node: &ergors::NodeHandle, pid: Pid) -> Pid {
    node.process_info(pid).unwrap().parent
}

#[test]
fn a_declared_tree_has_its_shape_restarts_and_stops_clean() {
    let node = node("tree-builder", 2);
    let before = node.process_count();
    let kit = Kit::new();
    let shop = ApplicationSpec::new("shop").member(ChildSpec::supervisor(
        "shop_sup",
        SupervisorSpec::one_for_one()
            .restart(Restart::Permanent)
            .child(kit.child("orders"))
            .child(ChildSpec::pool("checkout", PoolSpec::new(|| Echo).size(3)))
            .child(ChildSpec::supervisor(
                "billing_sup",
                SupervisorSpec::rest_for_one()
                    .restart(Restart::Permanent)
                    .child(kit.child("ledger"))
                    .child(kit.child("audit")),
            )),
    ));
    node.application_load(shop).unwrap();
    node.application_start("shop").unwrap();
    let orders = kit.started("orders");
    let ledger = kit.started("ledger");
    let audit = kit.started("audit");

    let sup = node.whereis("shop_sup").unwrap();
    let checkout = node.whereis("checkout").unwrap();
    let billing = node.whereis("billing_sup").unwrap();
    assert_eq!(node.application_info("shop").unwrap().members, vec![sup]);
    assert_eq!((parent(&node, orders), parent(&node, checkout), parent(&node, billing)), (sup, sup, sup));
    assert_eq!((parent(&node, ledger), parent(&node, audit)), (billing, billing));
    let names: Vec<String> = supervisor::children(&node, sup).unwrap().into_iter().map(|c| c.spec).collect();
    assert_eq!(names, ["orders", "checkout", "billing_sup"]);
    let workers = pool::workers(&node, checkout).unwrap();
    assert_eq!(workers.len(), 3);
    for w in &workers {
        assert_eq!(parent(&node, *w), checkout);
        assert_eq!(node.application_of(*w).as_deref(), Some("shop"));
    }
    assert_eq!(node.call("checkout", 7u64).unwrap().downcast::<u64>().ok(), Some(7));

    // A crash deep in the tree: rest-for-one restarts ledger and what follows it.
    node.send(ledger, Crash(ExitReason::error("disk"))).unwrap();
    assert_eq!(kit.stopped("ledger").0, ledger);
    assert_eq!(kit.stopped("audit").0, audit);
    let ledger2 = kit.started("ledger");
    kit.started("audit");
    assert_ne!(ledger2, ledger);
    assert_eq!(node.whereis("ledger"), Some(ledger2));
    // And one at the top: only orders comes back.
    node.send(orders, Crash(ExitReason::error("bug"))).unwrap();
    kit.stopped("orders");
    let orders2 = kit.started("orders");
    assert!(eventually(|| node.whereis("orders") == Some(orders2)));
    assert!(kit.quiet());

    node.application_stop("shop").unwrap();
    assert!(eventually(|| node.process_count() == before), "left: {:?}", node.processes());
    assert!(node.whereis("shop_sup").is_none() && node.whereis("checkout").is_none());
    node.stop();
}
