//! One HTTP fetch over our own socket: socket2 (with TCP_FASTOPEN_CONNECT where TFO is wanted,
//! IPPROTO_MPTCP where MPTCP is), a tokio stream, hyper's http1 client. Every fetch takes this
//! one path, so the features asked for are the only difference between them. (reqwest cannot be this path: it takes no socket of ours.)

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use socket2::{Domain, Protocol, Socket, Type};
use tfoscope_wire::attempt::{AppResult, FetchError};
use tfoscope_wire::echo::{Echo, ECHO_CONTENT_TYPE, ECHO_MAX_BYTES};
use tfoscope_wire::feature::{Feature, Features};

use crate::failure::error_kind;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Linux: connect() returns at once and the first write carries the SYN (with data if a
/// cookie is cached). Not in libc for every target, so named here.
const TCP_FASTOPEN_CONNECT: libc::c_int = 30;
const TCPI_OPT_SYN_DATA: u8 = 32;
/// An MPTCP socket's protocol, and its MPTCP_INFO (Linux 5.16+).
pub const IPPROTO_MPTCP: libc::c_int = 262;
const SOL_MPTCP: libc::c_int = 284;
const MPTCP_INFO: libc::c_int = 1;

#[derive(Debug, Clone)]
pub struct FetchSpec {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
    /// TFO and MPTCP are the socket's to ask for; ECN the route's (the caller's).
    pub features: Features,
    pub local_port: u16,
    pub timeout: Duration,
    pub user_agent: String,
    pub tls: bool,
}

#[derive(Debug, Clone)]
pub struct FetchOutcome {
    pub start_ns: i64,
    pub end_ns: i64,
    pub result: AppResult,
    pub syn_data_acked: Option<bool>,
    pub fastopen_client_fail: Option<u8>,
    pub tcp_info: Option<tfoscope_wire::attempt::KernelView>,
    /// The headers sent, name and value, in order.
    pub request_headers: Vec<(String, String)>,
    /// An echo origin's answer (recognised by its content type), and why one was not kept.
    pub echo: Option<Echo>,
    pub echo_error: Option<String>,
}

/// What one HTTP exchange gave.
struct Response {
    status: u16,
    size: u64,
    echo: Option<Result<Echo, String>>,
}

/// The request headers, in the order hyper writes them (names as it writes them, in lower case).
fn request_headers(spec: &FetchSpec) -> Vec<(String, String)> {
    vec![
        ("host".to_string(), spec.host.clone()),
        ("user-agent".to_string(), spec.user_agent.clone()),
        ("connection".to_string(), "close".to_string()),
    ]
}

pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// Opens the socket, bound to `local_port` (the capture filters on the port range).
fn open_socket(spec: &FetchSpec) -> io::Result<Socket> {
    let protocol =
        if spec.features.contains(Feature::Mptcp) { Protocol::from(IPPROTO_MPTCP) } else { Protocol::TCP };
    let socket = Socket::new(Domain::for_address(spec.addr), Type::STREAM, Some(protocol))?;
    socket.set_reuse_address(true)?;
    let unspecified: IpAddr =
        if spec.addr.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    socket.bind(&SocketAddr::new(unspecified, spec.local_port).into())?;
    if spec.features.contains(Feature::Tfo) {
        crate::sockopt::set_int(&socket, libc::IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)?;
    }
    socket.set_nonblocking(true)?;
    match socket.connect(&spec.addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(socket)
}

/// TCP_INFO after the fetch: did the kernel see its SYN data acked, why TFO failed, what it
/// resent.
#[derive(Debug, Clone, Copy)]
struct TcpInfo {
    /// tcpi_state: 2 is SYN_SENT, the handshake never completed.
    state: u8,
    syn_data_acked: bool,
    fastopen_client_fail: u8,
    view: tfoscope_wire::attempt::KernelView,
}

const TCP_SYN_SENT: u8 = 2;

fn tcp_info(socket: &Socket, mptcp: bool) -> Option<TcpInfo> {
    let mut buf = [0u8; 256];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: the buffer outlives the call and `len` holds its size.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    // Up to tcpi_total_retrans (bytes 100-103), there since Linux 2.6.
    if rc != 0 || len < 104 {
        return None;
    }
    // struct tcp_info: byte 0 is tcpi_state, byte 5 tcpi_options; byte 7 holds
    // delivery_rate_app_limited:1 and fastopen_client_fail:2 (bits 1-2); then u32s: snd_mss at
    // 16, rcv_mss at 20, pmtu at 60, rtt at 68, total_retrans at 100.
    let word = |at: usize| u32::from_ne_bytes(buf[at..at + 4].try_into().expect("four bytes"));
    let fastopen_client_fail = (buf[7] >> 1) & 0b11;
    Some(TcpInfo {
        state: buf[0],
        syn_data_acked: buf[5] & TCPI_OPT_SYN_DATA != 0,
        fastopen_client_fail,
        view: tfoscope_wire::attempt::KernelView {
            state: buf[0],
            options: buf[5],
            fastopen_client_fail,
            total_retrans: word(100),
            rtt_us: word(68),
            snd_mss: word(16),
            rcv_mss: word(20),
            pmtu: word(60),
            mptcp_flags: mptcp.then(|| mptcp_flags(socket)),
        },
    })
}

/// MPTCP_INFO's flags (fell back to TCP, peer's key received) of an MPTCP socket. A socket
/// that fell back passes SOL_MPTCP to its TCP subflow, which refuses it: that is the fallback.
fn mptcp_flags(socket: &Socket) -> u32 {
    let mut buf = [0u8; 96];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: the buffer outlives the call and `len` holds its size.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::getsockopt(socket.as_raw_fd(), SOL_MPTCP, MPTCP_INFO, buf.as_mut_ptr().cast(), &mut len)
    };
    // struct mptcp_info: eight u8 counters, then u32 mptcpi_flags.
    if rc == 0 && len >= 12 {
        u32::from_ne_bytes(buf[8..12].try_into().expect("four bytes"))
    } else {
        tfoscope_wire::attempt::MPTCP_INFO_FLAG_FALLBACK
    }
}

/// A TCP_FASTOPEN_CONNECT socket answers the first non-blocking write with EINPROGRESS when
/// it had no cookie (the SYN went out without data). The write is simply not done yet: retry,
/// and the retry waits for the handshake like any write.
///
/// An MPTCP socket that fell back to TCP tells TCP_INFO nothing once the connection is closed
/// (its subflow is gone: state, options, resends all read 0), so for one the kernel's view is
/// taken at the first answer (`answered`), with the handshake done and the SYN's fate known.
pub(crate) struct TfoStream {
    stream: TcpStream,
    answered: Option<Arc<Mutex<Option<TcpInfo>>>>,
}

impl TfoStream {
    fn new(stream: TcpStream, answered: Option<Arc<Mutex<Option<TcpInfo>>>>) -> Self {
        TfoStream { stream, answered }
    }
}

impl AsyncRead for TfoStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(slot)) = (&polled, &self.answered) {
            let mut slot = slot.lock().expect("first answer slot");
            if slot.is_none() && buf.filled().len() > before {
                *slot = tcp_info(&socket2::SockRef::from(&self.stream), true);
            }
        }
        polled
    }
}

