//! Node configuration: [`NodeOptions`], read from `ERGORS_*` environment variables by
//! [`NodeOptions::from_env`] and overridden by builder methods (an explicit builder value wins).

use crate::error::StartError;
use std::time::Duration;

/// Everything a node can be tuned with. Every field has an `ERGORS_*` variable and a builder
/// method; the README's table lists them all.
///
/// # Examples
/// ```
/// use ergors::NodeOptions;
/// let opts = NodeOptions::from_env().unwrap().workers(2).process_budget(64);
/// assert_eq!(opts.get_workers(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub(crate) workers: usize,
    pub(crate) process_budget: usize,
    pub(crate) ring_entries: u32,
    pub(crate) io_multishot: bool,
    pub(crate) io_buffers: u16,
    pub(crate) io_buffer_size: usize,
    pub(crate) io_spin: Duration,
    pub(crate) io_coalesce: Duration,
    pub(crate) mailbox_size: usize,
    pub(crate) log_level: tracing::Level,
    pub(crate) pin_workers: bool,
    pub(crate) spin: Duration,
    pub(crate) call_timeout: Duration,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) process_timing: bool,
    pub(crate) turn_budget: Duration,
    pub(crate) stall: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) mailbox_high_water: usize,
    pub(crate) hold_max: Duration,
    pub(crate) meta_threads: usize,
    pub(crate) meta_queue: usize,
    /// Jobs the node's cron starts with, and the clock it reads (not environment variables).
    pub(crate) cron_jobs: Vec<crate::node::cron::CronJob>,
    pub(crate) cron_clock: crate::node::cron::CronClock,
    /// The network (disabled unless set: D203).
    pub(crate) network: crate::net::NetworkOptions,
}

/// The default high-water mark of a mailbox queue (D71: measured with the `overload` benchmark).
pub const DEFAULT_HIGH_WATER: usize = 8192;

/// The default cap of the blocking pool's threads (D120).
pub const DEFAULT_META_THREADS: usize = 16;

/// The default bound of the blocking pool's queue (D120).
pub const DEFAULT_META_QUEUE: usize = 1024;

fn available_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

impl Default for NodeOptions {
    /// The embedded defaults, ignoring the environment.
    fn default() -> Self {
        NodeOptions {
            workers: available_cores(),
            process_budget: 100,
            ring_entries: 256,
            io_multishot: true,
            io_buffers: 64,
            io_buffer_size: 16 * 1024,
            io_spin: Duration::from_micros(50),
            io_coalesce: Duration::ZERO,
            mailbox_size: 0,
            log_level: tracing::Level::INFO,
            pin_workers: true,
            spin: Duration::from_micros(50),
            call_timeout: Duration::from_secs(5),
            env: Vec::new(),
            process_timing: false,
            turn_budget: Duration::from_micros(500),
            stall: Duration::from_millis(100),
            shutdown_timeout: Duration::from_millis(5000),
            mailbox_high_water: DEFAULT_HIGH_WATER,
            hold_max: Duration::from_millis(100),
            meta_threads: DEFAULT_META_THREADS,
            meta_queue: DEFAULT_META_QUEUE,
            cron_jobs: Vec::new(),
            cron_clock: Default::default(),
            network: Default::default(),
        }
    }
}

/// One variable: name, what is accepted (for the error), how to apply a value, and how to render
/// the current value (so builder values are checked by the same rules as the environment's).
struct Var {
    name: &'static str,
    accepted: &'static str,
    apply: fn(&mut NodeOptions, &str) -> Option<()>,
    current: fn(&NodeOptions) -> String,
}

fn parse_range<T: std::str::FromStr + PartialOrd>(s: &str, min: T, max: T) -> Option<T> {
    s.trim().parse::<T>().ok().filter(|v| *v >= min && *v <= max)
}

