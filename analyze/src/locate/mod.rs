//! Hop-limited probes (`collect --locate`, or tracebox-style runs of other tools): each probe
//! with its answer as a row of the `hops` table, and from a target's rows where on the path the
//! middlebox sits (`middlebox_hop_min` to `_max`, both inclusive).
//!
//! A probe is told by the collector's probe record, or, without records, by its hop limit: a
//! SYN captured where it was sent with a TTL of 32 or less was limited on purpose (stacks send
//! 64, 128 or 255). Probes never enter the rounds and verdicts.

pub(crate) mod targets;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::arrival::{syn_changes, SynChange};
use crate::attempt::{FetchKind, ProbeRecord};
use crate::record::{string_enum, Connection, Feature, Features, SynTfo};

/// The `syn_changes` words of a TFO option gone (kinds 34 and 254).
const OPTION_REMOVED_34: &str = "option_removed:34";
const OPTION_REMOVED_30: &str = "option_removed:30";
const OPTION_REMOVED_254: &str = "option_removed:254";

/// A SYN sent with a TTL at most this was hop-limited on purpose.
pub const PROBE_TTL_MAX: u8 = 32;

string_enum!(
    /// How a probe was answered.
    Reply {
        TimeExceeded => "time_exceeded",
        SynAck => "synack",
        Rst => "rst",
        Unreachable => "unreachable",
        None => "none",
    }
);

/// One probe and its answer: a row of the `hops` table.
#[derive(Debug, Clone, PartialEq)]
pub struct HopRow {
    pub capture: Arc<str>,
    /// The URL from the probe record, else ADDR:PORT.
    pub target: String,
    pub server_ip: IpAddr,
    /// The target's port.
    pub server_port: u16,
    /// Where the probe went: the target's port or the second port.
    pub probe_port: u16,
    pub probe: FetchKind,
    /// What a `plain` probe asked for beside (MPTCP or ECN alone); none for the others.
    pub features: Features,
    pub hop_limit: u8,
    pub probe_frame: u64,
    pub reply: Reply,
    pub reply_frame: Option<u64>,
    pub responder_ip: Option<IpAddr>,
    pub reply_ttl: Option<u8>,
    /// The responder's distance from its reply's TTL (initial TTLs 64, 128, 255).
    pub responder_hops: Option<u8>,
    pub rtt_ms: Option<f64>,
    /// TCP bytes the ICMP error quoted.
    pub quote_len: Option<u16>,
    /// The quote holds the whole TCP header with its options (RFC 792 routers quote 8 bytes).
    pub quote_has_options: Option<bool>,
    /// How the quoted SYN differs from the probe sent (`syn_changes` words, `checksum_changed`,
    /// `data_cut`); None without a whole quoted header.
    pub quote_changes: Option<Vec<String>>,
}

impl HopRow {
    pub fn ip_version(&self) -> u8 {
        if self.server_ip.is_ipv4() {
            4
        } else {
            6
        }
    }

    /// To the target's port (not the second port).
    fn to_target(&self) -> bool {
        self.probe_port == self.server_port
    }

    fn answered_by_tcp(&self) -> bool {
        matches!(self.reply, Reply::SynAck | Reply::Rst)
    }

    /// The quote shows the TFO option, its cookie or the SYN's data gone or changed (or, for
    /// an MPTCP probe, MP_CAPABLE gone).
    fn quote_lost_tfo(&self) -> bool {
        let mptcp = self.features.contains(Feature::Mptcp);
        self.quote_has_options == Some(true)
            && self.quote_changes.iter().flatten().any(|w| {
                w == "cookie_changed"
                    || w == "data_removed"
                    || w.starts_with("data_changed_len:")
                    || w == OPTION_REMOVED_34
                    || w == OPTION_REMOVED_254
                    || (mptcp && w == OPTION_REMOVED_30)
            })
    }

    /// What the probe is: its TFO kind and the features it asked for beside.
    fn class(&self) -> (FetchKind, Features) {
        (self.probe, self.features)
    }
}

