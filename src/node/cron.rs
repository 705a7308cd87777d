//! The node's cron (Ergo's `gen.Cron`): jobs on cron specs ([`CronSpec`]), each sending a
//! [`CronMessage`] to a process, spawning a process, or running a [`CronAction`] of your own,
//! every minute its spec matches in the job's time zone.
//!
//! Reach it with [`NodeHandle::cron`] (from a process: `ctx.node().cron()`); give jobs at start
//! with [`NodeOptions::cron_job`](crate::NodeOptions::cron_job).
//!
//! How it runs (D91): on the system clock, one plain thread per node (started with the first
//! job) sleeps until the next minute boundary of the wall clock, recomputed at each wake-up, so
//! it neither drifts nor busy-waits and never blocks a worker. Each minute it sees fires once;
//! minutes it did not see (the machine slept, the clock jumped forward) are not caught up. On a
//! [`ManualClock`] there is no thread: [`ManualClock::advance`] and [`ManualClock::set`] run the
//! minute they land in, in the caller's thread, before returning. The cron stops with the node.
//!
//! Never: holds its lock while an action runs (an action may use the cron), or runs an action
//! on a worker thread unless a process drives a manual clock itself.
//!
//! # Examples
//! ```no_run
//! use ergors::cron::{CronActionMessage, CronJob};
//! use ergors::{Node, NodeOptions, Priority};
//!
//! let node = Node::start("demo@localhost", NodeOptions::from_env()?)?;
//! let job = CronJob::new("report", "*/15 9-17 * * MON-FRI", CronActionMessage::new("reporter", Priority::Main))?
//!     .location_name("Europe/Berlin")?;
//! node.cron().add_job(job)?;
//! for info in node.cron().info().jobs {
//!     println!("{} next runs at {:?}", info.name, info.next_run);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use super::cron_parse::{CronField, CronFieldProblem, CronSpec, CronSpecError};
/// The date and time library of the cron's API (time zones, timestamps).
pub use jiff;

use super::{NodeHandle, NodeInner, SpawnOptions};
use crate::act::Actor;
use crate::message::{Atom, Name, Pid, Priority, To};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// Why a cron operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CronError {
    /// A job needs a name.
    #[error("a cron job needs a name")]
    EmptyName,
    /// The spec does not parse (the error names the field).
    #[error(transparent)]
    Spec(#[from] CronSpecError),
    /// No time zone of that name in the time zone database.
    #[error("unknown time zone {name:?}: {reason}")]
    UnknownZone {
        /// The name given.
        name: String,
        /// What the database said.
        reason: String,
    },
    /// A job of that name exists (Ergo's `ErrTaken`).
    #[error("a cron job named {0:?} exists already")]
    Duplicate(String),
    /// No job of that name (Ergo's `ErrUnknown`).
    #[error("no cron job named {0:?}")]
    Unknown(String),
    /// The node is stopping.
    #[error("the node is stopping")]
    NodeStopped,
    /// The cron's thread could not be started.
    #[error("cannot start the cron thread: {0}")]
    Io(#[from] std::io::Error),
}

/// What a [`CronActionMessage`] job sends (Ergo's `gen.MessageCron`), from the node, to
/// `handle_message`.
#[derive(Clone, Debug, PartialEq)]
pub struct CronMessage {
    /// The node whose cron sent it.
    pub node: Atom,
    /// The job.
    pub job: Name,
    /// The minute the job ran for, in the job's time zone.
    pub time: ZonedDateTime,
}

/// Sent to a job's fallback process when its action fails (Ergo's `gen.MessageCronFallback`;
/// [`CronJob::fallback`]).
#[derive(Clone, Debug, PartialEq)]
pub struct MessageCronFallback {
    /// The job.
    pub job: Name,
    /// The tag given with [`CronJob::fallback`].
    pub tag: String,
    /// The minute the job ran for, in the job's time zone.
    pub time: ZonedDateTime,
    /// Why the action failed.
    pub error: String,
}

/// The error an action reports.
pub type CronActionError = Box<dyn std::error::Error + Send + Sync>;

/// What a job does when it is due (Ergo's `gen.CronAction`). Built in: [`CronActionMessage`]
/// and [`CronActionSpawn`].
pub trait CronAction: Send + Sync + 'static {
    /// Runs the action of `job` for the minute `time` (in the job's zone). Runs on the cron's
    /// thread (or the thread that moved a [`ManualClock`]): it should not block for long.
    ///
    /// # Errors
    /// Whatever failed: recorded as the job's last error and logged; the job stays.
    fn run(&self, node: &NodeHandle, job: &Name, time: &ZonedDateTime) -> Result<(), CronActionError>;

    /// A line saying what the action does (job info).
    fn info(&self) -> String;
}

