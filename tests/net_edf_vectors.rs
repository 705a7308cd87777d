//! EDF against Go Ergo's own bytes. `tests/data/edf-vectors.json` is a copy of
//! `shared/interop/edf-vectors.json`: 73 values encoded by Go Ergo 3.1.0's `net/edf.Encode`
//! (commit f5ff7ed) in a program that registered `#gopeer/types/{Point,Sample,Celsius,Names}`,
//! with the caches each cached vector names. For every vector: the bytes decode (as a dynamic
//! `Value`) to the value the JSON states, with the Go type it states, and re-encode to the same
//! bytes; the Rust types (ours and Ergo's) decode and re-encode them too.

use std::collections::HashMap;
use std::sync::Arc;

use ergors::net::edf::ergo_types::{
    MessageAccept, MessageEvent, MessageHello, MessageIntroduce, MessageJoin, MessageLinkPid, MessageMonitorProcessId,
    MessageResult, NetworkFlags, Version,
};
use ergors::net::edf::{
    DecodeCaches, Decoder, Edf, EncodeCaches, Encoder, ErrorValue, GoTime, RegShape, Registry, TypeDesc, Value,
};
use ergors::{Atom, Event, Message, Name, Pid, ProcessId, Ref};
use serde_json::Value as Json;

#[derive(Debug, PartialEq, Clone, Copy)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}
ergors::edf_struct!(Point = "#gopeer/types/Point" { x: i32, y: i32 });

#[derive(Debug, PartialEq)]
pub struct Sample {
    pub id: isize,
    pub name: String,
    pub tags: Option<Vec<String>>,
    pub scores: Option<HashMap<String, isize>>,
    pub owner: Pid,
    pub where_: Point,
    pub valid: bool,
    pub ratio: f64,
    pub blob: Vec<u8>,
    pub reason: Option<ErrorValue>,
}
ergors::edf_struct!(Sample = "#gopeer/types/Sample" {
    id: isize, name: String, tags: Option<Vec<String>>, scores: Option<HashMap<String, isize>>,
    owner: Pid, where_: Point, valid: bool, ratio: f64, blob: Vec<u8>, reason: Option<ErrorValue>,
});

#[derive(Debug, PartialEq)]
pub struct Celsius(pub f32);
ergors::edf_struct!(Celsius = "#gopeer/types/Celsius"(f32));

#[derive(Debug, PartialEq)]
pub struct Names(pub Option<Vec<String>>);
ergors::edf_struct!(Names = "#gopeer/types/Names"[String]);

fn registry() -> Registry {
    let mut reg = Registry::new();
    reg.register::<Point>().unwrap();
    reg.register::<Sample>().unwrap();
    reg.register::<Celsius>().unwrap();
    reg.register::<Names>().unwrap();
    reg
}

struct Vector {
    name: String,
    go_type: String,
    value: Json,
    bytes: Vec<u8>,
    options: Option<Json>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/edf-vectors.json")).unwrap();
    let json: Json = serde_json::from_str(&text).unwrap();
    json["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            name: v["name"].as_str().unwrap().to_owned(),
            go_type: v["go_type"].as_str().unwrap().to_owned(),
            value: v["value"].clone(),
            bytes: unhex(v["hex"].as_str().unwrap()),
            options: v.get("options").cloned(),
        })
        .collect()
}

fn vector(name: &str) -> Vector {
    vectors().into_iter().find(|v| v.name == name).unwrap()
}

/// The caches a vector was encoded with: ours to encode, the same inverted to decode.
fn caches(options: &Option<Json>) -> (EncodeCaches, DecodeCaches) {
    let (mut enc, mut dec) = (EncodeCaches::new(), DecodeCaches::new());
    let Some(o) = options else { return (enc, dec) };
    for (k, id) in o.get("atom_cache").and_then(Json::as_object).into_iter().flatten() {
        let id = id.as_u64().unwrap() as u16;
        enc.insert_atom(k, id).unwrap();
        dec.insert_atom(id, k).unwrap();
    }
    for (k, id) in o.get("reg_cache").and_then(Json::as_object).into_iter().flatten() {
        let id = id.as_u64().unwrap() as u16;
        enc.insert_reg(k, id).unwrap();
        dec.insert_reg(id, k).unwrap();
    }
    for (k, id) in o.get("err_cache").and_then(Json::as_object).into_iter().flatten() {
        let id = id.as_u64().unwrap() as u16;
        enc.insert_error(k, id).unwrap();
        dec.insert_error(id, k).unwrap();
    }
    (enc, dec)
}

