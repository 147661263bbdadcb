//! Typed records passed between stages. Enumerations render as the strings of the output
//! contract (../shared/DESIGN.md) through `as_str`, and nowhere else.

use std::net::SocketAddr;
use std::sync::Arc;

pub use tfoscope_wire::decode::options::SynTfo;
pub use tfoscope_wire::feature::{Feature, Features};
pub(crate) use tfoscope_wire::string_enum;

string_enum!(
    /// What the SYN-ACK carried (`cookie_bad_length`: a cookie of a length RFC 7413 forbids,
    /// odd or outside 4..=16 bytes).
    SynAckTfo {
        None => "none",
        Cookie => "cookie",
        CookieBadLength => "cookie_bad_length",
        Malformed => "malformed",
        Truncated => "truncated",
    }
);

string_enum!(
    /// Which of the client's SYN transmissions the SYN-ACK answers.
    SynAckAnswers {
        FirstSyn => "first_syn",
        RetransmittedSyn => "retransmitted_syn",
        Ambiguous => "ambiguous",
    }
);

string_enum!(
    DataAcked {
        Acked => "acked",
        NotAcked => "not_acked",
        Partial => "partial",
        AllButOne => "all_but_one",
        Bogus => "bogus",
    }
);

string_enum!(
    Outcome {
        Established => "established",
        EstablishedAfterFallback => "established_after_fallback",
        Reset => "reset",
        IcmpError => "icmp_error",
        Timeout => "timeout",
        Incomplete => "incomplete",
    }
);

/// One SYN transmission by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynTransmission {
    pub frame: u64,
    pub time_ns: i64,
    pub tfo: SynTfo,
    pub data_len: u32,
    pub tsval: Option<u32>,
    pub shape: SynShape,
    /// What this transmission asked for: TFO, MP_CAPABLE, ECE with CWR (a resend drops them).
    pub features: Features,
}

/// What a SYN looked like beyond TFO: the fields a box on the path rewrites, compared with
/// the SYN that arrived (`arrival`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynShape {
    /// TTL or hop limit.
    pub ttl: u8,
    pub window: u16,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    /// The TCP checksum as captured (a box that rewrites the segment must change it).
    pub checksum: u16,
    kinds_len: u8,
    /// A SYN's options rarely hold more than 10 kinds (NOP padding included); a longer list
    /// keeps its first 24.
    kinds: [u8; 24],
}

impl SynShape {
    pub fn new(ttl: u8, window: u16, mss: Option<u16>, wscale: Option<u8>, option_kinds: &[u8]) -> Self {
        let mut shape = SynShape { ttl, window, mss, wscale, checksum: 0, kinds_len: 0, kinds: [0; 24] };
        let n = option_kinds.len().min(shape.kinds.len());
        shape.kinds[..n].copy_from_slice(&option_kinds[..n]);
        shape.kinds_len = n as u8;
        shape
    }

    pub fn with_checksum(self, checksum: u16) -> Self {
        SynShape { checksum, ..self }
    }

    /// The option kinds in order, padding included.
    pub fn option_kinds(&self) -> &[u8] {
        &self.kinds[..usize::from(self.kinds_len)]
    }
}

/// The first SYN-ACK the server sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SynAck {
    pub frame: u64,
    pub time_ns: i64,
    /// The server's initial sequence number.
    pub isn: u32,
    /// Payload bytes the SYN-ACK itself carried.
    pub data_len: u32,
    /// Its timestamp echo: the TSval of the SYN transmission it answers.
    pub tsecr: Option<u32>,
    pub answers: SynAckAnswers,
    pub tfo: SynAckTfo,
    pub tfo_kind: Option<u8>,
    pub cookie: Option<Vec<u8>>,
    pub ack: u32,
    pub ttl: u8,
    pub window: u16,
    pub mss: Option<u16>,
    pub option_kinds: Vec<u8>,
    /// What it granted: a TFO cookie, MP_CAPABLE, ECE without CWR.
    pub features: Features,
}

