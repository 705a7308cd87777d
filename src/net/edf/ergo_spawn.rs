//! The option structs of Ergo's remote spawn and remote application start (ENP 199
//! `MessageSpawn`, `MessageApplicationStart`, PROTOCOL.md §3.3), with their Go wire names and
//! field order (gen/process.go, gen/application.go). An embedded Go struct is a field of its
//! type (EDF writes its fields in place, as for any nested struct). Go `gen.Env`-keyed maps are
//! `Option<OrderedMap<Env, Value>>` (nil: `None`); a zero `gen.PID` has an empty node name.

use super::value::{OrderedMap, Value};
use crate::{Name, Pid, Ref};

/// `gen.Env`: an environment variable's name (Go upper-cases it when read).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Env(pub String);
crate::edf_struct!(Env = "#ergo.services/ergo/gen/Env"(String));

/// `gen.LogLevel`: -2 trace, -1 debug, 0 default (inherited), 1 info, 2 warning, 3 error,
/// 4 panic, 5 disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LogLevel(pub isize);
crate::edf_struct!(LogLevel = "#ergo.services/ergo/gen/LogLevel"(isize));

/// `gen.MessagePriority`: 0 normal (Main), 1 high (System), 2 max (Urgent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MessagePriority(pub isize);
crate::edf_struct!(MessagePriority = "#ergo.services/ergo/gen/MessagePriority"(isize));

/// `gen.CompressionType` (`"gzip"`, `"zlib"`, `"lzw"`; empty: the default).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CompressionType(pub String);
crate::edf_struct!(CompressionType = "#ergo.services/ergo/gen/CompressionType"(String));

/// `gen.CompressionLevel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CompressionLevel(pub isize);
crate::edf_struct!(CompressionLevel = "#ergo.services/ergo/gen/CompressionLevel"(isize));

/// `gen.ApplicationMode`: 1 temporary, 2 transient, 3 permanent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ApplicationMode(pub isize);
crate::edf_struct!(ApplicationMode = "#ergo.services/ergo/gen/ApplicationMode"(isize));

/// `gen.Compression`: a process's compression of what it sends.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Compression {
    /// Compress messages over the threshold.
    pub enable: bool,
    /// Which algorithm.
    pub r#type: CompressionType,
    /// How hard.
    pub level: CompressionLevel,
    /// Smallest message compressed, in bytes.
    pub threshold: isize,
}
crate::edf_struct!(Compression = "#ergo.services/ergo/gen/Compression" {
    enable: bool, r#type: CompressionType, level: CompressionLevel, threshold: isize,
});

/// `gen.ProcessFallback`: where a full mailbox's messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessFallback {
    /// On.
    pub enable: bool,
    /// The registered name of the process that takes them.
    pub name: Name,
    /// The tag they are wrapped with.
    pub tag: String,
}
crate::edf_struct!(ProcessFallback = "#ergo.services/ergo/gen/ProcessFallback" {
    enable: bool, name: Name, tag: String,
});

/// `gen.ProcessOptions`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessOptions {
    /// Mailbox capacity per queue; 0 = unbounded.
    pub mailbox_size: i64,
    /// The group leader (zero: inherited).
    pub leader: Pid,
    /// Environment.
    pub env: Option<OrderedMap<Env, Value>>,
    /// Compression of what the process sends.
    pub compression: Compression,
    /// Priority of what the process sends.
    pub send_priority: MessagePriority,
    /// Sends are important (acknowledged).
    pub important_delivery: bool,
    /// Where a full mailbox's messages go.
    pub fallback: ProcessFallback,
    /// The new process links to its parent.
    pub link_parent: bool,
    /// The parent links to the new process.
    pub link_child: bool,
    /// Log level (0: the parent's).
    pub log_level: LogLevel,
}
crate::edf_struct!(ProcessOptions = "#ergo.services/ergo/gen/ProcessOptions" {
    mailbox_size: i64, leader: Pid, env: Option<OrderedMap<Env, Value>>, compression: Compression,
    send_priority: MessagePriority, important_delivery: bool, fallback: ProcessFallback,
    link_parent: bool, link_child: bool, log_level: LogLevel,
});