/// A Go type as `reflect` prints it → its EDF description.
fn go_type(t: &str) -> TypeDesc {
    if let Some(rest) = t.strip_prefix("[]") {
        return if rest == "uint8" { TypeDesc::Binary } else { TypeDesc::Slice(Arc::new(go_type(rest))) };
    }
    if let Some(rest) = t.strip_prefix('[') {
        let (n, item) = rest.split_once(']').unwrap();
        return TypeDesc::Array(n.parse().unwrap(), Arc::new(go_type(item)));
    }
    if let Some(rest) = t.strip_prefix("map[") {
        // Key types in the vectors have no brackets of their own.
        let (k, v) = rest.split_once(']').unwrap();
        return TypeDesc::Map(Arc::new(go_type(k)), Arc::new(go_type(v)));
    }
    let reg = |pkg: &str, name: &str| TypeDesc::Reg(format!("#{pkg}/{name}").into());
    match t {
        "bool" => TypeDesc::Bool,
        "int8" => TypeDesc::I8,
        "int16" => TypeDesc::I16,
        "int32" => TypeDesc::I32,
        "int64" => TypeDesc::I64,
        "int" => TypeDesc::Int,
        "uint8" => TypeDesc::U8,
        "uint16" => TypeDesc::U16,
        "uint32" => TypeDesc::U32,
        "uint64" => TypeDesc::U64,
        "uint" => TypeDesc::Uint,
        "float32" => TypeDesc::F32,
        "float64" => TypeDesc::F64,
        "string" => TypeDesc::String,
        "interface {}" => TypeDesc::Any,
        "*errors.errorString" => TypeDesc::Error,
        "time.Time" => TypeDesc::Time,
        "gen.Atom" => TypeDesc::Atom,
        "gen.PID" => TypeDesc::Pid,
        "gen.ProcessID" => TypeDesc::ProcessId,
        "gen.Alias" => TypeDesc::Alias,
        "gen.Event" => TypeDesc::Event,
        "gen.Ref" => TypeDesc::Ref,
        _ => {
            let (pkg, name) = t.split_once('.').unwrap();
            match pkg {
                "types" => reg("gopeer/types", name),
                "gen" => reg("ergo.services/ergo/gen", name),
                "handshake" | "proto" | "registrar" => reg(&format!("ergo.services/ergo/net/{pkg}"), name),
                _ => panic!("unknown Go type {t}"),
            }
        }
    }
}

fn num(j: &Json) -> Option<i128> {
    j.as_i64().map(i128::from).or_else(|| j.as_u64().map(i128::from))
}

/// Go's `%+v` of NetworkFlags → its bit mask.
fn flags_bits(s: &str) -> u64 {
    let names = [
        ("Enable", 1),
        ("EnableRemoteSpawn", 2),
        ("EnableRemoteApplicationStart", 4),
        ("EnableFragmentation", 8),
        ("EnableProxyTransit", 16),
        ("EnableProxyAccept", 32),
        ("EnableImportantDelivery", 64),
    ];
    let inner = s.trim_start_matches('{').trim_end_matches('}');
    let mut bits = 0;
    for kv in inner.split(' ') {
        let (k, v) = kv.split_once(':').unwrap();
        if v == "true" {
            bits |= names.iter().find(|(n, _)| *n == k).unwrap().1;
        }
    }
    bits
}

fn time_of(s: &str) -> GoTime {
    let ts: jiff::Timestamp = s.parse().unwrap();
    let offset_seconds = if s.ends_with('Z') {
        None
    } else {
        let off = &s[s.len() - 6..];
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let h: i32 = off[1..3].parse().unwrap();
        let m: i32 = off[4..6].parse().unwrap();
        Some(sign * (h * 3600 + m * 60))
    };
    GoTime { unix_seconds: ts.as_second(), nanos: ts.subsec_nanosecond() as u32, offset_seconds }
}

fn field_name_matches(go: &str, rust: &str) -> bool {
    let norm = |s: &str| s.trim_start_matches("r#").trim_end_matches('_').replace('_', "").to_lowercase();
    norm(go) == norm(rust)
}