/// A packet that refused the connection before any SYN-ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub frame: u64,
    pub time_ns: i64,
    /// For ICMP errors: (type, code); None for a TCP RST.
    pub icmp: Option<(u8, u8)>,
    /// Whether the refused transmission was the first SYN (RST: its ack covers the SYN data or
    /// it came before any retransmission).
    pub answers_first_syn: bool,
    /// TTL or hop limit of the refusing packet: how far away its sender is.
    pub ttl: u8,
    /// A path-MTU error (fragmentation needed, packet too big) and the MTU it names: the SYN
    /// was too big for the path, not refused.
    pub mtu: Option<u32>,
}

impl Refusal {
    /// The ICMP error says the SYN was too big for the path (no refusal of TFO).
    pub fn too_big(&self) -> bool {
        self.mtu.is_some()
    }
}

/// The first ICMP error that quoted the connection's SYN (a time-exceeded to a hop-limited
/// probe, an unreachable): who sent it, how far away, and what it quoted.
#[derive(Debug, Clone, PartialEq)]
pub struct IcmpReply {
    pub frame: u64,
    pub time_ns: i64,
    pub responder: std::net::IpAddr,
    pub ttl: u8,
    pub icmp_type: u8,
    pub code: u8,
    pub time_exceeded: bool,
    /// TCP bytes quoted.
    pub quote_tcp_len: u16,
    /// The quote holds the whole TCP header, options included.
    pub quote_has_options: bool,
    /// The quoted SYN as it was at the router, when at least its fixed header was quoted.
    pub quoted: Option<SynSeen>,
    pub quoted_checksum: Option<u16>,
}

/// The collector's record of the fetch that made a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptLink {
    pub url: String,
    pub host: String,
    pub fetch: crate::attempt::FetchKind,
    /// The SYN features the fetch asked for.
    pub features: Features,
    pub round: u32,
    pub app_result: String,
    pub status: Option<u16>,
    pub size: Option<u64>,
    pub cert_sha256: Option<String>,
    /// Why the certificate did not verify against the web PKI roots.
    pub cert_error: Option<String>,
    /// SYN-data losses the kernel already remembered for the address before this fetch.
    pub cached_syn_drops: Option<u16>,
    /// The test list's category code of the URL.
    pub category: Option<String>,
    /// The response was an echo origin's (its body differs from fetch to fetch by design).
    pub echo: bool,
}

impl AttemptLink {
    /// What a connection keeps of the collector's record of its fetch.
    pub fn of(a: &crate::attempt::AttemptRecord) -> AttemptLink {
        AttemptLink {
            url: a.url.clone(),
            host: a.host.clone(),
            fetch: a.fetch,
            features: a.asked_features(),
            round: a.round,
            app_result: a.result.summary(),
            status: a.result.status,
            size: a.result.size,
            cert_sha256: a.result.cert_sha256.clone(),
            cert_error: a.result.cert_error.clone(),
            cached_syn_drops: a.cache_before.as_ref().map(|c| c.syn_drops),
            category: a.category.clone(),
            echo: a.echo.is_some(),
        }
    }
}

/// The first bytes of the client's first data (in the SYN or the first segment after it),
/// hashed: how a capture made at the server finds the connection when a box rewrote its ISN
/// or opened a connection of its own and relayed the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestPrint {
    /// Bytes hashed: the payload's first [`RequestPrint::BYTES`], or all of a shorter one.
    pub len: u8,
    pub hash: u64,
}

impl RequestPrint {
    pub const BYTES: usize = 64;

    /// None when the capture holds fewer bytes than the print needs (a short snap length).
    pub fn of(captured_payload: &[u8], payload_len: u32) -> Option<Self> {
        let n = (payload_len as usize).min(Self::BYTES);
        let bytes = captured_payload.get(..n).filter(|_| n > 0)?;
        // FNV-1a: the same value in every run and on every machine, as the join needs.
        let hash = bytes
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
        Some(RequestPrint { len: n as u8, hash })
    }
}

