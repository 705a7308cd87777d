//! Applications (Ergo's `gen.ApplicationBehavior` and the node's `Application*` methods): a named
//! group of processes started together, in dependency order, sharing an environment, and stopped
//! together; the application's mode decides what the end of one member means for the others.
//!
//! An application is loaded (its [`Application::load`] gives an [`ApplicationSpec`]), then
//! started: its dependencies first, then an *application master*, an ordinary process that is
//! the group leader of everything the application runs (Erlang's application master). The master
//! starts the members ([`ChildSpec`]s, in order, each after the previous one's `init`),
//! linked both ways, and watches them: it applies the mode, stops the members in reverse order
//! when asked, and records the outcome (D87).
//!
//! The node's side is a set of [`NodeHandle`] methods (`application_load`, `application_start`,
//! `application_stop`, `applications`, ...). They block their caller while a start or stop is
//! under way, so they refuse a worker thread ([`ApplicationError::Node`] with
//! [`Error::WouldBlockWorker`]).

use super::Actor;
use super::context::Context;
use super::supervisor::ChildSpec;
use crate::error::Error;
use crate::message::{ExitReason, Message, MessageExit, Pid, Target};
use crate::node::{NodeHandle, SpawnOptions};
use crate::runtime::timer::TimerHandle;
use crate::runtime::worker::on_worker_thread;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tracing::Level;

/// How long [`NodeHandle::application_stop`] waits for the application to end (Ergo: 5 s).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What the end of a member means for the application (Ergo's `ApplicationMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApplicationMode {
    /// A member ending stops nothing; the application ends (reason `Normal`) when its last
    /// member has. Ergo's default.
    #[default]
    Temporary,
    /// A member ending abnormally (not `Normal`, not `Shutdown`) stops the others; the
    /// application ends with that member's reason.
    Transient,
    /// Any member ending, for any reason, stops the others; the application ends with that
    /// member's reason, and then the node stops (D88; Erlang/OTP's `permanent`).
    Permanent,
}

impl fmt::Display for ApplicationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApplicationMode::Temporary => "temporary",
            ApplicationMode::Transient => "transient",
            ApplicationMode::Permanent => "permanent",
        })
    }
}

/// Where an application is in its life (Ergo's `ApplicationState`, plus `Starting`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplicationState {
    /// Loaded, not running: it can be started or unloaded.
    Loaded,
    /// Its dependencies or members are being started.
    Starting,
    /// All members were started.
    Running,
    /// Its members are being stopped.
    Stopping,
}

impl fmt::Display for ApplicationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApplicationState::Loaded => "loaded",
            ApplicationState::Starting => "starting",
            ApplicationState::Running => "running",
            ApplicationState::Stopping => "stopping",
        })
    }
}

/// Why an application operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplicationError {
    /// The spec has no name (Ergo's `ErrApplicationName`).
    #[error("application has no name")]
    NoName,
    /// The spec has no member (Ergo's `ErrApplicationEmpty`).
    #[error("application {0} has no member")]
    Empty(String),
    /// An application of that name is loaded already (Ergo's `ErrTaken`).
    #[error("application {0} is loaded already")]
    Taken(String),
    /// No application of that name is loaded (Ergo's `ErrApplicationUnknown`).
    #[error("unknown application {0}")]
    Unknown(String),
    /// The application is running (starting it again, unloading it).
    #[error("application {0} is running")]
    Running(String),
    /// The application is starting or stopping; try again when it is done.
    #[error("application {0} is {1}")]
    Busy(String, ApplicationState),
    /// `app` depends on `dep`, which is not loaded (Ergo's `ErrApplicationDepends`).
    #[error("application {app} depends on {dep}, which is not loaded")]
    DependencyUnknown {
        /// The application whose dependency is missing.
        app: String,
        /// The missing one.
        dep: String,
    },
    /// The dependencies go round in a circle; the names, from the first back to it.
    #[error("applications depend on each other in a circle: {}", .0.join(" -> "))]
    DependencyCycle(Vec<String>),
    /// A dependency could not be started.
    #[error("dependency {dep} failed to start: {error}")]
    DependencyFailed {
        /// The dependency.
        dep: String,
        /// Why it failed.
        error: Box<ApplicationError>,
    },
    /// A member could not be started (its spawn failed or its `init` did); the members started
    /// before it were stopped.
    #[error("member {member} of application {app} failed to start: {error}")]
    StartFailed {
        /// The application.
        app: String,
        /// The member's spec name (or its position, for an unnamed one).
        member: String,
        /// What its start returned.
        error: Error,
    },
    /// A member ended before the start was over and the mode stopped the application (with
    /// this reason).
    #[error("application {0} ended while starting: {1}")]
    EndedAtStart(String, ExitReason),
    /// The application's own `load` refused.
    #[error("application load failed: {0}")]
    Load(String),
    /// The application did not end within the wait; its stop goes on.
    #[error("application {0} is still stopping")]
    StopTimeout(String),
    /// The node refused (stopping, or the call was made on a worker thread).
    #[error(transparent)]
    Node(#[from] Error),
}

