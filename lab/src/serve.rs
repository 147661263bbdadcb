//! The lab's servers, run inside a namespace by `tfoscope lab-serve LISTENER...`: HTTP and
//! HTTPS origins and a transparent proxy, each with or without a TFO listener. The kernel does
//! the TFO work; a listener only sets TCP_FASTOPEN.
//!
//! A listener is written `KIND,ADDR:PORT[,tfo][,body=TEXT]`, KIND one of `http`, `https`,
//! `proxy` (the proxy relays to the destination the REDIRECT rule rewrote, SO_ORIGINAL_DST),
//! and the faulty origins for the collector's fault tests: `garbage` (answers bytes that are
//! not HTTP), `stall` (completes the handshake, then says nothing), `reset` (reads the request,
//! then resets the connection).

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use tfoscope_collect::sockopt::set_int;

const TCP_FASTOPEN: libc::c_int = 23;
/// linux/netfilter_ipv4.h SO_ORIGINAL_DST, and IP6T_SO_ORIGINAL_DST (the same number).
const SO_ORIGINAL_DST: libc::c_int = 80;
pub const DEFAULT_BODY: &str = "tfoscope lab origin";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Https,
    Proxy,
    Garbage,
    Stall,
    Reset,
}

const KINDS: [(&str, Kind); 6] = [
    ("http", Kind::Http),
    ("https", Kind::Https),
    ("proxy", Kind::Proxy),
    ("garbage", Kind::Garbage),
    ("stall", Kind::Stall),
    ("reset", Kind::Reset),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub tfo: bool,
    /// An MPTCP listener (which takes plain TCP too).
    pub mptcp: bool,
    pub body: String,
}

impl ListenerSpec {
    pub fn parse(text: &str) -> Result<ListenerSpec, String> {
        let mut parts = text.split(',');
        let word = parts.next().unwrap_or_default();
        let Some(&(_, kind)) = KINDS.iter().find(|(name, _)| *name == word) else {
            let names: Vec<&str> = KINDS.iter().map(|(name, _)| *name).collect();
            return Err(format!("{text}: unknown listener kind {word:?} ({})", names.join(", ")));
        };
        let addr = parts
            .next()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{text}: the second field must be ADDR:PORT"))?;
        let mut spec = ListenerSpec { kind, addr, tfo: false, mptcp: false, body: DEFAULT_BODY.to_string() };
        for part in parts {
            match part.split_once('=') {
                None if part == "tfo" => spec.tfo = true,
                None if part == "mptcp" => spec.mptcp = true,
                Some(("body", body)) => spec.body = body.to_string(),
                _ => return Err(format!("{text}: unknown option {part:?} (tfo, mptcp, body=TEXT)")),
            }
        }
        Ok(spec)
    }

    pub fn to_arg(&self) -> String {
        let kind = KINDS.iter().find(|(_, k)| *k == self.kind).map_or("http", |(name, _)| name);
        let mut arg = format!("{kind},{}", self.addr);
        if self.tfo {
            arg.push_str(",tfo");
        }
        if self.mptcp {
            arg.push_str(",mptcp");
        }
        if self.body != DEFAULT_BODY {
            arg.push_str(&format!(",body={}", self.body));
        }
        arg
    }
}

/// A listening socket; with `tfo`, the kernel grants cookies and accepts SYN data.
pub fn listen(addr: SocketAddr, tfo: bool, mptcp: bool) -> io::Result<TcpListener> {
    let protocol = mptcp.then(|| socket2::Protocol::from(tfoscope_collect::fetch::IPPROTO_MPTCP));
    // A kernel without MPTCP refuses the protocol: the origin listens over TCP (and the feature
    // scenarios that need its MP_CAPABLE say what they met).
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, protocol)
        .or_else(|_| Socket::new(Domain::for_address(addr), Type::STREAM, None))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if tfo {
        set_int(&socket, libc::IPPROTO_TCP, TCP_FASTOPEN, 64)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(256)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

/// A self-signed certificate for lab.test: the collector records the verification failure,
/// which is what a real self-signed origin gives too.
fn tls_acceptor() -> Result<tokio_rustls::TlsAcceptor, String> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["lab.test".to_string()]).map_err(|e| e.to_string())?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .map_err(|e| e.to_string())?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

enum Head {
    /// A request head, to the blank line.
    Request,
    /// Bytes that cannot begin an HTTP request (a TLS ClientHello, say).
    NotHttp,
    /// The client went away, or sent more than 16 KiB of head.
    Gone,
}

/// Whether `bytes` can begin a request line: a method token of capital letters, then a space.
fn may_be_request_line(bytes: &[u8]) -> bool {
    let method = bytes.iter().take_while(|b| b.is_ascii_uppercase()).count();
    match bytes.get(method) {
        // Capitals so far: the method may go on.
        None => method < 16,
        Some(b' ') => method > 0,
        Some(_) => false,
    }
}

