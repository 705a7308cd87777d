//! TLS for network links (Ergo's acceptor with a `CertManager`, its dialer's
//! `InsecureSkipVerify`): the settings in [`NetworkOptions`](super::NetworkOptions), and the
//! rustls configurations built from them once, when the node starts.
//!
//! TLS is decided before the handshake, by the route: an acceptor with a certificate serves TLS
//! only and registers its route with `TLS=true`; a dialer wraps the socket in TLS when the route
//! says so and runs EHS inside. The handshake then ties the two together: the acceptor mixes
//! its certificate's fingerprint into `DigestCert`, and the dialer checks it against the
//! certificate it saw, so a TLS terminator in the middle, or a certificate that only "verified"
//! because verification was skipped, is refused (D210).
//!
//! Reads files only at start (never on a worker's ring after that).

use super::handshake::CertFingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, PrivateKeyDer, ServerName, SignatureVerificationAlgorithm,
    UnixTime, alg_id,
};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

/// Where a PEM text comes from: a file (`ERGORS_NET_TLS_*`) or memory. Its `Debug` shows a
/// file's path but never a text (it may hold a private key).
#[derive(Clone, PartialEq, Eq)]
pub enum PemSource {
    /// A file holding PEM sections, read when the node starts.
    File(PathBuf),
    /// PEM text given directly.
    Text(String),
}

impl std::fmt::Debug for PemSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PemSource::File(path) => f.debug_tuple("File").field(path).finish(),
            PemSource::Text(text) => write!(f, "Text(<{} bytes>)", text.len()),
        }
    }
}

impl PemSource {
    fn read(&self) -> Result<(Vec<u8>, String), TlsSetupError> {
        match self {
            PemSource::File(path) => std::fs::read(path)
                .map(|b| (b, path.display().to_string()))
                .map_err(|source| TlsSetupError::Read { path: path.clone(), source }),
            PemSource::Text(text) => Ok((text.as_bytes().to_vec(), "the PEM text given".into())),
        }
    }
}

/// The network's TLS settings (`NetworkOptions::tls`).
///
/// With a certificate and key, the acceptor serves TLS only and registers its route as TLS.
/// Dialling a TLS route (from the registrar, or a static one added with
/// [`NetworkOptions::route_tls`](super::NetworkOptions::route_tls)) checks the acceptor's
/// certificate against `roots` (default: our own certificate chain, for a cluster sharing one
/// self-signed certificate) unless `insecure_skip_verify` is set; either way the handshake's
/// `DigestCert` must match the certificate the link saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkTls {
    /// The acceptor's certificate chain, leaf first (`ERGORS_NET_TLS_CERT`, a PEM path).
    pub cert: Option<PemSource>,
    /// The acceptor's private key (`ERGORS_NET_TLS_KEY`, a PEM path).
    pub key: Option<PemSource>,
    /// Certificates a dialled acceptor's chain must lead to (`ERGORS_NET_TLS_CA`, a PEM path).
    pub roots: Option<PemSource>,
    /// Accept any certificate when dialling, as Go's `InsecureSkipVerify`
    /// (`ERGORS_NET_TLS_INSECURE`); the `DigestCert` check still applies.
    pub insecure_skip_verify: bool,
    /// Static routes (by node name) to dial with TLS.
    pub(crate) static_routes: Vec<String>,
}

/// Why the network's TLS could not be set up (`StartError::Tls`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// A PEM file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A PEM text is malformed, or holds nothing of the kind needed.
    #[error("{what} in {from}: {cause}")]
    Pem {
        /// What was looked for (a certificate, a private key).
        what: &'static str,
        /// The file, or "the PEM text given".
        from: String,
        /// What is wrong.
        cause: String,
    },
    /// A certificate without its key, or a key without its certificate.
    #[error("a TLS certificate needs its private key and a key its certificate (set both)")]
    Incomplete,
    /// rustls refused the certificate, key or roots (a key that does not match, say).
    #[error("the TLS configuration was refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The network's TLS, ready: the acceptor's configuration and certificate fingerprint, and the
/// dialler's configuration.
pub(crate) struct LinkTls {
    /// The acceptor's rustls configuration and its leaf certificate's fingerprint; `None`: the
    /// acceptor serves plain TCP.
    pub(crate) server: Option<(Arc<ServerConfig>, CertFingerprint)>,
    /// For dialling TLS routes.
    pub(crate) client: Arc<ClientConfig>,
}

