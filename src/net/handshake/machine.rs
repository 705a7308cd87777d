//! The handshake as sans-IO state machines (quinn-proto style): decoded messages and an
//! explicit `now` in, messages to send and a deadline out. No sockets, no clock, no EDF.
//!
//! Driving one: after creating it (and after every call), send everything
//! [`poll_transmit`](Dialer::poll_transmit) yields; feed each received message to
//! [`handle_message`](Dialer::handle_message) with the bytes that followed its frame; call
//! [`handle_timeout`](Dialer::handle_timeout) when [`poll_timeout`](Dialer::poll_timeout)'s
//! instant passes. A [`Progress`] other than `Continue` ends the handshake (flush the last
//! messages first: the dialer's final Accept, the acceptor's Join answer). Any error ends it
//! too: close the link.

use super::digest::{self, CONNECTION_ID_LEN, CertFingerprint, SALT_LEN};
use super::flags::NetworkFlags;
use super::messages::{Accept, HandshakeMessage, Hello, Introduce, Join, Version};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Go's deadline for each handshake read.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(1);
/// Go's default number of links per connection (`PoolSize`).
pub const DEFAULT_POOL_SIZE: u32 = 3;
/// The most links we open for one connection, whatever pool size the acceptor announces
/// (a hostile acceptor announcing millions would otherwise make us dial millions).
pub const MAX_POOL_SIZE: u32 = 32;
/// The most joins one connection accepts in its lifetime (see [`JoinGuard`]).
pub const MAX_JOINS_PER_CONNECTION: usize = 1024;

/// What a node brings to its handshakes. Shared (`Arc`) by all of them.
#[derive(Clone)]
pub struct HandshakeConfig {
    /// Our node name (`name@host`).
    pub name: String,
    cookie: String,
    /// The application version we announce (free text).
    pub version: Version,
    /// The flags we announce.
    pub flags: NetworkFlags,
    /// Our creation (start time, Unix seconds).
    pub creation: i64,
    /// The largest frame we accept (0 = no limit), announced to the peer.
    pub max_message_size: i64,
    /// The atom dictionary we encode with (announced in our Introduce).
    pub atom_cache: BTreeMap<u16, String>,
    /// The registered-type dictionary we encode with.
    pub reg_cache: BTreeMap<u16, String>,
    /// The error dictionary we encode with.
    pub err_cache: BTreeMap<u16, String>,
    /// As acceptor: how many links a dialer should open per connection.
    pub pool_size: u32,
    /// The deadline for each message we wait for.
    pub timeout: Duration,
}

impl HandshakeConfig {
    /// A configuration with empty caches, Go's default flags, no message size limit, a pool
    /// of 3 and 1 s per message.
    pub fn new(name: impl Into<String>, cookie: impl Into<String>, creation: i64) -> Self {
        HandshakeConfig {
            name: name.into(),
            cookie: cookie.into(),
            version: Version::default(),
            flags: NetworkFlags::GO_DEFAULT,
            creation,
            max_message_size: 0,
            atom_cache: BTreeMap::new(),
            reg_cache: BTreeMap::new(),
            err_cache: BTreeMap::new(),
            pool_size: DEFAULT_POOL_SIZE,
            timeout: MESSAGE_TIMEOUT,
        }
    }

    fn introduce(&self, digest: String) -> Introduce {
        Introduce {
            node: self.name.clone(),
            version: self.version.clone(),
            flags: self.flags,
            creation: self.creation,
            max_message_size: self.max_message_size,
            atom_cache: self.atom_cache.clone(),
            reg_cache: self.reg_cache.clone(),
            err_cache: self.err_cache.clone(),
            digest,
        }
    }
}

impl fmt::Debug for HandshakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandshakeConfig")
            .field("name", &self.name)
            .field("cookie", &"<redacted>")
            .field("flags", &self.flags)
            .field("creation", &self.creation)
            .field("max_message_size", &self.max_message_size)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