/// What an application consists of (Ergo's `ApplicationSpec`).
#[derive(Clone, Debug)]
pub struct ApplicationSpec {
    name: String,
    description: String,
    version: String,
    mode: ApplicationMode,
    depends: Vec<String>,
    env: Vec<(String, String)>,
    members: Vec<ChildSpec>,
}

impl ApplicationSpec {
    /// An application named `name` (temporary, no member yet).
    pub fn new(name: &str) -> Self {
        ApplicationSpec {
            name: name.to_string(),
            description: String::new(),
            version: String::new(),
            mode: ApplicationMode::Temporary,
            depends: Vec::new(),
            env: Vec::new(),
            members: Vec::new(),
        }
    }

    /// A description, shown by [`NodeHandle::application_info`].
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    /// A version, shown by [`NodeHandle::application_info`].
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_string();
        self
    }

    /// The mode [`NodeHandle::application_start`] uses.
    pub fn mode(mut self, mode: ApplicationMode) -> Self {
        self.mode = mode;
        self
    }

    /// An application that must be running before this one starts (started first if needed).
    pub fn depends_on(mut self, app: &str) -> Self {
        self.depends.push(app.to_string());
        self
    }

    /// An environment entry every process of the application inherits (over the node's).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// A member, started after the ones added before it. A member with a non-empty spec name
    /// is registered under it; an empty name starts an anonymous process. Its
    /// [`ChildSpec::shutdown`] bounds its stop.
    pub fn member(mut self, member: ChildSpec) -> Self {
        self.members.push(member);
        self
    }

    /// The application's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// An application's callbacks (Ergo's `ApplicationBehavior`). An [`ApplicationSpec`] is an
/// application without callbacks.
pub trait Application: Send + 'static {
    /// Gives the spec; called once, by [`NodeHandle::application_load`].
    ///
    /// # Errors
    /// Any text: the load fails with [`ApplicationError::Load`].
    fn load(&mut self, node: &NodeHandle) -> Result<ApplicationSpec, String>;

    /// Called once all members were started, on the thread that started the application.
    fn start(&mut self, mode: ApplicationMode) {
        let _ = mode;
    }

    /// Called once the last member has ended, with the application's reason, on its master's
    /// worker: it must not block.
    fn terminate(&mut self, reason: &ExitReason) {
        let _ = reason;
    }
}

impl Application for ApplicationSpec {
    fn load(&mut self, _node: &NodeHandle) -> Result<ApplicationSpec, String> {
        Ok(self.clone())
    }
}

/// An application as [`NodeHandle::applications`] lists it (Ergo's `ApplicationInfo`).
#[derive(Clone, Debug)]
pub struct ApplicationInfo {
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its version.
    pub version: String,
    /// The mode it runs in (the spec's until started otherwise).
    pub mode: ApplicationMode,
    /// Where it is in its life.
    pub state: ApplicationState,
    /// The applications it depends on.
    pub depends: Vec<String>,
    /// Its own environment entries (the spec's).
    pub env: Vec<(String, String)>,
    /// Time since it started running (`None` unless running or stopping).
    pub uptime: Option<Duration>,
    /// Its members that are alive, in start order.
    pub members: Vec<Pid>,
    /// Its master (the group leader of its processes) while it runs.
    pub master: Option<Pid>,
    /// Why it last ended, if it ever ran.
    pub last_reason: Option<ExitReason>,
}