impl AsyncWrite for TfoStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        for _ in 0..3 {
            match Pin::new(&mut self.stream).poll_write(cx, buf) {
                Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::EINPROGRESS) => continue,
                other => return other,
            }
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

fn hyper_error_kind(e: &hyper::Error) -> &'static str {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return error_kind(io);
        }
        source = err.source();
    }
    if e.is_parse() || e.is_parse_status() || e.is_incomplete_message() {
        "bad_response"
    } else {
        "reset"
    }
}

async fn http_get<T>(stream: T, spec: &FetchSpec) -> Result<Response, &'static str>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| hyper_error_kind(&e))?;
    let driver = tokio::spawn(connection);
    let mut request = http::Request::get(spec.path.as_str());
    for (name, value) in request_headers(spec) {
        request = request.header(name, value);
    }
    let request = request.body(Empty::<Bytes>::new()).map_err(|_| "bad_request")?;
    let response = sender.send_request(request).await.map_err(|e| hyper_error_kind(&e))?;
    let status = response.status().as_u16();
    let is_echo =
        response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(ECHO_CONTENT_TYPE))
        });
    if is_echo {
        // An echo is kept whole or not at all: read no more than the limit and a byte.
        let limited = http_body_util::Limited::new(response.into_body(), ECHO_MAX_BYTES + 1);
        let (size, echo) = match limited.collect().await {
            Ok(body) => {
                let body = body.to_bytes();
                (body.len() as u64, Echo::from_json(&body).map_err(|e| e.to_string()))
            }
            Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                let limit = ECHO_MAX_BYTES as u64 + 1;
                (limit, Err(format!("an echo of more than {ECHO_MAX_BYTES} bytes: not read further")))
            }
            Err(e) => return Err(e.downcast_ref::<hyper::Error>().map_or("reset", hyper_error_kind)),
        };
        driver.abort();
        return Ok(Response { status, size, echo: Some(echo) });
    }
    let body = response.into_body().collect().await.map_err(|e| hyper_error_kind(&e))?.to_bytes();
    driver.abort();
    Ok(Response { status, size: body.len() as u64, echo: None })
}

