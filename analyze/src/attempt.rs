//! The collector's record of each fetch, carried inside its pcapng as a custom block
//! (block type 0x00000BAD, PEN [`ATTEMPT_PEN`], a JSON body; layout in schemas/attempt.json).
//! Wireshark and tshark skip custom blocks they do not know, so the file still opens there.
//! It lives here because `analyze` reads it; `collect` only writes it.

use serde::{Deserialize, Serialize};

/// IANA's Private Enterprise Number reserved for documentation (RFC 5612).
pub const ATTEMPT_PEN: u32 = 32473;

/// One custom block: a run header or an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum CollectorRecord {
    Run(RunRecord),
    Attempt(AttemptRecord),
}

/// Kernel state around the run, so a reader can tell a spoiled measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub tool: String,
    pub version: String,
    /// "start" or "end".
    pub phase: String,
    pub tcp_fastopen: Option<i64>,
    pub tcp_fastopen_blackhole_timeout_sec: Option<i64>,
    /// TcpExt TFO counters (`TCPFastOpen*`) at this phase.
    pub counters: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub url: String,
    pub host: String,
    pub server_ip: String,
    pub server_port: u16,
    /// `tfo_cookie_request`, `tfo_data` or `plain`: what the collector intended.
    pub fetch: String,
    pub round: u32,
    pub local_port: u16,
    pub start_ns: i64,
    pub end_ns: i64,
    /// From TCP_INFO after the fetch: the kernel saw its SYN data acked (TCPI_OPT_SYN_DATA).
    pub syn_data_acked: Option<bool>,
    /// tcpi_fastopen_client_fail: 0 unspecified, 1 no cookie sent, 2 SYN-data not acked, 3 SYN-ACK without cookie.
    pub fastopen_client_fail: Option<u8>,
    /// Whether the cookie cache for the address was flushed just before this fetch.
    pub cookie_flushed: Option<bool>,
    /// The kernel's TFO cache for the address right before the fetch (after any flush); absent
    /// when it could not be read.
    #[serde(default)]
    pub cache_before: Option<CacheState>,
    pub result: AppResult,
}

/// One address's entry in the kernel's TCP metrics, as TFO uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheState {
    pub cookie: bool,
    /// SYN-data losses remembered; while non-zero the kernel may put no data in SYNs.
    pub syn_drops: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppResult {
    pub status: Option<u16>,
    pub size: Option<u64>,
    pub cert_sha256: Option<String>,
    /// Why the certificate did not verify against the web PKI roots (the fetch went on: a
    /// proxy's certificate is evidence too).
    #[serde(default)]
    pub cert_error: Option<String>,
    /// `timeout`, `refused`, `reset`, `no_route`, `dns_error`, `tls_error`, `bad_response`, `stalled`.
    pub error: Option<String>,
}

impl AppResult {
    /// The `app_result` column: the HTTP status or the error kind.
    pub fn summary(&self) -> String {
        match (&self.error, self.status) {
            (Some(e), _) => e.clone(),
            (None, Some(status)) => status.to_string(),
            (None, None) => "unknown".to_string(),
        }
    }
}

impl CollectorRecord {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("records serialise")
    }

    pub fn from_json(bytes: &[u8]) -> Option<CollectorRecord> {
        // Custom blocks are padded to 32 bits with zeros.
        let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        serde_json::from_slice(&bytes[..end]).ok()
    }
}
