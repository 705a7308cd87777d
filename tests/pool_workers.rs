//! Step 4, item 4: a pool's workers. One that ends is replaced in its place of the rotation
//! (the pool keeps serving, its size stays); the size changes at run time, removed workers are
//! stopped; the workers end with the pool.

mod support;

use ergors::pool::{self, PoolError};
use ergors::{ExitReason, Pool, SpawnOptions};
use support::pool::{Crash, Kit, Served};
use support::{PATIENCE, eventually, node};

fn serve_round(node: &ergors::NodeHandle, pool: ergors::Pid, n: usize) -> Vec<ergors::Pid> {
    (0..n).map(|_| node.call(pool, ()).unwrap().downcast::<Served>().unwrap().pid).collect()
}

#[test]
fn a_worker_that_ends_is_replaced_in_its_place() {
    let node = node("pool-replace", 2);
    let kit = Kit::new();
    let pool = node.spawn_wait(Pool::new(kit.spec(3)), SpawnOptions::default()).unwrap();
    let before = pool::workers(&node, pool).unwrap();
    // A crash (its callback returns an error), then a kill.
    node.send(before[1], Crash(ExitReason::error("boom"))).unwrap();
    assert_eq!(kit.ended.recv_timeout(PATIENCE).unwrap(), (1, ExitReason::error("boom")));
    assert!(eventually(|| pool::info(&node, pool).unwrap().restarts == 1));
    let after = pool::workers(&node, pool).unwrap();
    assert_eq!(after.len(), 3);
    assert_eq!((after[0], after[2]), (before[0], before[2]));
    assert_ne!(after[1], before[1]);
    assert!(!node.is_alive(before[1]));
    node.kill(after[0]).unwrap();
    assert!(eventually(|| pool::info(&node, pool).unwrap().restarts == 2));
    let now = pool::workers(&node, pool).unwrap();
    assert_eq!(now.len(), 3);
    assert_eq!((now[1], now[2]), (after[1], after[2]));
    assert_eq!(kit.started(), 5);
    // The pool keeps serving, over the three live workers, in order.
    assert_eq!(serve_round(&node, pool, 6), [now.clone(), now.clone()].concat());
    // A crash through the pool: the message goes to the next worker (now[0], which moves to the
    // end of the rotation), and its replacement takes that place.
    node.send(pool, Crash(ExitReason::error("through the pool"))).unwrap();
    assert!(eventually(|| pool::info(&node, pool).unwrap().restarts == 3));
    let last = pool::workers(&node, pool).unwrap();
    assert_eq!(last.len(), 3);
    assert_eq!(last[..2], now[1..]);
    assert_ne!(last[2], now[0]);
    assert_eq!(serve_round(&node, pool, 3).len(), 3);
    node.stop();
}

#[test]
fn resize_up_and_down() {
    let node = node("pool-resize", 2);
    let kit = Kit::new();
    let pool = node.spawn_wait(Pool::new(kit.spec(2)), SpawnOptions::default()).unwrap();
    assert_eq!(pool::add_workers(&node, pool, 3), Ok(5));
    let five = pool::workers(&node, pool).unwrap();
    assert_eq!(five.len(), 5);
    assert_eq!(serve_round(&node, pool, 10), [five.clone(), five.clone()].concat());
    // The next three in the rotation are stopped (normally) and leave it.
    assert_eq!(pool::remove_workers(&node, pool, 3), Ok(2));
    let mut ended: Vec<_> = (0..3).map(|_| kit.ended.recv_timeout(PATIENCE).unwrap()).collect();
    ended.sort_by_key(|e| e.0);
    assert_eq!(ended, (0..3).map(|n| (n, ExitReason::Normal)).collect::<Vec<_>>());
    // `terminate` reports before the process is gone.
    assert!(eventually(|| five[..3].iter().all(|p| !node.is_alive(*p))));
    assert_eq!(pool::workers(&node, pool).unwrap(), five[3..]);
    assert_eq!(serve_round(&node, pool, 4), [&five[3..], &five[3..]].concat());
    // Not replaced: they were removed, not dead.
    assert_eq!(pool::info(&node, pool).unwrap().restarts, 0);
    assert_eq!(kit.started(), 5);
    // More than there are: refused, nothing removed.
    assert_eq!(pool::remove_workers(&node, pool, 3), Err(PoolError::Empty));
    assert_eq!(pool::workers(&node, pool).unwrap().len(), 2);
    // Down to none: what is sent is dropped and counted.
    assert_eq!(pool::remove_workers(&node, pool, 2), Ok(0));
    node.send(pool, 1u64).unwrap();
    assert!(eventually(|| pool::info(&node, pool).unwrap().unhandled == 1));
    assert_eq!(pool::add_workers(&node, pool, 1), Ok(1));
    assert_eq!(serve_round(&node, pool, 2).len(), 2);
    node.stop();
}

#[test]
fn workers_end_with_the_pool() {
    let node = node("pool-end", 2);
    let kit = Kit::new();
    let pool = node.spawn_wait(Pool::new(kit.spec(3)), SpawnOptions::default()).unwrap();
    let workers = pool::workers(&node, pool).unwrap();
    node.send_exit(pool, ExitReason::Shutdown).unwrap();
    assert!(eventually(|| !node.is_alive(pool) && workers.iter().all(|w| !node.is_alive(*w))));
    // Not replaced on the way out.
    assert_eq!(kit.started(), 3);
    node.stop();
}

#[test]
fn a_pool_whose_workers_fail_init_fails_to_start() {
    struct Refuse;
    impl ergors::Actor for Refuse {
        async fn init(&mut self, _ctx: &mut ergors::Context) -> Result<(), ExitReason> {
            Err(ExitReason::error("no"))
        }
    }
    let node = node("pool-init", 2);
    let spawned = node.spawn_wait(Pool::new(pool::PoolSpec::new(|| Refuse)), SpawnOptions::default());
    assert!(matches!(spawned, Err(ergors::Error::InitFailed(_))), "{spawned:?}");
    node.stop();
}

/// Reports the pool's own messages.
struct Report(std::sync::mpsc::Sender<ergors::Message>);

impl ergors::PoolBehavior for Report {
    async fn handle_message(
        &mut self,
        _pool: &mut ergors::PoolControl<'_>,
        _from: ergors::Pid,
        msg: ergors::Message,
    ) -> Result<(), ExitReason> {
        let _ = self.0.send(msg);
        Ok(())
    }
}

#[test]
fn the_behaviour_does_not_see_its_workers_downs() {
    let node = node("pool-downs", 2);
    let kit = Kit::new();
    let (tx, own) = std::sync::mpsc::channel();
    let pool = node.spawn_wait(Pool::new(kit.spec(2).behavior(Report(tx))), SpawnOptions::default()).unwrap();
    let workers = pool::workers(&node, pool).unwrap();
    node.kill(workers[0]).unwrap();
    assert!(eventually(|| pool::info(&node, pool).unwrap().restarts == 1));
    // The first thing the behaviour gets is this, not the worker's down.
    node.send_with_priority(pool, "mark", ergors::Priority::System).unwrap();
    assert_eq!(own.recv_timeout(PATIENCE).unwrap().downcast::<&str>().ok(), Some("mark"));
    assert!(own.try_recv().is_err());
    node.stop();
}
