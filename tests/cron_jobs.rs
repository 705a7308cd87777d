//! The node's cron on an injected clock: jobs fire in the minutes their specs match (to a Pid,
//! to a name, spawning), once per minute, in their time zone across DST changes; disable,
//! enable and remove; typed errors; info with next runs; a failing action is recorded and the
//! job stays; the cron thread ends with the node. No test sleeps for the schedule: a
//! `ManualClock` move runs the due jobs before it returns, and a marker sent afterwards from
//! the node (same sender, same queue) shows that nothing else was sent.

mod support;

use ergors::cron::jiff::civil::date;
use ergors::cron::jiff::tz::TimeZone;
use ergors::cron::jiff::{Timestamp, ZonedDateTime};
use ergors::cron::{
    CronAction, CronActionError, CronActionMessage, CronActionSpawn, CronClock, CronError, CronField, CronJob,
    CronMessage, CronSpecError, ManualClock, MessageCronFallback,
};
use ergors::{
    Actor, Context, ExitReason, Message, Name, Node, NodeHandle, NodeOptions, Priority, SpawnOptions, StartError,
};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;
use support::{Event, PATIENCE, probe};

const MINUTE: Duration = Duration::from_secs(60);

fn utc(y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8) -> Timestamp {
    TimeZone::UTC.to_timestamp(date(y, mo, d).at(h, mi, s, 0)).unwrap()
}

fn options(clock: &ManualClock) -> NodeOptions {
    NodeOptions::default()
        .workers(2)
        .pin_workers(false)
        .spin(Duration::from_micros(20))
        .cron_clock(CronClock::Manual(clock.clone()))
}

fn start(name: &str, opts: NodeOptions) -> Node {
    Node::start(&format!("{name}@localhost"), opts).expect("node starts")
}

fn job(name: &str, spec: &str, action: impl CronAction) -> CronJob {
    CronJob::new(name, spec, action).unwrap().location(TimeZone::UTC)
}

fn next_message(rx: &Receiver<Event>) -> Message {
    loop {
        match rx.recv_timeout(PATIENCE).expect("a message within PATIENCE") {
            Event::Msg(_, m) => return m,
            _ => continue,
        }
    }
}

fn cron_message(rx: &Receiver<Event>) -> CronMessage {
    let m = next_message(rx);
    m.downcast::<CronMessage>().unwrap_or_else(|m| panic!("expected a CronMessage, got {m:?}"))
}

struct Marker;

/// Nothing else was sent to `to` from the node before this marker.
fn nothing_more(node: &Node, to: impl Into<ergors::To>, rx: &Receiver<Event>) {
    node.send(to, Marker).unwrap();
    let m = next_message(rx);
    assert!(m.is::<Marker>(), "expected nothing before the marker, got {m:?}");
}

fn time_of(m: &CronMessage) -> String {
    m.time.to_string()
}

#[test]
fn a_job_fires_on_the_injected_clock_to_a_pid_and_to_a_name() {
    let clock = ManualClock::new(utc(2025, 1, 6, 9, 59, 30));
    let node = start("cron_send", options(&clock));
    let (p1, rx1) = probe();
    let (p2, rx2) = probe();
    let pid = node.spawn(p1, SpawnOptions::default()).unwrap();
    node.spawn_register("collector", p2, SpawnOptions::default()).unwrap();
    node.cron().add_job(job("to_pid", "0 10 * * *", CronActionMessage::new(pid, Priority::Main))).unwrap();
    node.cron().add_job(job("to_name", "0 10 * * *", CronActionMessage::new("collector", Priority::System))).unwrap();

    clock.advance(Duration::from_secs(20)); // 09:59:50: not due
    nothing_more(&node, pid, &rx1);
    clock.advance(Duration::from_secs(10)); // 10:00:00
    let m = cron_message(&rx1);
    assert_eq!((m.node, m.job.as_ref()), (node.name(), "to_pid"));
    assert_eq!(time_of(&m), "2025-01-06T10:00:00+00:00[UTC]");
    let m = cron_message(&rx2);
    assert_eq!(m.job, "to_name");

    // The same minute again (a timer a little late, a second move): no second run.
    clock.advance(Duration::from_secs(59));
    nothing_more(&node, pid, &rx1);
    nothing_more(&node, "collector", &rx2);
    let info = node.cron().job_info("to_pid").unwrap();
    assert_eq!(info.last_run.map(|t| t.to_string()).as_deref(), Some("2025-01-06T10:00:00+00:00[UTC]"));
    assert_eq!(info.last_error, None);
    assert!(info.action.contains("send message to"), "{}", info.action);
}