/// `gen.ProcessOptionsExtra`: what a remote spawn request carries besides the name.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessOptionsExtra {
    /// The options the caller gave (Go embeds them).
    pub process_options: ProcessOptions,
    /// The calling process.
    pub parent_pid: Pid,
    /// Its group leader.
    pub parent_leader: Pid,
    /// Its environment, when its node exposes it.
    pub parent_env: Option<OrderedMap<Env, Value>>,
    /// Its log level.
    pub parent_log_level: LogLevel,
    /// Register the new process under this name (empty: none).
    pub register: Name,
    /// The caller's application (empty: none).
    pub application: Name,
    /// Arguments for the new process's factory (Go: for its `Init`).
    pub args: Option<Vec<Value>>,
}
crate::edf_struct!(ProcessOptionsExtra = "#ergo.services/ergo/gen/ProcessOptionsExtra" {
    process_options: ProcessOptions, parent_pid: Pid, parent_leader: Pid,
    parent_env: Option<OrderedMap<Env, Value>>, parent_log_level: LogLevel, register: Name,
    application: Name, args: Option<Vec<Value>>,
});

/// `gen.ApplicationOptions`.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplicationOptions {
    /// Environment.
    pub env: Option<OrderedMap<Env, Value>>,
    /// Log level.
    pub log_level: LogLevel,
}
crate::edf_struct!(ApplicationOptions = "#ergo.services/ergo/gen/ApplicationOptions" {
    env: Option<OrderedMap<Env, Value>>, log_level: LogLevel,
});

/// `gen.ApplicationOptionsExtra`: what a remote application start carries.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplicationOptionsExtra {
    /// The options the caller gave (Go embeds them).
    pub application_options: ApplicationOptions,
    /// The calling node's core process.
    pub core_pid: Pid,
    /// Its environment, when it exposes it.
    pub core_env: Option<OrderedMap<Env, Value>>,
    /// Its log level.
    pub core_log_level: LogLevel,
}
crate::edf_struct!(ApplicationOptionsExtra = "#ergo.services/ergo/gen/ApplicationOptionsExtra" {
    application_options: ApplicationOptions, core_pid: Pid, core_env: Option<OrderedMap<Env, Value>>,
    core_log_level: LogLevel,
});

/// ENP `MessageSpawn`: spawn the process registered for remote spawn under `name`.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageSpawn {
    /// The name the factory was enabled under.
    pub name: Name,
    /// The options and the caller.
    pub options: ProcessOptionsExtra,
    /// The request's reference (answered in `MessageResult`, whose `result` is the new Pid).
    pub r#ref: Ref,
}
crate::edf_struct!(MessageSpawn = "#ergo.services/ergo/net/proto/MessageSpawn" {
    name: Name, options: ProcessOptionsExtra, r#ref: Ref,
});

/// ENP `MessageApplicationStart`: start the loaded application `name` in `mode`.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageApplicationStart {
    /// The application.
    pub name: Name,
    /// Its mode (1 temporary, 2 transient, 3 permanent).
    pub mode: ApplicationMode,
    /// The options and the caller.
    pub options: ApplicationOptionsExtra,
    /// The request's reference.
    pub r#ref: Ref,
}
crate::edf_struct!(MessageApplicationStart = "#ergo.services/ergo/net/proto/MessageApplicationStart" {
    name: Name, mode: ApplicationMode, options: ApplicationOptionsExtra, r#ref: Ref,
});

/// Registers every type of this module (called by [`super::Registry::new`]).
pub(crate) fn register_all(reg: &mut super::Registry) {
    macro_rules! all {
        ($($t:ty),* $(,)?) => {$(
            // A fresh registry holds none of these names: registration cannot fail.
            let _ = reg.register::<$t>();
        )*};
    }
    all!(
        Env,
        LogLevel,
        MessagePriority,
        CompressionType,
        CompressionLevel,
        ApplicationMode,
        Compression,
        ProcessFallback,
        ProcessOptions,
        ProcessOptionsExtra,
        ApplicationOptions,
        ApplicationOptionsExtra,
        MessageSpawn,
        MessageApplicationStart,
    );
}
