//! Load on an echo origin (`tfoscope serve`), for the README's figures: IDLE connections
//! opened and held, GARBAGE requests a second (each a new connection sending bytes that are no
//! HTTP), and a well-formed request every 100 ms whose answer time is measured, for SECONDS.
//!
//!   tfoscope-serve-load ADDR:PORT [--idle 10000] [--garbage-rate 1000] [--seconds 60]
//!
//! Prints one line: idle held, garbage sent and answered, probes answered, the slowest probe.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Default)]
struct Counts {
    idle_held: AtomicU64,
    idle_failed: AtomicU64,
    garbage_sent: AtomicU64,
    garbage_answered: AtomicU64,
    probes: AtomicU64,
    probes_answered: AtomicU64,
    slowest_probe_us: AtomicU64,
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Raises the open-files limit to the hard limit: the idle connections need descriptors.
fn raise_nofile() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write one rlimit we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

async fn exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(response)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(addr) = args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()) else {
        eprintln!("usage: tfoscope-serve-load ADDR:PORT [--idle N] [--garbage-rate N] [--seconds N]");
        std::process::exit(2);
    };
    let (idle, rate, seconds) =
        (arg(&args, "--idle", 10_000), arg(&args, "--garbage-rate", 1_000), arg(&args, "--seconds", 60));
    raise_nofile();
    let counts = Arc::new(Counts::default());

    // The idle connections, opened first and held to the end.
    let mut held = Vec::with_capacity(idle as usize);
    for _ in 0..idle {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                held.push(s);
                counts.idle_held.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                counts.idle_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let end = Instant::now() + Duration::from_secs(seconds);

    let garbage = {
        let counts = counts.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            while Instant::now() < end {
                tick.tick().await;
                let counts = counts.clone();
                counts.garbage_sent.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let work = exchange(addr, b"\x16\x03\x01\x00\xffnot a request at all\r\n\r\n");
                    if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(5), work).await {
                        if r.starts_with(b"HTTP/1.1 400") {
                            counts.garbage_answered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        })
    };

    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while Instant::now() < end {
        tick.tick().await;
        counts.probes.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let work = exchange(addr, b"GET /probe HTTP/1.1\r\nHost: load.test\r\nConnection: close\r\n\r\n");
        let answered = matches!(tokio::time::timeout(Duration::from_secs(5), work).await, Ok(Ok(r)) if r.starts_with(b"HTTP/1.1 200"));
        let us = started.elapsed().as_micros() as u64;
        counts.slowest_probe_us.fetch_max(us, Ordering::Relaxed);
        if answered {
            counts.probes_answered.fetch_add(1, Ordering::Relaxed);
        }
    }
    let _ = garbage.await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The held connections are still open (the server's idle timeout allowing).
    let mut still_open = 0;
    for mut s in held {
        let mut b = [0u8; 1];
        if let Ok(Err(e)) | Err(e) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut b))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::WouldBlock))
        {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                still_open += 1;
            }
        }
    }
    let c = &counts;
    println!(
        "idle held {} (failed {}, still open at the end {still_open}); garbage sent {} answered 400 {}; probes {} answered {}; slowest probe {:.1} ms",
        c.idle_held.load(Ordering::Relaxed),
        c.idle_failed.load(Ordering::Relaxed),
        c.garbage_sent.load(Ordering::Relaxed),
        c.garbage_answered.load(Ordering::Relaxed),
        c.probes.load(Ordering::Relaxed),
        c.probes_answered.load(Ordering::Relaxed),
        c.slowest_probe_us.load(Ordering::Relaxed) as f64 / 1000.0
    );
}
