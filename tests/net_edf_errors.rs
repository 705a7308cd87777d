//! EDF's refusals: unknown registered types, cache ids nobody advertised, hostile counts and
//! nesting, bad text, type mismatches, §4.2's nil rules, and encoder limits (a failed write leaves
//! the buffer as it was).

use std::sync::Arc;

use ergors::net::edf::{
    CacheKind, DecodeCaches, Decoder, EdfError, EncodeCaches, Encoder, ErrorValue, MAX_DEPTH, RegShape, Registry,
    TypeDesc, Value,
};
use ergors::{Message, Name};

#[derive(Debug, PartialEq)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}
ergors::edf_struct!(Point = "#gopeer/types/Point" { x: i32, y: i32 });

#[derive(Debug, PartialEq)]
pub struct Flagged {
    pub err: Option<ErrorValue>,
    pub tags: Option<Vec<String>>,
    pub blob: Vec<u8>,
    pub any: Value,
}
ergors::edf_struct!(Flagged = "#test/Flagged" {
    err: Option<ErrorValue>, tags: Option<Vec<String>>, blob: Vec<u8>, any: Value,
});

fn reg() -> Registry {
    let mut r = Registry::new();
    r.register::<Point>().unwrap();
    r.register::<Flagged>().unwrap();
    r
}

fn value(bytes: &[u8]) -> Result<Value, EdfError> {
    let r = reg();
    Decoder::new(bytes, &r).decode_value()
}

fn reg_name(name: &str) -> Vec<u8> {
    let mut b = vec![0x83];
    b.extend_from_slice(&(name.len() as u16).to_be_bytes());
    b.extend_from_slice(name.as_bytes());
    b
}

#[test]
fn an_unknown_registered_name_is_refused_at_top_level_and_in_a_type_description() {
    assert_eq!(value(&reg_name("#x/Nope")), Err(EdfError::UnknownRegType("#x/Nope".into())));
    let item = reg_name("#x/Nope");
    let mut b = vec![0x82, 0, 1 + item.len() as u8, 0x9d];
    b.extend_from_slice(&item);
    b.extend_from_slice(&[0x9d, 0, 0, 0, 0]);
    assert_eq!(value(&b), Err(EdfError::UnknownRegType("#x/Nope".into())));
}

#[test]
fn a_cache_id_the_peer_did_not_advertise_is_refused() {
    let r = reg();
    // Without caches at all.
    assert_eq!(value(&[0x8c, 0x01, 0x2c]), Err(EdfError::UnknownCacheId(CacheKind::Atom, 300)));
    assert_eq!(value(&[0x83, 0x10, 0x7b]), Err(EdfError::UnknownCacheId(CacheKind::Reg, 4219)));
    assert_eq!(value(&[0x9c, 0x80, 0x07]), Err(EdfError::UnknownCacheId(CacheKind::Error, 32775)));
    // With caches that lack the id; the ids they have work.
    let mut c = DecodeCaches::new();
    c.insert_atom(256, "node@localhost").unwrap();
    c.insert_reg(4096, "#gopeer/types/Point").unwrap();
    c.insert_error(32768, "normal").unwrap();
    let dec = |b: &[u8]| Decoder::new(b, &r).with_caches(&c).decode_value();
    assert_eq!(dec(&[0x8c, 0x01, 0x01]), Err(EdfError::UnknownCacheId(CacheKind::Atom, 257)));
    assert_eq!(dec(&[0x8c, 0x01, 0x00]), Ok(Value::Atom(Name::new("node@localhost"))));
    assert_eq!(dec(&[0x9c, 0x80, 0x00]), Ok(Value::Error(ErrorValue::new("normal"))));
    let p = Decoder::new(&[0x83, 0x10, 0x00, 0, 0, 0, 1, 0, 0, 0, 2], &r).with_caches(&c).decode::<Point>();
    assert_eq!(p, Ok(Point { x: 1, y: 2 }));
}

#[test]
fn cache_ids_outside_their_ranges_are_refused() {
    let mut e = EncodeCaches::new();
    assert_eq!(e.insert_atom("a", 255), Err(EdfError::BadCacheId(CacheKind::Atom, 255)));
    assert_eq!(e.insert_reg("#a/B", 4095), Err(EdfError::BadCacheId(CacheKind::Reg, 4095)));
    assert_eq!(e.insert_error("x", 32767), Err(EdfError::BadCacheId(CacheKind::Error, 32767)));
    assert_eq!(e.insert_error("x", 0xffff), Err(EdfError::BadCacheId(CacheKind::Error, 0xffff)), "0xffff is nil");
    let mut d = DecodeCaches::new();
    assert_eq!(d.insert_atom(3, "a"), Err(EdfError::BadCacheId(CacheKind::Atom, 3)));
}