/// The message a handshake is waiting for (in errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expecting {
    /// The acceptor's Hello (dialer).
    Hello,
    /// A Hello or a Join (acceptor's first message).
    HelloOrJoin,
    /// The dialer's Introduce (acceptor).
    Introduce,
    /// The acceptor's Accept with the connection parameters (dialer).
    Accept,
    /// The acceptor's Introduce (dialer).
    PeerIntroduce,
    /// The dialer's final Accept (acceptor).
    FinalAccept,
    /// The acceptor's answer to a Join (dialer).
    JoinAccept,
}

impl fmt::Display for Expecting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expecting::Hello => "MessageHello",
            Expecting::HelloOrJoin => "MessageHello or MessageJoin",
            Expecting::Introduce | Expecting::PeerIntroduce => "MessageIntroduce",
            Expecting::Accept | Expecting::FinalAccept | Expecting::JoinAccept => "MessageAccept",
        })
    }
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefusal {
    /// This connection already admitted a join with the same salt: a replay.
    #[error("a join with this salt was already admitted on this connection (replay)")]
    Replayed,
    /// The connection has admitted [`MAX_JOINS_PER_CONNECTION`] joins already.
    #[error("the connection admitted its maximum number of joins")]
    TooMany,
}

/// Why a handshake failed. The link must close.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// No message came within the deadline (Go: a read deadline of 1 s).
    #[error("handshake timed out waiting for {0}")]
    Timeout(Expecting),
    /// A message of the wrong kind came.
    #[error("handshake expected {expected} but received {received}")]
    Unexpected {
        /// What was awaited.
        expected: Expecting,
        /// The Go name of what came.
        received: &'static str,
    },
    /// A digest did not prove the cookie: wrong cookie, or a forgery.
    #[error("incorrect digest in {0}")]
    Digest(&'static str),
    /// The acceptor's certificate digest did not match its TLS certificate.
    #[error("incorrect certificate digest in {0}")]
    CertDigest(&'static str),
    /// The peer introduced itself with our own name.
    #[error("the peer introduced itself with our own name {0}")]
    SameName(String),
    /// The node dialled introduced itself with another name.
    #[error("dialled {dialled} but the peer introduced itself as {introduced}")]
    WrongPeer {
        /// The name we dialled.
        dialled: String,
        /// The name in its Introduce.
        introduced: String,
    },
    /// A join was refused ([`Acceptor::accept_join`]).
    #[error("join refused: {0}")]
    JoinRefused(#[from] JoinRefusal),
    /// The OS random source failed (no salt or connection id).
    #[error("random source failed: {0}")]
    Random(getrandom::Error),
    /// The handshake is already over (finished or failed).
    #[error("the handshake is already over")]
    Over,
}

/// A finished main handshake: everything the connection needs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Established {
    /// The peer's node name.
    pub peer: String,
    /// The peer's application version.
    pub peer_version: Version,
    /// The peer's creation (part of each of its Pid, Ref and Alias identities).
    pub peer_creation: i64,
    /// The peer's flags.
    pub peer_flags: NetworkFlags,
    /// The largest frame the peer accepts (0 = no limit): the
    /// [`FrameWriter`](crate::net::proto::FrameWriter)'s limit.
    pub peer_max_message_size: u32,
    /// The peer's atom dictionary: decode atoms with it.
    pub peer_atom_cache: BTreeMap<u16, String>,
    /// The peer's registered-type dictionary: decode type names with it.
    pub peer_reg_cache: BTreeMap<u16, String>,
    /// The peer's error dictionary: decode errors with it.
    pub peer_err_cache: BTreeMap<u16, String>,
    /// The connection's id (joins name it).
    pub connection_id: String,
    /// How many links the connection should have in all (the acceptor's announcement, capped
    /// at [`MAX_POOL_SIZE`]; as acceptor, ours).
    pub pool_size: u32,
    /// Where to dial the other links (dialer only).
    pub pool_dsn: Vec<String>,
    /// Bytes that followed the last handshake frame: the first ENP bytes.
    pub tail: Vec<u8>,
}

/// A join that passed its digest check, for the acceptor's owner to match with a live
/// connection (by id, and its peer by name) before [`Acceptor::accept_join`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The joining node's name (must be the connection's peer).
    pub peer: String,
    /// The connection to join.
    pub connection_id: String,
}