/// Reads a request head, to the blank line (at most 16 KiB).
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Head> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() > 16 << 10 {
            return Ok(Head::Gone);
        }
        head.extend_from_slice(&buf[..n]);
        // As a real server does, answer at once what is no request: a ClientHello would
        // otherwise wait for a blank line that never comes.
        if !may_be_request_line(&head) {
            return Ok(Head::NotHttp);
        }
    }
    Ok(Head::Request)
}

/// Reads a request head and answers 200 with `body` (400 to what is not HTTP).
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, body: &str) -> io::Result<()> {
    let (status, body) = match read_head(&mut stream).await? {
        Head::Request => ("200 OK", format!("{body}\n")),
        Head::NotHttp => ("400 Bad Request", "not an HTTP request\n".to_string()),
        Head::Gone => return Ok(()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The destination a REDIRECT rule rewrote away from.
fn original_destination(stream: &TcpStream) -> io::Result<SocketAddr> {
    let fd = stream.as_raw_fd();
    let level = if stream.local_addr()?.is_ipv6() { libc::SOL_IPV6 } else { libc::SOL_IP };
    // SAFETY: try_init hands getsockopt storage and its length, and reads back only what the
    // kernel wrote.
    #[allow(unsafe_code)]
    let (_, addr) = unsafe {
        socket2::SockAddr::try_init(|storage, len| {
            if libc::getsockopt(fd, level, SO_ORIGINAL_DST, storage.cast(), len) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        })
    }?;
    addr.as_socket().ok_or_else(|| io::Error::other("SO_ORIGINAL_DST gave no IP address"))
}

async fn relay(mut client: TcpStream) -> io::Result<()> {
    let to = original_destination(&client)?;
    let mut upstream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(to))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// Serves every listener until the process is killed; prints `ready` once all listen.
pub async fn serve(specs: Vec<ListenerSpec>) -> Result<(), String> {
    let acceptor = if specs.iter().any(|s| s.kind == Kind::Https) { Some(tls_acceptor()?) } else { None };
    let mut tasks = Vec::new();
    for spec in specs {
        let listener = listen(spec.addr, spec.tfo, spec.mptcp)
            .map_err(|e| format!("listening on {}: {e}", spec.addr))?;
        let acceptor = acceptor.clone();
        tasks.push(tokio::spawn(async move {
            let body: Arc<str> = Arc::from(spec.body.as_str());
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (body, acceptor) = (body.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let work = async {
                        match spec.kind {
                            Kind::Http => answer(stream, &body).await,
                            Kind::Https => {
                                let tls = acceptor.expect("made for https").accept(stream).await?;
                                answer(tls, &body).await
                            }
                            Kind::Proxy => relay(stream).await,
                            Kind::Garbage => {
                                let mut stream = stream;
                                if !matches!(read_head(&mut stream).await?, Head::Gone) {
                                    stream.write_all(b"\x00\x01\x02 this is not HTTP \xff\r\n\r\n").await?;
                                }
                                stream.shutdown().await
                            }
                            Kind::Stall => {
                                // Hold the connection and say nothing until the client leaves.
                                let mut stream = stream;
                                let mut sink = [0u8; 2048];
                                while stream.read(&mut sink).await? > 0 {}
                                Ok(())
                            }
                            Kind::Reset => {
                                let mut stream = stream;
                                read_head(&mut stream).await?;
                                // Linger 0: closing sends RST instead of FIN.
                                socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
                                Ok(())
                            }
                        }
                    };
                    // A client that vanishes is the lab's business as usual.
                    let _ = tokio::time::timeout(Duration::from_secs(30), work).await;
                });
            }
        }));
    }
    println!("ready");
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_hello_is_not_a_request_line_and_a_get_is() {
        assert!(may_be_request_line(b"GET / HTTP/1.1\r\n"));
        assert!(may_be_request_line(b"GE"));
        assert!(may_be_request_line(b""));
        assert!(!may_be_request_line(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(!may_be_request_line(b" GET"));
        assert!(!may_be_request_line(b"get / HTTP/1.1"));
    }

    #[test]
    fn listener_specs_round_trip_and_reject_nonsense() {
        for text in [
            "http,198.51.100.1:80,tfo",
            "https,[2001:db8:2::1]:443",
            "proxy,0.0.0.0:3131,tfo,body=a box",
            "garbage,198.51.100.1:9001",
            "stall,198.51.100.1:9002,tfo",
            "reset,198.51.100.1:9003",
        ] {
            assert_eq!(ListenerSpec::parse(text).unwrap().to_arg(), text);
        }
        assert!(ListenerSpec::parse("ftp,1.2.3.4:1").is_err());
        assert!(ListenerSpec::parse("http,nowhere").is_err());
        assert!(ListenerSpec::parse("http,198.51.100.1:80,fast").is_err());
    }

    #[tokio::test]
    async fn http_origin_answers_on_loopback_with_tfo_listener() {
        let listener = listen("127.0.0.1:0".parse().unwrap(), true, false).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            answer(stream, "hello").await.unwrap();
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut response = String::new();
        client.read_to_string(&mut response).await.unwrap();
        server.await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nhello\n"), "{response}");
    }
}