#[test]
fn a_count_larger_than_the_bytes_left_is_refused_before_allocating() {
    // []int claiming 4 billion items.
    assert_eq!(
        value(&[0x82, 0, 2, 0x9d, 0x96, 0x9d, 0xff, 0xff, 0xff, 0xff]),
        Err(EdfError::CountTooLarge(0xffff_ffff))
    );
    // map[string]int likewise.
    assert_eq!(value(&[0x82, 0, 3, 0x9f, 0x8d, 0x96, 0x9f, 0, 1, 0, 0, 0]), Err(EdfError::CountTooLarge(65536)));
    // An array's length lives in its type: the same rule applies (Go has no check there).
    assert_eq!(value(&[0x82, 0, 6, 0x9e, 0x7f, 0xff, 0xff, 0xff, 0x91]), Err(EdfError::CountTooLarge(0x7fff_ffff)));
    // A registered slice type's count too.
    let mut r = reg();
    r.register_shape("#test/Names", RegShape::Slice(Arc::new(TypeDesc::String))).unwrap();
    let mut b = reg_name("#test/Names");
    b.extend_from_slice(&[0x83, 0, 0, 1, 0]);
    assert_eq!(Decoder::new(&b, &r).decode_value(), Err(EdfError::CountTooLarge(256)));
}

#[test]
fn nesting_deeper_than_the_limit_is_refused_and_shallower_nesting_is_not() {
    // `[]any` holding `[]any` holding ... `depth` times, innermost holding nil.
    let nested = |depth: usize| {
        let mut b = Vec::new();
        for _ in 0..depth {
            b.extend_from_slice(&[0x82, 0, 2, 0x9d, 0x84, 0x9d, 0, 0, 0, 1]);
        }
        b.push(0xff);
        b
    };
    assert!(value(&nested(10)).is_ok());
    assert_eq!(value(&nested(MAX_DEPTH as usize + 1)), Err(EdfError::TooDeep));
    assert_eq!(value(&nested(100_000)), Err(EdfError::TooDeep), "no stack overflow");
    // A type description nested too deep: [][][]...int.
    let n = 5000usize;
    let mut b = vec![0x82];
    b.extend_from_slice(&((n + 1) as u16).to_be_bytes());
    b.extend(std::iter::repeat_n(0x9d, n));
    b.push(0x96);
    b.push(0xff);
    assert_eq!(value(&b), Err(EdfError::TooDeep));
}

#[test]
fn truncated_input_is_an_error_at_every_length() {
    let mut b = Vec::new();
    let p = Flagged {
        err: Some(ErrorValue::new("bad")),
        tags: Some(vec!["a".into()]),
        blob: vec![1, 2],
        any: Value::String("x".into()),
    };
    Encoder::new(&mut b).encode(&p).unwrap();
    let r = reg();
    // Cut right after a count, the count exceeds the bytes left: refused as such.
    let cut = |e: &EdfError| matches!(e, EdfError::Truncated | EdfError::CountTooLarge(_));
    for n in 0..b.len() {
        let e = Decoder::new(&b[..n], &r).decode::<Flagged>().unwrap_err();
        assert!(cut(&e), "cut at {n}: {e:?}");
        let e = Decoder::new(&b[..n], &r).decode_value().unwrap_err();
        assert!(cut(&e), "cut at {n}: {e:?}");
    }
    assert_eq!(Decoder::new(&b, &r).decode::<Flagged>(), Ok(p));
}

#[test]
fn text_must_be_utf8() {
    assert_eq!(value(&[0x8d, 0, 2, 0xff, 0xfe]), Err(EdfError::Utf8));
    assert_eq!(value(&[0x8c, 0, 1, 0x80]), Err(EdfError::Utf8));
    assert_eq!(value(&[0x9c, 0, 1, 0xc3]), Err(EdfError::Utf8));
    assert_eq!(value(&[0x8e, 0, 0, 0, 2, 0xff, 0xfe]), Ok(Value::Binary(vec![0xff, 0xfe])), "binaries are bytes");
}

#[test]
fn a_typed_decode_refuses_another_type() {
    let r = reg();
    let mut b = Vec::new();
    Encoder::new(&mut b).encode(&5i64).unwrap();
    assert_eq!(Decoder::new(&b, &r).decode::<i32>(), Err(EdfError::BadTag(0x95)));
    let mut b = Vec::new();
    Encoder::new(&mut b).encode(&vec![1i32]).unwrap();
    assert_eq!(Decoder::new(&b, &r).decode::<Vec<i64>>(), Err(EdfError::BadTag(0x94)));
    let mut b = Vec::new();
    Encoder::new(&mut b).encode(&Point { x: 1, y: 2 }).unwrap();
    let e = Decoder::new(&b, &r).decode::<Flagged>();
    assert!(matches!(e, Err(EdfError::TypeMismatch { .. })), "{e:?}");
    assert_eq!(value(&[0x84]), Err(EdfError::BadTag(0x84)), "`any` is no value type");
    assert_eq!(value(&[0x01]), Err(EdfError::BadTag(0x01)));
}