/// A finished join: one more link for an existing connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The peer's node name (as acceptor; empty as dialer: Go's answer to a Join names no one,
    /// and the connection being joined knows its peer).
    pub peer: String,
    /// The connection joined.
    pub connection_id: String,
    /// Bytes that followed the last handshake frame: the first ENP bytes.
    pub tail: Vec<u8>,
}

/// What a handled message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The handshake goes on.
    Continue,
    /// A main handshake is over; flush [`poll_transmit`](Dialer::poll_transmit), then speak ENP.
    Established(Box<Established>),
    /// (Acceptor) a join proved the cookie; decide with [`Acceptor::accept_join`] or
    /// [`Acceptor::reject_join`].
    JoinRequest(JoinRequest),
    /// A join is over; flush, then speak ENP on this link.
    Joined(Joined),
}

/// The bookkeeping common to both roles: queue, deadline, terminal states.
#[derive(Debug)]
struct Core {
    config: Arc<HandshakeConfig>,
    out: VecDeque<HandshakeMessage>,
    deadline: Option<Instant>,
    over: bool,
}

impl Core {
    fn new(config: Arc<HandshakeConfig>, now: Instant) -> Core {
        let deadline = Some(now + config.timeout);
        Core { config, out: VecDeque::new(), deadline, over: false }
    }

    fn wait(&mut self, now: Instant) {
        self.deadline = Some(now + self.config.timeout);
    }

    fn finish(&mut self) {
        self.deadline = None;
        self.over = true;
    }

    /// Refuses input once over, and a message that came after its deadline.
    fn check(&mut self, now: Instant, expecting: Expecting) -> Result<(), HandshakeError> {
        if self.over {
            return Err(HandshakeError::Over);
        }
        if self.deadline.is_some_and(|d| now >= d) {
            self.finish();
            return Err(HandshakeError::Timeout(expecting));
        }
        Ok(())
    }
}

fn random(chars: usize) -> Result<String, HandshakeError> {
    digest::random_hex(chars).map_err(HandshakeError::Random)
}

fn max_size(announced: i64) -> u32 {
    // ≤ 0 is "no limit" in Go; a limit above the u32 length field limits nothing either.
    u32::try_from(announced).unwrap_or(0)
}

#[derive(Debug)]
enum DialerState {
    Hello { salt: String, digest: String, dialled: String },
    Accept { dialled: String },
    Introduce { dialled: String, accept: Accept },
    JoinAccept { salt: String, digest: String, connection_id: String },
    Over,
}

/// The dialing side of a handshake: a main handshake ([`Dialer::connect`]) or a join of a
/// pool link ([`Dialer::join`]).
#[derive(Debug)]
pub struct Dialer {
    core: Core,
    state: DialerState,
    peer_cert: Option<CertFingerprint>,
}

impl Dialer {
    /// Starts a main handshake with node `dialled`; queues our Hello.
    ///
    /// `peer_cert` is the fingerprint of the acceptor's TLS leaf certificate when the link is
    /// TLS and fingerprint checking is on: the acceptor's cert digest is then verified.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Random`] if no salt could be drawn.
    pub fn connect(
        config: Arc<HandshakeConfig>,
        dialled: &str,
        peer_cert: Option<CertFingerprint>,
        now: Instant,
    ) -> Result<Dialer, HandshakeError> {
        let salt = random(SALT_LEN)?;
        let digest = digest::dialer_hello(&salt, &config.cookie);
        let mut core = Core::new(config, now);
        core.out.push_back(HandshakeMessage::Hello(Hello {
            salt: salt.clone(),
            digest: digest.clone(),
            digest_cert: String::new(),
        }));
        let state = DialerState::Hello { salt, digest, dialled: dialled.to_owned() };
        Ok(Dialer { core, state, peer_cert })
    }