#[test]
fn jobs_do_not_fire_in_the_minute_the_cron_started() {
    let clock = ManualClock::new(utc(2025, 1, 6, 10, 0, 10));
    let (p, rx) = probe();
    let node = start("cron_first_minute", options(&clock));
    let pid = node.spawn(p, SpawnOptions::default()).unwrap();
    node.cron().add_job(job("every", "* * * * *", CronActionMessage::new(pid, Priority::Main))).unwrap();
    clock.advance(Duration::from_secs(30)); // still 10:00, the minute the cron started in
    nothing_more(&node, pid, &rx);
    clock.advance(Duration::from_secs(20)); // 10:01
    assert_eq!(time_of(&cron_message(&rx)), "2025-01-06T10:01:00+00:00[UTC]");
}

struct EnvReport(Sender<(Option<String>, Option<String>, Option<String>)>);

impl Actor for EnvReport {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let _ = self.0.send((ctx.env("CRON_NODE_NAME"), ctx.env("CRON_JOB_NAME"), ctx.env("CRON_JOB_ACTION_TIME")));
        Ok(())
    }
}

#[test]
fn a_spawn_job_spawns_a_fresh_process_each_run() {
    let clock = ManualClock::new(utc(2025, 1, 6, 10, 0, 0));
    let node = start("cron_spawn", options(&clock));
    let (tx, rx) = channel();
    let action = CronActionSpawn::new(move || EnvReport(tx.clone()), SpawnOptions::default());
    assert!(action.info().contains("EnvReport"), "{}", action.info());
    node.cron().add_job(job("spawner", "*/2 * * * *", action)).unwrap();
    let before = node.process_count();
    for _ in 0..4 {
        clock.advance(MINUTE); // 10:01 .. 10:04: runs at 10:02 and 10:04
    }
    // Two processes, on any workers: their `init`s may report in either order.
    let mut runs = [rx.recv_timeout(PATIENCE).unwrap(), rx.recv_timeout(PATIENCE).unwrap()];
    runs.sort_by(|a, b| a.2.cmp(&b.2));
    let [first, second] = runs;
    assert_eq!(first.0.as_deref(), Some("cron_spawn@localhost"));
    assert_eq!(first.1.as_deref(), Some("spawner"));
    assert_eq!(first.2.as_deref(), Some("2025-01-06T10:02:00+00:00[UTC]"));
    assert_eq!(second.2.as_deref(), Some("2025-01-06T10:04:00+00:00[UTC]"));
    assert!(rx.try_recv().is_err(), "two runs, two processes");
    assert_eq!(node.process_count(), before + 2);
}

#[test]
fn a_registered_spawn_fails_while_the_name_is_held_and_the_job_stays() {
    let clock = ManualClock::new(utc(2025, 1, 6, 10, 0, 0));
    let node = start("cron_spawn_reg", options(&clock));
    let (p, rx) = probe();
    let p = std::sync::Mutex::new(Some(p));
    // The first run spawns a probe; a second probe cannot take the name of the first.
    let action =
        CronActionSpawn::new(move || p.lock().unwrap().take().unwrap_or_else(|| probe().0), SpawnOptions::default())
            .register("nightly");
    node.cron().add_job(job("reg", "* * * * *", action)).unwrap();
    clock.advance(MINUTE);
    let first = node.whereis("nightly").expect("registered");
    assert!(matches!(rx.recv_timeout(PATIENCE), Ok(Event::Init(p)) if p == first));
    assert_eq!(node.cron().job_info("reg").unwrap().last_error, None);
    clock.advance(MINUTE);
    let info = node.cron().job_info("reg").unwrap();
    assert!(info.last_error.is_some(), "the name is taken");
    assert_eq!(info.last_run.map(|t| t.to_string()).as_deref(), Some("2025-01-06T10:02:00+00:00[UTC]"));
    assert_eq!(node.whereis("nightly"), Some(first));
}