/// Does `v` (decoded as type `d`) hold the value the JSON states?
fn check(reg: &Registry, d: &TypeDesc, j: &Json, v: &Value) -> Result<(), String> {
    let bad = || Err(format!("{v:?} is not {j} (as {d:?})"));
    let ok = |c: bool| if c { Ok(()) } else { bad() };
    match (d, v) {
        (TypeDesc::Any, Value::Nil) => ok(j.is_null()),
        (TypeDesc::Any, v) => check(reg, &v.type_desc().ok_or("untyped value in any")?, j, v),
        (TypeDesc::Bool, Value::Bool(b)) => ok(j.as_bool() == Some(*b)),
        (TypeDesc::I8, Value::I8(x)) => ok(num(j) == Some(i128::from(*x))),
        (TypeDesc::I16, Value::I16(x)) => ok(num(j) == Some(i128::from(*x))),
        (TypeDesc::I32, Value::I32(x)) => ok(num(j) == Some(i128::from(*x))),
        (TypeDesc::I64, Value::I64(x)) | (TypeDesc::Int, Value::Int(x)) => ok(num(j) == Some(i128::from(*x))),
        (TypeDesc::U8, Value::U8(x)) => ok(num(j) == Some(i128::from(*x))),
        (TypeDesc::U16, Value::U16(x)) => ok(num(j) == Some(i128::from(*x))),
        (TypeDesc::U32, Value::U32(x)) => ok(num(j) == Some(i128::from(*x))),
        (TypeDesc::U64, Value::U64(x)) | (TypeDesc::Uint, Value::Uint(x)) => ok(num(j) == Some(i128::from(*x))),
        (TypeDesc::F32, Value::F32(x)) => ok(j.as_f64() == Some(f64::from(*x))),
        (TypeDesc::F64, Value::F64(x)) => ok(j.as_f64() == Some(*x)),
        (TypeDesc::String, Value::String(s)) => ok(j.as_str() == Some(s)),
        (TypeDesc::Atom, Value::Atom(s)) => ok(j.as_str() == Some(s.as_str())),
        (TypeDesc::Binary, Value::Binary(b)) => {
            ok(j.is_null() && b.is_empty() || j["bytes_hex"].as_str().map(unhex).as_ref() == Some(b))
        }
        (TypeDesc::Error, Value::Nil) => ok(j.is_null()),
        (TypeDesc::Error, Value::Error(e)) => ok(j["error"].as_str() == Some(e.as_str())),
        (TypeDesc::Pid, Value::Pid(p)) => ok(j["node"].as_str() == Some(p.node.as_str())
            && num(&j["id"]) == Some(i128::from(p.id))
            && num(&j["creation"]) == Some(i128::from(p.creation))),
        (TypeDesc::Ref, Value::Ref(r)) | (TypeDesc::Alias, Value::Alias(ergors::Alias(r))) => {
            let ids: Vec<i128> = j["id"].as_array().ok_or("ids")?.iter().filter_map(num).collect();
            ok(j["node"].as_str() == Some(r.node.as_str())
                && num(&j["creation"]) == Some(i128::from(r.creation))
                && ids == r.id.iter().map(|i| i128::from(*i)).collect::<Vec<_>>())
        }
        (TypeDesc::ProcessId, Value::ProcessId(p)) => {
            ok(j["node"].as_str() == Some(p.node.as_str()) && j["name"].as_str() == Some(p.name.as_str()))
        }
        (TypeDesc::Event, Value::Event(e)) => {
            ok(j["node"].as_str() == Some(e.node.as_str()) && j["name"].as_str() == Some(e.name.as_str()))
        }
        (TypeDesc::Time, Value::Time(t)) => ok(j.as_str().map(time_of) == Some(*t)),
        (TypeDesc::Slice(_), Value::Slice { items: None, .. }) => ok(j.is_null()),
        (TypeDesc::Slice(d), Value::Slice { item, items: Some(items) }) => {
            if **item != **d {
                return bad();
            }
            let js = j.as_array().ok_or("not an array")?;
            if js.len() != items.len() {
                return bad();
            }
            js.iter().zip(items).try_for_each(|(j, v)| check(reg, d, j, v))
        }
        (TypeDesc::Array(n, d), Value::Array { items, .. }) => {
            let js = j.as_array().ok_or("not an array")?;
            if js.len() != items.len() || items.len() != *n as usize {
                return bad();
            }
            js.iter().zip(items).try_for_each(|(j, v)| check(reg, d, j, v))
        }
        (TypeDesc::Map(..), Value::Map { entries: None, .. }) => ok(j.is_null()),
        (TypeDesc::Map(kd, vd), Value::Map { key, value, entries: Some(entries) }) => {
            if **key != **kd || **value != **vd {
                return bad();
            }
            let js = j["map_entries"].as_array().ok_or("no map_entries")?;
            if js.len() != entries.len() {
                return bad();
            }
            js.iter().zip(entries).try_for_each(|(j, (k, v))| {
                check(reg, kd, &j[0], k)?;
                check(reg, vd, &j[1], v)
            })
        }
        (TypeDesc::Reg(name), Value::Reg(found, inner)) => {
            if name != found {
                return bad();
            }
            match (reg.shape(name).ok_or("unregistered")?, &**inner) {
                (RegShape::Struct(fields), Value::Struct(values)) => {
                    let js = j["fields"].as_array().ok_or("no fields")?;
                    if js.len() != fields.len() || values.len() != fields.len() {
                        return bad();
                    }
                    for ((jf, (fname, fd)), v) in js.iter().zip(fields).zip(values) {
                        let go = jf["name"].as_str().ok_or("field name")?;
                        if !field_name_matches(go, fname) {
                            return Err(format!("field {go} is {fname} in Rust"));
                        }
                        check(reg, fd, &jf["value"], v)?;
                    }
                    Ok(())
                }
                (RegShape::Named(d), v) => check(reg, d, j, v),
                (RegShape::Slice(d), v) => check(reg, &TypeDesc::Slice(d.clone()), j, v),
                (RegShape::Map(k, d), v) => check(reg, &TypeDesc::Map(k.clone(), d.clone()), j, v),
                (RegShape::Custom, Value::Binary(b)) if &**name == "#ergo.services/ergo/gen/NetworkFlags" => {
                    ok(*b == flags_bits(j.as_str().ok_or("flags")?).to_be_bytes())
                }
                _ => bad(),
            }
        }
        _ => bad(),
    }
}

