//! The verdicts as OONI measurements (df-000-base), one JSON line per URL and vantage (every
//! address the URL resolved to inside it), or, for captures without the collector's records,
//! one per target with the input `tcp://ADDR:PORT`. Layout in schemas/ooni.json.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::TableError;
use crate::attempt::{AttemptRecord, FetchError};
use crate::record::Outcome;
use crate::result::VantageResult;
use crate::summary::ConnSummary;
use crate::verdict::TargetVerdict;

/// What the command line knows of the probe, for the measurements' base fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OoniProbe {
    /// `AS` and a number; `AS0` when unknown.
    pub asn: String,
    /// Two capital letters; `ZZ` when unknown.
    pub cc: String,
}

impl Default for OoniProbe {
    fn default() -> Self {
        OoniProbe { asn: "AS0".into(), cc: "ZZ".into() }
    }
}

impl OoniProbe {
    /// Checks the forms OONI's data format requires.
    pub fn new(asn: &str, cc: &str) -> Result<Self, String> {
        if !(asn.len() > 2 && asn.starts_with("AS") && asn[2..].bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!("probe ASN {asn:?}: OONI wants AS and a number, e.g. AS0"));
        }
        if !(cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(format!("probe country {cc:?}: OONI wants two capital letters, e.g. ZZ"));
        }
        Ok(OoniProbe { asn: asn.into(), cc: cc.into() })
    }
}

pub const OONI_TEST_NAME: &str = "tcp_fast_open";
/// Of the test keys' layout, schemas/ooni.json.
pub const OONI_TEST_VERSION: &str = "0.1.0";

#[derive(Debug, Serialize)]
struct Measurement<'a> {
    annotations: Annotations<'a>,
    data_format_version: &'static str,
    input: String,
    measurement_start_time: String,
    test_start_time: String,
    probe_asn: &'a str,
    probe_cc: &'a str,
    probe_ip: &'static str,
    report_id: String,
    software_name: &'static str,
    software_version: &'static str,
    test_name: &'static str,
    test_version: &'static str,
    test_runtime: f64,
    test_keys: TestKeys<'a>,
}

#[derive(Debug, Serialize)]
struct Annotations<'a> {
    engine_name: &'static str,
    vantage: &'a str,
}

#[derive(Debug, Serialize)]
struct TestKeys<'a> {
    /// Any address of the input shows a middlebox (null: none was tested).
    middlebox: Option<bool>,
    verdicts: Vec<Verdict<'a>>,
    tcp_connect: Vec<TcpConnect<'a>>,
    fetches: Vec<Fetch<'a>>,
}

#[derive(Debug, Serialize)]
struct Verdict<'a> {
    category: Option<&'a str>,
    ip: Option<String>,
    port: u16,
    direction: &'static str,
    connectivity: &'static str,
    cookie: &'static str,
    syn_data: &'static str,
    signatures: Vec<&'static str>,
    untested: Vec<&'static str>,
    middlebox: Option<bool>,
    expected_tfo: Option<bool>,
    synack_differs: Option<bool>,
    measurement_valid: bool,
    explanation: &'a str,
    /// PATHspider's words, to compare with its observatory data.
    conditions: Vec<&'static str>,
}

/// df-005-tcpconnect, and what TFO did on that connection.
#[derive(Debug, Serialize)]
struct TcpConnect<'a> {
    ip: String,
    port: u16,
    status: TcpStatus,
    /// Seconds from the measurement's start to the first SYN.
    t: f64,
    tfo: TfoFacts<'a>,
}

#[derive(Debug, Serialize)]
struct TcpStatus {
    success: bool,
    failure: Option<&'static str>,
    blocked: Option<bool>,
}

#[derive(Debug, Serialize)]
struct TfoFacts<'a> {
    first_syn_frame: u64,
    syn_tfo: &'static str,
    syn_data_len: u32,
    synack_frame: Option<u64>,
    synack_tfo: Option<&'static str>,
    syn_data_acked: Option<&'static str>,
    outcome: &'static str,
    attempt: Option<&'static str>,
    round: Option<u32>,
    url: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Fetch<'a> {
    fetch: &'static str,
    round: u32,
    ip: &'a str,
    port: u16,
    status_code: Option<u16>,
    body_length: Option<u64>,
    cert_sha256: Option<&'a str>,
    failure: Option<String>,
    t0: f64,
    t: f64,
}

/// OONI's failure string for a connection that got no SYN-ACK.
fn connect_failure(c: &ConnSummary) -> Option<&'static str> {
    if c.synack.is_some() {
        return None;
    }
    Some(match c.outcome {
        Outcome::Reset => "connection_refused",
        Outcome::IcmpError => "host_unreachable",
        Outcome::Timeout => "generic_timeout_error",
        _ => "unknown_failure: the capture ended before an answer",
    })
}