/// A PEM source as its variable's value: the file's path (PEM text given in code has none).
fn pem_path(source: &Option<crate::net::PemSource>) -> String {
    match source {
        Some(crate::net::PemSource::File(path)) => path.display().to_string(),
        _ => String::new(),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_level(s: &str) -> Option<tracing::Level> {
    match s.trim().to_ascii_lowercase().as_str() {
        "trace" => Some(tracing::Level::TRACE),
        "debug" => Some(tracing::Level::DEBUG),
        "info" => Some(tracing::Level::INFO),
        "warn" | "warning" => Some(tracing::Level::WARN),
        "error" => Some(tracing::Level::ERROR),
        _ => None,
    }
}

/// Prefix of the variables that populate the node's environment.
pub const ENV_PREFIX: &str = "ERGORS_ENV_";

const VARS: &[Var] = &[
    Var {
        name: "ERGORS_WORKERS",
        accepted: "an integer from 1 to 1024",
        apply: |o, s| parse_range(s, 1, 1024).map(|v| o.workers = v),
        current: |o| o.workers.to_string(),
    },
    Var {
        name: "ERGORS_PROCESS_BUDGET",
        accepted: "an integer from 1 to 1000000 (messages per turn)",
        apply: |o, s| parse_range(s, 1, 1_000_000).map(|v| o.process_budget = v),
        current: |o| o.process_budget.to_string(),
    },
    Var {
        name: "ERGORS_RING_ENTRIES",
        accepted: "a power of two from 2 to 32768",
        apply: |o, s| parse_range(s, 2u32, 32768).filter(|v| v.is_power_of_two()).map(|v| o.ring_entries = v),
        current: |o| o.ring_entries.to_string(),
    },
    Var {
        name: "ERGORS_IO_MULTISHOT",
        accepted: "a boolean (1/0, true/false, on/off)",
        apply: |o, s| parse_bool(s).map(|v| o.io_multishot = v),
        current: |o| o.io_multishot.to_string(),
    },
    Var {
        name: "ERGORS_IO_BUFFERS",
        accepted: "a power of two from 1 to 32768 (receive buffers per worker)",
        apply: |o, s| parse_range(s, 1u16, 32768).filter(|v| v.is_power_of_two()).map(|v| o.io_buffers = v),
        current: |o| o.io_buffers.to_string(),
    },
    Var {
        name: "ERGORS_IO_SPIN_US",
        accepted: "an integer from 0 to 1000000 (µs)",
        apply: |o, s| parse_range(s, 0u64, 1_000_000).map(|v| o.io_spin = Duration::from_micros(v)),
        current: |o| o.io_spin.as_micros().to_string(),
    },
    Var {
        name: "ERGORS_IO_COALESCE_US",
        accepted: "an integer from 0 to 10000 (µs)",
        apply: |o, s| parse_range(s, 0u64, 10_000).map(|v| o.io_coalesce = Duration::from_micros(v)),
        current: |o| o.io_coalesce.as_micros().to_string(),
    },
    Var {
        name: "ERGORS_IO_BUFFER_SIZE",
        accepted: "an integer from 512 to 1048576 (bytes per receive buffer)",
        apply: |o, s| parse_range(s, 512usize, 1 << 20).map(|v| o.io_buffer_size = v),
        current: |o| o.io_buffer_size.to_string(),
    },
    Var {
        name: "ERGORS_MAILBOX_SIZE",
        accepted: "an integer >= 0 (messages per queue; 0 = unbounded)",
        apply: |o, s| parse_range(s, 0, usize::MAX).map(|v| o.mailbox_size = v),
        current: |o| o.mailbox_size.to_string(),
    },
    Var {
        name: "ERGORS_LOG",
        accepted: "one of trace, debug, info, warn, error",
        apply: |o, s| parse_level(s).map(|v| o.log_level = v),
        current: |o| o.log_level.to_string(),
    },
    Var {
        name: "ERGORS_PIN_WORKERS",
        accepted: "a boolean: 1/0, true/false, yes/no, on/off",
        apply: |o, s| parse_bool(s).map(|v| o.pin_workers = v),
        current: |o| o.pin_workers.to_string(),
    },
    Var {
        name: "ERGORS_SPIN_US",
        accepted: "an integer from 0 to 1000000 (microseconds)",
        apply: |o, s| parse_range(s, 0u64, 1_000_000).map(|v| o.spin = Duration::from_micros(v)),
        current: |o| o.spin.as_micros().to_string(),
    },
    Var {
        name: "ERGORS_CALL_TIMEOUT_MS",
        accepted: "an integer from 1 to 86400000 (milliseconds)",
        apply: |o, s| parse_range(s, 1u64, 86_400_000).map(|v| o.call_timeout = Duration::from_millis(v)),
        current: |o| o.call_timeout.as_millis().to_string(),
    },
    Var {
        name: "ERGORS_TURN_US",
        accepted: "an integer from 1 to 1000000 (microseconds)",
        apply: |o, s| parse_range(s, 1u64, 1_000_000).map(|v| o.turn_budget = Duration::from_micros(v)),
        current: |o| o.turn_budget.as_micros().to_string(),
    },
    Var {
        name: "ERGORS_STALL_MS",
        accepted: "an integer from 0 to 3600000 (milliseconds; 0 = no watchdog)",
        apply: |o, s| parse_range(s, 0u64, 3_600_000).map(|v| o.stall = Duration::from_millis(v)),
        current: |o| o.stall.as_millis().to_string(),
    },
    Var {
        name: "ERGORS_SHUTDOWN_TIMEOUT_MS",
        accepted: "an integer from 1 to 3600000 (milliseconds)",
        apply: |o, s| parse_range(s, 1u64, 3_600_000).map(|v| o.shutdown_timeout = Duration::from_millis(v)),
        current: |o| o.shutdown_timeout.as_millis().to_string(),
    },
    Var {
        name: "ERGORS_MAILBOX_HIGH_WATER",
        accepted: "an integer from 0 to 4294967294 (messages per queue; 0 = no backpressure)",
        apply: |o, s| parse_range(s, 0usize, u32::MAX as usize - 1).map(|v| o.mailbox_high_water = v),
        current: |o| o.mailbox_high_water.to_string(),
    },
    Var {
        name: "ERGORS_MAILBOX_HOLD_MAX_MS",
        accepted: "an integer from 1 to 3600000 (milliseconds)",
        apply: |o, s| parse_range(s, 1u64, 3_600_000).map(|v| o.hold_max = Duration::from_millis(v)),
        current: |o| o.hold_max.as_millis().to_string(),
    },
    Var {
        name: "ERGORS_META_THREADS",
        accepted: "an integer from 1 to 4096 (threads of the blocking pool)",
        apply: |o, s| parse_range(s, 1usize, 4096).map(|v| o.meta_threads = v),
        current: |o| o.meta_threads.to_string(),
    },
    Var {
        name: "ERGORS_META_QUEUE",
        accepted: "an integer from 0 to 1000000000 (jobs waiting for a blocking thread; 0 = none)",
        apply: |o, s| parse_range(s, 0usize, 1_000_000_000).map(|v| o.meta_queue = v),
        current: |o| o.meta_queue.to_string(),
    },
    Var {
        name: "ERGORS_NET_MODE",
        accepted: "disabled, enabled or hidden",
        apply: |o, s| {
            o.network.mode = match s {
                "disabled" => crate::net::NetworkMode::Disabled,
                "enabled" => crate::net::NetworkMode::Enabled,
                "hidden" => crate::net::NetworkMode::Hidden,
                _ => return None,
            };
            Some(())
        },
        current: |o| format!("{:?}", o.network.mode).to_lowercase(),
    },
    Var {
        name: "ERGORS_NET_COOKIE",
        accepted: "any text (the handshake's shared secret)",
        apply: |o, s| {
            o.network.cookie = s.to_string();
            Some(())
        },
        current: |_| "<redacted>".into(),
    },
    Var {
        name: "ERGORS_NET_LISTEN",
        accepted: "an address host:port (port 0 picks a free one)",
        apply: |o, s| s.parse().ok().map(|a| o.network.listen = a),
        current: |o| o.network.listen.to_string(),
    },
    Var {
        name: "ERGORS_NET_PORT_RANGE",
        accepted: "a port from 1 to 65535 (the last one the acceptor tries)",
        apply: |o, s| parse_range(s, 1u16, u16::MAX).map(|v| o.network.port_range_end = v),
        current: |o| o.network.port_range_end.to_string(),
    },
    Var {
        name: "ERGORS_NET_POOL_SIZE",
        accepted: "an integer from 1 to 32 (links per connection)",
        apply: |o, s| parse_range(s, 1u32, 32).map(|v| o.network.pool_size = v),
        current: |o| o.network.pool_size.to_string(),
    },
    Var {
        name: "ERGORS_NET_MAX_MESSAGE_SIZE",
        accepted: "an integer from 0 to 4294967295 (bytes per frame; 0 = no limit)",
        apply: |o, s| s.parse::<u32>().ok().map(|v| o.network.max_message_size = v),
        current: |o| o.network.max_message_size.to_string(),
    },
    Var {
        name: "ERGORS_NET_REGISTRAR_PORT",
        accepted: "a port from 0 to 65535 (0 = no registrar: static routes only)",
        apply: |o, s| s.parse::<u16>().ok().map(|v| o.network.registrar_port = v),
        current: |o| o.network.registrar_port.to_string(),
    },
    Var {
        name: "ERGORS_NET_TICK_MS",
        accepted: "an integer from 0 to 3600000 (ms between heartbeats; 0 = none)",
        apply: |o, s| parse_range(s, 0u64, 3_600_000).map(|v| o.network.tick = Duration::from_millis(v)),
        current: |o| o.network.tick.as_millis().to_string(),
    },
    Var {
        name: "ERGORS_NET_ZC_THRESHOLD",
        accepted: "an integer from 0 to 1073741824 (bytes; 0 = never zero-copy)",
        apply: |o, s| parse_range(s, 0usize, 1 << 30).map(|v| o.network.zc_threshold = v),
        current: |o| o.network.zc_threshold.to_string(),
    },
    Var {
        name: "ERGORS_NET_COMPRESSION",
        accepted: "off, or gzip|zlib|lzw[:default|best-speed|best-size][:threshold of at least 1024 bytes]",
        apply: |o, s| crate::net::Compression::parse(s).map(|c| o.network.compression = c),
        current: |o| o.network.compression.to_string(),
    },
    Var {
        name: "ERGORS_NET_TLS_CERT",
        accepted: "a path to a PEM file: the acceptor's certificate chain, leaf first",
        apply: |o, s| {
            o.network.tls.cert = crate::net::tls::pem_file(s);
            Some(())
        },
        current: |o| pem_path(&o.network.tls.cert),
    },
    Var {
        name: "ERGORS_NET_TLS_KEY",
        accepted: "a path to a PEM file: the acceptor's private key",
        apply: |o, s| {
            o.network.tls.key = crate::net::tls::pem_file(s);
            Some(())
        },
        current: |o| pem_path(&o.network.tls.key),
    },
    Var {
        name: "ERGORS_NET_TLS_CA",
        accepted: "a path to a PEM file: the certificates dialled acceptors must lead to",
        apply: |o, s| {
            o.network.tls.roots = crate::net::tls::pem_file(s);
            Some(())
        },
        current: |o| pem_path(&o.network.tls.roots),
    },
    Var {
        name: "ERGORS_NET_TLS_INSECURE",
        accepted: "a boolean: 1/0, true/false, yes/no, on/off",
        apply: |o, s| parse_bool(s).map(|v| o.network.tls.insecure_skip_verify = v),
        current: |o| o.network.tls.insecure_skip_verify.to_string(),
    },
    Var {
        name: "ERGORS_PROCESS_TIMING",
        accepted: "a boolean: 1/0, true/false, yes/no, on/off",
        apply: |o, s| parse_bool(s).map(|v| o.process_timing = v),
        current: |o| o.process_timing.to_string(),
    },
];

impl NodeOptions {
    /// The defaults, overridden by every `ERGORS_*` variable that is set.
    ///
    /// # Errors
    /// [`StartError::InvalidOption`] naming the variable, its value and what is accepted.
    pub fn from_env() -> Result<NodeOptions, StartError> {
        let mut o = Self::from_lookup(|name| std::env::var(name).ok())?;
        // ERGORS_ENV_<NAME>=<value> populates the node's environment (variable NAME).
        let mut vars: Vec<(String, String)> = std::env::vars()
            .filter_map(|(k, v)| k.strip_prefix(ENV_PREFIX).filter(|n| !n.is_empty()).map(|n| (n.to_string(), v)))
            .collect();
        vars.sort();
        o.env.extend(vars);
        Ok(o)
    }

    /// As [`NodeOptions::from_env`], reading variables through `lookup` (for tests and embedders
    /// with their own configuration source).
    ///
    /// # Errors
    /// As for [`NodeOptions::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<NodeOptions, StartError> {
        let mut o = NodeOptions::default();
        for var in VARS {
            if let Some(value) = lookup(var.name)
                && (var.apply)(&mut o, &value).is_none()
            {
                return Err(StartError::InvalidOption { var: var.name, value, accepted: var.accepted });
            }
        }
        Ok(o)
    }

    /// Checks values given through the builder, by the same rules as the environment's.
    pub(crate) fn validate(&self) -> Result<(), StartError> {
        for var in VARS {
            let value = (var.current)(self);
            if (var.apply)(&mut self.clone(), &value).is_none() {
                return Err(StartError::InvalidOption { var: var.name, value, accepted: var.accepted });
            }
        }
        Ok(())
    }

    /// Adds a variable to the node's environment, which node-spawned processes start with
    /// (`ERGORS_ENV_<NAME>`; names are case-insensitive).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Adds a job the node's cron starts with (Ergo's `CronOptions.Jobs`); a job whose name
    /// another one has makes `Node::start` fail with `StartError::Cron`.
    pub fn cron_job(mut self, job: crate::node::cron::CronJob) -> Self {
        self.cron_jobs.push(job);
        self
    }

    /// Sets the clock the node's cron reads (default: the system clock; tests pass a
    /// [`ManualClock`](crate::cron::ManualClock)).
    pub fn cron_clock(mut self, clock: crate::node::cron::CronClock) -> Self {
        self.cron_clock = clock;
        self
    }

    /// Measure each process's running time for `ProcessInfo::running_time`
    /// (`ERGORS_PROCESS_TIMING`; default off: two clock reads per poll).
    pub fn process_timing(mut self, on: bool) -> Self {
        self.process_timing = on;
        self
    }

    /// Worker threads, each with its own io_uring (`ERGORS_WORKERS`; default: available cores).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }
    /// Messages a process handles per turn before it yields its worker (`ERGORS_PROCESS_BUDGET`;
    /// default 100).
    pub fn process_budget(mut self, n: usize) -> Self {
        self.process_budget = n;
        self
    }
    /// Submission-queue entries of each worker's ring (`ERGORS_RING_ENTRIES`; default 256).
    pub fn ring_entries(mut self, n: u32) -> Self {
        self.ring_entries = n;
        self
    }
    /// Use multishot accept and receive where the kernel has them (`ERGORS_IO_MULTISHOT`;
    /// default on). Off, every accept and receive is one request (the fallback older kernels
    /// get); node info shows what is in use.
    pub fn io_multishot(mut self, on: bool) -> Self {
        self.io_multishot = on;
        self
    }
    /// Provided receive buffers per worker ring (`ERGORS_IO_BUFFERS`; default 64, a power of
    /// two). Multishot receives fill them; each is copied out and given back at once.
    pub fn io_buffers(mut self, n: u16) -> Self {
        self.io_buffers = n;
        self
    }
    /// How long an idle worker with ring requests in flight polls before parking
    /// (`ERGORS_IO_SPIN_US`; default 50 µs, at most `spin`). Its work then comes from the kernel,
    /// in the context of the threads that produce it, so this spin yields the core to any other
    /// runnable thread each round (D228); 0 parks at once.
    pub fn io_spin(mut self, d: Duration) -> Self {
        self.io_spin = d;
        self
    }
    /// How long an idle worker with ring requests in flight lets completions gather before it
    /// wakes for the first one (`ERGORS_IO_COALESCE_US`; default 0 = wake at once). Like a NIC's
    /// interrupt coalescing: fewer, larger batches per wake-up, at up to this much added latency.
    /// Needs Linux 6.12 (`IORING_FEAT_MIN_TIMEOUT`); ignored on older kernels.
    pub fn io_coalesce(mut self, d: Duration) -> Self {
        self.io_coalesce = d;
        self
    }
    /// Bytes per provided receive buffer (`ERGORS_IO_BUFFER_SIZE`; default 16384).
    pub fn io_buffer_size(mut self, bytes: usize) -> Self {
        self.io_buffer_size = bytes;
        self
    }
    /// Default capacity of each mailbox queue; 0 = unbounded (`ERGORS_MAILBOX_SIZE`; default 0).
    pub fn mailbox_size(mut self, n: usize) -> Self {
        self.mailbox_size = n;
        self
    }
    /// The node's log level (`ERGORS_LOG`; default info).
    pub fn log_level(mut self, level: tracing::Level) -> Self {
        self.log_level = level;
        self
    }
    /// Pin each worker to one CPU (`ERGORS_PIN_WORKERS`; default on).
    pub fn pin_workers(mut self, on: bool) -> Self {
        self.pin_workers = on;
        self
    }
    /// How long an idle worker polls for work before parking in its ring (`ERGORS_SPIN_US`;
    /// default 50 µs). Parking and waking costs tens of µs on VMs; spinning trades CPU for latency.
    pub fn spin(mut self, d: Duration) -> Self {
        self.spin = d;
        self
    }
    /// How long a process may run in one turn before it yields its worker, checked between
    /// messages on the coarse clock, so no finer than its tick (`ERGORS_TURN_US`; default 500). A turn also ends after
    /// `process_budget` messages.
    pub fn turn_budget(mut self, d: Duration) -> Self {
        self.turn_budget = d;
        self
    }

    /// How long a worker may be stuck in one poll of one process before the watchdog reports it
    /// and the other workers take its queued processes (`ERGORS_STALL_MS`; default 100;
    /// zero turns the watchdog off).
    pub fn stall(mut self, d: Duration) -> Self {
        self.stall = d;
        self
    }

    /// How long `Node::stop` waits for processes to end before it abandons them
    /// (`ERGORS_SHUTDOWN_TIMEOUT_MS`; default 5000).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }

    /// The backpressure threshold (`ERGORS_MAILBOX_HIGH_WATER`; default 8192; 0 = off): a
    /// process that sends to a local process whose queue holds this many messages or more is
    /// held back when its callback returns, until that queue is down to half of it (or
    /// `mailbox_hold_max` has passed). Nothing is dropped (docs/decisions.md D70).
    pub fn mailbox_high_water(mut self, n: usize) -> Self {
        self.mailbox_high_water = n;
        self
    }

    /// The longest a producer is held back for one turn by a queue that does not drain (its
    /// consumer stopped reading): then it runs again, and the backlog shows in inspection
    /// (`ERGORS_MAILBOX_HOLD_MAX_MS`; default 100).
    pub fn mailbox_hold_max(mut self, d: Duration) -> Self {
        self.hold_max = d;
        self
    }

    /// The most threads the blocking pool runs at once (`ERGORS_META_THREADS`; default 16): the
    /// jobs of `spawn_blocking`, blocking meta loops among them. Threads start when needed and
    /// exit after 10 s without work.
    pub fn meta_threads(mut self, n: usize) -> Self {
        self.meta_threads = n;
        self
    }

    /// How many jobs may wait when every blocking thread is busy (`ERGORS_META_QUEUE`; default
    /// 1024; 0 = none): a job beyond that fails with `Error::BlockingPoolFull`.
    pub fn meta_queue(mut self, n: usize) -> Self {
        self.meta_queue = n;
        self
    }

    /// The network: mode, cookie, acceptor address, static routes, registered types
    /// (`ERGORS_NET_MODE`, `ERGORS_NET_COOKIE`, `ERGORS_NET_LISTEN`, `ERGORS_NET_POOL_SIZE`,
    /// `ERGORS_NET_MAX_MESSAGE_SIZE`, `ERGORS_NET_TLS_*`; routes and types only here).
    pub fn network(mut self, network: crate::net::NetworkOptions) -> Self {
        self.network = network;
        self
    }

    /// Default timeout of `call` (`ERGORS_CALL_TIMEOUT_MS`; default 5000, as Ergo).
    pub fn call_timeout(mut self, d: Duration) -> Self {
        self.call_timeout = d;
        self
    }

    /// The configured network options.
    pub fn get_network(&self) -> &crate::net::NetworkOptions {
        &self.network
    }
    /// The configured worker count.
    pub fn get_workers(&self) -> usize {
        self.workers
    }
    /// The configured per-turn message budget.
    pub fn get_process_budget(&self) -> usize {
        self.process_budget
    }
    /// The configured backpressure threshold (0 = off).
    pub fn get_mailbox_high_water(&self) -> usize {
        self.mailbox_high_water
    }
    /// The configured mailbox capacity (0 = unbounded).
    pub fn get_mailbox_size(&self) -> usize {
        self.mailbox_size
    }
    /// The configured log level.
    pub fn get_log_level(&self) -> tracing::Level {
        self.log_level
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<NodeOptions, StartError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        NodeOptions::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn reads_every_variable() {
        let o = with(&[
            ("ERGORS_WORKERS", "3"),
            ("ERGORS_PROCESS_BUDGET", "7"),
            ("ERGORS_RING_ENTRIES", "64"),
            ("ERGORS_MAILBOX_SIZE", "1000"),
            ("ERGORS_LOG", "debug"),
            ("ERGORS_PIN_WORKERS", "off"),
            ("ERGORS_SPIN_US", "0"),
            ("ERGORS_CALL_TIMEOUT_MS", "250"),
            ("ERGORS_TURN_US", "300"),
            ("ERGORS_STALL_MS", "0"),
            ("ERGORS_SHUTDOWN_TIMEOUT_MS", "1500"),
            ("ERGORS_MAILBOX_HIGH_WATER", "0"),
            ("ERGORS_MAILBOX_HOLD_MAX_MS", "20"),
            ("ERGORS_META_THREADS", "2"),
            ("ERGORS_META_QUEUE", "0"),
        ])
        .unwrap();
        assert_eq!(o.workers, 3);
        assert_eq!(o.process_budget, 7);
        assert_eq!(o.ring_entries, 64);
        assert_eq!(o.mailbox_size, 1000);
        assert_eq!(o.log_level, tracing::Level::DEBUG);
        assert!(!o.pin_workers);
        assert_eq!(o.spin, Duration::ZERO);
        assert_eq!(o.call_timeout, Duration::from_millis(250));
        assert_eq!(o.turn_budget, Duration::from_micros(300));
        assert_eq!(o.stall, Duration::ZERO);
        assert_eq!(o.shutdown_timeout, Duration::from_millis(1500));
        assert_eq!(o.mailbox_high_water, 0);
        assert_eq!(o.hold_max, Duration::from_millis(20));
        assert_eq!((o.meta_threads, o.meta_queue), (2, 0));
    }

    #[test]
    fn bad_value_names_variable_value_and_accepted() {
        for (var, value) in [
            ("ERGORS_WORKERS", "zero"),
            ("ERGORS_WORKERS", "0"),
            ("ERGORS_RING_ENTRIES", "100"),
            ("ERGORS_LOG", "loud"),
            ("ERGORS_PIN_WORKERS", "maybe"),
            ("ERGORS_TURN_US", "0"),
            ("ERGORS_SHUTDOWN_TIMEOUT_MS", "0"),
            ("ERGORS_MAILBOX_HIGH_WATER", "-1"),
            ("ERGORS_MAILBOX_HOLD_MAX_MS", "0"),
            ("ERGORS_MAILBOX_SIZE", "-1"),
            ("ERGORS_META_THREADS", "0"),
            ("ERGORS_META_QUEUE", "-1"),
        ] {
            let err = with(&[(var, value)]).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(var) && text.contains(value) && text.contains("expected"), "{text}");
            assert!(matches!(err, StartError::InvalidOption { .. }));
        }
    }

    #[test]
    fn builder_wins_over_environment() {
        let o = with(&[("ERGORS_WORKERS", "3")]).unwrap().workers(5);
        assert_eq!(o.workers, 5);
        assert!(o.validate().is_ok());
        assert!(NodeOptions::default().workers(0).validate().is_err());
        assert!(NodeOptions::default().ring_entries(3).validate().is_err());
        assert!(NodeOptions::default().call_timeout(Duration::ZERO).validate().is_err());
        assert!(NodeOptions::default().process_budget(0).validate().is_err());
        assert!(NodeOptions::default().mailbox_hold_max(Duration::ZERO).validate().is_err());
        assert!(NodeOptions::default().mailbox_high_water(0).validate().is_ok());
        assert!(NodeOptions::default().meta_threads(0).validate().is_err());
        assert!(NodeOptions::default().meta_queue(0).validate().is_ok());
    }
}