#[test]
fn every_go_vector_decodes_to_its_value_and_re_encodes_to_the_same_bytes() {
    let reg = registry();
    let all = vectors();
    assert_eq!(all.len(), 73, "the file holds Go's 73 vectors");
    let mut failures = Vec::new();
    for v in &all {
        let (enc_caches, dec_caches) = caches(&v.options);
        let outcome = (|| -> Result<(), String> {
            let mut dec = Decoder::new(&v.bytes, &reg).with_caches(&dec_caches);
            let value = dec.decode_value().map_err(|e| format!("decode: {e}"))?;
            if !dec.remaining().is_empty() {
                return Err(format!("{} bytes left", dec.remaining().len()));
            }
            let want = go_type(&v.go_type);
            if value.type_desc().as_ref() != Some(&want) {
                return Err(format!("decoded as {:?}, Go type {want:?}", value.type_desc()));
            }
            check(&reg, &want, &v.value, &value)?;
            let mut out = Vec::new();
            Encoder::new(&mut out)
                .with_caches(&enc_caches)
                .with_registry(&reg)
                .encode_value(&value)
                .map_err(|e| format!("encode: {e}"))?;
            if out != v.bytes {
                return Err(format!("re-encoded differently:\n  go   {:02x?}\n  rust {out:02x?}", v.bytes));
            }
            // The message hook reads every vector too.
            let mut dec = Decoder::new(&v.bytes, &reg).with_caches(&dec_caches);
            reg.decode_message(&mut dec).map_err(|e| format!("decode_message: {e}"))?;
            Ok(())
        })();
        if let Err(e) = outcome {
            failures.push(format!("{}: {e}", v.name));
        }
    }
    assert!(failures.is_empty(), "{} vectors failed:\n{}", failures.len(), failures.join("\n"));
}

/// Decodes vector `name` as `T`, checks it equals `want`, and re-encodes it to Go's bytes.
fn typed<T: Edf + PartialEq + std::fmt::Debug>(name: &str, want: T) {
    let reg = registry();
    let v = vector(name);
    let (enc_caches, dec_caches) = caches(&v.options);
    let mut dec = Decoder::new(&v.bytes, &reg).with_caches(&dec_caches);
    let got: T = dec.decode().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got, want, "{name}");
    assert!(dec.remaining().is_empty(), "{name}: all bytes read");
    let mut out = Vec::new();
    Encoder::new(&mut out).with_caches(&enc_caches).encode(&got).unwrap();
    assert_eq!(out, v.bytes, "{name}: same bytes as Go");
}

