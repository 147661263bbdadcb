//! The echo origin's command line (`tfoscope serve`, and the `tfoscope-serve` binary a helper
//! server installs alone): its options and its life as a service: the open-files limit
//! raised, SIGTERM and Ctrl-C stopping it cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::listener::{parse_tfo_key, raise_open_files_limit};
use crate::server::{bind, serve, ServeConfig};
use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serve HTTP on ADDR:PORT (repeatable; IPv6 as [ADDR]:PORT).
    #[arg(long, value_name = "ADDR:PORT", value_parser = listen_addr)]
    http: Vec<SocketAddr>,
    /// Serve HTTPS on ADDR:PORT (repeatable).
    #[arg(long, value_name = "ADDR:PORT", value_parser = listen_addr)]
    https: Vec<SocketAddr>,
    /// The HTTPS certificate chain (PEM); without it a self-signed certificate is made.
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
    /// A name of the self-signed certificate (repeatable; default localhost).
    #[arg(long = "name", value_name = "NAME")]
    names: Vec<String>,
    /// Listen without TFO (the echo still shows each SYN as it arrived).
    #[arg(long)]
    no_tfo: bool,
    /// The TFO key, as net.ipv4.tcp_fastopen_key shows it (xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx):
    /// helpers behind one address given one key accept each other's cookies.
    #[arg(long, value_name = "KEY")]
    tfo_key: Option<String>,
    /// Connections served at once; more are closed on arrival.
    #[arg(long, default_value_t = 16_384)]
    max_connections: usize,
    /// Largest request head, bytes.
    #[arg(long, default_value_t = 16 << 10)]
    max_request_bytes: usize,
    /// Seconds a connection may wait before its next request begins.
    #[arg(long, default_value_t = 30)]
    idle_timeout: u64,
    /// Seconds a request head (or a TLS handshake) may take once begun.
    #[arg(long, default_value_t = 10)]
    request_timeout: u64,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let tfo_key = args.tfo_key.as_deref().map(parse_tfo_key).transpose()?;
    let config = ServeConfig {
        http: args.http,
        https: args.https,
        cert: args.cert,
        key: args.key,
        names: if args.names.is_empty() { vec!["localhost".to_string()] } else { args.names },
        tfo: !args.no_tfo,
        tfo_key,
        max_connections: args.max_connections,
        max_request_bytes: args.max_request_bytes,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        request_timeout: Duration::from_secs(args.request_timeout),
        ..ServeConfig::default()
    };
    // Each connection is a descriptor: the limit must hold them all, and some to spare.
    let wanted = config.max_connections as u64 + 64;
    match raise_open_files_limit() {
        Ok((soft, _)) if soft < wanted => eprintln!(
            "tfoscope serve: the open-files limit is {soft}, below --max-connections {} (+64): \
             raise it (systemd: LimitNOFILE=; shell: ulimit -n) or lower --max-connections",
            config.max_connections
        ),
        Ok(_) => {}
        Err(e) => eprintln!("tfoscope serve: could not read the open-files limit: {e}"),
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let bound = bind(config)?;
        for addr in bound.local_addrs() {
            eprintln!("tfoscope serve: listening on {addr}");
        }
        if let Some(sha) = bound.cert_sha256() {
            eprintln!("tfoscope serve: certificate SHA-256 {sha}");
        }
        serve(bound, stop_signal()).await?;
        eprintln!("tfoscope serve: stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (systemd's stop) or SIGINT (Ctrl-C).
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// A listening address as servers are told one: `ADDR:PORT`, `[V6]:PORT`, `:PORT` (every IPv4
/// address, as Go and nginx take it; add `[::]:PORT` for IPv6), `localhost:PORT`, or a port.
fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let port =
        |p: &str| p.parse::<u16>().map_err(|_| format!("{text}: want ADDR:PORT, :PORT or localhost:PORT"));
    if let Some(p) = text.strip_prefix(':') {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port(p)?)));
    }
    if let Some(p) = text.strip_prefix("localhost:") {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port(p)?)));
    }
    Ok(SocketAddr::from(([0, 0, 0, 0], port(text)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_as_servers_take_them() {
        for (text, addr) in [
            ("198.51.100.1:80", "198.51.100.1:80"),
            ("[2001:db8::1]:443", "[2001:db8::1]:443"),
            (":8080", "0.0.0.0:8080"),
            ("localhost:8080", "127.0.0.1:8080"),
            ("8080", "0.0.0.0:8080"),
        ] {
            assert_eq!(listen_addr(text).unwrap(), addr.parse::<SocketAddr>().unwrap(), "{text}");
        }
        assert!(listen_addr("example.org:80").unwrap_err().contains("want ADDR:PORT"));
    }
}
