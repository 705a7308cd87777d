//! `codec::Chunker` on any options and any stream, fed in any cuts.
//!
//! Checks, beyond "no panic": the options build exactly when `validate` accepts them; each
//! frame is whole (the fixed length, or the length its header announces, within `max_length`);
//! the frames and what is held are exactly the bytes pushed, in order, and the same whatever
//! the cuts; what is held never exceeds `max_length`; an error is the same for every cut and
//! sticks; frames made by `encode` come back unchanged.
#![no_main]

use ergors::codec::{ChunkOptions, Chunker};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

/// The options as plain values, kept for the checks (`ChunkOptions` has no getters).
#[derive(Debug)]
struct Shape {
    enable: bool,
    fixed: usize,
    header: usize,
    position: usize,
    length_size: usize,
    includes_header: bool,
    max: usize,
}

impl Shape {
    fn options(&self) -> ChunkOptions {
        ChunkOptions::new()
            .enable(self.enable)
            .fixed_length(self.fixed)
            .header_size(self.header)
            .header_length_position(self.position)
            .header_length_size(self.length_size)
            .header_length_includes_header(self.includes_header)
            .max_length(self.max)
    }

    /// The length of the frame that starts with `frame`'s header, as the header says.
    fn announced(&self, frame: &[u8]) -> u64 {
        if self.fixed > 0 {
            return self.fixed as u64;
        }
        let field = &frame[self.position..self.position + self.length_size];
        let value = field.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        if self.includes_header { value } else { value + self.header as u64 }
    }
}

/// Small values mostly, so that headers and limits are hit often; now and then anything.
fn size(u: &mut Unstructured<'_>, small: usize) -> Result<usize> {
    Ok(if u.ratio(1, 32)? { u.arbitrary::<u32>()? as usize } else { u.int_in_range(0..=small)? })
}

fn shape(u: &mut Unstructured<'_>) -> Result<Shape> {
    Ok(Shape {
        enable: !u.ratio(1, 16)?,
        fixed: if u.ratio(1, 4)? { size(u, 40)? } else { 0 },
        header: size(u, 12)?,
        position: size(u, 12)?,
        length_size: *u.choose(&[0, 1, 2, 3, 4, 5, 8])?,
        includes_header: u.arbitrary()?,
        max: if u.ratio(1, 3)? { 0 } else { size(u, 600)? },
    })
}

/// The stream cut into reads of random lengths (empty ones included).
fn cuts<'a>(u: &mut Unstructured<'_>, stream: &'a [u8]) -> Result<Vec<&'a [u8]>> {
    let mut out = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = if u.is_empty() { rest.len() } else { u.int_in_range(0..=rest.len().min(300))? };
        let (read, tail) = rest.split_at(n);
        out.push(read);
        rest = tail;
    }
    Ok(out)
}

/// What a run produced: its frames, the bytes held at the end, and whether it failed.
#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Vec<u8>>,
    held: usize,
    failed: bool,
}

fn feed(chunker: &mut Chunker, reads: &[&[u8]], max: usize) -> Outcome {
    let mut frames = Vec::new();
    let mut failed = false;
    for read in reads {
        let pushed = chunker.push(read);
        frames.extend(chunker.frames());
        if max > 0 {
            assert!(chunker.buffered() <= max, "holds {} bytes, max_length {max}", chunker.buffered());
        }
        if let Err(err) = pushed {
            // Sticky: every later push says the same, and nothing more comes out.
            assert_eq!(chunker.push(b"more").err(), Some(err));
            assert!(chunker.next_frame().is_none());
            assert_eq!(chunker.buffered(), 0, "a failed chunker holds nothing");
            failed = true;
            break;
        }
    }
    Outcome { frames, held: chunker.buffered(), failed }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let shape = shape(u)?;
    let opts = shape.options();
    let built = opts.build();
    assert_eq!(built.as_ref().err(), opts.validate().err().as_ref());
    let Ok(mut chunker) = built else { return Ok(()) };

    let stream_len = u.int_in_range(0..=u.len().min(4096))?;
    let stream = u.bytes(stream_len)?.to_vec();
    let reads = cuts(u, &stream)?;
    let cut = feed(&mut chunker, &reads, shape.max);

    if !shape.enable {
        // Off: each non-empty read is a frame, as it came.
        let reads: Vec<&[u8]> = reads.into_iter().filter(|r| !r.is_empty()).collect();
        assert_eq!(cut.frames, reads);
        assert_eq!(cut.held, 0);
        return Ok(());
    }
    // The same stream in one read gives the same frames and the same end.
    let whole = feed(&mut opts.build().expect("built once"), &[&stream], shape.max);
    assert_eq!(cut, whole);

    let taken: usize = cut.frames.iter().map(Vec::len).sum();
    assert_eq!(cut.frames.concat(), stream[..taken], "frames are the stream's bytes, in order");
    if !cut.failed {
        assert_eq!(taken + cut.held, stream.len(), "nothing lost, nothing invented");
    }
    for frame in &cut.frames {
        assert_eq!(frame.len() as u64, shape.announced(frame), "a frame is as long as announced");
        if shape.max > 0 && shape.fixed == 0 {
            assert!(frame.len() <= shape.max);
        }
    }

    // Whatever `encode` accepts comes back as the same frame. (Not with a header of gigabytes:
    // `encode` writes the header whole, as configured.)
    if shape.header > 4096 {
        return Ok(());
    }
    let mut fresh = opts.build().expect("built once");
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let len = if shape.fixed > 0 && u.arbitrary()? { shape.fixed } else { size(u, 80)? }.min(4096);
        let payload = vec![0xa5u8; len];
        let start = wire.len();
        if fresh.encode(&payload, &mut wire).is_ok() {
            sent.push(wire[start..].to_vec());
        } else {
            assert_eq!(wire.len(), start, "a refused encode leaves the output alone");
        }
    }
    let reads = cuts(u, &wire)?;
    let back = feed(&mut fresh, &reads, shape.max);
    assert!(!back.failed, "what encode made is accepted");
    assert_eq!(back.frames, sent);
    assert_eq!(back.held, 0);
    Ok(())
}
