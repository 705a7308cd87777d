//! `codec::LineSplitter` (the Port's text mode) on any stream, fed in any cuts, against a
//! model of Go's `bufio.Scanner` with `ScanLines`.
//!
//! Checks: the lines are the model's, whatever the cuts; a line longer than the limit fails
//! (and the failure sticks); what is held stays below the limit; `finish` gives the model's
//! last line.
#![no_main]

use ergors::codec::LineSplitter;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

/// The model: the lines before the first too-long one, whether there is one, and the last
/// unterminated line at the end of the stream.
fn model(stream: &[u8], limit: usize) -> (Vec<Vec<u8>>, bool, Option<Vec<u8>>) {
    let strip = |l: &[u8]| l.strip_suffix(b"\r").unwrap_or(l).to_vec();
    let mut lines = Vec::new();
    let mut rest = stream;
    while let Some(at) = rest.iter().position(|&b| b == b'\n') {
        if at + 1 > limit {
            return (lines, true, None);
        }
        lines.push(strip(&rest[..at]));
        rest = &rest[at + 1..];
    }
    if rest.len() >= limit {
        return (lines, true, None);
    }
    (lines, false, if rest.is_empty() { None } else { Some(strip(rest)) })
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let limit = if u.ratio(1, 8)? { 64 * 1024 } else { u.int_in_range(0..=64)? };
    let mut splitter = if limit == 64 * 1024 { LineSplitter::new() } else { LineSplitter::with_limit(limit) };
    let limit = limit.max(1);
    // Mostly text-like bytes, so that lines and `\r\n` are common.
    let mut stream = Vec::new();
    while !u.is_empty() && stream.len() < 4096 {
        let b: u8 = u.arbitrary()?;
        stream.push(match b % 8 {
            0 => b'\n',
            1 => b'\r',
            _ => b,
        });
        if u.ratio(1, 16)? {
            break;
        }
    }
    let mut got = Vec::new();
    let mut failed = false;
    let mut rest = &stream[..];
    while !rest.is_empty() {
        let n = if u.is_empty() { rest.len() } else { u.int_in_range(0..=rest.len())? };
        let (read, tail) = rest.split_at(n);
        rest = tail;
        let pushed = splitter.push(read);
        got.extend(splitter.lines());
        assert!(splitter.buffered() < limit, "holds {} bytes, limit {limit}", splitter.buffered());
        if let Err(err) = pushed {
            assert_eq!(splitter.push(b"x\n").err(), Some(err));
            assert!(splitter.next_line().is_none());
            failed = true;
            break;
        }
    }
    let last = if failed { None } else { splitter.finish() };
    let (want, want_failed, want_last) = model(&stream, limit);
    assert_eq!(got, want);
    assert_eq!(failed, want_failed);
    if !failed {
        assert_eq!(last, want_last);
    }
    for line in &got {
        assert!(line.len() < limit, "a line fits the limit with its newline");
    }
    Ok(())
}