#[test]
fn disable_stops_firing_enable_resumes_remove_ends() {
    let clock = ManualClock::new(utc(2025, 1, 6, 10, 0, 0));
    let node = start("cron_enable", options(&clock));
    let (p, rx) = probe();
    let pid = node.spawn(p, SpawnOptions::default()).unwrap();
    let cron = node.cron();
    cron.add_job(job("tick", "* * * * *", CronActionMessage::new(pid, Priority::Main))).unwrap();
    clock.advance(MINUTE);
    assert_eq!(cron_message(&rx).job, "tick");

    cron.disable_job("tick").unwrap();
    assert!(cron.job_info("tick").unwrap().disabled);
    clock.advance(MINUTE);
    clock.advance(MINUTE);
    nothing_more(&node, pid, &rx);

    cron.enable_job("tick").unwrap();
    cron.enable_job("tick").unwrap(); // enabling an enabled job is fine
    clock.advance(MINUTE);
    assert_eq!(time_of(&cron_message(&rx)), "2025-01-06T10:04:00+00:00[UTC]");

    cron.remove_job("tick").unwrap();
    clock.advance(MINUTE);
    nothing_more(&node, pid, &rx);
    assert!(cron.info().jobs.is_empty());
    // The name is free again.
    cron.add_job(job("tick", "* * * * *", CronActionMessage::new(pid, Priority::Main))).unwrap();
    clock.advance(MINUTE);
    assert_eq!(time_of(&cron_message(&rx)), "2025-01-06T10:06:00+00:00[UTC]");
}

#[test]
fn errors_are_typed() {
    let clock = ManualClock::new(utc(2025, 1, 6, 10, 0, 0));
    let node = start("cron_errors", options(&clock));
    let cron = node.cron();
    let send = || CronActionMessage::new("x", Priority::Main);
    cron.add_job(job("a", "* * * * *", send())).unwrap();
    assert!(matches!(cron.add_job(job("a", "0 * * * *", send())), Err(CronError::Duplicate(n)) if n == "a"));
    for r in [cron.remove_job("b"), cron.enable_job("b"), cron.disable_job("b")] {
        assert!(matches!(&r, Err(CronError::Unknown(n)) if n == "b"), "{r:?}");
    }
    assert!(matches!(cron.job_info("b"), Err(CronError::Unknown(_))));
    assert!(matches!(cron.job_schedule("b", clock.now(), MINUTE), Err(CronError::Unknown(_))));
    assert!(matches!(CronJob::new("", "* * * * *", send()), Err(CronError::EmptyName)));
    match CronJob::new("bad", "0 0 * 13 *", send()) {
        Err(CronError::Spec(CronSpecError::Field { field: CronField::Month, item, .. })) => assert_eq!(item, "13"),
        other => panic!("{other:?}"),
    }
    let e = CronJob::new("bad", "0 0 * 13 *", send()).unwrap_err().to_string();
    assert!(e.contains("month") && e.contains("13"), "{e}");
    assert!(matches!(
        CronJob::new("z", "* * * * *", send()).unwrap().location_name("Mars/Olympus_Mons"),
        Err(CronError::UnknownZone { .. })
    ));
    node.stop();
    assert!(matches!(cron.add_job(job("c", "* * * * *", send())), Err(CronError::NodeStopped)));
}

#[test]
fn info_lists_jobs_with_their_next_runs() {
    let clock = ManualClock::new(utc(2025, 1, 6, 10, 0, 30)); // a Monday
    let node = start("cron_info", options(&clock));
    let cron = node.cron();
    let send = || CronActionMessage::new("x", Priority::Main);
    cron.add_job(job("hourly", "@hourly", send())).unwrap();
    cron.add_job(job("soon", "1-3 10 * * *", send())).unwrap();
    let berlin = CronJob::new("berlin", "0 9 * * MON", send()).unwrap().location_name("Europe/Berlin").unwrap();
    cron.add_job(berlin).unwrap();
    cron.add_job(job("off", "* * * * *", send())).unwrap();
    cron.disable_job("off").unwrap();

    let info = cron.info();
    assert_eq!(info.next, utc(2025, 1, 6, 10, 1, 0));
    let mut spool: Vec<String> = info.spool.iter().map(|n| n.to_string()).collect();
    spool.sort();
    assert_eq!(spool, ["hourly", "soon"], "the disabled job is not in the spool");
    let names: Vec<&str> = info.jobs.iter().map(|j| j.name.as_ref()).collect();
    assert_eq!(names, ["berlin", "hourly", "off", "soon"], "by name");
    let next =
        |name: &str| info.jobs.iter().find(|j| j.name == name).unwrap().next_run.as_ref().map(ZonedDateTime::to_string);
    assert_eq!(next("hourly").as_deref(), Some("2025-01-06T10:01:00+00:00[UTC]"));
    assert_eq!(next("soon").as_deref(), Some("2025-01-06T10:01:00+00:00[UTC]"));
    assert_eq!(
        next("berlin").as_deref(),
        Some("2025-01-13T09:00:00+01:00[Europe/Berlin]"),
        "09:00 Berlin was 08:00 UTC"
    );
    assert_eq!(next("off"), None);
    let berlin = info.jobs.iter().find(|j| j.name == "berlin").unwrap();
    assert_eq!(
        (berlin.spec.as_str(), berlin.location.as_str(), berlin.disabled),
        ("0 9 * * MON", "Europe/Berlin", false)
    );

    // Schedule: minutes with the enabled jobs due then.
    let plan = cron.schedule(utc(2025, 1, 6, 10, 0, 0), Duration::from_secs(5 * 60));
    let shown: Vec<(Timestamp, Vec<String>)> =
        plan.into_iter().map(|s| (s.time, s.jobs.iter().map(|n| n.to_string()).collect())).collect();
    assert_eq!(
        shown,
        [
            (utc(2025, 1, 6, 10, 1, 0), vec!["hourly".to_string(), "soon".to_string()]),
            (utc(2025, 1, 6, 10, 2, 0), vec!["soon".to_string()]),
            (utc(2025, 1, 6, 10, 3, 0), vec!["soon".to_string()]),
        ]
    );
    let runs = cron.job_schedule("berlin", utc(2025, 1, 1, 0, 0, 0), Duration::from_secs(14 * 86_400)).unwrap();
    let runs: Vec<String> = runs.iter().map(|z| z.to_string()).collect();
    assert_eq!(runs, ["2025-01-06T09:00:00+01:00[Europe/Berlin]", "2025-01-13T09:00:00+01:00[Europe/Berlin]"]);
}