fn certificates(source: &PemSource) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let (pem, from) = source.read()?;
    let pem_error = |cause: String| TlsSetupError::Pem { what: "a certificate", from: from.clone(), cause };
    let certs =
        CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| pem_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error("no CERTIFICATE section".into()));
    }
    Ok(certs)
}

fn private_key(source: &PemSource) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let (pem, from) = source.read()?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsSetupError::Pem {
        what: "a private key",
        from,
        cause: e.to_string(),
    })
}

/// ring's provider, verifying P-521 signatures as well (D211).
fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.signature_verification_algorithms =
        WebPkiSupportedAlgorithms { all: &VERIFY_ALGORITHMS.0, mapping: &VERIFY_ALGORITHMS.1 };
    Arc::new(provider)
}

type Mapping = (SignatureScheme, &'static [&'static dyn SignatureVerificationAlgorithm]);

/// ring's signature verifications, and ECDSA P-521 with SHA-512 last (so offered last).
static VERIFY_ALGORITHMS: LazyLock<(Vec<&'static dyn SignatureVerificationAlgorithm>, Vec<Mapping>)> =
    LazyLock::new(|| {
        const P521: &[&dyn SignatureVerificationAlgorithm] = &[&EcdsaP521Sha512];
        let ring = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let mut all = ring.all.to_vec();
        all.extend_from_slice(P521);
        let mut mapping = ring.mapping.to_vec();
        mapping.push((SignatureScheme::ECDSA_NISTP521_SHA512, P521));
        (all, mapping)
    });

/// ECDSA over P-521 with SHA-512, which ring lacks: Go Ergo's own self-signed certificates
/// (`lib.GenerateSelfSignedCert`) are P-521, so a TLS acceptor of a Go node signs its handshake
/// with it. Verification only (RustCrypto's `p521`); we never sign with P-521.
#[derive(Debug)]
struct EcdsaP521Sha512;

impl SignatureVerificationAlgorithm for EcdsaP521Sha512 {
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
        use p521::ecdsa::signature::Verifier;
        let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature = p521_signature(signature).ok_or(InvalidSignature)?;
        key.verify(message, &signature).map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P521
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA512
    }
}

/// A DER `ECDSA-Sig-Value` (`SEQUENCE { r INTEGER, s INTEGER }`) as a P-521 signature.
fn p521_signature(der: &[u8]) -> Option<p521::ecdsa::Signature> {
    const WIDTH: usize = 66;
    /// One DER element of tag `tag` at the start of `bytes`: its contents and what follows.
    fn element(bytes: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&first, rest) = bytes.split_first()?;
        let (&len, rest) = rest.split_first()?;
        if first != tag {
            return None;
        }
        let (len, rest) = match len {
            0..=0x7f => (usize::from(len), rest),
            0x81 => {
                let (&n, rest) = rest.split_first()?;
                (usize::from(n), rest)
            }
            _ => return None,
        };
        (rest.len() >= len).then(|| rest.split_at(len))
    }
    let (body, trailing) = element(der, 0x30)?;
    let (r, body) = element(body, 0x02)?;
    let (s, trailing_in) = element(body, 0x02)?;
    if !trailing.is_empty() || !trailing_in.is_empty() {
        return None;
    }
    let mut fixed = [0u8; 2 * WIDTH];
    for (i, int) in [r, s].into_iter().enumerate() {
        let int = &int[int.iter().take_while(|&&b| b == 0).count()..];
        if int.len() > WIDTH {
            return None;
        }
        fixed[(i + 1) * WIDTH - int.len()..(i + 1) * WIDTH].copy_from_slice(int);
    }
    p521::ecdsa::Signature::from_slice(&fixed).ok()
}