/// OONI's failure string for the collector's error kinds.
fn fetch_failure(error: &FetchError) -> String {
    match error {
        FetchError::Timeout | FetchError::Stalled => "generic_timeout_error".into(),
        FetchError::Refused => "connection_refused".into(),
        FetchError::Reset => "connection_reset".into(),
        FetchError::NoRoute => "host_unreachable".into(),
        FetchError::DnsError => "dns_nxdomain_error".into(),
        FetchError::TlsError => "ssl_failed_handshake".into(),
        other @ (FetchError::BadResponse | FetchError::Other(_)) => format!("unknown_failure: {other}"),
    }
}

/// `YYYY-MM-DD HH:MM:SS`, UTC, as OONI's base format writes times.
fn ooni_time(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// One input of a vantage: its verdicts, the connections behind them, the collector's fetches.
struct Input<'a> {
    input: String,
    verdicts: Vec<&'a TargetVerdict>,
    connections: Vec<(SocketAddr, &'a ConnSummary)>,
    fetches: Vec<&'a AttemptRecord>,
}

/// The inputs of one vantage: a URL each where the collector's records name them, else a
/// target each.
fn inputs<'a>(vantage: &'a VantageResult, verdicts: &[&'a TargetVerdict]) -> Vec<Input<'a>> {
    let conns_of = |ip: IpAddr, port: u16| -> Vec<(SocketAddr, &'a ConnSummary)> {
        let conns = vantage.targets.get(&(ip, port)).unwrap_or_default();
        conns.iter().map(|c| (SocketAddr::new(ip, port), c)).collect()
    };
    // Each record and verdict looked at once: a run of many URLs is not walked once per URL.
    let mut by_url: BTreeMap<&str, (Vec<&TargetVerdict>, Vec<&AttemptRecord>)> = BTreeMap::new();
    for a in &vantage.report.attempts {
        by_url.entry(&a.url).or_default().1.push(a);
    }
    for v in verdicts {
        for url in v.target.split(';') {
            if let Some((url_verdicts, _)) = by_url.get_mut(url) {
                url_verdicts.push(v);
            }
        }
    }
    let mut out: Vec<Input<'a>> = by_url
        .into_iter()
        .map(|(url, (verdicts, fetches))| {
            let connections = verdicts
                .iter()
                .filter_map(|v| v.server_ip.map(|ip| (ip, v.server_port)))
                .flat_map(|(ip, port)| conns_of(ip, port))
                .filter(|(_, c)| c.attempt.as_ref().is_none_or(|a| a.url == url))
                .collect();
            Input { input: url.to_string(), verdicts, connections, fetches }
        })
        .collect();
    // Targets no record names (a capture of another tool, or connections beside ours).
    for v in verdicts.iter().copied().filter(|v| !v.target.contains("://")) {
        let Some(ip) = v.server_ip else { continue };
        out.push(Input {
            input: format!("tcp://{}", SocketAddr::new(ip, v.server_port)),
            verdicts: vec![v],
            connections: conns_of(ip, v.server_port),
            fetches: vec![],
        });
    }
    out
}

fn measurement<'a>(
    vantage: &'a VantageResult,
    input: Input<'a>,
    probe: &'a OoniProbe,
    test_start_ns: i64,
) -> Measurement<'a> {
    let times = input
        .connections
        .iter()
        .map(|(_, c)| c.first_syn().time_ns)
        .chain(input.fetches.iter().flat_map(|a| [a.start_ns, a.end_ns]));
    let (start, end) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let (start, end) = if start > end { (test_start_ns, test_start_ns) } else { (start, end) };
    let seconds = |ns: i64| (ns - start) as f64 / 1e9;
    let verdicts: Vec<Verdict<'a>> = input
        .verdicts
        .iter()
        .map(|v| Verdict {
            category: v.category.as_deref(),
            ip: v.server_ip.map(|ip| ip.to_string()),
            port: v.server_port,
            direction: v.direction.as_str(),
            connectivity: v.connectivity.as_str(),
            cookie: v.cookie.as_str(),
            syn_data: v.syn_data.as_str(),
            signatures: v.signatures.iter().map(|s| s.as_str()).collect(),
            untested: v.untested.iter().map(|u| u.as_str()).collect(),
            middlebox: v.middlebox.as_bool(),
            expected_tfo: v.expected_tfo,
            synack_differs: v.synack_differs,
            measurement_valid: v.measurement_valid,
            explanation: &v.explanation,
            conditions: v.conditions.iter().map(|c| c.as_str()).collect(),
        })
        .collect();
    let middlebox = match verdicts.iter().filter_map(|v| v.middlebox).collect::<Vec<_>>() {
        tested if tested.is_empty() => None,
        tested => Some(tested.contains(&true)),
    };
    let tcp_connect = input
        .connections
        .iter()
        .map(|(server, c)| TcpConnect {
            ip: server.ip().to_string(),
            port: server.port(),
            status: TcpStatus { success: c.synack.is_some(), failure: connect_failure(c), blocked: None },
            t: seconds(c.first_syn().time_ns),
            tfo: TfoFacts {
                first_syn_frame: c.first_syn().frame,
                syn_tfo: c.first_syn().tfo.as_str(),
                syn_data_len: c.first_syn().data_len,
                synack_frame: c.synack.as_ref().map(|s| s.frame),
                synack_tfo: c.synack.as_ref().map(|s| s.tfo.as_str()),
                syn_data_acked: c.syn_data_acked.map(|d| d.as_str()),
                outcome: c.outcome.as_str(),
                attempt: c.attempt.as_ref().map(|a| a.fetch.as_str()),
                round: c.attempt.as_ref().map(|a| a.round),
                url: c.attempt.as_ref().map(|a| a.url.as_str()),
            },
        })
        .collect();
    let fetches = input
        .fetches
        .iter()
        .map(|a| Fetch {
            fetch: a.fetch.as_str(),
            round: a.round,
            ip: &a.server_ip,
            port: a.server_port,
            status_code: a.result.status,
            body_length: a.result.size,
            cert_sha256: a.result.cert_sha256.as_deref(),
            failure: a.result.error.as_ref().map(fetch_failure),
            t0: seconds(a.start_ns),
            t: seconds(a.end_ns),
        })
        .collect();
    Measurement {
        annotations: Annotations { engine_name: "tfoscope", vantage: &vantage.name },
        data_format_version: "0.2.0",
        report_id: report_id(test_start_ns, probe, &vantage.name),
        input: input.input,
        measurement_start_time: ooni_time(start),
        test_start_time: ooni_time(test_start_ns),
        probe_asn: &probe.asn,
        probe_cc: &probe.cc,
        probe_ip: "127.0.0.1",
        software_name: "tfoscope",
        software_version: env!("CARGO_PKG_VERSION"),
        test_name: OONI_TEST_NAME,
        test_version: OONI_TEST_VERSION,
        test_runtime: (end - start) as f64 / 1e9,
        test_keys: TestKeys { middlebox, verdicts, tcp_connect, fetches },
    }
}