/// Walks a night minute by minute in Berlin: a 02:30 job does not run on the spring-forward
/// night (02:30 does not exist) and runs twice on the fall-back night (02:30 happens twice).
#[test]
fn dst_in_a_named_zone() {
    let clock = ManualClock::new(utc(2025, 3, 29, 22, 0, 0));
    let node = start("cron_dst", options(&clock));
    let (p, rx) = probe();
    let pid = node.spawn(p, SpawnOptions::default()).unwrap();
    let j = CronJob::new("half_past_two", "30 2 * * *", CronActionMessage::new(pid, Priority::Main))
        .unwrap()
        .location_name("Europe/Berlin")
        .unwrap();
    node.cron().add_job(j).unwrap();
    for _ in 0..6 * 60 {
        clock.advance(MINUTE); // to 04:00 UTC, 06:00 in Berlin
    }
    nothing_more(&node, pid, &rx);

    clock.set(utc(2025, 10, 25, 22, 0, 0));
    for _ in 0..6 * 60 {
        clock.advance(MINUTE);
    }
    assert_eq!(time_of(&cron_message(&rx)), "2025-10-26T02:30:00+02:00[Europe/Berlin]");
    assert_eq!(time_of(&cron_message(&rx)), "2025-10-26T02:30:00+01:00[Europe/Berlin]");
    nothing_more(&node, pid, &rx);
}

struct Failing;

impl CronAction for Failing {
    fn run(&self, _: &NodeHandle, _: &Name, _: &ZonedDateTime) -> Result<(), CronActionError> {
        panic!("boom")
    }
    fn info(&self) -> String {
        "always panics".into()
    }
}

#[test]
fn a_failing_action_records_its_error_and_the_job_stays() {
    let clock = ManualClock::new(utc(2025, 1, 6, 10, 0, 0));
    let node = start("cron_fail", options(&clock));
    let (p, rx) = probe();
    node.spawn_register("fallback", p, SpawnOptions::default()).unwrap();
    let cron = node.cron();
    let to_nobody =
        job("lost", "* * * * *", CronActionMessage::new("nobody", Priority::Main)).fallback("fallback", "t1");
    cron.add_job(to_nobody).unwrap();
    cron.add_job(job("panics", "* * * * *", Failing)).unwrap();
    clock.advance(MINUTE);

    let m = next_message(&rx).downcast::<MessageCronFallback>().unwrap_or_else(|m| panic!("{m:?}"));
    assert_eq!((m.job.as_ref(), m.tag.as_str()), ("lost", "t1"));
    assert_eq!(m.time.to_string(), "2025-01-06T10:01:00+00:00[UTC]");
    let lost = cron.job_info("lost").unwrap();
    assert_eq!(lost.last_error.as_deref(), Some(m.error.as_str()));
    assert!(lost.last_run.is_some());
    let panics = cron.job_info("panics").unwrap();
    assert!(panics.last_error.as_deref().is_some_and(|e| e.contains("boom")), "{:?}", panics.last_error);

    // Both jobs stay and run again; once the name exists, the run succeeds and clears the error.
    let (p2, rx2) = probe();
    node.spawn_register("nobody", p2, SpawnOptions::default()).unwrap();
    clock.advance(MINUTE);
    assert_eq!(cron_message(&rx2).job, "lost");
    assert_eq!(cron.job_info("lost").unwrap().last_error, None);
    assert_eq!(cron.info().jobs.len(), 2);
    nothing_more(&node, "fallback", &rx);
}

