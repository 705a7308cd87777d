//! The Port meta: a program's stdout and stderr as messages, stdin from messages, its start and
//! end, its environment and arguments, and the ends a user relies on: a program that exits
//! non-zero, one that is missing, one that never reads its stdin, and a parent that dies.
//! Ergo's port tests (`meta/port_binary_test.go`: frames cut from a pipe) in our words, through
//! a real program (`cat`); the rest Ergo does not test.

mod support;

use ergors::codec::{ChunkOptions, Chunker};
use ergors::meta::port::{
    MessagePortData, MessagePortError, MessagePortStart, MessagePortTerminate, MessagePortText, Port, PortCloseStdin,
    PortError, PortOptions,
};
use ergors::{Actor, Alias, Context, Error, ExitReason, From, Message, Node, Pid, SpawnOptions};
use std::sync::mpsc::{Receiver, Sender, channel};
use support::{PATIENCE, eventually};

/// The port's parent: spawns the port it is asked to (a call) and passes on what it gets.
struct Host {
    events: Sender<Message>,
}

impl Actor for Host {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_env("PORT_ENV", Some("from-meta"));
        Ok(())
    }

    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        let _ = self.events.send(msg);
        Ok(())
    }

    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        let Ok(options) = req.downcast::<PortOptions>() else { return Ok(None) };
        let spawned = match Port::new(options) {
            Ok(port) => {
                let opts = port.meta_options();
                ctx.spawn_meta(port, opts).await
            }
            Err(e) => Err(Error::InitFailed(Box::new(ExitReason::custom(e)))),
        };
        Ok(Some(Message::new(spawned)))
    }
}

fn node(name: &str) -> Node {
    support::node(name, 2)
}

fn host(node: &Node) -> (Pid, Receiver<Message>) {
    let (tx, rx) = channel();
    (node.spawn(Host { events: tx }, SpawnOptions::default()).unwrap(), rx)
}

/// A process that only collects what it gets (a port's `handler`).
fn sink(node: &Node) -> (Pid, Receiver<Message>) {
    host(node)
}

fn spawn_port(node: &Node, host: Pid, options: PortOptions) -> Result<Alias, Error> {
    node.call(host, options).unwrap().downcast::<Result<Alias, Error>>().unwrap()
}

fn next(rx: &Receiver<Message>) -> Message {
    rx.recv_timeout(PATIENCE).expect("a port message arrives")
}

fn next_as<T: 'static>(rx: &Receiver<Message>) -> T {
    let msg = next(rx);
    match msg.downcast::<T>() {
        Ok(m) => m,
        Err(other) => panic!("expected {}, got {other:?}", std::any::type_name::<T>()),
    }
}

/// Whether the OS process `pid` exists (a zombie does: gone means reaped).
fn os_process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn texts(msgs: &[Message]) -> Vec<String> {
    msgs.iter().filter_map(|m| m.downcast_ref::<MessagePortText>()).map(|t| t.text.clone()).collect()
}

#[test]
fn cat_echoes_text_lines_and_ends_when_stdin_closes() {
    let node = node("portcat");
    let (host, rx) = host(&node);
    let alias = spawn_port(&node, host, PortOptions::new("cat").tag("echo")).unwrap();
    let start = next_as::<MessagePortStart>(&rx);
    assert_eq!((start.id, start.tag.as_str()), (alias, "echo"));
    assert!(start.os_pid > 0);

    // Every accepted kind reaches stdin, in order; text is written as it is (no line end added).
    node.send(alias, "hello\n").unwrap();
    node.send(alias, String::from("wor")).unwrap();
    node.send(alias, b"ld\r\nagain\n".to_vec()).unwrap();
    node.send(alias, MessagePortText { id: alias, tag: String::new(), text: "last without end".into() }).unwrap();
    node.send(alias, PortCloseStdin).unwrap();

    let mut got = Vec::new();
    let end = loop {
        let msg = next(&rx);
        match msg.downcast::<MessagePortTerminate>() {
            Ok(end) => break end,
            Err(msg) => got.push(msg),
        }
    };
    assert_eq!(texts(&got), ["hello", "world", "again", "last without end"]);
    assert!(got.iter().all(|m| m.downcast_ref::<MessagePortText>().is_some_and(|t| t.id == alias && t.tag == "echo")));
    assert_eq!(end, MessagePortTerminate { id: alias, tag: "echo".into(), status: Some(0), signal: None });
    // The meta ends with the program, which is reaped.
    assert!(eventually(|| node.meta_info(alias).err() == Some(Error::MetaUnknown)));
    assert!(eventually(|| !os_process_exists(start.os_pid)));
    node.stop();
}