    /// Starts a join of connection `connection_id` (an additional pool link); queues the Join.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Random`] if no salt could be drawn.
    pub fn join(
        config: Arc<HandshakeConfig>,
        connection_id: &str,
        peer_cert: Option<CertFingerprint>,
        now: Instant,
    ) -> Result<Dialer, HandshakeError> {
        let salt = random(SALT_LEN)?;
        let digest = digest::join(connection_id, &salt, &config.cookie);
        let mut core = Core::new(config, now);
        core.out.push_back(HandshakeMessage::Join(Join {
            node: core.config.name.clone(),
            connection_id: connection_id.to_owned(),
            salt: salt.clone(),
            digest: digest.clone(),
        }));
        let state = DialerState::JoinAccept { salt, digest, connection_id: connection_id.to_owned() };
        Ok(Dialer { core, state, peer_cert })
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<HandshakeMessage> {
        self.core.out.pop_front()
    }

    /// When [`handle_timeout`](Dialer::handle_timeout) must be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.deadline
    }

    fn expecting(&self) -> Expecting {
        Self::expecting_of(&self.state)
    }

    /// Fails the handshake if its deadline has passed.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Timeout`] once `now` reaches the deadline.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), HandshakeError> {
        if self.core.over {
            return Ok(());
        }
        let expecting = self.expecting();
        let result = self.core.check(now, expecting);
        if result.is_err() {
            self.state = DialerState::Over;
        }
        result
    }

    /// Handles a received message; `rest` is what followed its frame in the receive buffer
    /// (it becomes the tail when this message ends the handshake).
    ///
    /// # Errors
    ///
    /// [`HandshakeError`]: a message past its deadline, of the wrong kind, with a wrong digest
    /// or cert digest, a peer with our name or not the one dialled, or one after the end.
    /// The handshake is then over.
    pub fn handle_message(
        &mut self,
        now: Instant,
        message: HandshakeMessage,
        rest: &[u8],
    ) -> Result<Progress, HandshakeError> {
        let expecting = self.expecting();
        self.core.check(now, expecting)?;
        let state = std::mem::replace(&mut self.state, DialerState::Over);
        let result = self.step(now, state, message, rest);
        if result.is_err() || !matches!(result, Ok(Progress::Continue)) {
            self.core.finish();
            self.state = DialerState::Over;
        }
        result
    }

    fn step(
        &mut self,
        now: Instant,
        state: DialerState,
        message: HandshakeMessage,
        rest: &[u8],
    ) -> Result<Progress, HandshakeError> {
        let config = Arc::clone(&self.core.config);
        let cookie = &config.cookie;
        let expected = Self::expecting_of(&state);
        match (state, message) {
            (DialerState::Hello { salt, digest, dialled }, HandshakeMessage::Hello(hello)) => {
                let want = digest::acceptor_hello(&hello.salt, &digest, cookie);
                if !digest::matches(&want, &hello.digest) {
                    return Err(HandshakeError::Digest("MessageHello"));
                }
                if let Some(cert) = &self.peer_cert {
                    let want = digest::acceptor_hello_cert(&hello.salt, &salt, cookie, cert);
                    if !digest::matches(&want, &hello.digest_cert) {
                        return Err(HandshakeError::CertDigest("MessageHello"));
                    }
                }
                let intro = config.introduce(digest::dialer_introduce(&hello.salt, cookie));
                self.core.out.push_back(HandshakeMessage::Introduce(Box::new(intro)));
                self.core.wait(now);
                self.state = DialerState::Accept { dialled };
                Ok(Progress::Continue)
            }
            (DialerState::Accept { dialled }, HandshakeMessage::Accept(accept)) => {
                self.core.wait(now);
                self.state = DialerState::Introduce { dialled, accept };
                Ok(Progress::Continue)
            }
            (DialerState::Introduce { dialled, accept }, HandshakeMessage::Introduce(intro)) => {
                if intro.node == config.name {
                    return Err(HandshakeError::SameName(intro.node));
                }
                if intro.node != dialled {
                    return Err(HandshakeError::WrongPeer { dialled, introduced: intro.node });
                }
                self.core.out.push_back(HandshakeMessage::Accept(Accept::default()));
                let intro = *intro;
                Ok(Progress::Established(Box::new(Established {
                    peer: intro.node,
                    peer_version: intro.version,
                    peer_creation: intro.creation,
                    peer_flags: intro.flags,
                    peer_max_message_size: max_size(intro.max_message_size),
                    peer_atom_cache: intro.atom_cache,
                    peer_reg_cache: intro.reg_cache,
                    peer_err_cache: intro.err_cache,
                    connection_id: accept.id,
                    pool_size: accept.pool_size.clamp(1, i64::from(MAX_POOL_SIZE)) as u32,
                    pool_dsn: accept.pool_dsn,
                    tail: rest.to_vec(),
                })))
            }
            (DialerState::JoinAccept { salt, digest, connection_id }, HandshakeMessage::Accept(accept)) => {
                let want = digest::join_accept(&digest, cookie);
                if !digest::matches(&want, &accept.digest) {
                    return Err(HandshakeError::Digest("MessageAccept"));
                }
                if let Some(cert) = &self.peer_cert {
                    let want = digest::join_accept_cert(&digest, &salt, cookie, cert);
                    if !digest::matches(&want, &accept.digest_cert) {
                        return Err(HandshakeError::CertDigest("MessageAccept"));
                    }
                }
                // Go's Join learns no peer name; the connection being joined knows it.
                Ok(Progress::Joined(Joined { peer: String::new(), connection_id, tail: rest.to_vec() }))
            }
            (_, message) => Err(HandshakeError::Unexpected { expected, received: message.kind() }),
        }
    }

    fn expecting_of(state: &DialerState) -> Expecting {
        match state {
            DialerState::Hello { .. } => Expecting::Hello,
            DialerState::Accept { .. } => Expecting::Accept,
            DialerState::Introduce { .. } => Expecting::PeerIntroduce,
            DialerState::JoinAccept { .. } => Expecting::JoinAccept,
            DialerState::Over => Expecting::Hello,
        }
    }
}

