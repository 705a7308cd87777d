//! TLS (rustls) over the ring TCP streams: a self-signed server, echo of a large payload, and a
//! client that does not trust the certificate failing its handshake cleanly on both sides.

mod support;

use ergors::io::net::{TcpListener, TcpStream};
use ergors::io::tls::{ClientConfig, ServerConfig, TlsStream};
use ergors::{Actor, Context, ExitReason, Message, Pid, SpawnOptions};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use support::*;

fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("self-signed cert");
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .expect("server config");
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("root");
    let client = ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// Accepts one connection, runs the TLS handshake, echoes until the peer closes; reports how
/// the handshake went.
struct TlsEcho {
    listener: TcpListener,
    config: Arc<ServerConfig>,
    report: Sender<Result<(), String>>,
}

impl Actor for TlsEcho {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let (tcp, _) = self.listener.accept().await.map_err(|_| ExitReason::Normal)?;
        let mut tls = match TlsStream::accept(tcp, self.config.clone()).await {
            Ok(tls) => tls,
            Err(e) => {
                let _ = self.report.send(Err(e.to_string()));
                return Ok(());
            }
        };
        let _ = self.report.send(Ok(()));
        let mut buf = Vec::new();
        while tls.read(&mut buf).await.map_err(|_| ExitReason::Normal)? > 0 {
            buf = tls.write_all(buf).await.map_err(|_| ExitReason::Normal)?;
            buf.clear();
        }
        Ok(())
    }
}

struct TlsClient {
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    report: Sender<Result<usize, String>>,
}

impl TlsClient {
    async fn run(&self) -> std::io::Result<usize> {
        let tcp = TcpStream::connect(self.addr).await?;
        let mut tls = TlsStream::connect(tcp, self.config.clone(), "localhost").await?;
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        tls.write_all(data.clone()).await?;
        let mut got = Vec::new();
        while got.len() < data.len() {
            if tls.read(&mut got).await? == 0 {
                return Err(std::io::Error::other("closed early"));
            }
        }
        if got != data {
            return Err(std::io::Error::other("echo differs"));
        }
        Ok(got.len())
    }
}

impl Actor for TlsClient {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let _ = self.report.send(self.run().await.map_err(|e| e.to_string()));
        Err(ExitReason::Normal)
    }
}

#[test]
fn tls_echo_of_a_large_payload() {
    let node = node("tls1", 2);
    let (server_cfg, client_cfg) = configs();
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr();
    let (stx, srx) = channel();
    let s = node.spawn(TlsEcho { listener, config: server_cfg, report: stx }, SpawnOptions::default()).unwrap();
    node.send(s, ()).unwrap();
    let (ctx_, crx) = channel();
    let c = node.spawn(TlsClient { addr, config: client_cfg, report: ctx_ }, SpawnOptions::default()).unwrap();
    node.send(c, ()).unwrap();
    assert_eq!(srx.recv_timeout(PATIENCE).unwrap(), Ok(()));
    assert_eq!(crx.recv_timeout(PATIENCE).unwrap(), Ok(200_000));
    node.stop();
}

#[test]
fn an_untrusted_certificate_fails_the_handshake_on_both_sides() {
    let node = node("tls2", 2);
    let (server_cfg, _) = configs();
    // The client trusts another self-signed certificate, not the server's.
    let (_, other_client) = configs();
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr();
    let (stx, srx) = channel();
    let s = node.spawn(TlsEcho { listener, config: server_cfg, report: stx }, SpawnOptions::default()).unwrap();
    node.send(s, ()).unwrap();
    let (ctx_, crx) = channel();
    let c = node.spawn(TlsClient { addr, config: other_client, report: ctx_ }, SpawnOptions::default()).unwrap();
    node.send(c, ()).unwrap();
    let client = crx.recv_timeout(PATIENCE).unwrap();
    assert!(client.as_ref().is_err_and(|e| e.contains("certificate")), "{client:?}");
    assert!(srx.recv_timeout(PATIENCE).unwrap().is_err(), "the server sees the handshake fail");
    node.stop();
}
