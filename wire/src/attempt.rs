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
    Probe(ProbeRecord),
}

/// One hop-limited probe of `collect --locate`: a SYN crafted on a raw socket with a TTL / hop
/// limit, never retransmitted. Probes are no fetches: they never enter the rounds or the
/// verdicts, only the `hops` table and the target's location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    /// The target the probe locates (its URL, address and port).
    pub url: String,
    pub host: String,
    pub server_ip: String,
    pub server_port: u16,
    /// Where the probe went: the target's port, or the second port (`--locate-port`).
    pub probe_port: u16,
    /// `plain`, `tfo_cookie_request` or `tfo_data` (data and a cookie).
    pub probe: FetchKind,
    /// What a `plain` probe's SYN asks for beside (`mptcp` or `ecn`, one at a time, where the
    /// run asked for them); absent for the others and in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<crate::feature::Features>,
    pub hop_limit: u8,
    pub local_port: u16,
    /// The probe's sequence number (each probe of a target has its own; the flow is the same).
    pub isn: u32,
    pub sent_ns: i64,
    /// The TCP segment sent (header, options, data), lowercase hex.
    pub segment_hex: String,
    /// What came back, as the collector saw it while pacing: `time_exceeded`, `synack`, `rst`,
    /// `unreachable`, `none`. The analyzer reads the capture, not this.
    pub reply: String,
}

/// Which of a target's fetches an attempt was: what the collector intended, whatever the
/// kernel then put on the wire. Serialised as `tfo_cookie_request`, `tfo_data`, `plain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchKind {
    /// TFO with the kernel's cookie cache emptied: the SYN asks for a cookie.
    TfoCookieRequest,
    /// TFO again: the SYN carries the request and the cookie just granted.
    TfoData,
    /// Without TFO: the baseline.
    Plain,
}

impl FetchKind {
    /// The order the collector makes them in, per target and round.
    pub const ALL: [FetchKind; 3] = [FetchKind::TfoCookieRequest, FetchKind::TfoData, FetchKind::Plain];

    pub fn as_str(self) -> &'static str {
        match self {
            FetchKind::TfoCookieRequest => "tfo_cookie_request",
            FetchKind::TfoData => "tfo_data",
            FetchKind::Plain => "plain",
        }
    }

    pub fn tfo(self) -> bool {
        self != FetchKind::Plain
    }

    /// The kind `as_str` renders as `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for FetchKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a run record was written. Serialised as `start`, `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    Start,
    End,
}

/// Kernel state around the run, so a reader can tell a spoiled measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub tool: String,
    pub version: String,
    pub phase: RunPhase,
    pub tcp_fastopen: Option<i64>,
    pub tcp_fastopen_blackhole_timeout_sec: Option<i64>,
    /// TcpExt TFO counters (`TCPFastOpen*`) at this phase.
    pub counters: std::collections::BTreeMap<String, u64>,
    /// Whether the run captured its packets: false without CAP_NET_RAW or with
    /// `--no-capture` (the file then holds records only, judged from the kernel's view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured: Option<bool>,
    /// Whether the run could make the kernel forget cached cookies (CAP_NET_ADMIN): false means
    /// a cookie held from before the run made the first fetch a data fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies_flushable: Option<bool>,
    /// The SYN features the run offered (`collect --features`, less those the host could
    /// not); absent in older collectors' records (TFO alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<crate::feature::Features>,
    /// A line for each feature asked for and skipped (MPTCP disabled, ECN without root).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features_skipped: Vec<String>,
    /// net.mptcp.blackhole_timeout: after an MP_CAPABLE SYN is lost, MPTCP is paused for the
    /// namespace this long (MPTcpExt counter `Blackhole`, kept as `MPTcpBlackhole`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mptcp_blackhole_timeout: Option<i64>,
}