#[derive(Debug)]
enum AcceptorState {
    First,
    Introduce { salt: String },
    FinalAccept { intro: Box<Introduce>, id: String },
    JoinPending { join: Join, tail: Vec<u8> },
    Over,
}

/// The accepting side of a handshake: answers a main handshake or a join, whichever the first
/// message is.
#[derive(Debug)]
pub struct Acceptor {
    core: Core,
    state: AcceptorState,
    local_dsn: String,
    local_cert: Option<CertFingerprint>,
}

impl Acceptor {
    /// Starts waiting for a dialer's first message.
    ///
    /// `local_dsn` is this link's local address (`ip:port`), announced for the pool's other
    /// links; `local_cert` our TLS leaf certificate's fingerprint on TLS links (cert digests
    /// are then added).
    pub fn new(
        config: Arc<HandshakeConfig>,
        local_dsn: impl Into<String>,
        local_cert: Option<CertFingerprint>,
        now: Instant,
    ) -> Acceptor {
        Acceptor { core: Core::new(config, now), state: AcceptorState::First, local_dsn: local_dsn.into(), local_cert }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<HandshakeMessage> {
        self.core.out.pop_front()
    }

    /// When [`handle_timeout`](Acceptor::handle_timeout) must be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.deadline
    }

    fn expecting(&self) -> Expecting {
        match self.state {
            AcceptorState::First | AcceptorState::Over | AcceptorState::JoinPending { .. } => Expecting::HelloOrJoin,
            AcceptorState::Introduce { .. } => Expecting::Introduce,
            AcceptorState::FinalAccept { .. } => Expecting::FinalAccept,
        }
    }

