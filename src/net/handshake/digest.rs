//! The handshake's proofs of the cookie (§2.2), its random salts and connection ids, and a
//! constant-time comparison. Pure functions; the cookie never leaves them.

use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of a salt: 64 hex characters (32 random bytes), as Go's `lib.RandomString(64)`.
pub const SALT_LEN: usize = 64;
/// Length of a connection id: 32 hex characters (16 random bytes).
pub const CONNECTION_ID_LEN: usize = 32;

/// The SHA-1 of a TLS leaf certificate's DER bytes, which Go mixes into the cert digests so a
/// dialer can tell that the acceptor's handshake and its TLS certificate belong together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint(pub [u8; 20]);

impl CertFingerprint {
    /// The fingerprint of a certificate (DER bytes).
    pub fn of_der(der: &[u8]) -> CertFingerprint {
        CertFingerprint(Sha1::digest(der).into())
    }
}

fn hex_of(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Lowercase hex SHA-256 of the parts joined with `:` and then `tail` appended raw (the
/// certificate fingerprint, for the cert digests).
fn digest(parts: &[&str], tail: &[u8]) -> String {
    let mut h = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(part.as_bytes());
    }
    h.update(tail);
    hex_of(&h.finalize())
}

/// The dialer's Hello digest: `H(saltD:cookie)`.
pub fn dialer_hello(salt_d: &str, cookie: &str) -> String {
    digest(&[salt_d, cookie], &[])
}

/// The acceptor's Hello digest: `H(saltA:dialerDigest:cookie)`.
pub fn acceptor_hello(salt_a: &str, dialer_digest: &str, cookie: &str) -> String {
    digest(&[salt_a, dialer_digest, cookie], &[])
}

/// The acceptor's Hello cert digest (TLS): hex SHA-256 of `saltA:saltD:cookie` followed by
/// the 20 bytes of the acceptor's certificate fingerprint.
pub fn acceptor_hello_cert(salt_a: &str, salt_d: &str, cookie: &str, cert: &CertFingerprint) -> String {
    digest(&[salt_a, salt_d, cookie], &cert.0)
}

/// The dialer's Introduce digest: `H(saltA:cookie)`.
pub fn dialer_introduce(salt_a: &str, cookie: &str) -> String {
    digest(&[salt_a, cookie], &[])
}

/// A Join's digest: `H(connectionID:saltJ:cookie)`.
pub fn join(connection_id: &str, salt_j: &str, cookie: &str) -> String {
    digest(&[connection_id, salt_j, cookie], &[])
}

/// The acceptor's Accept digest answering a Join: `H(joinDigest:cookie)`.
pub fn join_accept(join_digest: &str, cookie: &str) -> String {
    digest(&[join_digest, cookie], &[])
}

/// The acceptor's Accept cert digest answering a Join (TLS): SHA-256 of
/// `joinDigest:saltJ:cookie` followed by the certificate fingerprint, hex.
pub fn join_accept_cert(join_digest: &str, salt_j: &str, cookie: &str, cert: &CertFingerprint) -> String {
    digest(&[join_digest, salt_j, cookie], &cert.0)
}

/// Whether a received digest equals the expected one, in time independent of where they
/// differ (`subtle`; the length, which is public, may leak).
pub fn matches(expected: &str, received: &str) -> bool {
    expected.as_bytes().ct_eq(received.as_bytes()).into()
}

/// `chars` random lowercase hex characters (`chars` even), from the OS's generator.
///
/// # Errors
///
/// The OS random source failed.
pub fn random_hex(chars: usize) -> Result<String, getrandom::Error> {
    let mut bytes = vec![0u8; chars / 2];
    getrandom::getrandom(&mut bytes)?;
    Ok(hex_of(&bytes))
}