/// OONI's report id form (`20261201T142300Z_tcpfastopen_ZZ_0_n1_...`), the tail a hash of the
/// vantage so that reports of several vantages differ.
fn report_id(start_ns: i64, probe: &OoniProbe, vantage: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    vantage.hash(&mut h);
    let when = chrono::DateTime::from_timestamp_nanos(start_ns).format("%Y%m%dT%H%M%SZ");
    format!("{when}_tcpfastopen_{}_{}_n1_{:016x}", probe.cc, &probe.asn[2..], h.finish())
}

/// Writes one OONI measurement per input of every vantage to `path` (JSON lines).
pub fn write_ooni(
    path: &Path,
    vantages: &[&VantageResult],
    verdicts: &[TargetVerdict],
    probe: &OoniProbe,
) -> Result<PathBuf, TableError> {
    let io = |error| TableError::Io { path: path.to_owned(), error };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let mut by_vantage: HashMap<&str, Vec<&TargetVerdict>> = HashMap::new();
    for v in verdicts {
        by_vantage.entry(&v.vantage).or_default().push(v);
    }
    for vantage in vantages {
        let mine = by_vantage.remove(vantage.name.as_str()).unwrap_or_default();
        let first_ns = vantage
            .targets
            .iter()
            .flat_map(|(_, conns)| conns.iter().map(|c| c.first_syn().time_ns))
            .chain(vantage.report.attempts.iter().map(|a| a.start_ns))
            .min()
            .unwrap_or(0);
        for input in inputs(vantage, &mine) {
            let line = serde_json::to_vec(&measurement(vantage, input, probe, first_ns))
                .map_err(|e| io(std::io::Error::other(e)))?;
            out.write_all(&line).and_then(|()| out.write_all(b"\n")).map_err(io)?;
        }
    }
    out.flush().map_err(io)?;
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_probe_in_oonis_forms() {
        assert_eq!(ooni_time(1_700_000_000_123_456_789), "2023-11-14 22:13:20");
        assert!(OoniProbe::new("AS3320", "DE").is_ok());
        for (asn, cc) in [("3320", "DE"), ("AS", "DE"), ("ASx1", "DE"), ("AS1", "de"), ("AS1", "DEU")] {
            assert!(OoniProbe::new(asn, cc).is_err(), "{asn} {cc}");
        }
        let id = report_id(1_700_000_000_000_000_000, &OoniProbe::default(), "v");
        assert!(id.starts_with("20231114T221320Z_tcpfastopen_ZZ_0_n1_"), "{id}");
    }

    #[test]
    fn collector_errors_in_oonis_failure_words() {
        let failure = |word| fetch_failure(&FetchError::from_word(word));
        assert_eq!(failure("refused"), "connection_refused");
        assert_eq!(failure("timeout"), "generic_timeout_error");
        assert_eq!(failure("bad_response"), "unknown_failure: bad_response");
        assert_eq!(failure("a_later_word"), "unknown_failure: a_later_word");
    }
}
