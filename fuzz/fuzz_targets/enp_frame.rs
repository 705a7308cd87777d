//! ENP receive path (`net::proto`) on any byte stream, fed in any cuts: the splitter, the
//! frame parser, inflate.
//!
//! Checks, beyond "no panic": the frames (or the error) are the same whatever the cuts; an
//! error sticks; the splitter holds no more than it was given; every parsed frame rebuilds
//! byte for byte from its fields and payload; inflate never produces more than its cap + 1
//! bytes, and what it accepts is one whole frame of the declared length.
#![no_main]

use ergors::net::proto::{Frame, FrameSplitter, FrameWriter, inflate};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(Unstructured::new(data));
});

const CAP: usize = 1 << 16;

fn split(stream: &[u8], cuts: &[usize], max: u32) -> (Vec<Vec<u8>>, Option<String>) {
    let mut splitter = FrameSplitter::new(max);
    let mut frames = Vec::new();
    let mut at = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    bounds.sort_unstable();
    bounds.push(stream.len());
    for end in bounds {
        splitter.extend(&stream[at..end.max(at)]);
        at = end.max(at);
        assert!(splitter.pending() <= stream.len());
        loop {
            match splitter.next_frame() {
                Ok(Some(frame)) => frames.push(frame.to_vec()),
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(splitter.next_frame().err(), Some(e.clone()), "errors stick");
                    return (frames, Some(e.to_string()));
                }
            }
        }
    }
    (frames, None)
}

fn run(mut u: Unstructured<'_>) -> Result<()> {
    let max = if u.arbitrary()? { 0 } else { u.int_in_range(8..=4096u32)? };
    let cuts: Vec<usize> = u.arbitrary()?;
    let stream = u.take_rest();
    let (frames, error) = split(stream, &cuts, max);
    assert_eq!(split(stream, &[], max), (frames.clone(), error), "cuts change nothing");
    let mut inflated = Vec::new();
    for bytes in &frames {
        let Ok(frame) = Frame::parse(bytes) else { continue };
        let mut rebuilt = Vec::new();
        FrameWriter::new(0).write_bytes(&mut rebuilt, frame.order, &frame.enp, frame.payload).expect("rebuilds");
        assert_eq!(&rebuilt, bytes);
        if inflate(&frame, CAP, &mut inflated).is_ok() {
            assert!(inflated.len() <= CAP);
            let inner = Frame::parse(&inflated).map(|f| f.enp.opcode());
            assert_ne!(inner, Ok(200), "no nested compression");
        } else {
            assert!(inflated.len() <= CAP + 1);
        }
    }
    Ok(())
}