#[test]
fn cat_echoes_binary_frames_cut_by_their_length_header() {
    let node = node("portbin");
    let (host, rx) = host(&node);
    let chunking = ChunkOptions::header(4, 0, 4).max_length(1 << 20);
    let alias = spawn_port(&node, host, PortOptions::new("cat").binary(chunking.clone())).unwrap();
    next_as::<MessagePortStart>(&rx);

    let chunker: Chunker = chunking.build().unwrap();
    let frame = |payload: &[u8]| {
        let mut out = Vec::new();
        chunker.encode(payload, &mut out).unwrap();
        out
    };
    let (one, two, three, big) = (frame(b"a"), frame(b"bcd"), frame(b""), frame(&vec![7u8; 100_000]));
    // Two frames in one write, a frame split over two writes, an empty frame, a large one
    // (arriving in several reads), and Ergo's MessagePortData as a way to write.
    node.send(alias, [one.clone(), two[..2].to_vec()].concat()).unwrap();
    node.send(alias, two[2..].to_vec()).unwrap();
    node.send(alias, MessagePortData { id: alias, tag: String::new(), data: three.clone() }).unwrap();
    node.send(alias, big.clone()).unwrap();
    node.send(alias, PortCloseStdin).unwrap();

    let mut frames = Vec::new();
    let end = loop {
        let msg = next(&rx);
        match msg.downcast::<MessagePortData>() {
            Ok(data) => frames.push(data.data),
            Err(msg) => break msg.downcast::<MessagePortTerminate>().expect("terminate last"),
        }
    };
    assert_eq!(frames, [one, two, three, big]);
    assert_eq!(end.status, Some(0));
    node.stop();
}