#[test]
fn clock_jumps_run_the_landing_minute_only() {
    let clock = ManualClock::new(utc(2025, 1, 6, 10, 0, 0));
    let node = start("cron_jumps", options(&clock));
    let (p, rx) = probe();
    let pid = node.spawn(p, SpawnOptions::default()).unwrap();
    node.cron().add_job(job("every", "* * * * *", CronActionMessage::new(pid, Priority::Main))).unwrap();
    clock.advance(Duration::from_secs(3 * 3600 + 30)); // missed minutes are not caught up
    assert_eq!(time_of(&cron_message(&rx)), "2025-01-06T13:00:00+00:00[UTC]");
    nothing_more(&node, pid, &rx);
    clock.set(utc(2025, 1, 6, 13, 0, 5)); // back a little, same minute: nothing
    nothing_more(&node, pid, &rx);
    clock.set(utc(2025, 1, 6, 11, 0, 0)); // back two hours: that minute runs again
    assert_eq!(time_of(&cron_message(&rx)), "2025-01-06T11:00:00+00:00[UTC]");
    nothing_more(&node, pid, &rx);
}

#[test]
fn jobs_given_at_start_run_and_duplicates_refuse_the_start() {
    let clock = ManualClock::new(utc(2025, 1, 6, 10, 0, 0));
    let (p, rx) = probe();
    let opts = options(&clock).cron_job(job("boot", "* * * * *", CronActionMessage::new("early", Priority::Main)));
    let node = start("cron_boot", opts);
    node.spawn_register("early", p, SpawnOptions::default()).unwrap();
    clock.advance(MINUTE);
    assert_eq!(cron_message(&rx).job, "boot");

    let twice = options(&clock)
        .cron_job(job("dup", "* * * * *", CronActionMessage::new("x", Priority::Main)))
        .cron_job(job("dup", "0 * * * *", CronActionMessage::new("x", Priority::Main)));
    match Node::start("cron_boot_dup@localhost", twice) {
        Err(StartError::Cron(CronError::Duplicate(n))) => assert_eq!(n, "dup"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a duplicate job must refuse the start"),
    }
}

/// Waits (bounded) until the process has `n` cron threads: a thread names itself once it runs,
/// and leaves `/proc` a moment after it was joined.
fn wait_cron_threads(n: usize) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while cron_threads() != n {
        assert!(std::time::Instant::now() < deadline, "expected {n} cron threads, have {}", cron_threads());
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Adds a job for itself from its `init`: the cron is reachable from a process.
struct SelfScheduling;

impl Actor for SelfScheduling {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        let me = CronActionMessage::new(ctx.pid(), Priority::Main);
        let job = CronJob::new("mine", "*/5 * * * *", me).map_err(ExitReason::custom)?.location(TimeZone::UTC);
        ctx.node().cron().add_job(job).map_err(ExitReason::custom)?;
        Ok(())
    }
}

#[test]
fn a_process_adds_a_job_through_its_context() {
    let clock = ManualClock::new(utc(2025, 1, 6, 10, 0, 0));
    let node = start("cron_ctx", options(&clock));
    node.spawn_wait(SelfScheduling, SpawnOptions::default()).unwrap();
    let info = node.cron().job_info("mine").unwrap();
    assert_eq!(info.next_run.map(|t| t.to_string()).as_deref(), Some("2025-01-06T10:05:00+00:00[UTC]"));
    assert!(info.action.contains("send message to"), "{}", info.action);
}

fn cron_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.trim() == "ergors-cron")
        .count()
}

/// The only test here on the system clock: its cron thread starts with the first job and is
/// gone once the node has stopped.
#[test]
fn the_cron_thread_ends_with_the_node() {
    let node = start("cron_thread", NodeOptions::default().workers(1).pin_workers(false));
    assert_eq!(cron_threads(), 0, "no job, no thread");
    node.cron().add_job(job("idle", "0 0 1 1 *", CronActionMessage::new("x", Priority::Main))).unwrap();
    wait_cron_threads(1);
    let info = node.cron().info();
    assert!(info.next > Timestamp::now() && info.next.as_second() % 60 == 0, "{info:?}");
    node.stop();
    wait_cron_threads(0);
}