struct Status {
    state: ApplicationState,
    mode: ApplicationMode,
    master: Option<Pid>,
    members: Vec<Pid>,
    started: Option<Instant>,
    /// Start order among the node's applications (stopped in reverse when the node stops).
    seq: u64,
    /// Set by `application_stop` before it signals: the ends that follow are requested, not
    /// failures.
    requested: Option<ExitReason>,
    last_reason: Option<ExitReason>,
    /// Bumped every time the application ends (stop waiters look for a change).
    ends: u64,
}

struct AppRecord {
    spec: ApplicationSpec,
    behaviour: Mutex<Box<dyn Application>>,
    status: Mutex<Status>,
    ended: Condvar,
}

impl AppRecord {
    fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn info(&self) -> ApplicationInfo {
        let st = self.status();
        ApplicationInfo {
            name: self.spec.name.clone(),
            description: self.spec.description.clone(),
            version: self.spec.version.clone(),
            mode: st.mode,
            state: st.state,
            depends: self.spec.depends.clone(),
            env: self.spec.env.clone(),
            uptime: st.started.map(|t| t.elapsed()),
            members: st.members.clone(),
            master: st.master,
            last_reason: st.last_reason.clone(),
        }
    }

    /// Records the end of a run of master `master` (once: a later call finds it recorded).
    /// True when this call recorded it.
    fn record_end(&self, master: Pid, reason: &ExitReason) -> bool {
        let mut st = self.status();
        if st.master != Some(master) {
            return false;
        }
        st.state = ApplicationState::Loaded;
        st.master = None;
        st.members.clear();
        st.started = None;
        st.requested = None;
        st.last_reason = Some(reason.clone());
        st.ends += 1;
        drop(st);
        self.ended.notify_all();
        true
    }
}

/// The applications of one node (a node extension).
#[derive(Default)]
struct Registry {
    apps: Mutex<BTreeMap<String, Arc<AppRecord>>>,
    next_seq: std::sync::atomic::AtomicU64,
}

impl Registry {
    fn of(node: &NodeHandle) -> Arc<Registry> {
        node.extension(|node| {
            node.on_stop(Arc::new(stop_all_on_node_stop));
            Registry::default()
        })
    }

    fn get(&self, name: &str) -> Result<Arc<AppRecord>, ApplicationError> {
        self.apps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| ApplicationError::Unknown(name.to_string()))
    }

    fn all(&self) -> Vec<Arc<AppRecord>> {
        self.apps.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// `name` and the loaded, not running applications it needs, dependencies first.
    fn start_order(&self, name: &str) -> Result<Vec<Arc<AppRecord>>, ApplicationError> {
        fn visit(
            reg: &Registry,
            name: &str,
            from: Option<&str>,
            path: &mut Vec<String>,
            done: &mut HashSet<String>,
            order: &mut Vec<Arc<AppRecord>>,
        ) -> Result<(), ApplicationError> {
            if done.contains(name) {
                return Ok(());
            }
            if let Some(at) = path.iter().position(|p| p == name) {
                let mut cycle = path[at..].to_vec();
                cycle.push(name.to_string());
                return Err(ApplicationError::DependencyCycle(cycle));
            }
            let rec = match (reg.get(name), from) {
                (Ok(rec), _) => rec,
                (Err(_), Some(app)) => {
                    return Err(ApplicationError::DependencyUnknown { app: app.to_string(), dep: name.to_string() });
                }
                (Err(e), None) => return Err(e),
            };
            // A running dependency is there already; what it needs was started with it.
            if from.is_some() && rec.status().state == ApplicationState::Running {
                done.insert(name.to_string());
                return Ok(());
            }
            path.push(name.to_string());
            for dep in &rec.spec.depends {
                visit(reg, dep, Some(name), path, done, order)?;
            }
            path.pop();
            done.insert(name.to_string());
            order.push(rec);
            Ok(())
        }
        let mut order = Vec::new();
        visit(self, name, None, &mut Vec::new(), &mut HashSet::new(), &mut order)?;
        Ok(order)
    }
}