#[test]
fn nil_rules_of_section_4_2() {
    let r = reg();
    let nils = Flagged { err: None, tags: None, blob: Vec::new(), any: Value::Nil };
    let mut b = Vec::new();
    Encoder::new(&mut b).encode(&nils).unwrap();
    let mut want = reg_name("#test/Flagged");
    // nil error: ff ff; nil slice: ff; nil []byte: empty; nil any: ff.
    want.extend_from_slice(&[0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff]);
    assert_eq!(b, want);
    assert_eq!(Decoder::new(&b, &r).decode::<Flagged>(), Ok(nils));

    // A nil error where the type has none; the optional form accepts it.
    assert_eq!(Decoder::new(&[0x9c, 0xff, 0xff], &r).decode::<ErrorValue>(), Err(EdfError::UnexpectedNil));
    assert_eq!(Decoder::new(&[0x9c, 0xff, 0xff], &r).decode::<Option<ErrorValue>>(), Ok(None));
    // A top-level nil (Go decodes it; Go cannot encode it): we read it as Value::Nil and write
    // Value::Nil the same way.
    assert_eq!(value(&[0xff]), Ok(Value::Nil));
    let mut b = Vec::new();
    Encoder::new(&mut b).encode_value(&Value::Nil).unwrap();
    assert_eq!(b, [0xff]);
    // A nil slice decoded into a Vec is empty; into an Option it is None.
    let nil_slice = [0x82, 0, 2, 0x9d, 0x96, 0xff];
    assert_eq!(Decoder::new(&nil_slice, &r).decode::<Vec<isize>>(), Ok(vec![]));
    assert_eq!(Decoder::new(&nil_slice, &r).decode::<Option<Vec<isize>>>(), Ok(None));
}

#[test]
fn the_encoder_refuses_what_does_not_fit_and_leaves_the_buffer_as_it_was() {
    let mut b = vec![1, 2, 3];
    let long_atom = Name::new(&"a".repeat(256));
    assert_eq!(Encoder::new(&mut b).encode(&long_atom), Err(EdfError::TooLong("atom")));
    assert_eq!(Encoder::new(&mut b).encode(&"s".repeat(65536)), Err(EdfError::TooLong("string")));
    let e = Some(ErrorValue::new(&"e".repeat(32768)));
    assert_eq!(Encoder::new(&mut b).encode(&e), Err(EdfError::TooLong("error")));
    let deep = Flagged { err: None, tags: Some(vec!["x".repeat(70_000)]), blob: vec![], any: Value::Nil };
    assert_eq!(Encoder::new(&mut b).encode(&deep), Err(EdfError::TooLong("string")));
    assert_eq!(b, [1, 2, 3], "appends only, and undoes a failed write");
    Encoder::new(&mut b).encode(&true).unwrap();
    assert_eq!(b, [1, 2, 3, 0x91, 1]);
}

#[test]
fn a_value_that_does_not_fit_its_type_is_refused() {
    let r = reg();
    let bad = Value::slice(TypeDesc::I32, vec![Value::String("x".into())]);
    let mut b = Vec::new();
    let e = Encoder::new(&mut b).with_registry(&r).encode_value(&bad);
    assert!(matches!(e, Err(EdfError::TypeMismatch { .. })), "{e:?}");
    assert!(b.is_empty());
    // A registered value needs the registry to be encoded.
    let p = Value::reg("#gopeer/types/Point", Value::Struct(vec![Value::I32(1), Value::I32(2)]));
    assert_eq!(Encoder::new(&mut b).encode_value(&p), Err(EdfError::NotRegistered("#gopeer/types/Point".into())));
    Encoder::new(&mut b).with_registry(&r).encode_value(&p).unwrap();
    assert_eq!(Decoder::new(&b, &r).decode::<Point>(), Ok(Point { x: 1, y: 2 }));
}

#[test]
fn the_message_hook_names_a_type_it_cannot_encode() {
    struct Opaque;
    let r = reg();
    let mut b = Vec::new();
    let e = r.encode_message(&Message::new(Opaque), &mut Encoder::new(&mut b));
    assert!(matches!(&e, Err(EdfError::NotRegistered(n)) if n.contains("Opaque")), "{e:?}");
    // Vec<i32> is not registered until asked for.
    assert!(r.encode_message(&Message::new(vec![1i32]), &mut Encoder::new(&mut b)).is_err());
    let mut r = r;
    r.register_message::<Vec<i32>>();
    r.encode_message(&Message::new(vec![1i32]), &mut Encoder::new(&mut b)).unwrap();
    assert_eq!(b, [0x82, 0, 2, 0x9d, 0x94, 0x9d, 0, 0, 0, 1, 0, 0, 0, 1]);
}

#[test]
fn a_name_registers_once() {
    let mut r = reg();
    assert_eq!(r.register::<Point>(), Err(EdfError::Taken("#gopeer/types/Point".into())));
    let shape = RegShape::Named(TypeDesc::I32);
    assert_eq!(
        r.register_shape("#ergo.services/ergo/gen/Version", shape),
        Err(EdfError::Taken("#ergo.services/ergo/gen/Version".into()))
    );
}