impl RunRecord {
    /// Whether the run that wrote these records captured no packets.
    pub fn without_capture(runs: &[RunRecord]) -> bool {
        runs.iter().any(|r| r.captured == Some(false))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub url: String,
    pub host: String,
    pub server_ip: String,
    pub server_port: u16,
    pub fetch: FetchKind,
    /// The SYN features the fetch asked for (`collect --features`): every listed one for the
    /// combined TFO fetches, none for the baseline, one for a feature retried alone. Absent in
    /// records of older collectors: TFO for the TFO fetches, none for the baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<crate::feature::Features>,
    pub round: u32,
    pub local_port: u16,
    pub start_ns: i64,
    pub end_ns: i64,
    /// From TCP_INFO after the fetch: the kernel saw its SYN data acked (TCPI_OPT_SYN_DATA).
    pub syn_data_acked: Option<bool>,
    /// tcpi_fastopen_client_fail: 0 unspecified, 1 no cookie sent, 2 SYN-data not acked, 3 SYN
    /// retransmitted (a box dropped the TFO SYN; the kernel's plain resend got through).
    pub fastopen_client_fail: Option<u8>,
    /// Whether the cookie cache for the address was flushed just before this fetch.
    pub cookie_flushed: Option<bool>,
    /// The kernel's TFO cache for the address right before the fetch (after any flush); absent
    /// when it could not be read.
    #[serde(default)]
    pub cache_before: Option<CacheState>,
    /// The same entry right after the fetch: the cookie it was granted (or kept), the SYN-data
    /// losses it taught the kernel. Absent in records of older collectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_after: Option<CacheState>,
    /// The test list's category code of the URL (Citizen Lab's `category_code`), when the
    /// targets came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The request headers the collector sent, name and value in order (for comparison with
    /// what an echo origin received).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_headers: Option<Vec<(String, String)>>,
    pub result: AppResult,
    /// The echo origin's answer (`tfoscope serve`), when the response was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<Box<crate::echo::Echo>>,
    /// Why a response of the echo's content type was not kept as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_error: Option<String>,
    /// What the kernel told the socket of its connection (TCP_INFO read before close): its
    /// view, with or without a capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_info: Option<KernelView>,
}

/// A connection as TCP_INFO describes it after the fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelView {
    /// tcpi_state (1 established, 2 SYN_SENT: the handshake never completed, ...).
    pub state: u8,
    /// tcpi_options: 0x1 timestamps, 0x2 SACK, 0x4 window scale, 0x8 ECN, 0x20 SYN data acked.
    pub options: u8,
    /// tcpi_fastopen_client_fail (Linux 5.5+): 0 unspecified, 1 no cookie sent, 2 SYN-data not
    /// acked, 3 SYN retransmitted.
    pub fastopen_client_fail: u8,
    /// tcpi_total_retrans: segments retransmitted, the SYN's resends included.
    pub total_retrans: u32,
    /// tcpi_rtt, microseconds (0 before any round trip was measured).
    pub rtt_us: u32,
    /// tcpi_snd_mss and tcpi_rcv_mss.
    pub snd_mss: u32,
    pub rcv_mss: u32,
    /// tcpi_pmtu: the path MTU the kernel holds (lowered by an ICMP too-big; 0 in records
    /// written before it was kept).
    #[serde(default)]
    pub pmtu: u32,
    /// MPTCP_INFO's `mptcpi_flags` of an MPTCP socket (0x1 fell back to TCP, 0x2 the peer's
    /// key received: MPTCP in use); absent for a TCP socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mptcp_flags: Option<u32>,
}

/// `mptcpi_flags`: the connection fell back to plain TCP; the peer's key was received.
pub const MPTCP_INFO_FLAG_FALLBACK: u32 = 0x1;
pub const MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED: u32 = 0x2;
/// `tcpi_options`: ECN was negotiated on the handshake.
pub const TCPI_OPT_ECN: u8 = 0x8;

impl KernelView {
    /// The features the handshake granted, as the kernel knows them: ECN negotiated, MPTCP in
    /// use (the TFO cookie is the cache's to tell).
    pub fn granted(&self) -> crate::feature::Features {
        use crate::feature::{Feature, Features};
        let mut set = Features::NONE;
        if self.options & TCPI_OPT_ECN != 0 {
            set = set.with(Feature::Ecn);
        }
        if self.mptcp_flags.is_some_and(|f| {
            f & MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED != 0 && f & MPTCP_INFO_FLAG_FALLBACK == 0
        }) {
            set = set.with(Feature::Mptcp);
        }
        set
    }
}

/// One address's entry in the kernel's TCP metrics, as TFO uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheState {
    pub cookie: bool,
    /// SYN-data losses remembered; while non-zero the kernel may put no data in SYNs.
    pub syn_drops: u16,
    /// The cookie's bytes, lowercase hex, when one is cached (records of older collectors say
    /// only that there is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_hex: Option<String>,
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
    /// Why the fetch failed, as its word: `timeout`, `refused`, `reset`, ...
    pub error: Option<FetchError>,
}

/// Why a fetch failed (the attempt record's `error`): one vocabulary for the socket, TLS and
/// HTTP layers of the collector. A word this version does not know (a later collector's) is
/// kept as it was written, not lost with its record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FetchError {
    Timeout,
    Refused,
    Reset,
    NoRoute,
    DnsError,
    TlsError,
    BadResponse,
    /// The handshake completed, then nothing came.
    Stalled,
    Other(String),
}

