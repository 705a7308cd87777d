//! The two-node Go session captured in `tests/data/session-capture.json` (every EHS and ENP
//! frame between `beta@localhost`, the dialer, and `alpha@localhost`, plus registrar packets),
//! loaded for the wire-format tests. Included with `#[path]` by the `net_*` tests only.
#![allow(dead_code)]

use serde_json::Value;

/// One captured frame.
pub struct Captured {
    pub seq: u64,
    /// Link index: 0 the main link, 1 and 2 joined pool links.
    pub conn: u64,
    pub from_dialer: bool,
    /// "EHS" or "ENP".
    pub layer: String,
    pub annotation: String,
    pub bytes: Vec<u8>,
    /// The capture's decoded fields of the frame.
    pub fields: Value,
}

/// One registrar exchange.
pub struct Registrar {
    pub what: String,
    pub transport: String,
    pub request: Vec<u8>,
    pub reply: Vec<u8>,
}

pub struct Capture {
    pub json: Value,
    pub cookie: String,
    pub frames: Vec<Captured>,
    pub registrar: Vec<Registrar>,
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

pub fn load() -> Capture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/session-capture.json");
    let text = std::fs::read_to_string(path).expect("capture file is in the repository");
    let json: Value = serde_json::from_str(&text).expect("capture is JSON");
    let cookie = json["nodes"]["cookie"].as_str().expect("cookie in the capture's metadata").to_owned();
    let frames = json["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| Captured {
            seq: f["seq"].as_u64().expect("seq"),
            conn: f["conn"].as_u64().expect("conn"),
            from_dialer: f["dir"].as_str() == Some("dialer->acceptor"),
            layer: f["layer"].as_str().expect("layer").to_owned(),
            annotation: f["annotation"].as_str().unwrap_or_default().to_owned(),
            bytes: hex(f["hex"].as_str().expect("hex")),
            fields: f["fields"].clone(),
        })
        .collect();
    let registrar = json["registrar"]
        .as_array()
        .expect("registrar")
        .iter()
        .map(|r| Registrar {
            what: r["what"].as_str().unwrap_or_default().to_owned(),
            transport: r["transport"].as_str().unwrap_or_default().to_owned(),
            request: hex(r["request_hex"].as_str().expect("request")),
            reply: hex(r["reply_hex"].as_str().expect("reply")),
        })
        .collect();
    Capture { json, cookie, frames, registrar }
}

impl Capture {
    pub fn enp(&self) -> impl Iterator<Item = &Captured> {
        self.frames.iter().filter(|f| f.layer == "ENP")
    }
    pub fn ehs(&self) -> impl Iterator<Item = &Captured> {
        self.frames.iter().filter(|f| f.layer == "EHS")
    }
    pub fn frame(&self, seq: u64) -> &Captured {
        self.frames.iter().find(|f| f.seq == seq).expect("frame with that seq")
    }
}

/// A string field of a captured EDF struct (`{"struct", "fields": [{name, value}]}`).
pub fn field<'v>(message: &'v Value, name: &str) -> &'v Value {
    message["fields"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["name"] == name))
        .map(|f| &f["value"])
        .unwrap_or(&Value::Null)
}
