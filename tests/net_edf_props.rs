//! Properties of EDF: any `Value` survives encode → decode → encode; random bytes, truncated and
//! mutated Go vectors never panic, and decoding allocates at most in proportion to its input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use ergors::net::edf::{Decoder, Encoder, ErrorValue, GoTime, Registry, TypeDesc, Value};
use ergors::{Atom, Event, Name, Pid, ProcessId};
use proptest::prelude::*;

/// Counts the bytes this thread allocates, to check a decode's allocation against its input.
struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// thread-local `Cell` with a const initialiser and no destructor, so touching it never
// allocates or re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + new_size));
        // SAFETY: as for `realloc`'s caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> usize {
    ALLOCATED.with(Cell::get)
}

fn scalar_desc() -> impl Strategy<Value = TypeDesc> {
    prop_oneof![
        Just(TypeDesc::Bool),
        Just(TypeDesc::I8),
        Just(TypeDesc::I16),
        Just(TypeDesc::I32),
        Just(TypeDesc::I64),
        Just(TypeDesc::Int),
        Just(TypeDesc::U8),
        Just(TypeDesc::U16),
        Just(TypeDesc::U32),
        Just(TypeDesc::U64),
        Just(TypeDesc::Uint),
        Just(TypeDesc::F32),
        Just(TypeDesc::F64),
        Just(TypeDesc::Atom),
        Just(TypeDesc::String),
        Just(TypeDesc::Binary),
        Just(TypeDesc::Error),
        Just(TypeDesc::Pid),
        Just(TypeDesc::ProcessId),
        Just(TypeDesc::Event),
        Just(TypeDesc::Time),
        Just(TypeDesc::Any),
        Just(TypeDesc::Reg("#ergo.services/ergo/gen/Version".into())),
    ]
}

fn desc() -> impl Strategy<Value = TypeDesc> {
    scalar_desc().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|d| TypeDesc::Slice(Arc::new(d))),
            // Not [0]T: items of no bytes fall foul of the count rule (docs/decisions.md D173).
            (1u32..4, inner.clone()).prop_map(|(n, d)| TypeDesc::Array(n, Arc::new(d))),
            (inner.clone(), inner).prop_map(|(k, v)| TypeDesc::Map(Arc::new(k), Arc::new(v))),
        ]
    })
}

