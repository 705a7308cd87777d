//! A small blocking HTTP/1.1 client over std sockets, for the Web meta's tests: it sends bytes
//! exactly as a test writes them (so hostile input is possible) and reads responses by their
//! `Content-Length`. Every read is bounded by `PATIENCE`.

use super::PATIENCE;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// A response as read off the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One connection, kept alive across requests.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("read timeout");
        stream.set_write_timeout(Some(PATIENCE)).expect("write timeout");
        Client { stream, buf: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// A GET with the headers every HTTP/1.1 request needs.
    pub fn get(&mut self, path: &str) -> Reply {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.reply().expect("a response")
    }

    pub fn post(&mut self, path: &str, body: &[u8]) -> Reply {
        self.send(format!("POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
        self.send(body);
        self.reply().expect("a response")
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                panic!("no response within {PATIENCE:?}")
            }
            Err(_) => false, // reset
        }
    }

    /// The next response, or `None` if the server closed first.
    pub fn reply(&mut self) -> Option<Reply> {
        self.read_reply(false)
    }

    /// The next response to a `HEAD` (its `Content-Length` describes a body not sent).
    pub fn reply_bodiless(&mut self) -> Option<Reply> {
        self.read_reply(true)
    }

    fn read_reply(&mut self, bodiless: bool) -> Option<Reply> {
        let head_end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            if !self.fill() {
                return None;
            }
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).expect("an ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("a status line");
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
        let headers: Vec<(String, String)> =
            lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse::<usize>().expect("a length"))
            .unwrap_or(0);
        let length = if bodiless { 0 } else { length };
        self.buf.drain(..head_end + 4);
        while self.buf.len() < length {
            if !self.fill() {
                panic!("the server closed in the middle of a body");
            }
        }
        let body = self.buf.drain(..length).collect();
        Some(Reply { status, headers, body })
    }

    /// Whether the server closed the connection (reads end, after any bytes still unread).
    pub fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    return false;
                }
                Err(_) => return true,
            }
        }
    }
}

/// Sends `bytes` on a fresh connection and reads the one response.
pub fn exchange(addr: SocketAddr, bytes: &[u8]) -> Reply {
    let mut c = Client::connect(addr);
    c.send(bytes);
    c.reply().expect("a response")
}