fn mk_ref(node: Atom, creation: i64, id: [u64; 3]) -> Ref {
    Ref { node, creation, id }
}
fn mk_pid(node: Atom, id: u64, creation: i64) -> Pid {
    Pid { node, id, creation }
}

fn node() -> Atom {
    Atom::new("node@localhost")
}

fn pid_1004() -> Pid {
    mk_pid(node(), 1004, 1_700_000_000)
}

fn ref_10005() -> Ref {
    mk_ref(node(), 1_700_000_000, [10005, 0, 0])
}

#[test]
fn scalars_and_identities_decode_as_rust_types() {
    typed("bool_true", true);
    typed("int8_neg", -5i8);
    typed("int16_neg", -300i16);
    typed("int32", 100_000i32);
    typed("int64_neg1", -1i64);
    typed("int", 42isize);
    typed("int_min", isize::MIN);
    typed("uint8", 200u8);
    typed("uint16", 65000u16);
    typed("uint32", 4_000_000_000u32);
    typed("uint64_max", u64::MAX);
    typed("uint", 7usize);
    typed("float32", 1.5f32);
    typed("float64_pi", std::f64::consts::PI);
    typed("string_utf8", String::from("h\u{e9}llo\u{2192}"));
    typed("binary", vec![1u8, 2, 3]);
    typed("binary_empty", Vec::<u8>::new());
    typed("atom", Name::new("echo"));
    typed("error", ErrorValue::new("something failed"));
    typed("cached_error", ErrorValue::new("unknown process"));
    typed("time_utc", time_of("2024-05-17T10:20:30.123456789Z"));
    typed("time_zone", time_of("2024-05-17T10:20:30+03:00"));
    typed("pid", pid_1004());
    typed("cached_pid", pid_1004());
    typed("ref", ref_10005());
    typed("alias", ergors::Alias(mk_ref(node(), 1_700_000_000, [1, 2, 3])));
    typed("process_id", ProcessId { name: Name::new("echo"), node: node() });
    typed("cached_process_id", ProcessId { name: Name::new("echo"), node: node() });
    typed("event", Event { name: Name::new("news"), node: node() });
}

#[test]
fn composites_decode_as_rust_collections() {
    typed("slice_int", vec![1isize, 2, 3]);
    typed("slice_empty", Some(Vec::<isize>::new()));
    typed("slice_nil", None::<Vec<isize>>);
    typed("slice_string", vec![String::from("a"), String::from("bc")]);
    typed("slice_slice_int32", vec![vec![1i32], vec![2, 3]]);
    typed("slice_pid", vec![pid_1004()]);
    typed("array_int16", [1i16, -1, 2]);
    typed("map_string_int", HashMap::from([(String::from("a"), 1isize)]));
    typed("map_empty", Some(HashMap::<String, isize>::new()));
    typed("map_nil", None::<HashMap<String, isize>>);
    typed("map_string_slice", HashMap::from([(String::from("k"), vec![1isize, 2])]));
    typed("slice_reg_point", vec![Point { x: 1, y: 2 }]);
    typed("cached_reg_slice_point", vec![Point { x: 1, y: 2 }]);
    typed("map_string_point", HashMap::from([(String::from("p"), Point { x: 3, y: 4 })]));
    let any =
        vec![Value::I64(1), Value::String("x".into()), Value::Bool(true), Value::Nil, Value::Atom(Name::new("a"))];
    typed("slice_any", any);
    typed("map_atom_any", HashMap::from([(Name::new("k"), Value::String("v".into()))]));
}

#[test]
fn registered_types_decode_through_the_macro() {
    typed("reg_point", Point { x: 1, y: -2 });
    typed("cached_reg_point", Point { x: 1, y: -2 });
    typed("reg_celsius", Celsius(36.6));
    typed("reg_names", Names(Some(vec!["a".into(), "b".into()])));
    typed("reg_names_nil", Names(None));
    let sample = |tags, scores, blob: &[u8], reason| Sample {
        id: 7,
        name: "sample".into(),
        tags,
        scores,
        owner: pid_1004(),
        where_: Point { x: -1, y: 2 },
        valid: true,
        ratio: 0.5,
        blob: blob.to_vec(),
        reason,
    };
    typed(
        "reg_sample",
        sample(Some(vec!["a".into(), "b".into()]), Some(HashMap::from([("x".into(), 1)])), &[0xde, 0xad], None),
    );
    // Go's nil []byte comes back empty (no nil marker for binaries); the bytes are the same.
    typed("reg_sample_nils", sample(None, None, &[], Some(ErrorValue::new("bad"))));
}