/// One TCP connection attempt: a 4-tuple and the client's ISN.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub capture: Arc<str>,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub isn: u32,
    /// Every SYN transmission, in order; the first is the one that decides `syn_tfo`.
    pub syns: Vec<SynTransmission>,
    /// SYN transmissions seen in all (`syns` keeps at most a few).
    pub syn_count: u32,
    pub syn_tfo_kind: Option<u8>,
    pub syn_tfo_duplicate: bool,
    pub syn_cookie: Option<Vec<u8>>,
    pub syn_options_error: Option<String>,
    /// The SYN-ACK the connection went on with: the one the client's ACK acknowledged, else
    /// the first.
    pub synack: Option<SynAck>,
    /// A SYN-ACK with another server ISN than `synack`'s (a second box answering, an injected
    /// answer, or a server that forgot the first SYN).
    pub other_synack: Option<Box<SynAck>>,
    /// `other_synack` answered the same SYN transmission as `synack` (the same TSecr, or the
    /// only SYN sent): two answers to one SYN.
    pub synack_conflict: bool,
    pub syn_data_acked: Option<DataAcked>,
    pub syn_data_resent: bool,
    pub reset: Option<Refusal>,
    pub icmp: Option<Refusal>,
    pub outcome: Outcome,
    pub last_time_ns: i64,
    /// Set when the capture carries the collector's attempt records (behind a pointer: most
    /// captures have none; shared with the verdicts' summaries).
    pub attempt: Option<Arc<AttemptLink>>,
    /// What arrived at the server of this connection's SYN, from the echo origin's answer or a
    /// capture made at the server (behind a pointer: most connections have neither).
    pub arrival: Option<Box<Arrival>>,
    /// The client's first data, as a print (see [`RequestPrint`]).
    pub request_print: Option<RequestPrint>,
    /// The first ICMP error quoting the connection's SYN.
    pub icmp_reply: Option<Box<IcmpReply>>,
}

impl Connection {
    pub fn first_syn(&self) -> &SynTransmission {
        &self.syns[0]
    }

    pub fn ip_version(&self) -> u8 {
        if self.client.is_ipv4() {
            4
        } else {
            6
        }
    }

    /// The first SYN carried a TFO option (a request, a cookie, or something malformed).
    pub fn tried_tfo(&self) -> bool {
        matches!(self.first_syn().tfo, SynTfo::CookieRequest | SynTfo::Cookie | SynTfo::Malformed)
    }

    /// The SYN-ACK that tells the first SYN's fate: `synack`, unless that one answered a
    /// retransmission while the other SYN-ACK (another ISN, another transmission) answered the
    /// first SYN. Then the first SYN, and the data it carried, did arrive, whichever answer the
    /// client went on with.
    pub fn synack_to_first_syn(&self) -> Option<&SynAck> {
        match (&self.synack, self.other_synack.as_deref()) {
            (Some(s), Some(other))
                if second_answers_first_syn(s.answers, other.answers, self.synack_conflict) =>
            {
                Some(other)
            }
            (s, _) => s.as_ref(),
        }
    }

    pub fn connect_ms(&self) -> Option<f64> {
        self.synack.as_ref().map(|s| (s.time_ns - self.first_syn().time_ns) as f64 / 1e6)
    }
}

/// Whether the second SYN-ACK (another ISN) tells the first SYN's fate rather than the one the
/// connection went on with: that one answered a retransmission, the second the first SYN, and
/// they are no two answers to one transmission.
pub fn second_answers_first_syn(synack: SynAckAnswers, second: SynAckAnswers, conflict: bool) -> bool {
    !conflict && synack != SynAckAnswers::FirstSyn && second == SynAckAnswers::FirstSyn
}

