//! What a peer's names cost us: node names (in PIDs, refs, process ids) are interned through
//! the capped atom table and refused, with a typed error, once it is full; process and event
//! names are `Name`s and never touch it. Its own test binary: it fills the process-wide table.

use ergors::net::edf::{Decoder, EdfError, Registry};
use ergors::{Pid, ProcessId};

fn pid_bytes(node: &str) -> Vec<u8> {
    let mut b = vec![0xaa];
    b.extend_from_slice(&(node.len() as u16).to_be_bytes());
    b.extend_from_slice(node.as_bytes());
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
    b
}

fn process_id_bytes(node: &str, name: &str) -> Vec<u8> {
    let mut b = vec![0xab];
    for s in [node, name] {
        b.extend_from_slice(&(s.len() as u16).to_be_bytes());
        b.extend_from_slice(s.as_bytes());
    }
    b
}

#[test]
fn node_names_from_peers_stop_at_the_cap_and_process_names_never_count() {
    let reg = Registry::builtin();
    let known = Decoder::new(&pid_bytes("home@localhost"), reg).decode::<Pid>().unwrap();

    // Process names: as many distinct ones as we like, on a known node.
    for i in 0..100_000 {
        let b = process_id_bytes("home@localhost", &format!("worker-{i}"));
        let p = Decoder::new(&b, reg).decode::<ProcessId>().unwrap();
        assert_eq!(p.node, known.node);
    }

    // Node names: a peer inventing new ones fills the table, then is refused.
    let mut refused = None;
    for i in 0..=ergors::MAX_ATOMS {
        match Decoder::new(&pid_bytes(&format!("n{i}@h")), reg).decode::<Pid>() {
            Ok(_) => {}
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    let (at, e) = refused.expect("the table is capped");
    assert_eq!(e, EdfError::AtomTableFull);
    assert!(at < ergors::MAX_ATOMS, "refused at {at}");
    // Names already known still decode, and so do new process names.
    assert_eq!(Decoder::new(&pid_bytes("home@localhost"), reg).decode::<Pid>().unwrap(), known);
    assert_eq!(Decoder::new(&pid_bytes("n0@h"), reg).decode::<Pid>().unwrap().node.as_str(), "n0@h");
    let b = process_id_bytes("home@localhost", "one-more");
    assert!(Decoder::new(&b, reg).decode::<ProcessId>().is_ok());
}
