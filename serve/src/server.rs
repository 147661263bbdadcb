//! Accepting and answering: a task per connection under a cap, each request head read within
//! its limits, an echo per request, one log line per connection, and a clean stop.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tfoscope_wire::echo::{EchoOrigin, EchoTls, ECHO_CONTENT_TYPE};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::document::{echo, ConnectionFacts};
use crate::listener::{self, ListenError};
use crate::request::{read_head, HeadError};
use crate::syn::{syn_data_accepted, take_saved_syn};
use crate::tls::{self, Tls, TlsError};

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub http: Vec<SocketAddr>,
    pub https: Vec<SocketAddr>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Names of the self-signed certificate made without `cert`.
    pub names: Vec<String>,
    pub tfo: bool,
    pub tfo_key: Option<[u8; 16]>,
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// Largest request head.
    pub max_request_bytes: usize,
    /// Requests on one connection.
    pub max_requests: u32,
    /// How long a connection may wait before its next request begins.
    pub idle_timeout: Duration,
    /// How long a request head (and a TLS handshake) may take once begun.
    pub request_timeout: Duration,
    /// How long to wait for open connections at shutdown.
    pub grace: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            http: vec![],
            https: vec![],
            cert: None,
            key: None,
            names: vec!["localhost".to_string()],
            tfo: true,
            tfo_key: None,
            max_connections: 16_384,
            max_request_bytes: 16 << 10,
            max_requests: 100,
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            grace: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("nothing to serve: give --http or --https")]
    NoListener,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Counts over the server's life, for tests and the stop line.
#[derive(Debug, Default)]
pub struct Counters {
    pub connections: AtomicU64,
    pub refused_over_capacity: AtomicU64,
    pub echoes: AtomicU64,
    pub bad_requests: AtomicU64,
    pub saved_syns: AtomicU64,
}

/// Listeners bound and ready, before serving.
pub struct Bound {
    listeners: Vec<(TcpListener, EchoOrigin, bool)>,
    tls: Option<Arc<Tls>>,
    config: Arc<ServeConfig>,
    pub counters: Arc<Counters>,
}

impl Bound {
    /// The addresses listened on, in the order given (`--http` first), ports resolved.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|(l, _, _)| l.local_addr().ok()).collect()
    }

    pub fn cert_sha256(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.cert_sha256.as_str())
    }
}

/// Checks the kernel, makes the certificate and binds every listener.
pub fn bind(config: ServeConfig) -> Result<Bound, ServeError> {
    if config.http.is_empty() && config.https.is_empty() {
        return Err(ServeError::NoListener);
    }
    if config.tfo {
        listener::check_server_tfo()?;
    }
    let tls = if config.https.is_empty() {
        None
    } else {
        Some(Arc::new(tls::load(config.cert.as_deref(), config.key.as_deref(), &config.names)?))
    };
    let mut listeners = Vec::new();
    for (addrs, scheme) in [(&config.http, "http"), (&config.https, "https")] {
        for &addr in addrs {
            let std_listener = listener::listen(addr, config.tfo, config.tfo_key.as_ref())?;
            let listener = TcpListener::from_std(std_listener)?;
            let local = listener.local_addr()?;
            let origin =
                EchoOrigin { scheme: scheme.to_string(), listen: local.to_string(), tfo: config.tfo };
            listeners.push((listener, origin, scheme == "https"));
        }
    }
    Ok(Bound { listeners, tls, config: Arc::new(config), counters: Arc::default() })
}

/// Serves until `shutdown` completes, then stops accepting and gives open connections
/// `grace` to finish.
pub async fn serve(bound: Bound, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
    let Bound { listeners, tls, config, counters } = bound;
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut accepting = Vec::new();
    for (listener, origin, is_tls) in listeners {
        let tls = if is_tls { tls.clone() } else { None };
        let (config, counters, permits, mut stop) =
            (config.clone(), counters.clone(), permits.clone(), stop_rx.clone());
        let origin = Arc::new(origin);
        accepting.push(tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stop.changed() => break,
                };
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    // Out of descriptors or buffers: wait a moment rather than spin.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                counters.connections.fetch_add(1, Ordering::Relaxed);
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    counters.refused_over_capacity.fetch_add(1, Ordering::Relaxed);
                    log_line(&origin, peer, "refused", &Log::default());
                    continue;
                };
                let (tls, config, counters, origin) =
                    (tls.clone(), config.clone(), counters.clone(), origin.clone());
                tokio::spawn(async move {
                    connection(stream, peer, &origin, tls.as_deref(), &config, &counters).await;
                    drop(permit);
                });
            }
        }));
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    shutdown.await;
    let _ = stop_tx.send(true);
    for task in accepting {
        let _ = task.await;
    }
    // Open connections finish their request, within the grace time.
    let all = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(config.grace, permits.acquire_many(all)).await;
    Ok(())
}

/// What one connection's log line says.
#[derive(Debug, Default)]
struct Log {
    syn: String,
    data: u32,
    accepted: Option<bool>,
    requests: u32,
    status: u16,
}