/// Sends a [`CronMessage`] to a process (Pid, name or alias) with a priority (Ergo's
/// `CreateCronActionMessage`).
#[derive(Clone, Debug)]
pub struct CronActionMessage {
    to: To,
    priority: Priority,
}

impl CronActionMessage {
    /// Sends to `to` (resolved each time the job runs) into the queue of `priority`.
    pub fn new(to: impl Into<To>, priority: Priority) -> CronActionMessage {
        CronActionMessage { to: to.into(), priority }
    }
}

impl CronAction for CronActionMessage {
    fn run(&self, node: &NodeHandle, job: &Name, time: &ZonedDateTime) -> Result<(), CronActionError> {
        let msg = CronMessage { node: node.name(), job: job.clone(), time: time.clone() };
        node.send_with_priority(self.to.clone(), msg, self.priority)?;
        Ok(())
    }

    fn info(&self) -> String {
        format!("send message to {} with {:?} priority", self.to, self.priority)
    }
}

type SpawnFn = dyn Fn(&NodeHandle, SpawnOptions, Option<&str>) -> Result<Pid, crate::Error> + Send + Sync;

/// Spawns a fresh process from a factory each time the job runs (Ergo's
/// `CreateCronActionSpawn`), optionally registered under a name. The process's environment
/// gets `CRON_NODE_NAME`, `CRON_JOB_NAME` and `CRON_JOB_ACTION_TIME` (RFC 3339 with the zone).
/// The spawn does not wait for `init`: a failing `init` is not the job's error (D93).
pub struct CronActionSpawn {
    spawn: Box<SpawnFn>,
    options: SpawnOptions,
    register: Option<String>,
    behaviour: &'static str,
}

impl CronActionSpawn {
    /// Spawns `factory()` with `options`, from the node.
    pub fn new<A: Actor, F: Fn() -> A + Send + Sync + 'static>(factory: F, options: SpawnOptions) -> CronActionSpawn {
        CronActionSpawn {
            spawn: Box::new(move |node, opts, name| match name {
                Some(name) => node.spawn_register(name, factory(), opts),
                None => node.spawn(factory(), opts),
            }),
            options,
            register: None,
            behaviour: std::any::type_name::<A>(),
        }
    }

    /// Registers each spawned process under `name` (a run fails while the previous process
    /// still holds it).
    pub fn register(mut self, name: &str) -> CronActionSpawn {
        self.register = Some(name.to_string());
        self
    }
}

impl fmt::Debug for CronActionSpawn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronActionSpawn")
            .field("behaviour", &self.behaviour)
            .field("register", &self.register)
            .field("options", &self.options)
            .finish()
    }
}

impl CronAction for CronActionSpawn {
    fn run(&self, node: &NodeHandle, job: &Name, time: &ZonedDateTime) -> Result<(), CronActionError> {
        let opts = self
            .options
            .clone()
            .env("CRON_NODE_NAME", node.name().to_string())
            .env("CRON_JOB_NAME", job.to_string())
            .env("CRON_JOB_ACTION_TIME", time.to_string());
        (self.spawn)(node, opts, self.register.as_deref())?;
        Ok(())
    }

    fn info(&self) -> String {
        match &self.register {
            Some(name) => format!("spawn process with registered name {name} using behavior {}", self.behaviour),
            None => format!("spawn process using behavior {}", self.behaviour),
        }
    }
}

/// A job: a name, a spec, a time zone and an action (Ergo's `gen.CronJob`).
#[derive(Clone)]
pub struct CronJob {
    name: Name,
    spec: CronSpec,
    location: Option<TimeZone>,
    action: Arc<dyn CronAction>,
    fallback: Option<(Name, String)>,
}

impl CronJob {
    /// A job called `name` that runs `action` at the minutes `spec` matches, in the node's
    /// local time zone unless [`CronJob::location`] says otherwise.
    ///
    /// # Errors
    /// [`CronError::EmptyName`], [`CronError::Spec`] (naming the bad field).
    pub fn new(name: &str, spec: &str, action: impl CronAction) -> Result<CronJob, CronError> {
        if name.is_empty() {
            return Err(CronError::EmptyName);
        }
        Ok(CronJob {
            name: Name::new(name),
            spec: spec.parse()?,
            location: None,
            action: Arc::new(action),
            fallback: None,
        })
    }