    /// Fails the handshake if its deadline has passed.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Timeout`] once `now` reaches the deadline.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), HandshakeError> {
        if self.core.over {
            return Ok(());
        }
        let expecting = self.expecting();
        let result = self.core.check(now, expecting);
        if result.is_err() {
            self.state = AcceptorState::Over;
        }
        result
    }

    /// Handles a received message; `rest` is what followed its frame in the receive buffer.
    ///
    /// # Errors
    ///
    /// [`HandshakeError`]: a message past its deadline, of the wrong kind, with a wrong digest,
    /// a dialer with our name, input after the end or while a join awaits its decision. The
    /// handshake is then over.
    pub fn handle_message(
        &mut self,
        now: Instant,
        message: HandshakeMessage,
        rest: &[u8],
    ) -> Result<Progress, HandshakeError> {
        if matches!(self.state, AcceptorState::JoinPending { .. }) {
            self.fail();
            return Err(HandshakeError::Unexpected { expected: Expecting::JoinAccept, received: message.kind() });
        }
        let expecting = self.expecting();
        self.core.check(now, expecting)?;
        let state = std::mem::replace(&mut self.state, AcceptorState::Over);
        let result = self.step(now, state, message, rest, expecting);
        match &result {
            Ok(Progress::Continue) => {}
            Ok(Progress::JoinRequest(_)) => self.core.deadline = None,
            _ => self.fail(),
        }
        result
    }

    fn fail(&mut self) {
        self.core.finish();
        self.state = AcceptorState::Over;
    }

    fn step(
        &mut self,
        now: Instant,
        state: AcceptorState,
        message: HandshakeMessage,
        rest: &[u8],
        expected: Expecting,
    ) -> Result<Progress, HandshakeError> {
        let config = Arc::clone(&self.core.config);
        let cookie = &config.cookie;
        match (state, message) {
            (AcceptorState::First, HandshakeMessage::Hello(hello)) => {
                if !digest::matches(&digest::dialer_hello(&hello.salt, cookie), &hello.digest) {
                    return Err(HandshakeError::Digest("MessageHello"));
                }
                let salt = random(SALT_LEN)?;
                let digest_cert = match &self.local_cert {
                    Some(cert) => digest::acceptor_hello_cert(&salt, &hello.salt, cookie, cert),
                    None => String::new(),
                };
                self.core.out.push_back(HandshakeMessage::Hello(Hello {
                    digest: digest::acceptor_hello(&salt, &hello.digest, cookie),
                    salt: salt.clone(),
                    digest_cert,
                }));
                self.core.wait(now);
                self.state = AcceptorState::Introduce { salt };
                Ok(Progress::Continue)
            }
            (AcceptorState::First, HandshakeMessage::Join(join)) => {
                let want = digest::join(&join.connection_id, &join.salt, cookie);
                if !digest::matches(&want, &join.digest) {
                    return Err(HandshakeError::Digest("MessageJoin"));
                }
                let request = JoinRequest { peer: join.node.clone(), connection_id: join.connection_id.clone() };
                self.state = AcceptorState::JoinPending { join, tail: rest.to_vec() };
                Ok(Progress::JoinRequest(request))
            }
            (AcceptorState::Introduce { salt }, HandshakeMessage::Introduce(intro)) => {
                if intro.node == config.name {
                    return Err(HandshakeError::SameName(intro.node));
                }
                if !digest::matches(&digest::dialer_introduce(&salt, cookie), &intro.digest) {
                    return Err(HandshakeError::Digest("MessageIntroduce"));
                }
                let id = random(CONNECTION_ID_LEN)?;
                self.core.out.push_back(HandshakeMessage::Accept(Accept {
                    id: id.clone(),
                    pool_size: i64::from(config.pool_size),
                    pool_dsn: vec![self.local_dsn.clone()],
                    digest: String::new(),
                    digest_cert: String::new(),
                }));
                self.core.out.push_back(HandshakeMessage::Introduce(Box::new(config.introduce(String::new()))));
                self.core.wait(now);
                self.state = AcceptorState::FinalAccept { intro, id };
                Ok(Progress::Continue)
            }
            (AcceptorState::FinalAccept { intro, id }, HandshakeMessage::Accept(_)) => {
                let intro = *intro;
                Ok(Progress::Established(Box::new(Established {
                    peer: intro.node,
                    peer_version: intro.version,
                    peer_creation: intro.creation,
                    peer_flags: intro.flags,
                    peer_max_message_size: max_size(intro.max_message_size),
                    peer_atom_cache: intro.atom_cache,
                    peer_reg_cache: intro.reg_cache,
                    peer_err_cache: intro.err_cache,
                    connection_id: id,
                    pool_size: config.pool_size,
                    pool_dsn: Vec::new(),
                    tail: rest.to_vec(),
                })))
            }
            (_, message) => Err(HandshakeError::Unexpected { expected, received: message.kind() }),
        }
    }

    /// Admits the pending join (after [`Progress::JoinRequest`]) if `guard` — the joined
    /// connection's — has not seen its salt; queues the Accept that answers it.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::JoinRefused`] (replayed salt, or too many joins), or
    /// [`HandshakeError::Over`] if no join is pending. The handshake is over either way.
    pub fn accept_join(&mut self, guard: &mut JoinGuard) -> Result<Joined, HandshakeError> {
        let state = std::mem::replace(&mut self.state, AcceptorState::Over);
        self.core.finish();
        let AcceptorState::JoinPending { join, tail } = state else {
            return Err(HandshakeError::Over);
        };
        guard.admit(&join)?;
        let cookie = &self.core.config.cookie;
        let digest_cert = match &self.local_cert {
            Some(cert) => digest::join_accept_cert(&join.digest, &join.salt, cookie, cert),
            None => String::new(),
        };
        self.core.out.push_back(HandshakeMessage::Accept(Accept {
            digest: digest::join_accept(&join.digest, cookie),
            digest_cert,
            ..Accept::default()
        }));
        Ok(Joined { peer: join.node, connection_id: join.connection_id, tail })
    }

    /// Refuses the pending join (no such connection, or another peer's): nothing is sent;
    /// close the link.
    pub fn reject_join(&mut self) {
        self.fail();
    }
}