fn log_line(origin: &EchoOrigin, peer: SocketAddr, end: &str, log: &Log) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let accepted = log.accepted.map_or("-".to_string(), |a| a.to_string());
    let syn = if log.syn.is_empty() { "-" } else { log.syn.as_str() };
    // One write per line: lines of concurrent connections do not interleave.
    let line = format!(
        "{}.{:03} {}://{} peer={peer} syn={syn} syn_data={} accepted={accepted} requests={} status={} end={end}\n",
        now.as_secs(),
        now.subsec_millis(),
        origin.scheme,
        origin.listen,
        log.data,
        log.requests,
        log.status,
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    origin: &Arc<EchoOrigin>,
    tls: Option<&Tls>,
    config: &ServeConfig,
    counters: &Counters,
) {
    let syn = take_saved_syn(&stream).map_err(|e| format!("no saved SYN: {e}"));
    if syn.is_ok() {
        counters.saved_syns.fetch_add(1, Ordering::Relaxed);
    }
    let mut facts = ConnectionFacts {
        origin: origin.clone(),
        peer,
        syn,
        syn_data_accepted: syn_data_accepted(&stream),
        tls: None,
    };
    let mut log = Log::default();
    let end = match tls {
        None => exchange(stream, &facts, config, counters, &mut log).await,
        // Boxed: a TLS session is large, and the plain connections' tasks (most of them, and
        // every idle one) should not carry room for it.
        Some(tls) => {
            Box::pin(async {
                match tokio::time::timeout(config.request_timeout, tls.acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let sni = stream.get_ref().1.server_name().map(str::to_string);
                        facts.tls = Some(EchoTls { cert_sha256: tls.cert_sha256.clone(), sni });
                        exchange(stream, &facts, config, counters, &mut log).await
                    }
                    Ok(Err(_)) => "tls_error",
                    Err(_) => "tls_timeout",
                }
            })
            .await
        }
    };
    let arrived = facts.arrived_syn();
    log.syn = arrived.as_ref().map_or_else(|_| "unsaved".to_string(), |s| s.tfo.as_str().to_string());
    log.data = arrived.as_ref().map_or(0, |s| s.payload_len);
    log.accepted = facts.syn_data_accepted;
    log_line(origin, peer, end, &log);
}

/// Requests and echoes until the client closes, asks to, or a limit ends it; how it ended.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    facts: &ConnectionFacts,
    config: &ServeConfig,
    counters: &Counters,
    log: &mut Log,
) -> &'static str {
    let mut pending = Vec::new();
    loop {
        if log.requests >= config.max_requests {
            return "max_requests";
        }
        // Idle until the next request begins, then the whole head within the request timeout.
        if pending.is_empty() {
            match tokio::time::timeout(config.idle_timeout, first_bytes(&mut stream, &mut pending)).await {
                Err(_) => return "idle_timeout",
                Ok(Err(_)) => return "reset",
                Ok(Ok(0)) => return "closed",
                Ok(Ok(_)) => {}
            }
        }
        let reading = read_head(&mut stream, std::mem::take(&mut pending), config.max_request_bytes);
        let head = match tokio::time::timeout(config.request_timeout, reading).await {
            Err(_) => {
                let _ =
                    respond(&mut stream, 408, "text/plain", b"request head too slow\n", false, false).await;
                return "request_timeout";
            }
            Ok(Err(HeadError::Closed { .. })) => return "closed",
            Ok(Err(HeadError::Io(_))) => return "reset",
            Ok(Err(HeadError::TooLarge)) => {
                counters.bad_requests.fetch_add(1, Ordering::Relaxed);
                log.status = 431;
                let _ =
                    respond(&mut stream, 431, "text/plain", b"request head too large\n", false, false).await;
                return "too_large";
            }
            Ok(Err(HeadError::Malformed)) => {
                counters.bad_requests.fetch_add(1, Ordering::Relaxed);
                log.status = 400;
                let _ = respond(&mut stream, 400, "text/plain", b"not an HTTP request\n", false, false).await;
                return "malformed";
            }
            Ok(Ok(head)) => head,
        };
        log.requests += 1;
        if head.has_body() {
            counters.bad_requests.fetch_add(1, Ordering::Relaxed);
            log.status = 413;
            let _ = respond(&mut stream, 413, "text/plain", b"an echo takes no request body\n", false, false)
                .await;
            return "body_refused";
        }
        let keep = head.keep_alive() && log.requests < config.max_requests;
        let document = serde_json::to_vec_pretty(&echo(facts, &head)).unwrap_or_default();
        counters.echoes.fetch_add(1, Ordering::Relaxed);
        log.status = 200;
        if respond(&mut stream, 200, ECHO_CONTENT_TYPE, &document, keep, head.method == "HEAD").await.is_err()
        {
            return "reset";
        }
        if !keep {
            return "done";
        }
        pending = head.rest;
    }
}

/// Waits for the first bytes of a request, then reads them into `buf`: the buffer is made
/// once bytes are there, so an idle connection holds none.
async fn first_bytes<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    use tokio::io::AsyncReadExt;
    let mut first = [0u8; 1];
    if stream.read(&mut first).await? == 0 {
        return Ok(0);
    }
    buf.reserve(1024);
    buf.push(first[0]);
    Ok(1)
}

async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        408 => "Request Timeout",
        413 => "Content Too Large",
        _ => "Request Header Fields Too Large",
    };
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: {connection}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        response.extend_from_slice(body);
    }
    stream.write_all(&response).await?;
    if !keep_alive {
        stream.shutdown().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection is a task of this size at least: 10,000 idle ones must stay within
    /// the load benchmark's 100 MB (a TLS session inline made it 6 KB; boxed, the plain
    /// connections do not carry it).
    #[tokio::test]
    async fn a_plain_connection_task_stays_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let origin = Arc::new(EchoOrigin { scheme: "http".into(), listen: "x".into(), tfo: false });
        let (config, counters) = (ServeConfig::default(), Counters::default());
        let task = connection(stream, peer, &origin, None, &config, &counters);
        assert!(std::mem::size_of_val(&task) <= 2048, "{} bytes", std::mem::size_of_val(&task));
    }
}
