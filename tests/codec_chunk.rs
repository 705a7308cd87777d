//! Step 5, items 5 and 7: cutting a byte stream into frames (Ergo's `meta.ChunkOptions`, as the
//! TCP and Port metas use it) and a Port's text into lines (Go's `bufio.Scanner`). Ports Ergo's
//! `meta/port_binary_test.go` cases (a 3-byte header with a 1-byte length at position 2, and
//! fixed 3-byte frames, both fed in reads that cut frames anywhere) and adds the property: any
//! frames, encoded and cut anywhere, come out as the same frames.

use ergors::codec::{ChunkError, ChunkOptions, ChunkOptionsError, Chunker, LineError, LineSplitter};
use proptest::prelude::*;

fn feed(chunker: &mut Chunker, reads: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for read in reads {
        chunker.push(read).expect("valid stream");
        out.extend(chunker.frames());
    }
    out
}

#[test]
fn options_are_validated_naming_the_field() {
    let field = |o: ChunkOptions| o.validate().err().map(|e| e.field());
    // Off, or a fixed length: nothing else is looked at (as Ergo's IsValid).
    assert_eq!(field(ChunkOptions::new().header_length_size(3)), None);
    assert_eq!(field(ChunkOptions::fixed(8).header_length_size(3)), None);
    assert_eq!(field(ChunkOptions::new().enable(true)), Some("header_size"));
    assert_eq!(field(ChunkOptions::header(4, 0, 3)), Some("header_length_size"));
    assert_eq!(field(ChunkOptions::header(4, 1, 4)), Some("header_length_position"));
    assert_eq!(field(ChunkOptions::header(4, usize::MAX, 4)), Some("header_length_position"));
    assert_eq!(field(ChunkOptions::header(4, 0, 4).max_length(3)), Some("max_length"));
    assert_eq!(field(ChunkOptions::fixed(8).max_length(4)), Some("max_length"));
    assert!(matches!(
        ChunkOptions::header(2, 1, 2).build(),
        Err(ChunkOptionsError::LengthOutsideHeader { position: 1, size: 2, header_size: 2 })
    ));
    assert!(ChunkOptions::header(4, 0, 4).max_length(4).build().is_ok());
}

#[test]
fn off_passes_each_read_through() {
    let mut c = ChunkOptions::new().build().unwrap();
    let frames = feed(&mut c, &[b"ab", b"", b"cde"]);
    assert_eq!(frames, [b"ab".to_vec(), b"cde".to_vec()]);
    assert_eq!(c.buffered(), 0);
}

#[test]
fn ergo_header_case_three_byte_header_length_at_two() {
    // port_binary_test.go: header 3 bytes, 1-byte length at position 2, payload length only.
    let mut c = ChunkOptions::header(3, 2, 1).build().unwrap();
    let stream: Vec<u8> = [&[1u8, 2, 3][..], b"abc", &[1, 2, 0], &[9, 9, 5], b"hello"].concat();
    let frames = feed(&mut c, &[&stream[..2], &stream[2..7], &stream[7..]]);
    assert_eq!(frames, [vec![1, 2, 3, b'a', b'b', b'c'], vec![1, 2, 0], [&[9u8, 9, 5][..], b"hello"].concat()]);
}

#[test]
fn ergo_fixed_case_three_byte_frames() {
    let mut c = ChunkOptions::fixed(3).build().unwrap();
    let frames = feed(&mut c, &[b"1", b"2312", b"3", b"123123", b"12"]);
    assert_eq!(frames, vec![b"123".to_vec(); 4]);
    assert_eq!(c.buffered(), 2); // the half frame stays
    c.push(b"3").unwrap();
    assert_eq!(c.next_frame(), Some(b"123".to_vec()));
}

#[test]
fn length_including_header_and_each_field_size() {
    for size in [1usize, 2, 4] {
        let opts = ChunkOptions::header(6, 1, size).header_length_includes_header(true);
        let mut c = opts.build().unwrap();
        let mut wire = Vec::new();
        c.encode(b"xyz", &mut wire).unwrap();
        assert_eq!(wire.len(), 9);
        // The field holds 9 (header included), big-endian.
        assert_eq!(wire[1 + size - 1], 9);
        c.push(&wire).unwrap();
        assert_eq!(c.next_frame(), Some(wire));
    }
}