/// The sender's distance from a packet's TTL: the nearest initial TTL at or above it.
pub fn hops_from_ttl(ttl: u8) -> u8 {
    let initial: u16 = [64u16, 128, 255].into_iter().find(|i| *i >= u16::from(ttl)).unwrap_or(255);
    (initial - u16::from(ttl) + 1).min(255) as u8
}

/// The collector's probe records of a vantage, by (local port, server address, ISN).
#[derive(Debug, Default)]
pub struct ProbeIndex {
    by_flow: HashMap<(u16, IpAddr, u32), usize>,
}

impl ProbeIndex {
    pub fn add(&mut self, probes: &[ProbeRecord]) {
        let Some(p) = probes.last() else { return };
        if let Ok(ip) = p.server_ip.parse::<IpAddr>() {
            self.by_flow.insert((p.local_port, ip, p.isn), probes.len() - 1);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_flow.is_empty()
    }

    fn find<'p>(&self, probes: &'p [ProbeRecord], conn: &Connection) -> Option<&'p ProbeRecord> {
        let i = self.by_flow.get(&(conn.client.port(), conn.server.ip(), conn.isn))?;
        probes.get(*i)
    }
}

/// The probe a connection is, if it is one: from the collector's record, or (a capture with
/// no probe records at all) from its hop limit.
pub fn hop_row(conn: &Connection, probes: &[ProbeRecord], index: &ProbeIndex) -> Option<HopRow> {
    let first = conn.first_syn();
    let record = index.find(probes, conn);
    if record.is_none() && !(index.is_empty() && first.shape.ttl <= PROBE_TTL_MAX) {
        return None;
    }
    // Beside TFO: a record's word, else the SYN's own (another tool's probes).
    let features = match record {
        Some(r) => r.features.unwrap_or_default(),
        None => Features::of(first.features.iter().filter(|f| *f != Feature::Tfo)),
    };
    let probe = match (record, first.tfo) {
        (Some(r), _) => r.probe,
        (None, SynTfo::CookieRequest) => FetchKind::TfoCookieRequest,
        (None, SynTfo::Cookie) => FetchKind::TfoData,
        (None, _) if first.data_len > 0 => FetchKind::TfoData,
        (None, _) => FetchKind::Plain,
    };
    let (server_port, target) = match record {
        Some(r) => (r.server_port, r.url.clone()),
        None => (conn.server.port(), conn.server.to_string()),
    };
    let mut row = HopRow {
        capture: conn.capture.clone(),
        target,
        server_ip: conn.server.ip(),
        server_port,
        probe_port: conn.server.port(),
        probe,
        features,
        hop_limit: record.map_or(first.shape.ttl, |r| r.hop_limit),
        probe_frame: first.frame,
        reply: Reply::None,
        reply_frame: None,
        responder_ip: None,
        reply_ttl: None,
        responder_hops: None,
        rtt_ms: None,
        quote_len: None,
        quote_has_options: None,
        quote_changes: None,
    };
    // The earliest answer of the three kinds.
    let mut answers: Vec<(i64, u64, Reply, IpAddr, u8)> = Vec::new();
    if let Some(icmp) = &conn.icmp_reply {
        let reply = if icmp.time_exceeded { Reply::TimeExceeded } else { Reply::Unreachable };
        answers.push((icmp.time_ns, icmp.frame, reply, icmp.responder, icmp.ttl));
    }
    if let Some(s) = &conn.synack {
        answers.push((s.time_ns, s.frame, Reply::SynAck, conn.server.ip(), s.ttl));
    }
    if let Some(r) = &conn.reset {
        answers.push((r.time_ns, r.frame, Reply::Rst, conn.server.ip(), r.ttl));
    }
    answers.sort_by_key(|a| (a.0, a.1));
    if let Some(&(time_ns, frame, reply, responder, ttl)) = answers.first() {
        row.reply = reply;
        row.reply_frame = Some(frame);
        row.responder_ip = Some(responder);
        row.reply_ttl = Some(ttl);
        row.responder_hops = Some(hops_from_ttl(ttl));
        row.rtt_ms = Some((time_ns - first.time_ns) as f64 / 1e6);
    }
    if let (Some(icmp), Reply::TimeExceeded | Reply::Unreachable) = (&conn.icmp_reply, row.reply) {
        row.quote_len = Some(icmp.quote_tcp_len);
        row.quote_has_options = Some(icmp.quote_has_options);
        row.quote_changes = icmp.quoted.as_ref().map(|quoted| {
            let mut words: Vec<String> = syn_changes(conn, first, quoted)
                .into_iter()
                // Without the options in the quote, their absence is the quote's, not the path's.
                .filter(|c| {
                    icmp.quote_has_options
                        || !matches!(c, SynChange::OptionRemoved(_) | SynChange::CookieChanged)
                })
                .map(|c| c.to_string())
                .collect();
            if icmp.quoted_checksum.is_some_and(|c| c != first.shape.checksum) {
                words.push("checksum_changed".to_string());
            }
            // The quote ends before the probe's data does: data changes beyond it are unseen.
            let header = 20 + first.shape.option_kinds().len();
            if first.data_len > 0 && usize::from(icmp.quote_tcp_len) < header + first.data_len as usize {
                words.push("data_cut".to_string());
            }
            words
        });
    }
    Some(row)
}