fn version(name: &str, release: &str, license: &str) -> Version {
    Version { name: name.into(), release: release.into(), commit: String::new(), license: license.into() }
}

#[test]
fn ergo_structs_decode_as_rust_types() {
    typed("gen_version", version("Ergo Framework", "3.1.0", "MIT"));
    let go_default = NetworkFlags::from_bits(0x67);
    assert!(go_default.enable && go_default.enable_important_delivery && !go_default.enable_fragmentation);
    typed("gen_network_flags_default", go_default);
    typed("gen_network_flags_disabled", NetworkFlags::default());
    typed(
        "gen_message_event",
        MessageEvent {
            event: Event { name: Name::new("news"), node: node() },
            timestamp: 1_700_000_000_000_000_000,
            message: Value::String("hi".into()),
        },
    );
    typed("ehs_hello", MessageHello { salt: "SALT".into(), digest: "abcd".into(), digest_cert: String::new() });
    typed(
        "ehs_join",
        MessageJoin {
            node: Name::new("beta@localhost"),
            connection_id: "CONNID".into(),
            salt: "S".into(),
            digest: "D".into(),
        },
    );
    typed("ehs_accept_final", MessageAccept::default());
    typed(
        "ehs_accept",
        MessageAccept {
            id: "ID".into(),
            pool_size: 3,
            pool_dsn: Some(vec!["127.0.0.1:11144".into()]),
            ..MessageAccept::default()
        },
    );
    typed(
        "ehs_introduce_min",
        MessageIntroduce {
            node: Name::new("alpha@localhost"),
            version: version("X", "", ""),
            flags: NetworkFlags::from_bits(0x67),
            creation: 1_700_000_000,
            max_message_size: 0,
            atom_cache: None,
            reg_cache: None,
            err_cache: None,
            digest: "dd".into(),
        },
    );
    typed(
        "enp_link_pid",
        MessageLinkPid {
            source: pid_1004(),
            target: mk_pid(Atom::new("alpha@localhost"), 1005, 1_700_000_001),
            r#ref: ref_10005(),
        },
    );
    typed(
        "enp_monitor_process_id",
        MessageMonitorProcessId {
            source: pid_1004(),
            target: ProcessId { name: Name::new("echo"), node: Atom::new("alpha@localhost") },
            r#ref: ref_10005(),
        },
    );
    typed("enp_result_ok", MessageResult { error: None, result: Value::Nil, r#ref: ref_10005() });
    typed(
        "enp_result_err",
        MessageResult { error: Some(ErrorValue::new("unknown process")), result: Value::Nil, r#ref: ref_10005() },
    );
    typed("enp_result_pid", MessageResult { error: None, result: Value::Pid(pid_1004()), r#ref: ref_10005() });
}

#[test]
fn the_message_hook_gives_rust_types_and_writes_go_bytes() {
    let reg = registry();
    let decode = |name: &str| {
        let v = vector(name);
        let (_, dc) = caches(&v.options);
        reg.decode_message(&mut Decoder::new(&v.bytes, &reg).with_caches(&dc)).unwrap()
    };
    assert_eq!(decode("int").downcast::<isize>().ok(), Some(42));
    assert_eq!(decode("string").downcast::<String>().ok().as_deref(), Some("hello"));
    assert_eq!(decode("atom").downcast::<Name>().ok(), Some(Name::new("echo")));
    assert_eq!(decode("pid").downcast::<Pid>().ok(), Some(pid_1004()));
    assert_eq!(decode("reg_point").downcast::<Point>().ok(), Some(Point { x: 1, y: -2 }));
    assert_eq!(decode("cached_reg_point").downcast::<Point>().ok(), Some(Point { x: 1, y: -2 }));
    assert!(decode("enp_result_ok").is::<MessageResult>());
    assert!(decode("slice_int").is::<Value>(), "composites come as Values");

    for (name, msg) in [
        ("int", Message::new(42isize)),
        ("string", Message::new(String::from("hello"))),
        ("string", Message::new("hello")),
        ("pid", Message::new(pid_1004())),
        ("reg_point", Message::new(Point { x: 1, y: -2 })),
        ("reg_celsius", Message::new(Celsius(36.6))),
    ] {
        let mut out = Vec::new();
        reg.encode_message(&msg, &mut Encoder::new(&mut out)).unwrap();
        assert_eq!(out, vector(name).bytes, "{name}");
    }
}