impl LinkTls {
    /// Reads and checks the settings (files are read here, once).
    ///
    /// # Errors
    /// A file that cannot be read, PEM without a certificate or key, a certificate without its
    /// key (or the reverse), or a key rustls refuses.
    pub(crate) fn load(options: &NetworkTls) -> Result<LinkTls, TlsSetupError> {
        let provider = provider();
        let server = match (&options.cert, &options.key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                let chain = certificates(cert)?;
                let key = private_key(key)?;
                let fingerprint = CertFingerprint::of_der(&chain[0]);
                let config = ServerConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()?
                    .with_no_client_auth()
                    .with_single_cert(chain, key)?;
                Some((Arc::new(config), fingerprint))
            }
            _ => return Err(TlsSetupError::Incomplete),
        };
        let builder = ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let client = if options.insecure_skip_verify {
            let verifier = SkipVerify(provider.signature_verification_algorithms);
            builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            let anchors = match (&options.roots, &options.cert) {
                (Some(roots), _) => certificates(roots)?,
                (None, Some(cert)) => certificates(cert)?,
                (None, None) => Vec::new(),
            };
            for cert in anchors {
                roots.add(cert)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        Ok(LinkTls { server, client: Arc::new(client) })
    }
}

/// The name a dialled acceptor's certificate is checked for: the route's host, else the host
/// part of the node's name, else the address dialled.
pub(crate) fn server_name(host: &str, node: &str, addr: std::net::SocketAddr) -> String {
    let host = if host.is_empty() { node.split_once('@').map_or("", |(_, h)| h) } else { host };
    if ServerName::try_from(host).is_ok() { host.to_string() } else { addr.ip().to_string() }
}

/// Go's `InsecureSkipVerify`: any certificate is taken (the handshake's `DigestCert` is the
/// check then), but the TLS handshake's signatures are still verified, so the peer holds the
/// key of the certificate it showed.
#[derive(Debug)]
struct SkipVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// A PEM path from the environment.
pub(crate) fn pem_file(path: &str) -> Option<PemSource> {
    (!path.is_empty()).then(|| PemSource::File(Path::new(path).to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p521::ecdsa::signature::Signer;

    /// DER `INTEGER` of big-endian unsigned bytes.
    fn der_integer(bytes: &[u8]) -> Vec<u8> {
        let mut int: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
        if int.first().is_none_or(|&b| b & 0x80 != 0) {
            int.insert(0, 0);
        }
        let mut out = vec![0x02, int.len() as u8];
        out.extend(int);
        out
    }

    #[test]
    fn a_p521_signature_in_der_verifies_and_a_changed_message_does_not() {
        let mut secret = [0x11u8; 66];
        secret[0] = 0x01;
        let key = p521::ecdsa::SigningKey::from_slice(&secret).expect("a key");
        let public = p521::ecdsa::VerifyingKey::from(&key).to_encoded_point(false);
        let signature: p521::ecdsa::Signature = key.sign(b"the handshake transcript");
        let (r, s) = signature.split_bytes();
        let mut body = der_integer(&r);
        body.extend(der_integer(&s));
        // A P-521 signature's body is longer than 127 bytes: the long form of the length.
        let mut der = vec![0x30, 0x81, body.len() as u8];
        der.extend(body);
        let alg = EcdsaP521Sha512;
        assert!(alg.verify_signature(public.as_bytes(), b"the handshake transcript", &der).is_ok());
        assert!(alg.verify_signature(public.as_bytes(), b"another transcript", &der).is_err());
        assert!(alg.verify_signature(public.as_bytes(), b"the handshake transcript", &der[1..]).is_err());
        // Offered to peers: the scheme is in the provider's mapping.
        let offered = provider().signature_verification_algorithms.supported_schemes();
        assert!(offered.contains(&SignatureScheme::ECDSA_NISTP521_SHA512), "{offered:?}");
    }

    #[test]
    fn a_pem_text_never_shows_in_debug() {
        let key = PemSource::Text("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n".into());
        let shown = format!("{:?}", NetworkTls { key: Some(key), ..Default::default() });
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(format!("{:?}", PemSource::File("/k.pem".into())), "File(\"/k.pem\")");
    }

    #[test]
    fn the_server_name_is_the_route_host_else_the_node_host_else_the_address() {
        let addr: std::net::SocketAddr = "10.0.0.1:4000".parse().expect("addr");
        assert_eq!(server_name("db.example", "n@h", addr), "db.example");
        assert_eq!(server_name("", "n@localhost", addr), "localhost");
        assert_eq!(server_name("", "nohost", addr), "10.0.0.1");
    }
}