    /// Reads the spec in `tz` (Ergo's `Location`).
    pub fn location(mut self, tz: TimeZone) -> CronJob {
        self.location = Some(tz);
        self
    }

    /// Reads the spec in the zone called `name` in the time zone database ("Europe/Berlin").
    ///
    /// # Errors
    /// [`CronError::UnknownZone`].
    pub fn location_name(self, name: &str) -> Result<CronJob, CronError> {
        let tz = TimeZone::get(name)
            .map_err(|e| CronError::UnknownZone { name: name.to_string(), reason: e.to_string() })?;
        Ok(self.location(tz))
    }

    /// When the action fails, sends a [`MessageCronFallback`] with `tag` to the process
    /// registered as `name` (Ergo's `Fallback`).
    pub fn fallback(mut self, name: &str, tag: &str) -> CronJob {
        self.fallback = Some((Name::new(name), tag.to_string()));
        self
    }

    /// The job's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The job's spec.
    pub fn spec(&self) -> &CronSpec {
        &self.spec
    }
}

impl fmt::Debug for CronJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronJob")
            .field("name", &self.name)
            .field("spec", &self.spec.as_str())
            .field("location", &self.location.as_ref().map(zone_name))
            .field("action", &self.action.info())
            .field("fallback", &self.fallback)
            .finish()
    }
}

fn zone_name(tz: &TimeZone) -> String {
    tz.iana_name().map_or_else(|| format!("{tz:?}"), str::to_string)
}

/// Where the cron reads the time. [`CronClock::System`] by default; tests use a
/// [`ManualClock`] ([`NodeOptions::cron_clock`](crate::NodeOptions::cron_clock)).
#[derive(Clone, Debug, Default)]
pub enum CronClock {
    /// The machine's wall clock.
    #[default]
    System,
    /// A clock that moves only when told to, running the cron as it moves.
    Manual(ManualClock),
}

impl CronClock {
    fn now(&self) -> Timestamp {
        match self {
            CronClock::System => Timestamp::now(),
            CronClock::Manual(m) => m.now(),
        }
    }
}

/// A clock for tests: it stands still until [`ManualClock::advance`] or [`ManualClock::set`]
/// moves it, and each move runs, before it returns, the jobs due in the minute it lands in (of
/// every node started with this clock). Moving it from inside a cron action deadlocks.
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    now: Mutex<Timestamp>,
    crons: Mutex<Vec<Weak<CronCore>>>,
    /// Held while a move runs the crons, so that two moves run their minutes in order.
    drive: Mutex<()>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            inner: Arc::new(ManualInner { now: Mutex::new(start), crons: Mutex::default(), drive: Mutex::new(()) }),
        }
    }

    /// The time it shows.
    pub fn now(&self) -> Timestamp {
        *lock(&self.inner.now)
    }

    /// Moves the clock forward by `by` and runs the minute it lands in.
    pub fn advance(&self, by: Duration) {
        let _drive = lock(&self.inner.drive);
        let to = {
            let mut now = lock(&self.inner.now);
            let by = jiff::SignedDuration::try_from(by).unwrap_or(jiff::SignedDuration::MAX);
            *now = now.saturating_add(by).unwrap_or(Timestamp::MAX);
            *now
        };
        self.run(to);
    }

    /// Sets the clock to `to` (forward or back) and runs the minute it lands in.
    pub fn set(&self, to: Timestamp) {
        let _drive = lock(&self.inner.drive);
        *lock(&self.inner.now) = to;
        self.run(to);
    }

    fn run(&self, now: Timestamp) {
        let crons: Vec<Arc<CronCore>> = {
            let mut list = lock(&self.inner.crons);
            list.retain(|c| c.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        for c in crons {
            c.tick(now);
        }
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.now()).finish()
    }
}

