//! TLS over a ring [`TcpStream`], with rustls doing the protocol (sans-IO: we move its records
//! to and from the socket).
//!
//! A [`TlsStream`] reads and writes; split, the [`TlsReader`] and [`TlsWriter`] share the one
//! rustls connection under a lock held only while records are encoded or decoded, never across
//! an await. Only the writer writes to the socket, so records leave in the order rustls made
//! them; what the reading side makes rustls want to send (a key update's answer, an alert)
//! leaves with the writer's next write.

use crate::io::net::{TcpReader, TcpStream, TcpWriter};
use rustls::pki_types::ServerName;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};

pub use rustls::{ClientConfig, ServerConfig};

type Shared = Arc<Mutex<rustls::Connection>>;

fn lock(conn: &Shared) -> MutexGuard<'_, rustls::Connection> {
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A TLS connection over a ring TCP stream.
pub struct TlsStream {
    reader: TlsReader,
    writer: TlsWriter,
}

impl TlsStream {
    /// Runs the server side of the handshake on an accepted connection.
    ///
    /// # Errors
    /// The handshake failed (bad records, no common parameters, a certificate the config
    /// rejects) or the connection broke.
    pub async fn accept(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let conn = rustls::ServerConnection::new(config).map_err(tls_error)?;
        Self::handshake(tcp, conn.into()).await
    }

    /// Runs the client side of the handshake on a connected stream, checking the server's
    /// certificate for `server_name`.
    ///
    /// # Errors
    /// As [`TlsStream::accept`], and a name that is not a valid DNS name or IP address.
    pub async fn connect(tcp: TcpStream, config: Arc<ClientConfig>, server_name: &str) -> io::Result<TlsStream> {
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = rustls::ClientConnection::new(config, name).map_err(tls_error)?;
        Self::handshake(tcp, conn.into()).await
    }

    async fn handshake(tcp: TcpStream, conn: rustls::Connection) -> io::Result<TlsStream> {
        let (tcp_reader, tcp_writer) = tcp.into_split();
        let conn: Shared = Arc::new(Mutex::new(conn));
        let mut reader = TlsReader { tcp: tcp_reader, conn: conn.clone(), raw: Vec::new(), fed: 0, eof: false };
        let writer = TlsWriter { tcp: tcp_writer, conn };
        loop {
            writer.flush().await?;
            let (handshaking, wants_read) = {
                let c = lock(&reader.conn);
                (c.is_handshaking(), c.wants_read())
            };
            if !handshaking {
                break;
            }
            if wants_read && !reader.fill().await? {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed during the TLS handshake"));
            }
        }
        Ok(TlsStream { reader, writer })
    }

    /// Appends decrypted bytes (at least one; waits until some arrive) to `out`; 0 once the
    /// peer closed.
    ///
    /// # Errors
    /// Bad records (the connection is then unusable), or as [`TcpStream::read`].
    pub async fn read(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        self.reader.read(out).await
    }

    /// Encrypts and writes all of `buf`; gives it back.
    ///
    /// # Errors
    /// As [`TcpStream::write_all`].
    pub async fn write_all(&self, buf: Vec<u8>) -> io::Result<Vec<u8>> {
        self.writer.write_all(buf).await
    }

    /// The DER bytes of the peer's leaf certificate, if it showed one (a server always does).
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        lock(&self.reader.conn).peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec())
    }

    /// Splits into halves that share the TLS session.
    pub fn into_split(self) -> (TlsReader, TlsWriter) {
        (self.reader, self.writer)
    }
}

/// The reading half of a [`TlsStream`].
pub struct TlsReader {
    tcp: TcpReader,
    conn: Shared,
    /// Bytes read from the socket; those before `fed` are in rustls already.
    raw: Vec<u8>,
    fed: usize,
    eof: bool,
}

impl TlsReader {
    /// Hands rustls the next records: what is left of the last socket read, else a new read
    /// (rustls takes a bounded amount at a time, so a large read is fed in steps). False at the
    /// end of the stream.
    async fn fill(&mut self) -> io::Result<bool> {
        if self.fed >= self.raw.len() {
            self.raw.clear();
            self.fed = 0;
            if self.tcp.read(&mut self.raw).await? == 0 {
                return Ok(false);
            }
        }
        let mut c = lock(&self.conn);
        let mut rest = &self.raw[self.fed..];
        let n = c.read_tls(&mut rest)?;
        self.fed += n;
        c.process_new_packets().map_err(tls_error)?;
        Ok(true)
    }

    /// As [`TlsStream::read`].
    ///
    /// # Errors
    /// As [`TlsStream::read`].
    pub async fn read(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            if self.eof {
                return Ok(0);
            }
            {
                let mut c = lock(&self.conn);
                let start = out.len();
                match c.reader().read_to_end(out) {
                    // The peer sent close_notify: clean end.
                    Ok(_) if out.len() == start => {
                        self.eof = true;
                        return Ok(0);
                    }
                    Ok(_) => return Ok(out.len() - start),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if out.len() > start {
                            return Ok(out.len() - start);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            if !self.fill().await? {
                // The socket closed without close_notify: a truncation attack or a careless
                // peer; report the end either way (as most HTTP stacks do).
                self.eof = true;
                return Ok(0);
            }
        }
    }
}

/// The writing half of a [`TlsStream`].
pub struct TlsWriter {
    tcp: TcpWriter,
    conn: Shared,
}

impl TlsWriter {
    /// Writes out every record rustls has ready.
    async fn flush(&self) -> io::Result<()> {
        loop {
            let mut records = Vec::new();
            {
                let mut c = lock(&self.conn);
                while c.wants_write() {
                    c.write_tls(&mut records)?;
                }
            }
            if records.is_empty() {
                return Ok(());
            }
            self.tcp.write_all(records).await?;
        }
    }

    /// As [`TlsStream::write_all`].
    ///
    /// # Errors
    /// As [`TlsStream::write_all`].
    pub async fn write_all(&self, buf: Vec<u8>) -> io::Result<Vec<u8>> {
        // rustls buffers a bounded amount of plaintext: hand it what it takes, send those
        // records, repeat.
        let mut at = 0;
        while at < buf.len() {
            let n = lock(&self.conn).writer().write(&buf[at..])?;
            at += n;
            self.flush().await?;
            if n == 0 && at < buf.len() && !lock(&self.conn).wants_write() {
                return Err(io::Error::from(io::ErrorKind::WriteZero));
            }
        }
        Ok(buf)
    }

    /// Sends close_notify (the peer's reads then end cleanly).
    ///
    /// # Errors
    /// As [`TcpStream::write_all`].
    pub async fn close_notify(&self) -> io::Result<()> {
        lock(&self.conn).send_close_notify();
        self.flush().await
    }
}