/// Where a target's probes place the box.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location {
    /// The origin's distance: the first hop limit at which the second port answered, else at
    /// which a plain probe to the target port did.
    pub origin_hops: Option<u8>,
    pub hop_min: Option<u8>,
    pub hop_max: Option<u8>,
    /// The routers at `hop_min` and `hop_max` (their time-exceeded sources).
    pub ips: Vec<IpAddr>,
    /// The probe frames the interval rests on: (what, probe frame, reply frame).
    pub evidence: Vec<LocateEvidence>,
}

/// What placed a bound.
#[derive(Debug, Clone, PartialEq)]
pub enum LocateEvidence {
    /// A TFO probe was seen unchanged at this hop (its quote, or its time-exceeded).
    SeenIntact { hop: u8, probe_frame: u64, reply_frame: u64 },
    /// At this hop a TFO probe got no answer where the plain probe got one.
    Unanswered { hop: u8, probe_frame: u64, plain_reply_frame: u64 },
    /// At this hop a TFO probe's quote shows the option, cookie or data gone.
    QuoteLost { hop: u8, probe_frame: u64, reply_frame: u64 },
    /// A box nearer than the origin answered a probe (SYN-ACK or RST), at this hop by its TTL.
    AnsweredByBox { hop: u8, probe_frame: u64, reply_frame: u64, reply: Reply },
}

/// The plain SYN, asking for nothing.
const BASELINE: (FetchKind, Features) = (FetchKind::Plain, Features::NONE);