/// `Ok` when an application in `state` may be started or unloaded.
fn expect_loaded(name: &str, state: ApplicationState) -> Result<(), ApplicationError> {
    match state {
        ApplicationState::Loaded => Ok(()),
        ApplicationState::Running => Err(ApplicationError::Running(name.to_string())),
        busy => Err(ApplicationError::Busy(name.to_string(), busy)),
    }
}

fn refuse_worker(what: &'static str) -> Result<(), ApplicationError> {
    if on_worker_thread() { Err(ApplicationError::Node(Error::WouldBlockWorker(what))) } else { Ok(()) }
}

impl NodeHandle {
    /// Loads an application: calls its [`Application::load`] and registers the spec under its
    /// name (Ergo's `ApplicationLoad`). Returns the name.
    ///
    /// # Errors
    /// [`ApplicationError::Load`] (its `load` refused), [`ApplicationError::NoName`],
    /// [`ApplicationError::Empty`], [`ApplicationError::Taken`].
    pub fn application_load(&self, mut app: impl Application) -> Result<String, ApplicationError> {
        let spec = app.load(self).map_err(ApplicationError::Load)?;
        if spec.name.is_empty() {
            return Err(ApplicationError::NoName);
        }
        if spec.members.is_empty() {
            return Err(ApplicationError::Empty(spec.name));
        }
        let reg = Registry::of(self);
        let mut apps = reg.apps.lock().unwrap_or_else(|p| p.into_inner());
        if apps.contains_key(&spec.name) {
            return Err(ApplicationError::Taken(spec.name));
        }
        let name = spec.name.clone();
        let status = Status {
            state: ApplicationState::Loaded,
            mode: spec.mode,
            master: None,
            members: Vec::new(),
            started: None,
            seq: 0,
            requested: None,
            last_reason: None,
            ends: 0,
        };
        let rec =
            AppRecord { spec, behaviour: Mutex::new(Box::new(app)), status: Mutex::new(status), ended: Condvar::new() };
        apps.insert(name.clone(), Arc::new(rec));
        Ok(name)
    }

    /// Unloads a loaded application that is not running (Ergo's `ApplicationUnload`).
    ///
    /// # Errors
    /// [`ApplicationError::Unknown`], [`ApplicationError::Running`] /
    /// [`ApplicationError::Busy`] while it runs.
    pub fn application_unload(&self, name: &str) -> Result<(), ApplicationError> {
        let reg = Registry::of(self);
        let mut apps = reg.apps.lock().unwrap_or_else(|p| p.into_inner());
        let rec = apps.get(name).ok_or_else(|| ApplicationError::Unknown(name.to_string()))?;
        expect_loaded(name, rec.status().state)?;
        apps.remove(name);
        Ok(())
    }

    /// Starts a loaded application in its spec's mode (Ergo's `ApplicationStart`): first the
    /// applications it depends on that are not running (each in its own spec's mode, in
    /// dependency order), then its members in order. Blocks until all are started.
    ///
    /// # Errors
    /// [`ApplicationError::Unknown`], [`ApplicationError::Running`], [`ApplicationError::Busy`],
    /// [`ApplicationError::DependencyUnknown`], [`ApplicationError::DependencyCycle`],
    /// [`ApplicationError::DependencyFailed`], [`ApplicationError::StartFailed`] (the members
    /// started before the failed one are stopped; the application is loaded, not running),
    /// [`ApplicationError::Node`] on a worker thread or a stopping node.
    pub fn application_start(&self, name: &str) -> Result<(), ApplicationError> {
        self.start_application(name, None)
    }

