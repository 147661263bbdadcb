//! The echo origin on loopback (without TFO: no privileges needed; the saved SYN works on any
//! listener): what an echo says, and hostile input (garbage, huge heads, bodies, slow and idle
//! clients, more connections than allowed, clients that vanish) answered within its bounds,
//! with the service going on after each.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tfoscope_serve::server::{bind, serve, Bound, ServeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    counters: std::sync::Arc<tfoscope_serve::server::Counters>,
}

fn start(config: ServeConfig) -> Running {
    let bound: Bound =
        bind(ServeConfig { http: vec!["127.0.0.1:0".parse().unwrap()], tfo: false, ..config }).unwrap();
    let addr = bound.local_addrs()[0];
    let counters = bound.counters.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(bound, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Running { addr, stop: Some(stop), task, counters }
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("stops within its grace")
            .unwrap();
    }
}

/// Sends `request` and reads to the end (the server closes).
async fn exchange(addr: SocketAddr, request: &[u8]) -> (String, u16) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let port = stream.local_addr().unwrap().port();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("answered");
    (String::from_utf8_lossy(&response).into_owned(), port)
}

fn body(response: &str) -> Value {
    let (_, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

async fn still_answers(addr: SocketAddr) {
    let (response, _) = exchange(addr, b"GET /alive HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_shows_the_syn_and_request_as_they_arrived() {
    let server = start(ServeConfig::default());
    let (response, port) = exchange(
        server.addr,
        b"GET /x?y HTTP/1.1\r\nHost: echo.test\r\nUser-Agent: t/1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.contains("\r\nContent-Type: application/vnd.tfoscope.echo+json\r\n"), "{response}");
    let echo = body(&response);
    assert_eq!(echo["echo_version"], 1);
    assert_eq!(echo["origin"]["tfo"], false);
    assert_eq!(echo["peer"], format!("127.0.0.1:{port}"));
    let syn = &echo["syn"];
    assert_eq!(syn["src_port"], port);
    assert_eq!(syn["dst_port"], server.addr.port());
    assert_eq!((syn["tfo"].as_str(), syn["payload_len"].as_u64()), (Some("none"), Some(0)));
    let options: Vec<u64> = syn["options"].as_array().unwrap().iter().map(|o| o.as_u64().unwrap()).collect();
    assert!(options.contains(&2) && options.contains(&8), "MSS and timestamps, as Linux sends: {options:?}");
    assert!(syn["headers_hex"].as_str().unwrap().starts_with("45"), "an IPv4 header");
    assert_eq!(echo["request"]["target"], "/x?y");
    assert_eq!(echo["request"]["headers"][1], serde_json::json!(["User-Agent", "t/1"]));
    // The analyzer reads what the origin wrote.
    let parsed =
        tfoscope_wire::echo::Echo::from_json(response.split_once("\r\n\r\n").unwrap().1.as_bytes()).unwrap();
    assert_eq!(parsed.syn.unwrap().src_port, port);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_each_get_an_echo_and_head_gets_no_body() {
    let server = start(ServeConfig::default());
    let (response, _) = exchange(
        server.addr,
        b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: t\r\n\r\nGET /3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{response}");
    assert!(response.contains("\"target\": \"/1\"") && response.contains("\"target\": \"/3\""), "{response}");
    assert!(!response.contains("\"target\": \"/2\""), "HEAD has no body: {response}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_huge_heads_and_bodies_are_refused_and_the_service_goes_on() {
    let server = start(ServeConfig { max_request_bytes: 4096, ..ServeConfig::default() });
    let (response, _) = exchange(server.addr, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage").await;
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    let huge = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &vec![b'a'; 100_000]].concat();
    let (response, _) = exchange(server.addr, &huge).await;
    assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
    let many: String = (0..500).map(|i| format!("H{i}: v\r\n")).collect();
    let (response, _) = exchange(server.addr, format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
    let (response, _) =
        exchange(server.addr, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789").await;
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
    // Clients that connect and reset at once.
    for _ in 0..200 {
        let stream = TcpStream::connect(server.addr).await.unwrap();
        socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).unwrap();
        drop(stream);
    }
    still_answers(server.addr).await;
    assert!(server.counters.bad_requests.load(std::sync::atomic::Ordering::Relaxed) >= 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_closed_on_time() {
    let server = start(ServeConfig {
        idle_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(800),
        ..ServeConfig::default()
    });
    // Idle: nothing sent; closed after the idle timeout.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n =
        tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await.expect("closed").unwrap_or(0);
    assert_eq!(n, 0);
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
    // Slow: a byte every 100 ms never finishes a head within the request timeout.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let mut answer = Vec::new();
    let head = b"GET / HTTP/1.1\r\nHost: a-very-long-name-sent-slowly.test\r\n\r\n";
    // Never the whole head: the last byte is held back, so only the server's request timeout
    // can end this (no bound on the client's time, which a loaded machine would stretch).
    let mut sent = 0;
    for b in &head[..head.len() - 1] {
        if slow.write_all(&[*b]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The server's answer (or its close) is waiting: stop sending.
        let mut peek = [0u8; 1];
        if matches!(tokio::time::timeout(Duration::from_millis(1), slow.peek(&mut peek)).await, Ok(Ok(_))) {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer} (after {sent} bytes)");
    // Closed by the request timeout while the client was still sending.
    assert!(sent < head.len() - 2, "{sent} of {} bytes sent", head.len());
    still_answers(server.addr).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_and_served_again_once_room_is_made() {
    let server = start(ServeConfig { max_connections: 20, ..ServeConfig::default() });
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Let the server take them all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut over = TcpStream::connect(server.addr).await.unwrap();
    let _ = over.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), over.read_to_end(&mut answer))
        .await
        .expect("closed at once");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(server.counters.refused_over_capacity.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    still_answers(server.addr).await;
    server.stop().await;
}

/// The helper server's own binary takes `tfoscope serve`'s options and refuses bad ones with
/// the option named.
#[test]
fn the_standalone_binary_takes_serves_options() {
    let exe = env!("CARGO_BIN_EXE_tfoscope-serve");
    let help = std::process::Command::new(exe).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for option in ["--http", "--https", "--tfo-key", "--max-connections", "--no-tfo"] {
        assert!(text.contains(option), "{option}: {text}");
    }
    let bad = std::process::Command::new(exe).args(["--http", "example.org:80"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("want ADDR:PORT"));
}