/// Performs one fetch. Never fails: every failure is an error kind in the result.
pub async fn fetch(spec: &FetchSpec) -> FetchOutcome {
    let start_ns = now_ns();
    let mut outcome = FetchOutcome {
        start_ns,
        end_ns: start_ns,
        result: AppResult::default(),
        syn_data_acked: None,
        fastopen_client_fail: None,
        request_headers: request_headers(spec),
        echo: None,
        echo_error: None,
        tcp_info: None,
    };
    let socket = match open_socket(spec) {
        Ok(s) => s,
        Err(e) => {
            outcome.result.error = Some(FetchError::from_word(error_kind(&e)));
            outcome.end_ns = now_ns();
            return outcome;
        }
    };
    // A second handle on the same socket, for TCP_INFO once hyper is done with the stream.
    let info_handle = socket.try_clone().ok();
    let std_stream: std::net::TcpStream = socket.into();
    let mptcp = spec.features.contains(Feature::Mptcp);
    let answered = mptcp.then(|| Arc::new(Mutex::new(None)));
    let result = match TcpStream::from_std(std_stream) {
        Ok(stream) => {
            let stream = TfoStream::new(stream, answered.clone());
            let seen = Arc::new(Mutex::new(None));
            let exchange = async {
                if spec.tls {
                    // The ClientHello is the first write: with TFO it rides in the SYN.
                    let tls = crate::tls::connect(stream, &spec.host, seen.clone()).await?;
                    http_get(tls, spec).await
                } else {
                    http_get(stream, spec).await
                }
            };
            let result = tokio::time::timeout(spec.timeout, exchange).await.unwrap_or(Err("timeout"));
            if let Some((fingerprint, error)) = seen.lock().expect("cert slot").take() {
                outcome.result.cert_sha256 = Some(fingerprint);
                outcome.result.cert_error = error;
            }
            result
        }
        Err(e) => Err(error_kind(&e)),
    };
    let last = info_handle.as_ref().and_then(|s| tcp_info(s, mptcp));
    // An MPTCP socket's view at its first answer, where there was one (see TfoStream).
    let info = answered.and_then(|slot| slot.lock().expect("first answer slot").take()).or(last);
    match result {
        Ok(response) => {
            outcome.result.status = Some(response.status);
            outcome.result.size = Some(response.size);
            match response.echo {
                Some(Ok(echo)) => outcome.echo = Some(echo),
                Some(Err(e)) => outcome.echo_error = Some(e),
                None => {}
            }
        }
        // A handshake that completed and then nothing: the server (or a box) stalled.
        Err("timeout") if info.is_some_and(|i| i.state != TCP_SYN_SENT) => {
            outcome.result.error = Some(FetchError::Stalled)
        }
        Err(kind) => outcome.result.error = Some(FetchError::from_word(kind)),
    }
    if let Some(info) = info {
        outcome.syn_data_acked = Some(info.syn_data_acked);
        outcome.fastopen_client_fail = Some(info.fastopen_client_fail);
        outcome.tcp_info = Some(info.view);
    }
    outcome.end_ns = now_ns();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot origin on loopback answering with `content_type` and `body`.
    async fn origin(content_type: &'static str, body: Vec<u8>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 1024];
            let _ = stream.read(&mut head).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        });
        addr
    }

    fn spec(addr: SocketAddr, local_port: u16) -> FetchSpec {
        FetchSpec {
            addr,
            host: "echo.test".into(),
            path: "/".into(),
            features: Features::NONE,
            local_port,
            timeout: Duration::from_secs(5),
            user_agent: "t".into(),
            tls: false,
        }
    }

    #[tokio::test]
    async fn an_echo_is_kept_whole_and_an_oversized_one_not_read_past_its_limit() {
        let echo = serde_json::json!({
            "echo_version": 1, "server": "t", "server_time_ns": 1,
            "origin": {"scheme": "http", "listen": "x", "tfo": true}, "peer": "p", "syn": null,
            "syn_data_accepted": null,
            "request": {"method": "GET", "target": "/", "version": "HTTP/1.1", "headers": []}, "tls": null
        });
        let addr = origin(ECHO_CONTENT_TYPE, serde_json::to_vec(&echo).unwrap()).await;
        let outcome = fetch(&spec(addr, 0)).await;
        assert_eq!(outcome.result.status, Some(200));
        assert!(outcome.echo.is_some(), "{:?}", outcome.echo_error);
        assert_eq!(outcome.request_headers[0], ("host".to_string(), "echo.test".to_string()));

        let addr = origin(ECHO_CONTENT_TYPE, vec![b' '; 1 << 20]).await;
        let outcome = fetch(&spec(addr, 0)).await;
        assert!(outcome.echo.is_none());
        assert!(
            outcome.echo_error.as_deref().is_some_and(|e| e.contains("more than")),
            "{:?}",
            outcome.echo_error
        );
        assert_eq!(outcome.result.size, Some(ECHO_MAX_BYTES as u64 + 1), "read no further than the limit");

        // Any other page is no echo, whatever it holds.
        let addr = origin("text/html", serde_json::to_vec(&echo).unwrap()).await;
        let outcome = fetch(&spec(addr, 0)).await;
        assert!(outcome.echo.is_none() && outcome.echo_error.is_none());
    }
}