pub fn locate(rows: &[&HopRow]) -> Location {
    let mut location = Location::default();
    let first_answer = |second_port: bool| {
        rows.iter()
            .filter(|r| r.to_target() != second_port && r.answered_by_tcp())
            .filter(|r| second_port || r.class() == BASELINE)
            .map(|r| r.hop_limit)
            .min()
    };
    location.origin_hops = first_answer(true).or_else(|| first_answer(false));
    // A probe sent twice at one hop (again after silence, for routers' ICMP rate limits)
    // counts as answered if either was.
    let at = |hop: u8, class: (FetchKind, Features)| {
        let mut sent = rows.iter().filter(|r| r.to_target() && r.hop_limit == hop && r.class() == class);
        let first = sent.clone().next();
        sent.find(|r| r.reply != Reply::None).or(first)
    };
    let mut hops: Vec<u8> = rows.iter().filter(|r| r.to_target()).map(|r| r.hop_limit).collect();
    hops.sort_unstable();
    hops.dedup();
    // Every probe that asked for something, held to the plain SYN at its hop: TFO's two, and
    // MPTCP's and ECN's where the run sent them. The first hop where any shows places the box.
    let mut tfo_kinds: Vec<(FetchKind, Features)> =
        rows.iter().map(|r| r.class()).filter(|c| *c != BASELINE).collect();
    tfo_kinds.sort_unstable();
    tfo_kinds.dedup();

    // The first hop where something shows.
    let mut found: Option<(u8, LocateEvidence, bool)> = None;
    for &hop in &hops {
        // A box nearer than the origin answering any probe to the target port: placed by the
        // reply's TTL (a box answering after forwarding answers one hop past itself).
        let nearer_answer = rows.iter().find(|r| {
            r.to_target()
                && r.hop_limit == hop
                && r.answered_by_tcp()
                && location.origin_hops.is_some_and(|o| hop.min(r.responder_hops.unwrap_or(hop)) < o)
        });
        if let Some(r) = nearer_answer {
            let box_hop = hop.min(r.responder_hops.unwrap_or(hop));
            let evidence = LocateEvidence::AnsweredByBox {
                hop: box_hop,
                probe_frame: r.probe_frame,
                reply_frame: r.reply_frame.unwrap_or(0),
                reply: r.reply,
            };
            found = Some((box_hop, evidence, true));
            break;
        }
        let plain = at(hop, BASELINE);
        for &kind in &tfo_kinds {
            let Some(tfo) = at(hop, kind) else { continue };
            if tfo.quote_lost_tfo() {
                let evidence = LocateEvidence::QuoteLost {
                    hop,
                    probe_frame: tfo.probe_frame,
                    reply_frame: tfo.reply_frame.unwrap_or(0),
                };
                found = Some((hop, evidence, false));
                break;
            }
            // Silence counts only if it lasts: every later hop where the plain probe was answered
            // is silent for this kind too (a rate-limited router is silent at one hop only).
            let silent_after = hops.iter().filter(|h| **h > hop).all(|&later| {
                let plain_answered = at(later, BASELINE).is_some_and(|p| p.reply != Reply::None);
                !plain_answered || at(later, kind).is_none_or(|r| r.reply == Reply::None)
            });
            if let Some(plain) =
                plain.filter(|p| p.reply != Reply::None && tfo.reply == Reply::None && silent_after)
            {
                let evidence = LocateEvidence::Unanswered {
                    hop,
                    probe_frame: tfo.probe_frame,
                    plain_reply_frame: plain.reply_frame.unwrap_or(0),
                };
                found = Some((hop, evidence, false));
                break;
            }
        }
        if found.is_some() {
            break;
        }
    }
    let Some((max, evidence, exact)) = found else { return location };
    location.hop_max = Some(max);
    location.evidence.push(evidence.clone());
    if exact {
        location.hop_min = Some(max);
    } else {
        // The last hop before where a TFO probe was seen unchanged: with its options in the
        // quote when a quote placed the upper bound, else merely answered by that router.
        let needs_options = matches!(evidence, LocateEvidence::QuoteLost { .. });
        let intact = hops.iter().rev().filter(|h| **h < max).find_map(|&hop| {
            tfo_kinds.iter().filter_map(|k| at(hop, *k)).find(|r| {
                r.reply == Reply::TimeExceeded
                    && !r.quote_lost_tfo()
                    && (!needs_options || r.quote_has_options == Some(true))
            })
        });
        if let Some(r) = intact {
            location.hop_min = Some(r.hop_limit);
            location.evidence.insert(
                0,
                LocateEvidence::SeenIntact {
                    hop: r.hop_limit,
                    probe_frame: r.probe_frame,
                    reply_frame: r.reply_frame.unwrap_or(0),
                },
            );
        }
    }
    // The routers at the bounds, from any probe's time-exceeded there.
    for hop in [location.hop_min, location.hop_max].into_iter().flatten() {
        let router = rows
            .iter()
            .filter(|r| r.hop_limit == hop && r.reply == Reply::TimeExceeded)
            .find_map(|r| r.responder_ip);
        if let Some(ip) = router.filter(|ip| !location.ips.contains(ip)) {
            location.ips.push(ip);
        }
    }
    location
}