/// A connection's memory of the joins it admitted, which makes a captured Join useless for
/// the rest of the connection's life (decision D184).
///
/// A Join proves the cookie with `H(connectionID:salt:cookie)`, and the *dialer* picks the
/// salt: the acceptor contributes no fresh value, so the same Join bytes are valid again and
/// again. Remembering every salt admitted during the connection refuses a replay; bounding the
/// joins per connection bounds the memory (a SHA-256 of each salt: 32 bytes).
#[derive(Debug, Clone)]
pub struct JoinGuard {
    seen: HashSet<[u8; 32]>,
    limit: usize,
}

impl Default for JoinGuard {
    fn default() -> Self {
        JoinGuard::new()
    }
}

impl JoinGuard {
    /// A guard admitting up to [`MAX_JOINS_PER_CONNECTION`] joins.
    pub fn new() -> Self {
        JoinGuard::with_limit(MAX_JOINS_PER_CONNECTION)
    }

    /// A guard admitting up to `limit` joins.
    pub fn with_limit(limit: usize) -> Self {
        JoinGuard { seen: HashSet::new(), limit }
    }

    /// Records `join`'s salt.
    ///
    /// # Errors
    ///
    /// [`JoinRefusal::Replayed`] if the salt was admitted before, [`JoinRefusal::TooMany`] if
    /// the limit is reached.
    pub fn admit(&mut self, join: &Join) -> Result<(), JoinRefusal> {
        let key: [u8; 32] = Sha256::digest(join.salt.as_bytes()).into();
        if self.seen.contains(&key) {
            return Err(JoinRefusal::Replayed);
        }
        if self.seen.len() >= self.limit {
            return Err(JoinRefusal::TooMany);
        }
        self.seen.insert(key);
        Ok(())
    }

    /// How many joins were admitted.
    pub fn admitted(&self) -> usize {
        self.seen.len()
    }
}