/// A job as [`Cron::info`] and [`Cron::job_info`] show it (Ergo's `gen.CronJobInfo`, plus the
/// next run).
#[derive(Clone, Debug)]
pub struct CronJobInfo {
    /// The job's name.
    pub name: Name,
    /// Its spec, as given.
    pub spec: String,
    /// Its time zone's name.
    pub location: String,
    /// What its action does.
    pub action: String,
    /// Disabled by [`Cron::disable_job`].
    pub disabled: bool,
    /// The minute it last ran for, in its zone.
    pub last_run: Option<ZonedDateTime>,
    /// Why its last run failed, if it did (cleared by a run that succeeds).
    pub last_error: Option<String>,
    /// The next minute it will run, in its zone (`None` when disabled, or when its spec matches
    /// no date in the next nine years).
    pub next_run: Option<ZonedDateTime>,
    /// Its fallback process and tag.
    pub fallback: Option<(Name, String)>,
}

/// The cron as a whole (Ergo's `gen.CronInfo`).
#[derive(Clone, Debug)]
pub struct CronInfo {
    /// The next minute the cron runs.
    pub next: Timestamp,
    /// The enabled jobs due then.
    pub spool: Vec<Name>,
    /// Every job, by name.
    pub jobs: Vec<CronJobInfo>,
}

/// The jobs due at one minute (Ergo's `gen.CronSchedule`).
#[derive(Clone, Debug, PartialEq)]
pub struct CronSchedule {
    /// The minute.
    pub time: Timestamp,
    /// The enabled jobs due then, by name.
    pub jobs: Vec<Name>,
}

/// The cron of a node (Ergo's `gen.Cron`): [`NodeHandle::cron`]. A cheap clone.
#[derive(Clone)]
pub struct Cron {
    core: Arc<CronCore>,
}

struct JobState {
    /// Tells a job from a later one of the same name (a run's result is kept only by its job).
    id: u64,
    job: CronJob,
    tz: TimeZone,
    disabled: bool,
    last_run: Option<ZonedDateTime>,
    last_error: Option<String>,
}

struct State {
    jobs: BTreeMap<Name, JobState>,
    /// The minute (Unix seconds / 60) the cron last ran, or saw when it started.
    last_minute: i64,
    next_id: u64,
    stopping: bool,
    thread_started: bool,
}