/// Node names come from a small set: they are interned for the life of the process.
fn node() -> impl Strategy<Value = Atom> {
    prop::sample::select(vec!["a@h", "node@localhost", "beta@localhost"]).prop_map(Atom::new)
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

/// A value of type `d` (for `any`: a scalar value of a random scalar type, or nil).
fn value_of(d: TypeDesc, depth: u32) -> BoxedStrategy<Value> {
    match d {
        TypeDesc::Any => {
            if depth == 0 {
                return Just(Value::Nil).boxed();
            }
            prop_oneof![Just(Value::Nil), desc().prop_flat_map(move |d| value_of(d, depth - 1))].boxed()
        }
        TypeDesc::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        TypeDesc::I8 => any::<i8>().prop_map(Value::I8).boxed(),
        TypeDesc::I16 => any::<i16>().prop_map(Value::I16).boxed(),
        TypeDesc::I32 => any::<i32>().prop_map(Value::I32).boxed(),
        TypeDesc::I64 => any::<i64>().prop_map(Value::I64).boxed(),
        TypeDesc::Int => any::<i64>().prop_map(Value::Int).boxed(),
        TypeDesc::U8 => any::<u8>().prop_map(Value::U8).boxed(),
        TypeDesc::U16 => any::<u16>().prop_map(Value::U16).boxed(),
        TypeDesc::U32 => any::<u32>().prop_map(Value::U32).boxed(),
        TypeDesc::U64 => any::<u64>().prop_map(Value::U64).boxed(),
        TypeDesc::Uint => any::<u64>().prop_map(Value::Uint).boxed(),
        TypeDesc::F32 => any::<f32>().prop_map(Value::F32).boxed(),
        TypeDesc::F64 => any::<f64>().prop_map(Value::F64).boxed(),
        TypeDesc::Atom => "\\PC{0,8}".prop_map(|s| Value::Atom(Name::new(&s))).boxed(),
        TypeDesc::String => text().prop_map(Value::String).boxed(),
        TypeDesc::Binary => prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Binary).boxed(),
        TypeDesc::Error => {
            prop_oneof![Just(Value::Nil), text().prop_map(|s| Value::Error(ErrorValue::new(&s)))].boxed()
        }
        TypeDesc::Pid => (node(), any::<u64>(), any::<i64>())
            .prop_map(|(node, id, c)| Value::Pid(Pid { node, id, creation: c }))
            .boxed(),
        TypeDesc::ProcessId => {
            (node(), text()).prop_map(|(node, n)| Value::ProcessId(ProcessId { name: Name::new(&n), node })).boxed()
        }
        TypeDesc::Event => {
            (node(), text()).prop_map(|(node, n)| Value::Event(Event { name: Name::new(&n), node })).boxed()
        }
        TypeDesc::Time => (-(1i64 << 40)..(1i64 << 40), 0u32..1_000_000_000, prop::option::of(-50_000i32..50_000))
            .prop_filter("Go cannot write a −1 minute zone", |(_, _, o)| o.is_none_or(|o| o / 60 != -1))
            .prop_map(|(s, n, o)| Value::Time(GoTime { unix_seconds: s, nanos: n, offset_seconds: o }))
            .boxed(),
        TypeDesc::Reg(name) => (text(), text(), text(), text())
            .prop_map(move |(a, b, c, d)| {
                Value::Reg(
                    name.clone(),
                    Box::new(Value::Struct(vec![
                        Value::String(a),
                        Value::String(b),
                        Value::String(c),
                        Value::String(d),
                    ])),
                )
            })
            .boxed(),
        TypeDesc::Slice(item) => {
            let i = item.clone();
            prop_oneof![
                1 => Just(Value::Slice { item: item.clone(), items: None }),
                4 => prop::collection::vec(value_of((*i).clone(), depth), 0..4)
                    .prop_map(move |items| Value::Slice { item: i.clone(), items: Some(items) }),
            ]
            .boxed()
        }
        TypeDesc::Array(n, item) => prop::collection::vec(value_of((*item).clone(), depth), n as usize)
            .prop_map(move |items| Value::Array { item: item.clone(), items })
            .boxed(),
        TypeDesc::Map(k, v) => {
            let (k2, v2) = (k.clone(), v.clone());
            prop_oneof![
                1 => Just(Value::Map { key: k.clone(), value: v.clone(), entries: None }),
                4 => prop::collection::vec((value_of((*k).clone(), depth), value_of((*v).clone(), depth)), 0..4)
                    .prop_map(move |entries| Value::Map { key: k2.clone(), value: v2.clone(), entries: Some(entries) }),
            ]
            .boxed()
        }
        TypeDesc::Alias | TypeDesc::Ref => unreachable!("not generated"),
    }
}

/// A top-level value: anything but a bare nil inside a registered struct.
fn top_value() -> impl Strategy<Value = Value> {
    desc().prop_flat_map(|d| value_of(d, 2))
}

fn vectors() -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/edf-vectors.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v.get("options").is_none())
        .map(|v| {
            let h = v["hex"].as_str().unwrap();
            (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect()
        })
        .collect()
}