impl Connection {
    /// A connection of one SYN, at `time_ns` in frame `frame`, that nothing answered (a
    /// timeout): the start tests' connections, and those of a run without a capture (built
    /// from the kernel's view), are built from.
    pub(crate) fn unanswered(
        client: SocketAddr,
        server: SocketAddr,
        time_ns: i64,
        frame: u64,
        tfo: SynTfo,
    ) -> Self {
        Connection {
            capture: Arc::from("t"),
            client,
            server,
            isn: 1,
            syns: vec![SynTransmission {
                frame,
                time_ns,
                tfo,
                data_len: 0,
                tsval: None,
                shape: SynShape::new(64, 64240, Some(1460), Some(7), &[]),
                features: if tfo == SynTfo::None { Features::NONE } else { Features::TFO },
            }],
            syn_count: 1,
            syn_tfo_kind: (tfo != SynTfo::None).then_some(crate::decode::options::KIND_FASTOPEN),
            syn_tfo_duplicate: false,
            syn_cookie: None,
            syn_options_error: None,
            synack: None,
            other_synack: None,
            synack_conflict: false,
            syn_data_acked: None,
            syn_data_resent: false,
            reset: None,
            icmp: None,
            outcome: Outcome::Timeout,
            last_time_ns: time_ns,
            attempt: None,
            arrival: None,
            request_print: None,
            icmp_reply: None,
        }
    }
}

/// Where the server's view came from.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrivalSource {
    /// The echo origin's answer to the fetch.
    Echo,
    /// A capture made at the server: its file and the arrived SYN's frame there.
    ServerCapture { capture: Arc<str>, frame: u64 },
}

/// A SYN as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct SynSeen {
    pub client: SocketAddr,
    pub isn: u32,
    pub tsval: Option<u32>,
    pub shape: SynShape,
    pub tfo: SynTfo,
    pub tfo_kind: Option<u8>,
    pub cookie: Option<Vec<u8>>,
    pub data_len: u32,
}

impl SynSeen {
    pub fn from_echo(syn: &tfoscope_wire::echo::ArrivedSyn) -> Self {
        SynSeen {
            client: SocketAddr::new(syn.src_ip, syn.src_port),
            isn: syn.isn,
            tsval: syn.tsval,
            shape: SynShape::new(syn.ttl, syn.window, syn.mss, syn.wscale, &syn.options),
            tfo: syn.tfo,
            tfo_kind: syn.tfo_kind,
            cookie: syn.cookie.as_deref().and_then(tfoscope_wire::echo::unhex),
            data_len: syn.payload_len,
        }
    }

    /// The SYN transmission of `conn` the server answered, as the server capture saw it.
    pub fn from_transmission(conn: &Connection, t: &SynTransmission) -> Self {
        let first = std::ptr::eq(t, conn.first_syn());
        SynSeen {
            client: conn.client,
            isn: conn.isn,
            tsval: t.tsval,
            shape: t.shape,
            tfo: t.tfo,
            tfo_kind: if t.tfo == SynTfo::None { None } else { conn.syn_tfo_kind.filter(|_| first) },
            cookie: if first { conn.syn_cookie.clone() } else { None },
            data_len: t.data_len,
        }
    }
}

/// What arrived of one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    pub source: ArrivalSource,
    /// None: the echo came back without a saved SYN.
    pub syn: Option<SynSeen>,
    /// The server's kernel took the SYN's data (echo only).
    pub syn_data_accepted: Option<bool>,
    /// The origin's listener does TFO (echo only): what the client should have negotiated.
    pub origin_tfo: Option<bool>,
    /// Headers added, removed or changed between the request sent and the one received
    /// (echo, with the collector's record of what it sent).
    pub request_changes: Option<Vec<String>>,
    /// The certificate the echo origin served, SHA-256 hex (HTTPS).
    pub served_cert: Option<String>,
}