    /// As [`NodeHandle::application_start`], in `mode` whatever the spec says (Ergo's
    /// `ApplicationStartPermanent` / `Transient` / `Temporary`); dependencies use their own.
    ///
    /// # Errors
    /// As [`NodeHandle::application_start`].
    pub fn application_start_mode(&self, name: &str, mode: ApplicationMode) -> Result<(), ApplicationError> {
        self.start_application(name, Some(mode))
    }

    fn start_application(&self, name: &str, mode: Option<ApplicationMode>) -> Result<(), ApplicationError> {
        refuse_worker("application_start")?;
        self.inner.check_running()?;
        let reg = Registry::of(self);
        let rec = reg.get(name)?;
        expect_loaded(name, rec.status().state)?;
        let order = reg.start_order(name)?;
        for app in order {
            let last = app.spec.name == name;
            let mode = if last { mode.unwrap_or(app.spec.mode) } else { app.spec.mode };
            match start_one(self, &reg, &app, mode) {
                Ok(()) => {}
                // Started meanwhile by someone else: that will do for a dependency.
                Err(ApplicationError::Running(_)) if !last => {}
                Err(e) if !last => {
                    return Err(ApplicationError::DependencyFailed { dep: app.spec.name.clone(), error: Box::new(e) });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Stops a running application and waits for it to end, up to
    /// [`DEFAULT_STOP_TIMEOUT`] (Ergo's `ApplicationStop`): its members get an exit signal
    /// (`Shutdown`) one at a time in reverse start order, each killed if still there after its
    /// [`ChildSpec::shutdown`]. The application ends with `Shutdown`, whatever its mode (a
    /// requested stop never stops the node). Stopping one that is loaded and not running is not
    /// an error.
    ///
    /// # Errors
    /// [`ApplicationError::Unknown`], [`ApplicationError::Busy`] (starting, or stopping
    /// already), [`ApplicationError::StopTimeout`] (the stop goes on),
    /// [`ApplicationError::Node`] on a worker thread.
    pub fn application_stop(&self, name: &str) -> Result<(), ApplicationError> {
        self.application_stop_timeout(name, DEFAULT_STOP_TIMEOUT)
    }

    /// As [`NodeHandle::application_stop`], waiting up to `timeout`.
    ///
    /// # Errors
    /// As [`NodeHandle::application_stop`].
    pub fn application_stop_timeout(&self, name: &str, timeout: Duration) -> Result<(), ApplicationError> {
        refuse_worker("application_stop")?;
        let rec = Registry::of(self).get(name)?;
        let Some((master, ends)) = request_stop(&rec, ExitReason::Shutdown)? else { return Ok(()) };
        // The master traps this exit (its parent's, D87) and begins the ordered stop.
        let _ = self.send_exit(master, ExitReason::Shutdown);
        let deadline = Instant::now() + timeout;
        wait_end(&rec, ends, deadline)?;
        // It records the end as its last act: when this returns, no process of the
        // application is left.
        while self.is_alive(master) {
            if Instant::now() >= deadline {
                return Err(ApplicationError::StopTimeout(name.to_string()));
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        Ok(())
    }

    /// Kills every member of a running application at once and returns without waiting
    /// (Ergo's `ApplicationStopForce`); it ends with `Kill` once they are gone.
    ///
    /// # Errors
    /// [`ApplicationError::Unknown`], [`ApplicationError::Busy`] while starting.
    pub fn application_stop_force(&self, name: &str) -> Result<(), ApplicationError> {
        let rec = Registry::of(self).get(name)?;
        let force = {
            let mut st = rec.status();
            match st.state {
                ApplicationState::Loaded => return Ok(()),
                ApplicationState::Starting => return Err(ApplicationError::Busy(name.to_string(), st.state)),
                ApplicationState::Running | ApplicationState::Stopping => {}
            }
            st.state = ApplicationState::Stopping;
            st.requested = Some(ExitReason::Kill);
            st.members.clone()
        };
        for pid in force {
            let _ = self.kill(pid);
        }
        Ok(())
    }

    /// One application (Ergo's `ApplicationInfo`).
    ///
    /// # Errors
    /// [`ApplicationError::Unknown`].
    pub fn application_info(&self, name: &str) -> Result<ApplicationInfo, ApplicationError> {
        Ok(Registry::of(self).get(name)?.info())
    }

    /// The loaded applications, running or not, by name (Ergo's `Applications`, with their
    /// state and uptime).
    pub fn applications(&self) -> Vec<ApplicationInfo> {
        Registry::of(self).all().iter().map(|a| a.info()).collect()
    }

    /// The names of the running applications (Ergo's `ApplicationsRunning`).
    pub fn applications_running(&self) -> Vec<String> {
        Registry::of(self)
            .all()
            .iter()
            .filter(|a| a.status().state == ApplicationState::Running)
            .map(|a| a.spec.name.clone())
            .collect()
    }

    /// The application `pid` belongs to (Ergo's `ProcessInfo.Application`): the one whose
    /// master is its group leader (members and what they spawn), or that it is the master of.
    pub fn application_of(&self, pid: Pid) -> Option<String> {
        let leader = self.inner.table.get(&pid).filter(|e| e.is_alive())?.leader;
        Registry::of(self)
            .all()
            .iter()
            .find(|a| {
                let master = a.status().master;
                master == Some(leader) || master == Some(pid)
            })
            .map(|a| a.spec.name.clone())
    }
}

/// Marks a stop as requested. `None` when there is nothing to stop; else the master and the
/// end count to wait past.
fn request_stop(rec: &AppRecord, reason: ExitReason) -> Result<Option<(Pid, u64)>, ApplicationError> {
    let mut st = rec.status();
    match st.state {
        ApplicationState::Loaded => Ok(None),
        ApplicationState::Running => {
            st.state = ApplicationState::Stopping;
            st.requested = Some(reason);
            Ok(st.master.map(|m| (m, st.ends)))
        }
        busy => Err(ApplicationError::Busy(rec.spec.name.clone(), busy)),
    }
}

fn wait_end(rec: &AppRecord, ends: u64, deadline: Instant) -> Result<(), ApplicationError> {
    let mut st = rec.status();
    while st.ends == ends {
        let now = Instant::now();
        if now >= deadline {
            return Err(ApplicationError::StopTimeout(rec.spec.name.clone()));
        }
        st = rec.ended.wait_timeout(st, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
    }
    Ok(())
}

fn start_one(
    node: &NodeHandle,
    reg: &Registry,
    rec: &Arc<AppRecord>,
    mode: ApplicationMode,
) -> Result<(), ApplicationError> {
    let name = &rec.spec.name;
    {
        let mut st = rec.status();
        expect_loaded(name, st.state)?;
        st.state = ApplicationState::Starting;
        st.mode = mode;
        st.requested = None;
    }
    let opts = SpawnOptions { env: rec.spec.env.clone(), ..Default::default() };
    let master = ApplicationMaster::new(rec.clone(), mode);
    match node.spawn_wait(master, opts) {
        Ok(pid) => {
            let mut st = rec.status();
            // A member may have ended already and the master stopped the application; it
            // recorded that (state back to Loaded). Otherwise it is running now.
            if st.master != Some(pid) {
                let reason = st.last_reason.clone().unwrap_or(ExitReason::Normal);
                return Err(ApplicationError::EndedAtStart(name.clone(), reason));
            }
            if st.state == ApplicationState::Starting {
                st.state = ApplicationState::Running;
                st.started = Some(Instant::now());
                st.seq = reg.next_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            drop(st);
            node.log(Level::INFO, format_args!("application {name} ({mode}) started"));
            rec.behaviour.lock().unwrap_or_else(|p| p.into_inner()).start(mode);
            Ok(())
        }
        Err(e) => {
            let mut st = rec.status();
            st.state = ApplicationState::Loaded;
            st.master = None;
            st.members.clear();
            drop(st);
            Err(match e {
                Error::InitFailed(reason) => match reason.downcast_ref::<ApplicationError>() {
                    Some(app_err) => app_err.clone(),
                    None => ApplicationError::Node(Error::InitFailed(reason)),
                },
                other => ApplicationError::Node(other),
            })
        }
    }
}

/// The node is stopping: its running applications are stopped in reverse start order, each
/// waited for until the node's stop deadline, before the node ends what is left.
fn stop_all_on_node_stop(node: &NodeHandle, deadline: Instant) {
    let reg = Registry::of(node);
    let mut running: Vec<(u64, Arc<AppRecord>)> = reg
        .all()
        .into_iter()
        .filter_map(|a| {
            let st = a.status();
            (st.state == ApplicationState::Running).then(|| (st.seq, a.clone()))
        })
        .collect();
    running.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    for (_, rec) in running {
        if let Ok(Some((master, ends))) = request_stop(&rec, ExitReason::Shutdown) {
            let _ = node.send_exit(master, ExitReason::Shutdown);
            let _ = wait_end(&rec, ends, deadline);
        }
    }
}

/// The master's own timer: a member being stopped did not end in time.
struct StopTimeout(Pid);

/// The application master: starts the members, watches them, stops them (D87).
struct ApplicationMaster {
    app: Arc<AppRecord>,
    mode: ApplicationMode,
    /// Live members, in start order, with their spec's index.
    members: Vec<(Pid, usize)>,
    /// Set once the application is stopping: the reason it will end with.
    reason: Option<ExitReason>,
    /// Members still to stop, the last started first.
    to_stop: Vec<Pid>,
    /// The member being stopped now, with its deadline timer.
    stopping: Option<(Pid, TimerHandle)>,
}

impl ApplicationMaster {
    fn new(app: Arc<AppRecord>, mode: ApplicationMode) -> Self {
        ApplicationMaster { app, mode, members: Vec::new(), reason: None, to_stop: Vec::new(), stopping: None }
    }

    fn publish_members(&self) {
        self.app.status().members = self.members.iter().map(|(p, _)| *p).collect();
    }

    /// Begins stopping the members (once), the last started first.
    fn begin_stop(&mut self, ctx: &mut Context, reason: ExitReason) {
        if self.reason.is_some() {
            return;
        }
        self.reason = Some(reason);
        {
            let mut st = self.app.status();
            if st.state != ApplicationState::Loaded {
                st.state = ApplicationState::Stopping;
            }
        }
        self.to_stop = self.members.iter().map(|(p, _)| *p).collect();
        self.stop_next(ctx);
    }

    fn stop_next(&mut self, ctx: &mut Context) {
        while self.stopping.is_none() {
            let Some(pid) = self.to_stop.pop() else { return };
            let Some(&(_, i)) = self.members.iter().find(|(p, _)| *p == pid) else { continue };
            let timeout = self.app.spec.members[i].shutdown_timeout();
            if ctx.send_exit(pid, ExitReason::Shutdown).is_ok() {
                let me = ctx.pid();
                let timer = ctx.send_after(me, StopTimeout(pid), timeout);
                self.stopping = Some((pid, timer));
            }
        }
    }

    /// A member ended: apply the mode (unless stopping already), then end with the last one.
    fn member_ended(&mut self, ctx: &mut Context, pid: Pid, reason: ExitReason) -> Result<(), ExitReason> {
        self.members.retain(|(p, _)| *p != pid);
        self.publish_members();
        if let Some((p, _)) = &self.stopping
            && *p == pid
            && let Some((_, timer)) = self.stopping.take()
        {
            timer.cancel();
        }
        let requested = self.app.status().requested.clone();
        if let Some(req) = requested {
            self.begin_stop(ctx, req);
        } else if self.reason.is_none() {
            let bare = reason.bare().clone();
            let fatal = match self.mode {
                ApplicationMode::Temporary => false,
                ApplicationMode::Transient => !matches!(bare, ExitReason::Normal | ExitReason::Shutdown),
                ApplicationMode::Permanent => true,
            };
            if fatal {
                ctx.log(
                    Level::INFO,
                    format_args!(
                        "application {} ({}) will be stopped: member {pid} ended with reason {bare}",
                        self.app.spec.name, self.mode
                    ),
                );
                self.begin_stop(ctx, bare);
            }
        }
        self.stop_next(ctx);
        if !self.members.is_empty() {
            return Ok(());
        }
        self.finish(ctx);
        Err(ExitReason::Normal)
    }

    /// The last member is gone: record the end, call the application's `terminate`, and stop
    /// the node after a permanent application's failure.
    fn finish(&mut self, ctx: &mut Context) {
        let requested = self.app.status().requested.clone();
        let reason = match (&requested, &self.reason) {
            (Some(req), _) => req.clone(),
            // Temporary mode, or every member ended without a fatal reason: Ergo's `Normal`.
            (None, None) => ExitReason::Normal,
            (None, Some(r)) => r.clone(),
        };
        if !self.app.record_end(ctx.pid(), &reason) {
            return;
        }
        let name = &self.app.spec.name;
        ctx.log(Level::INFO, format_args!("application {name} ({}) stopped with reason {reason}", self.mode));
        self.app.behaviour.lock().unwrap_or_else(|p| p.into_inner()).terminate(&reason);
        if self.mode == ApplicationMode::Permanent && requested.is_none() {
            ctx.log(Level::ERROR, format_args!("permanent application {name} ended ({reason}): stopping the node"));
            ctx.node().stop();
        }
    }
}

impl Actor for ApplicationMaster {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_trap_exit(true);
        ctx.set_trap_parent_exit(true);
        let me = ctx.pid();
        self.app.status().master = Some(me);
        let app = self.app.clone();
        for (i, member) in app.spec.members.iter().enumerate() {
            // Linked both ways before it runs: its end reaches us even from its `init`, and
            // ours (a kill) reaches it. We lead it, so what it spawns is the application's too.
            let opts = member.spawn_options().clone().leader(me).link_parent().link_child();
            let name = (!member.name().is_empty()).then(|| member.name());
            match member.start_in(ctx, name, opts).await {
                Ok(pid) => {
                    self.members.push((pid, i));
                    self.publish_members();
                }
                Err(error) => {
                    // The members started so far end through their link to us.
                    let member = name.map_or_else(|| format!("#{i}"), str::to_string);
                    self.app.status().master = None;
                    return Err(ExitReason::custom(ApplicationError::StartFailed {
                        app: app.spec.name.clone(),
                        member,
                        error,
                    }));
                }
            }
        }
        Ok(())
    }

    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        let msg = match msg.downcast::<MessageExit>() {
            Ok(exit) => {
                let pid = match exit.target {
                    Target::Pid(p) => Some(p),
                    _ => None,
                };
                return match pid {
                    Some(p) if self.members.iter().any(|(m, _)| *m == p) => self.member_ended(ctx, p, exit.reason),
                    // From our parent (the node): a requested stop (application_stop, the
                    // node stopping) or another exit from outside; either way, stop in order.
                    _ => {
                        let reason = self.app.status().requested.clone().unwrap_or(ExitReason::Shutdown);
                        self.begin_stop(ctx, reason);
                        Ok(())
                    }
                };
            }
            Err(msg) => msg,
        };
        match msg.downcast::<StopTimeout>() {
            Ok(StopTimeout(pid)) => {
                if matches!(&self.stopping, Some((p, _)) if *p == pid) {
                    ctx.log(Level::INFO, format_args!("application: killed member {pid}, which did not stop in time"));
                    let _ = ctx.node().kill(pid);
                }
            }
            Err(msg) => {
                ctx.log(Level::WARN, format_args!("application master: unhandled message from {from}: {msg:?}"))
            }
        }
        Ok(())
    }

    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        // Ended some other way than through its last member (killed): record it all the same,
        // so the application can be started again.
        if self.app.status().master == Some(ctx.pid()) {
            // Our links end the members too, but only when each next runs; kill them now so
            // that a restart finds their names free.
            for (pid, _) in self.members.drain(..) {
                let _ = ctx.node().kill(pid);
            }
            self.reason.get_or_insert(reason.bare().clone());
            self.finish(ctx);
        }
    }
}