/// Decodes `bytes` every way we can; checks the allocation bound. Errors are fine; panics are
/// not (proptest reports them).
fn decode_everything(reg: &Registry, bytes: &[u8]) {
    let before = allocated();
    let _ = Decoder::new(bytes, reg).decode_value();
    let _ = reg.decode_message(&mut Decoder::new(bytes, reg));
    let _ = Decoder::new(bytes, reg).decode::<Vec<String>>();
    let _ = Decoder::new(bytes, reg).decode::<ergors::net::edf::ergo_types::MessageIntroduce>();
    let used = allocated() - before;
    // Each input byte yields at most one value (a count over the bytes left is refused), a value
    // is a few words, and the registry's fixed costs are small.
    let bound = 512 * bytes.len() + 64 * 1024;
    assert!(used <= bound, "{used} bytes allocated decoding {} bytes", bytes.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_value_survives_a_round_trip(v in top_value()) {
        let reg = Registry::builtin();
        let mut bytes = Vec::new();
        Encoder::new(&mut bytes).with_registry(reg).encode_value(&v).unwrap();
        let mut dec = Decoder::new(&bytes, reg);
        let back = dec.decode_value().unwrap();
        prop_assert!(dec.remaining().is_empty());
        // Debug, not ==: a NaN is the same NaN.
        prop_assert_eq!(format!("{back:?}"), format!("{v:?}"));
        let mut again = Vec::new();
        Encoder::new(&mut again).with_registry(reg).encode_value(&back).unwrap();
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_everything(Registry::builtin(), &bytes);
    }

    #[test]
    fn random_bytes_after_a_valid_tag_never_panic(
        t in prop::sample::select(vec![0x82u8, 0x83, 0x8c, 0x8d, 0x8e, 0x9c, 0xaa, 0xab, 0xac, 0xae, 0xaf]),
        rest in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = vec![t];
        bytes.extend(rest);
        decode_everything(Registry::builtin(), &bytes);
    }

    #[test]
    fn mutated_and_truncated_go_vectors_never_panic(
        which in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let all = vectors();
        let mut bytes = all[which.index(all.len())].clone();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let n = cut.index(bytes.len() + 1);
        decode_everything(Registry::builtin(), &bytes[..n]);
        decode_everything(Registry::builtin(), &bytes);
    }
}

#[test]
fn encoding_scalars_identities_and_registered_structs_allocates_nothing() {
    use ergors::net::edf::ergo_types::{MessageLinkPid, MessageResult, Version};
    use ergors::{Message, Ref};
    let node = Atom::new("node@localhost");
    let pid = Pid { node, id: 1004, creation: 1_700_000_000 };
    let r: Ref = {
        // Any Ref will do; take one from the wire form.
        let bytes = [
            0xae, 0, 1, b'n', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0,
        ];
        Decoder::new(&bytes, Registry::builtin()).decode().unwrap()
    };
    let link = MessageLinkPid { source: pid, target: pid, r#ref: r };
    let result = MessageResult { error: None, result: Value::Nil, r#ref: r };
    let version = Version { name: "ENP".into(), release: "R1".into(), commit: String::new(), license: "MIT".into() };
    let reg = Registry::builtin();
    let msg = Message::new(42i64);
    let mut buf = Vec::with_capacity(4096);
    let before = allocated();
    let mut enc = Encoder::new(&mut buf);
    enc.encode(&7i32).unwrap();
    enc.encode(&pid).unwrap();
    enc.encode(&link).unwrap();
    enc.encode(&result).unwrap();
    enc.encode(&version).unwrap();
    reg.encode_message(&msg, &mut enc).unwrap();
    assert_eq!(allocated() - before, 0, "only the output buffer, reserved beforehand");
    // Decoding a struct of scalars allocates nothing either, once this thread has met the node.
    let _ = Decoder::new(&buf[5..], reg).decode::<Pid>();
    let mut dec = Decoder::new(&buf, reg);
    let before = allocated();
    assert_eq!(dec.decode::<i32>(), Ok(7));
    assert_eq!(dec.decode::<Pid>(), Ok(pid));
    assert_eq!(dec.decode::<MessageLinkPid>(), Ok(link));
    assert_eq!(allocated() - before, 0);
}

#[test]
fn a_lying_count_of_large_items_reserves_little() {
    // `[][512]uint64` claiming 1000 items, backed by 1000 bytes that are not items at all: a
    // count within the bytes left, yet each item would be 4 KiB in Rust.
    let mut bytes = vec![0x82, 0, 7, 0x9d, 0x9e, 0, 0, 2, 0, 0x9a, 0x9d, 0, 0, 3, 0xe8];
    bytes.extend(std::iter::repeat_n(0u8, 1000));
    let reg = Registry::builtin();
    let before = allocated();
    let r = Decoder::new(&bytes, reg).decode::<Vec<[u64; 512]>>();
    assert!(r.is_err());
    let used = allocated() - before;
    assert!(used <= 128 * 1024, "{used} bytes reserved for 1000 bytes of input");
}