/// The cron's shared half, owned by the node.
pub(crate) struct CronCore {
    node: Weak<NodeInner>,
    clock: CronClock,
    state: Mutex<State>,
    cv: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn minute_of(t: Timestamp) -> i64 {
    t.as_second().div_euclid(60)
}

fn minute_start(minute: i64) -> Timestamp {
    Timestamp::from_second(minute.saturating_mul(60)).unwrap_or(Timestamp::MAX)
}

impl CronCore {
    /// A cron that has seen the current minute (it runs from the next one, as Ergo's).
    pub(crate) fn new(node: Weak<NodeInner>, clock: CronClock) -> Arc<CronCore> {
        let last_minute = minute_of(clock.now());
        let core = Arc::new(CronCore {
            node,
            clock,
            state: Mutex::new(State {
                jobs: BTreeMap::new(),
                last_minute,
                next_id: 0,
                stopping: false,
                thread_started: false,
            }),
            cv: Condvar::new(),
            thread: Mutex::new(None),
        });
        if let CronClock::Manual(m) = &core.clock {
            lock(&m.inner.crons).push(Arc::downgrade(&core));
        }
        core
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Stops the cron (no job runs after this returns, but one running now finishes) and joins
    /// its thread, unless called from it (an action stopping the node).
    pub(crate) fn stop(&self) {
        self.state().stopping = true;
        self.cv.notify_all();
        let t = lock(&self.thread).take();
        if let Some(t) = t {
            if t.thread().id() == std::thread::current().id() {
                return;
            }
            let _ = t.join();
        }
    }

    /// Runs the jobs due in the minute of `now`, unless that minute already ran.
    fn tick(&self, now: Timestamp) {
        let minute = minute_of(now);
        let at = minute_start(minute);
        let due: Vec<(u64, CronJob, ZonedDateTime)> = {
            let mut s = self.state();
            // Once per minute: a wake-up a little early or late lands in a minute already run
            // or in the one due. A clock set back past the last minute runs those minutes again.
            if s.stopping || minute == s.last_minute {
                return;
            }
            s.last_minute = minute;
            s.jobs
                .values()
                .filter(|j| !j.disabled && j.job.spec.matches_at(at, &j.tz))
                .map(|j| (j.id, j.job.clone(), at.to_zoned_datetime(j.tz.clone())))
                .collect()
        };
        let Some(inner) = self.node.upgrade() else { return };
        let node = NodeHandle { inner };
        for (id, job, time) in due {
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.action.run(&node, &job.name, &time)));
            let error = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(panic) => Some(format!("panic: {}", crate::runtime::worker::panic_message(&*panic))),
            };
            match &error {
                None => node_log!(node.inner, INFO, "(cron) {} has completed (action time: {time})", job.name),
                Some(e) => {
                    node_log!(node.inner, ERROR, "(cron) job {} has failed (action time: {time}): {e}", job.name);
                    if let Some((to, tag)) = &job.fallback {
                        let msg = MessageCronFallback {
                            job: job.name.clone(),
                            tag: tag.clone(),
                            time: time.clone(),
                            error: e.clone(),
                        };
                        if let Err(err) = node.send(to, msg) {
                            node_log!(
                                node.inner,
                                ERROR,
                                "(cron) fallback process {to} for {} is unreachable: {err}",
                                job.name
                            );
                        }
                    }
                }
            }
            let mut s = self.state();
            if let Some(j) = s.jobs.get_mut(job.name.as_ref() as &str)
                && j.id == id
            {
                j.last_run = Some(time);
                j.last_error = error;
            }
        }
    }

    /// Starts the thread that runs the cron on the system clock, once.
    fn ensure_thread(self: &Arc<Self>, s: &mut State) -> Result<(), CronError> {
        if s.thread_started || !matches!(self.clock, CronClock::System) {
            return Ok(());
        }
        let core = self.clone();
        let t = std::thread::Builder::new().name("ergors-cron".into()).spawn(move || core.run())?;
        *lock(&self.thread) = Some(t);
        s.thread_started = true;
        Ok(())
    }

    /// The cron thread: sleeps to the next minute boundary of the wall clock (recomputed at
    /// every wake-up: no drift), then runs that minute.
    fn run(&self) {
        loop {
            {
                let s = self.state();
                let wait = until_next_minute(std::time::SystemTime::now());
                let (s, _) = self.cv.wait_timeout_while(s, wait, |s| !s.stopping).unwrap_or_else(|p| p.into_inner());
                if s.stopping {
                    return;
                }
            }
            self.tick(Timestamp::now());
        }
    }

    fn job_info(&self, j: &JobState) -> CronJobInfo {
        CronJobInfo {
            name: j.job.name.clone(),
            spec: j.job.spec.as_str().to_string(),
            location: zone_name(&j.tz),
            action: j.job.action.info(),
            disabled: j.disabled,
            last_run: j.last_run.clone(),
            last_error: j.last_error.clone(),
            next_run: if j.disabled { None } else { j.job.spec.next_after(self.clock.now(), &j.tz) },
            fallback: j.job.fallback.clone(),
        }
    }
}

/// How long from `now` to the start of the next minute of the wall clock.
fn until_next_minute(now: std::time::SystemTime) -> Duration {
    let since = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let into = Duration::new(since.as_secs() % 60, since.subsec_nanos());
    Duration::from_secs(60) - into
}

impl Cron {
    /// Adds a job (Ergo's `AddJob`); it runs from the next minute its spec matches.
    ///
    /// # Errors
    /// [`CronError::Duplicate`], [`CronError::NodeStopped`], [`CronError::Io`] (the cron's
    /// thread, started with the first job, could not be).
    pub fn add_job(&self, job: CronJob) -> Result<(), CronError> {
        let mut s = self.core.state();
        if s.stopping {
            return Err(CronError::NodeStopped);
        }
        if s.jobs.contains_key(job.name.as_ref() as &str) {
            return Err(CronError::Duplicate(job.name.to_string()));
        }
        self.core.ensure_thread(&mut s)?;
        let tz = job.location.clone().unwrap_or_else(TimeZone::system);
        s.next_id += 1;
        let id = s.next_id;
        s.jobs.insert(job.name.clone(), JobState { id, job, tz, disabled: false, last_run: None, last_error: None });
        Ok(())
    }

    /// Removes a job (Ergo's `RemoveJob`). A run in progress finishes.
    ///
    /// # Errors
    /// [`CronError::Unknown`].
    pub fn remove_job(&self, name: &str) -> Result<(), CronError> {
        self.core.state().jobs.remove(name).map(drop).ok_or_else(|| CronError::Unknown(name.to_string()))
    }

    /// Lets a disabled job run again (Ergo's `EnableJob`); enabling an enabled job is no error.
    ///
    /// # Errors
    /// [`CronError::Unknown`].
    pub fn enable_job(&self, name: &str) -> Result<(), CronError> {
        self.set_disabled(name, false)
    }