#[test]
fn an_over_long_frame_is_an_error_and_the_stream_stops() {
    let mut c = ChunkOptions::header(2, 0, 2).max_length(10).build().unwrap();
    // A good frame, then a header announcing 2 + 9 = 11 bytes.
    c.push(&[0, 1, b'a', 0]).unwrap();
    assert_eq!(c.push(&[9, 1, 2, 3]), Err(ChunkError::TooLong { length: 11, max: 10 }));
    assert_eq!(c.next_frame(), Some(vec![0, 1, b'a'])); // what came before still counts
    assert_eq!(c.push(&[0, 0]), Err(ChunkError::TooLong { length: 11, max: 10 }));
    assert_eq!(c.buffered(), 0);
    // The limit is inclusive.
    let mut c = ChunkOptions::header(2, 0, 2).max_length(11).build().unwrap();
    c.push(&[0, 9]).unwrap();
    assert_eq!(c.buffered(), 2);
}

#[test]
fn a_length_shorter_than_its_header_is_an_error() {
    // Ergo would hand out a frame shorter than the header (or, for 0, loop for ever).
    let mut c = ChunkOptions::header(4, 0, 1).header_length_includes_header(true).build().unwrap();
    assert_eq!(c.push(&[3, 0, 0, 0]), Err(ChunkError::ShorterThanHeader { length: 3, header_size: 4 }));
    let mut c = ChunkOptions::header(4, 0, 1).header_length_includes_header(true).build().unwrap();
    assert!(c.push(&[0, 0, 0, 0]).is_err());
    // An empty payload without the header in the length is fine: the frame is the header.
    let mut c = ChunkOptions::header(4, 0, 1).build().unwrap();
    c.push(&[0, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(c.next_frame(), Some(vec![0; 4]));
    assert_eq!(c.buffered(), 2);
}

#[test]
fn a_huge_announced_frame_does_not_reserve_its_length_up_front() {
    let mut c = ChunkOptions::header(4, 0, 4).build().unwrap();
    c.push(&[0xff, 0xff, 0xff, 0xf0, 1, 2]).unwrap();
    assert_eq!(c.buffered(), 6);
    assert_eq!(c.next_frame(), None);
}

#[test]
fn encode_refuses_what_the_peer_could_not_cut() {
    let c = ChunkOptions::fixed(3).build().unwrap();
    let mut out = vec![];
    assert_eq!(c.encode(b"ab", &mut out), Err(ChunkError::NotFixedLength { length: 2, fixed: 3 }));
    let c = ChunkOptions::header(1, 0, 1).build().unwrap();
    assert_eq!(c.encode(&[0; 256], &mut out), Err(ChunkError::LengthFieldOverflow { length: 256, length_size: 1 }));
    let c = ChunkOptions::header(1, 0, 1).max_length(5).build().unwrap();
    assert_eq!(c.encode(&[0; 5], &mut out), Err(ChunkError::TooLong { length: 6, max: 5 }));
    assert!(out.is_empty());
}

#[test]
fn lines_as_go_scan_lines() {
    let mut l = LineSplitter::new();
    l.push(b"a\r\n\nb\rc\r").unwrap();
    l.push(b"\n\r\r\n").unwrap();
    let lines: Vec<_> = l.lines().collect();
    // One `\r` before `\n` is dropped; a `\r` elsewhere stays.
    assert_eq!(lines, [b"a".to_vec(), vec![], b"b\rc".to_vec(), b"\r".to_vec()]);
    assert_eq!(l.finish(), None);
    l.push(b"tail\r").unwrap();
    assert_eq!(l.finish(), Some(b"tail".to_vec()));
}

#[test]
fn an_over_long_line_stops_the_splitter() {
    // With a limit of 4 a line takes up to 3 bytes and its `\n` (Go's buffer of 4).
    let mut l = LineSplitter::with_limit(4);
    l.push(b"abc\nab").unwrap();
    assert_eq!(l.next_line(), Some(b"abc".to_vec()));
    assert_eq!(l.push(b"c"), Ok(()));
    assert_eq!(l.push(b"d\n"), Err(LineError::TooLong { limit: 4 }));
    assert_eq!(l.push(b"\n"), Err(LineError::TooLong { limit: 4 }));
    assert_eq!(l.finish(), None);
    let mut l = LineSplitter::with_limit(4);
    assert!(l.push(b"abcd\n").is_err());
    let mut l = LineSplitter::with_limit(4);
    assert!(l.push(b"abcd").is_err()); // a full buffer with no `\n` fails at once, as in Go
}

fn header_opts() -> impl Strategy<Value = ChunkOptions> {
    (1usize..8, prop::sample::select(vec![1usize, 2, 4]), any::<bool>()).prop_flat_map(|(extra, size, incl)| {
        let header = size + extra;
        (0..=extra).prop_map(move |pos| ChunkOptions::header(header, pos, size).header_length_includes_header(incl))
    })
}

fn cut(stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.sort_unstable();
    let mut reads = Vec::new();
    let mut at = 0;
    for p in points.into_iter().chain([stream.len()]) {
        reads.push(stream[at..p].to_vec());
        at = p;
    }
    reads
}

proptest! {
    #[test]
    fn frames_survive_any_cutting(
        opts in header_opts(),
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..20),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let mut c = opts.build().unwrap();
        let mut stream = Vec::new();
        let mut sent = Vec::new();
        for p in &payloads {
            let start = stream.len();
            if c.encode(p, &mut stream).is_ok() {
                sent.push(stream[start..].to_vec());
            }
        }
        let mut got = Vec::new();
        for read in cut(&stream, &cuts) {
            c.push(&read).unwrap();
            got.extend(c.frames());
        }
        prop_assert_eq!(got, sent);
        prop_assert_eq!(c.buffered(), 0);
    }

    #[test]
    fn fixed_frames_survive_any_cutting(
        len in 1usize..50,
        count in 0usize..20,
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let c0 = ChunkOptions::fixed(len).build().unwrap();
        let mut stream = Vec::new();
        for i in 0..count {
            c0.encode(&vec![i as u8; len], &mut stream).unwrap();
        }
        let mut c = ChunkOptions::fixed(len).build().unwrap();
        let mut got = Vec::new();
        for read in cut(&stream, &cuts) {
            c.push(&read).unwrap();
            got.extend(c.frames());
        }
        let want: Vec<Vec<u8>> = (0..count).map(|i| vec![i as u8; len]).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn garbage_never_panics_and_stays_within_max(
        opts in header_opts(),
        // At least the largest header `header_opts` makes (11 bytes): a smaller limit is refused
        // by `build` (the range began at 8, and a run drew a 9-byte header with max 8).
        max in 11usize..300,
        reads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..30),
    ) {
        let mut c = match opts.max_length(max).build() {
            Ok(c) => c,
            // A maximum below the header itself is refused up front, by name.
            Err(e) => {
                prop_assert!(matches!(e, ChunkOptionsError::MaxBelowFrame { .. }), "{e:?}");
                return Ok(());
            }
        };
        for read in &reads {
            let outcome = c.push(read);
            prop_assert!(c.buffered() <= max);
            for frame in c.frames() {
                prop_assert!(frame.len() <= max);
            }
            if outcome.is_err() {
                prop_assert!(c.push(b"more").is_err());
                break;
            }
        }
    }

    #[test]
    fn lines_survive_any_cutting(
        lines in prop::collection::vec("[a-z\r]{0,20}", 0..20),
        crlf in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let stream: String = lines.iter().map(|l| format!("{l}{end}")).collect();
        let mut s = LineSplitter::with_limit(23);
        let mut got = Vec::new();
        for read in cut(stream.as_bytes(), &cuts) {
            s.push(&read).unwrap();
            got.extend(s.lines());
        }
        prop_assert_eq!(s.finish(), None);
        let want: Vec<Vec<u8>> = lines
            .iter()
            .map(|l| {
                let mut l = l.as_bytes().to_vec();
                if !crlf && l.last() == Some(&b'\r') {
                    l.pop();
                }
                l
            })
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn line_garbage_never_panics_and_stays_within_limit(
        limit in 1usize..64,
        reads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..30),
    ) {
        let mut s = LineSplitter::with_limit(limit);
        for read in &reads {
            let outcome = s.push(read);
            prop_assert!(s.buffered() < limit);
            for line in s.lines() {
                prop_assert!(line.len() < limit);
            }
            if outcome.is_err() {
                break;
            }
        }
    }
}
