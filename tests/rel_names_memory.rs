//! Names do not leak: registering, unregistering and addressing a million distinct names leaves
//! the program's live heap where it was (docs/decisions.md D22). A binary of its own, because it
//! counts every allocation through its global allocator.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use support::agent::{agent, on};

/// The system allocator, counting the bytes live at any moment.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged;
// the counter is only arithmetic on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ROUNDS: usize = 1_000_000;
/// What the runtime may legitimately keep (map capacity, a worker's queues): far below the tens
/// of megabytes a million leaked names take.
const SLACK: isize = 1 << 20;

/// The two tests measure one process-wide counter: they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

#[test]
fn a_million_registered_and_unregistered_names_leave_no_memory_behind() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let node = support::node("names-mem", 1);
    let h = node.handle();
    let (a, _rx) = agent(&h, false);
    // Warm up: the first registration sizes the shard maps; the first call allocates its slots.
    on(&h, a, |ctx| {
        ctx.register_name("warm-up").unwrap();
        ctx.unregister_name().unwrap();
    });
    let before = live();
    let registered = on(&h, a, |ctx| {
        let mut n = 0;
        for i in 0..ROUNDS {
            // Long enough to live on the heap (short names are stored inline).
            let name = format!("a-process-name-longer-than-inline-{i:08}");
            if ctx.register_name(&name).is_ok() && ctx.unregister_name().is_ok() {
                n += 1;
            }
        }
        n
    });
    assert_eq!(registered, ROUNDS);
    let grown = live() - before;
    assert!(grown < SLACK, "{ROUNDS} register/unregister rounds kept {grown} bytes");
    assert_eq!(h.info().registered_names, 0);
}

#[test]
fn sending_to_a_million_unknown_names_leaves_no_memory_behind() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let node = support::node("names-send", 1);
    let h = node.handle();
    assert!(h.send("warm-up", 1u8).is_err());
    let before = live();
    for i in 0..ROUNDS {
        // Names a peer could make up: none of them may grow a table.
        let short = format!("n{i}");
        let long = format!("a-name-nobody-registered-at-all-{i:08}");
        assert!(h.send(short.as_str(), 1u8).is_err());
        assert!(h.send(long.as_str(), 1u8).is_err());
        assert!(h.whereis(&short).is_none());
    }
    let grown = live() - before;
    assert!(grown < SLACK, "{ROUNDS} sends by unknown names kept {grown} bytes");
}