impl FetchError {
    const WORDS: [(FetchError, &'static str); 8] = [
        (FetchError::Timeout, "timeout"),
        (FetchError::Refused, "refused"),
        (FetchError::Reset, "reset"),
        (FetchError::NoRoute, "no_route"),
        (FetchError::DnsError, "dns_error"),
        (FetchError::TlsError, "tls_error"),
        (FetchError::BadResponse, "bad_response"),
        (FetchError::Stalled, "stalled"),
    ];

    pub fn as_str(&self) -> &str {
        match self {
            FetchError::Other(word) => word,
            known => Self::WORDS.iter().find(|(e, _)| e == known).map_or("", |(_, w)| w),
        }
    }

    pub fn from_word(word: &str) -> FetchError {
        Self::WORDS
            .iter()
            .find(|(_, w)| *w == word)
            .map_or_else(|| FetchError::Other(word.to_string()), |(e, _)| e.clone())
    }
}

impl From<&str> for FetchError {
    fn from(word: &str) -> Self {
        FetchError::from_word(word)
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FetchError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FetchError {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(FetchError::from_word(&word))
    }
}

impl AttemptRecord {
    /// What the fetch asked for; for an older collector's record, what its kind implies.
    pub fn asked_features(&self) -> crate::feature::Features {
        use crate::feature::Features;
        self.features.unwrap_or(if self.fetch.tfo() { Features::TFO } else { Features::NONE })
    }
}

impl AppResult {
    /// The `app_result` column: the HTTP status or the error kind.
    pub fn summary(&self) -> String {
        match (&self.error, self.status) {
            (Some(e), _) => e.to_string(),
            (None, Some(status)) => status.to_string(),
            (None, None) => "unknown".to_string(),
        }
    }
}

impl CollectorRecord {
    /// A record of this version reads back as itself (kinds and phases as their strings).
    #[cfg(test)]
    fn round_trip(&self) -> Option<CollectorRecord> {
        CollectorRecord::from_json(&self.to_json())
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("records serialise")
    }

    pub fn from_json(bytes: &[u8]) -> Option<CollectorRecord> {
        serde_json::from_slice(without_padding(bytes)).ok()
    }
}

/// A custom block's data without the zeros that pad it to 32 bits: the block keeps no length
/// of its own, and a JSON document never ends in NUL.
pub fn without_padding(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_errors_travel_as_their_words_and_a_later_word_is_kept() {
        for (error, word) in FetchError::WORDS {
            assert_eq!(serde_json::to_string(&error).unwrap(), format!("\"{word}\""));
            assert_eq!(serde_json::from_str::<FetchError>(&format!("\"{word}\"")).unwrap(), error);
        }
        let later: FetchError = serde_json::from_str("\"quic_error\"").unwrap();
        assert_eq!(later, FetchError::Other("quic_error".into()));
        assert_eq!(serde_json::to_string(&later).unwrap(), "\"quic_error\"");
    }

    #[test]
    fn kinds_and_phases_keep_their_strings() {
        let kinds: Vec<String> = FetchKind::ALL.iter().map(|k| serde_json::to_string(k).unwrap()).collect();
        assert_eq!(kinds, ["\"tfo_cookie_request\"", "\"tfo_data\"", "\"plain\""]);
        for k in FetchKind::ALL {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
        }
        let run = CollectorRecord::Run(RunRecord {
            tool: "tfoscope".into(),
            version: "0".into(),
            phase: RunPhase::End,
            tcp_fastopen: Some(1),
            tcp_fastopen_blackhole_timeout_sec: None,
            counters: Default::default(),
            captured: Some(false),
            cookies_flushable: Some(false),
            features: None,
            features_skipped: vec![],
            mptcp_blackhole_timeout: None,
        });
        assert!(String::from_utf8(run.to_json()).unwrap().contains("\"phase\":\"end\""));
        assert_eq!(run.round_trip(), Some(run));
        // A record from an older capture, written when these were plain strings, reads the same.
        let old = br#"{"record":"attempt","url":"http://a/","host":"a","server_ip":"192.0.2.1","server_port":80,"fetch":"tfo_data","round":1,"local_port":40000,"start_ns":0,"end_ns":1,"syn_data_acked":null,"fastopen_client_fail":null,"cookie_flushed":null,"result":{"status":200,"size":1,"cert_sha256":null,"error":null}}"#;
        match CollectorRecord::from_json(old) {
            Some(CollectorRecord::Attempt(a)) => assert_eq!(a.fetch, FetchKind::TfoData),
            other => panic!("{other:?}"),
        }
    }
}