#[test]
fn a_program_exiting_non_zero_reports_its_output_errors_and_status() {
    let node = node("portexit");
    let (host, rx) = host(&node);
    let opts = PortOptions::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]).tag("t");
    let alias = spawn_port(&node, host, opts).unwrap();
    next_as::<MessagePortStart>(&rx);
    // stdout and stderr are two pipes: their lines may interleave either way.
    let (mut text, mut error) = (None, None);
    while text.is_none() || error.is_none() {
        let msg = next(&rx);
        let msg = match msg.downcast::<MessagePortText>() {
            Ok(t) => {
                text = Some(t.text);
                continue;
            }
            Err(msg) => msg,
        };
        match msg.downcast::<MessagePortError>() {
            Ok(e) => error = Some(e.error),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((text.as_deref(), error.as_deref()), (Some("out"), Some("err")));
    let end = next_as::<MessagePortTerminate>(&rx);
    assert_eq!(end, MessagePortTerminate { id: alias, tag: "t".into(), status: Some(3), signal: None });
    // The port ends normally whatever the status (as Ergo's): the status is in the message.
    assert!(eventually(|| node.meta_info(alias).err() == Some(Error::MetaUnknown)));
    assert!(rx.try_recv().is_err(), "nothing after MessagePortTerminate");
    node.stop();
}

#[test]
fn a_missing_program_or_bad_options_fail_the_spawn() {
    let node = node("portmissing");
    let (host, _rx) = host(&node);
    for cmd in ["ergors-no-such-program", "/nonexistent/ergors/prog"] {
        let err = spawn_port(&node, host, PortOptions::new(cmd)).unwrap_err();
        let Error::InitFailed(reason) = err else { panic!("{err:?}") };
        match reason.downcast_ref::<PortError>() {
            Some(PortError::Spawn { cmd: c, kind, .. }) => {
                assert_eq!((c.as_str(), *kind), (cmd, std::io::ErrorKind::NotFound));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(Port::new(PortOptions::new("")).err(), Some(PortError::EmptyCommand));
    let bad = Port::new(PortOptions::new("cat").binary(ChunkOptions::header(2, 1, 4))).err();
    assert!(
        matches!(bad, Some(PortError::Chunking { ref error }) if error.field() == "header_length_position"),
        "{bad:?}"
    );
    // Nothing was left behind: the host has no metas.
    assert!(node.process_info(host).unwrap().metas.is_empty());
    node.stop();
}

#[test]
fn environment_and_arguments_reach_the_program() {
    let node = node("portenv");
    let (host, rx) = host(&node);
    let script = r#"echo "$FOO|$1|$PORT_ENV""#;
    let opts = PortOptions::new("sh").args(["-c", script, "sh", "arg one"]).env("FOO", "bar").env_meta(true);
    spawn_port(&node, host, opts).unwrap();
    next_as::<MessagePortStart>(&rx);
    assert_eq!(next_as::<MessagePortText>(&rx).text, "bar|arg one|from-meta");
    next_as::<MessagePortTerminate>(&rx);

    let lines = |opts: PortOptions| {
        spawn_port(&node, host, opts).unwrap();
        next_as::<MessagePortStart>(&rx);
        let mut lines = Vec::new();
        loop {
            let msg = next(&rx);
            match msg.downcast::<MessagePortText>() {
                Ok(t) => lines.push(t.text),
                Err(msg) => {
                    assert!(msg.is::<MessagePortTerminate>(), "{msg:?}");
                    return lines;
                }
            }
        }
    };
    // Only what is given: no OS environment, no meta environment.
    assert_eq!(lines(PortOptions::new("env").env("FOO", "bar")), ["FOO=bar"]);
    // The OS environment with env_os; an option wins over it.
    let all = lines(PortOptions::new("env").env_os(true).env("PATH", "/bin:/usr/bin"));
    let own: Vec<String> =
        std::env::vars().filter(|(k, v)| k != "PATH" && !v.contains('\n')).map(|(k, v)| format!("{k}={v}")).collect();
    assert!(own.iter().all(|kv| all.contains(kv)), "{all:?}");
    assert_eq!(all.iter().filter(|l| l.starts_with("PATH=")).collect::<Vec<_>>(), ["PATH=/bin:/usr/bin"]);
    node.stop();
}

#[test]
fn a_program_that_never_reads_fills_the_mailbox_and_is_killed_with_its_parent() {
    let node = node("portdeaf");
    let (host, _rx) = host(&node);
    let (handler, events) = sink(&node);
    let opts = PortOptions::new("sleep").arg("30").handler(handler).write_queue(4);
    let alias = spawn_port(&node, host, opts).unwrap();
    let os_pid = next_as::<MessagePortStart>(&events).os_pid;

    // The pipe takes 64 KiB, one write then waits in the meta, then its mailbox fills.
    let chunk = vec![b'x'; 32 * 1024];
    let mut refused = None;
    for i in 0..200 {
        if let Err(e) = node.send(alias, chunk.clone()) {
            refused = Some((i, e));
            break;
        }
    }
    let (sent, err) = refused.expect("the mailbox fills");
    assert_eq!(err, Error::MailboxFull);
    assert!(sent >= 4, "the mailbox took {sent}");
    // Still inspectable by its owner's node, and the meta is alive.
    assert!(node.meta_info(alias).is_ok());

    // The parent's end ends the meta, although it is stuck writing, and kills the program.
    node.kill(host).unwrap();
    let end = next_as::<MessagePortTerminate>(&events);
    assert_eq!((end.status, end.signal), (None, Some(9)));
    assert!(eventually(|| node.meta_info(alias).err() == Some(Error::MetaUnknown)));
    assert!(eventually(|| !os_process_exists(os_pid)));
    node.stop();
}

#[test]
fn the_parent_dying_kills_the_program_and_inspect_shows_it() {
    let node = node("portparent");
    let (host, rx) = host(&node);
    let opts = PortOptions::new("sleep").arg("30").tag("sleeper").env("SECRET", "hidden");
    let alias = spawn_port(&node, host, opts).unwrap();
    let os_pid = next_as::<MessagePortStart>(&rx).os_pid;

    let items = node.inspect_meta(alias, &[]).unwrap();
    let item = |k: &str| items.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(item("os_pid"), Some(os_pid.to_string()));
    assert_eq!(item("tag").as_deref(), Some("sleeper"));
    assert_eq!(item("cmd").as_deref(), Some("sleep"));
    assert_eq!(item("stdin").as_deref(), Some("open"));
    assert!(!items.iter().any(|(_, v)| v.contains("hidden")), "env values stay out of inspection");
    assert!(os_process_exists(os_pid));

    node.kill(host).unwrap();
    assert!(eventually(|| node.meta_info(alias).err() == Some(Error::MetaUnknown)));
    assert!(eventually(|| !os_process_exists(os_pid)));
    node.stop();
}

#[test]
fn the_node_stopping_kills_running_programs() {
    let node = node("portstop");
    let (host, rx) = host(&node);
    spawn_port(&node, host, PortOptions::new("sleep").arg("30")).unwrap();
    let os_pid = next_as::<MessagePortStart>(&rx).os_pid;
    node.stop();
    assert!(eventually(|| !os_process_exists(os_pid)));
}

#[test]
fn a_program_that_closed_its_stdin_makes_writes_fail_with_an_error_message() {
    let node = node("portepipe");
    let (host, rx) = host(&node);
    let opts = PortOptions::new("sh").args(["-c", "exec 0<&-; echo closed; exec sleep 30"]);
    let alias = spawn_port(&node, host, opts).unwrap();
    let os_pid = next_as::<MessagePortStart>(&rx).os_pid;
    assert_eq!(next_as::<MessagePortText>(&rx).text, "closed");
    // No reader any more: the write fails (EPIPE), is reported, and stdin is closed.
    node.send(alias, "lost\n").unwrap();
    let err = next_as::<MessagePortError>(&rx);
    assert!(err.error.starts_with("stdin: "), "{}", err.error);
    assert!(eventually(|| node.inspect_meta(alias, &[]).unwrap().contains(&("stdin".into(), "closed".into()))));
    // The port lives on with its program, until it is told to end.
    node.send_exit_meta(alias, ExitReason::Shutdown).unwrap();
    let end = next_as::<MessagePortTerminate>(&rx);
    assert_eq!(end.signal, Some(9));
    assert!(eventually(|| !os_process_exists(os_pid)));
    node.stop();
}

#[test]
fn a_line_beyond_the_limit_ends_the_port_with_an_error() {
    let node = node("portlong");
    let (host, rx) = host(&node);
    let opts = PortOptions::new("sh").args(["-c", "echo short; echo 0123456789abcdef; exec sleep 30"]).max_line(8);
    let alias = spawn_port(&node, host, opts).unwrap();
    next_as::<MessagePortStart>(&rx);
    assert_eq!(next_as::<MessagePortText>(&rx).text, "short");
    let err = next_as::<MessagePortError>(&rx);
    assert!(err.error.contains("stdout") && err.error.contains("longer than 8"), "{}", err.error);
    // The port ends (Ergo's ErrTooLong), killing the program, and says so last.
    let end = next_as::<MessagePortTerminate>(&rx);
    assert_eq!((end.id, end.signal), (alias, Some(9)));
    assert!(eventually(|| node.meta_info(alias).err() == Some(Error::MetaUnknown)));
    node.stop();
}