    /// Keeps a job from running until it is enabled (Ergo's `DisableJob`).
    ///
    /// # Errors
    /// [`CronError::Unknown`].
    pub fn disable_job(&self, name: &str) -> Result<(), CronError> {
        self.set_disabled(name, true)
    }

    fn set_disabled(&self, name: &str, disabled: bool) -> Result<(), CronError> {
        let mut s = self.core.state();
        let j = s.jobs.get_mut(name).ok_or_else(|| CronError::Unknown(name.to_string()))?;
        j.disabled = disabled;
        Ok(())
    }

    /// The cron and its jobs (by name), each with its next run (Ergo's `Info`).
    pub fn info(&self) -> CronInfo {
        let s = self.core.state();
        let next = minute_start(minute_of(self.core.clock.now()) + 1);
        let spool = s
            .jobs
            .values()
            .filter(|j| !j.disabled && j.job.spec.matches_at(next, &j.tz))
            .map(|j| j.job.name.clone())
            .collect();
        let jobs = s.jobs.values().map(|j| self.core.job_info(j)).collect();
        CronInfo { next, spool, jobs }
    }

    /// One job (Ergo's `JobInfo`).
    ///
    /// # Errors
    /// [`CronError::Unknown`].
    pub fn job_info(&self, name: &str) -> Result<CronJobInfo, CronError> {
        let s = self.core.state();
        let j = s.jobs.get(name).ok_or_else(|| CronError::Unknown(name.to_string()))?;
        Ok(self.core.job_info(j))
    }

    /// The minutes in `[since truncated to the minute, that + duration)` at which enabled jobs
    /// are due, each with those jobs by name (Ergo's `Schedule`), in order.
    pub fn schedule(&self, since: Timestamp, duration: Duration) -> Vec<CronSchedule> {
        let s = self.core.state();
        let mut by_minute: BTreeMap<Timestamp, Vec<Name>> = BTreeMap::new();
        for j in s.jobs.values().filter(|j| !j.disabled) {
            for at in j.job.spec.schedule(since, duration, &j.tz) {
                by_minute.entry(at.timestamp()).or_default().push(j.job.name.clone());
            }
        }
        by_minute.into_iter().map(|(time, jobs)| CronSchedule { time, jobs }).collect()
    }

    /// The minutes in `[since truncated to the minute, that + duration)` at which the job's spec
    /// matches, in its zone (Ergo's `JobSchedule`; whether or not it is disabled).
    ///
    /// # Errors
    /// [`CronError::Unknown`].
    pub fn job_schedule(
        &self,
        name: &str,
        since: Timestamp,
        duration: Duration,
    ) -> Result<Vec<ZonedDateTime>, CronError> {
        let s = self.core.state();
        let j = s.jobs.get(name).ok_or_else(|| CronError::Unknown(name.to_string()))?;
        Ok(j.job.spec.schedule(since, duration, &j.tz))
    }
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cron").field("jobs", &self.core.state().jobs.len()).finish()
    }
}

impl NodeHandle {
    /// The node's cron (Ergo's `node.Cron()`).
    pub fn cron(&self) -> Cron {
        Cron { core: self.inner.cron.clone() }
    }
}

impl NodeInner {
    /// Adds the jobs given in the node's options (at start).
    pub(crate) fn start_cron(&self) -> Result<(), CronError> {
        let cron = Cron { core: self.cron.clone() };
        for job in &self.options.cron_jobs {
            cron.add_job(job.clone())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::until_next_minute;
    use std::time::{Duration, UNIX_EPOCH};

    /// The cron thread sleeps to the next boundary of the wall clock, from wherever it woke:
    /// early (it then runs nothing, the minute already ran, and sleeps the rest), on time, or
    /// late (it runs the minute it woke in and sleeps to the next boundary, so no drift).
    #[test]
    fn sleeps_to_the_next_wall_clock_minute() {
        let at = |secs: u64, nanos: u32| UNIX_EPOCH + Duration::new(1_735_689_600 + secs, nanos); // 2025-01-01
        assert_eq!(until_next_minute(at(59, 999_000_000)), Duration::from_millis(1));
        assert_eq!(until_next_minute(at(60, 0)), Duration::from_secs(60));
        assert_eq!(until_next_minute(at(60, 1)), Duration::from_secs(60) - Duration::from_nanos(1));
        assert_eq!(until_next_minute(at(90, 0)), Duration::from_secs(30));
    }
}
