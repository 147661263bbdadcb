//! What the verdicts need of each connection, and nothing more.
//!
//! The connections table takes whole [`Connection`]s a batch at a time and lets them go; the
//! verdicts are made once every file has been read, so each connection leaves behind a
//! [`ConnSummary`] (88 bytes, no heap of its own but what arrived at the server, when known) under its target. Memory then follows the
//! open connections and the targets plus this small record per connection, not the file.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::arrival::PathFacts;
use crate::decode::options::{KIND_EOL, KIND_EXPERIMENTAL, KIND_FASTOPEN, KIND_MPTCP, KIND_NOP};
use crate::record::{
    AttemptLink, Connection, DataAcked, Features, Outcome, SynAckAnswers, SynAckTfo, SynTfo,
};

/// The first SYN of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstSyn {
    pub frame: u64,
    pub time_ns: i64,
    pub tfo: SynTfo,
    pub data_len: u32,
    /// What it asked for (TFO, MPTCP, ECN).
    pub features: Features,
}

/// Option kinds of a SYN-ACK that say something about the stack that built it: TFO, MPTCP
/// and padding removed, since they differ by design between TFO (or MPTCP) and plain answers. Every other
/// option takes at least two bytes of the 40, so 20 kinds always fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StackKinds {
    len: u8,
    kinds: [u8; 20],
}

impl StackKinds {
    pub fn of(option_kinds: &[u8]) -> Self {
        let mut out = StackKinds { len: 0, kinds: [0; 20] };
        for &k in option_kinds
            .iter()
            .filter(|k| ![KIND_NOP, KIND_EOL, KIND_FASTOPEN, KIND_EXPERIMENTAL, KIND_MPTCP].contains(k))
        {
            if usize::from(out.len) < out.kinds.len() {
                out.kinds[usize::from(out.len)] = k;
                out.len += 1;
            }
        }
        out
    }
}

/// The first SYN-ACK, as the verdicts see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynAckSummary {
    pub frame: u64,
    /// Microseconds from the first SYN (saturating): connections of one kind that overlap in
    /// time are one fetch seen twice or parallel attempts, not two rounds.
    pub after_syn_us: u32,
    pub answers: SynAckAnswers,
    /// `answers` was told by timing, not by timestamps or the ack (see
    /// [`TargetConnections::finish`]).
    pub answers_by_timing: bool,
    /// The connection's SYN sent a cookie and its SYN-ACK carried another one (the origin
    /// refused ours and granted a new one: a load balancer's other backend, a key rotation).
    pub another_cookie: bool,
    pub tfo: SynAckTfo,
    pub tfo_kind: Option<u8>,
    pub ttl: u8,
    pub mss: Option<u16>,
    /// Payload bytes the SYN-ACK itself carried (at most a segment; u16 keeps the summary small).
    pub data_len: u16,
    /// The [`StackKinds`], as a number: equal numbers, equal kinds (within one
    /// [`TargetConnections`]).
    pub stack_kinds: u32,
    /// What it granted (a TFO option, MP_CAPABLE, ECE).
    pub features: Features,
}

/// What a summary takes of a SYN-ACK, whether from a connection or from a table row.
struct SynAckFields<'a> {
    frame: u64,
    time_ns: i64,
    answers: SynAckAnswers,
    tfo: SynAckTfo,
    tfo_kind: Option<u8>,
    ttl: u8,
    mss: Option<u16>,
    data_len: u32,
    option_kinds: &'a [u8],
    another_cookie: bool,
    features: Features,
}

impl SynAckSummary {
    /// The one narrowing of a SYN-ACK into its summary (analyze and judge must agree on it).
    fn of(s: SynAckFields<'_>, first: &FirstSyn, stack_kinds: &mut impl FnMut(StackKinds) -> u32) -> Self {
        SynAckSummary {
            frame: s.frame,
            after_syn_us: u32::try_from(s.time_ns.saturating_sub(first.time_ns).max(0) / 1000)
                .unwrap_or(u32::MAX),
            answers: s.answers,
            answers_by_timing: false,
            another_cookie: s.another_cookie,
            tfo: s.tfo,
            tfo_kind: s.tfo_kind,
            ttl: s.ttl,
            mss: s.mss,
            data_len: u16::try_from(s.data_len).unwrap_or(u16::MAX),
            stack_kinds: stack_kinds(StackKinds::of(s.option_kinds)),
            features: s.features,
        }
    }
}

/// A RST or ICMP error that refused the connection before any SYN-ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Frames after the first SYN (it comes within a few retransmissions of it; 32 bits keep
    /// the summary within 80 bytes). See [`ConnSummary::refusal_frame`].
    frames_after_syn: u32,
    pub answers_first_syn: bool,
    /// A TCP RST; else an ICMP error.
    pub by_reset: bool,
    /// A path-MTU error, with its MTU (clamped to 1..=65535; 1 stands for the 0 of routers
    /// that name none): the SYN was too big, not refused. Non-zero keeps the summary small.
    pub too_big_mtu: Option<std::num::NonZeroU16>,
}

/// One connection as the verdicts see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnSummary {
    pub first_syn: FirstSyn,
    pub synack: Option<SynAckSummary>,
    pub syn_data_acked: Option<DataAcked>,
    /// The RST if there was one, else the ICMP error.
    pub refused: Option<Refused>,
    /// Another SYN-ACK, with another ISN, answered the same SYN transmission: its frame less
    /// the SYN-ACK's (they come within a round trip of each other, so the distance is small;
    /// 32 bits keep the summary within 80 bytes). See [`ConnSummary::conflicting_synack`].
    synack_conflict: Option<std::num::NonZeroI32>,
    pub outcome: Outcome,
    pub attempt: Option<Arc<AttemptLink>>,
    /// What arrived at the server (echo origin or server capture), judged.
    pub path: Option<Arc<PathFacts>>,
}

/// A SYN-ACK as a connections table row holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct SynAckRow {
    pub frame: u64,
    pub time_ns: i64,
    pub answers: SynAckAnswers,
    pub tfo: SynAckTfo,
    pub tfo_kind: Option<u8>,
    pub ttl: u8,
    pub mss: Option<u16>,
    pub data_len: u32,
    pub option_kinds: Vec<u8>,
    pub features: Features,
}

/// What a connections table row holds of a connection that its verdicts need: the input of
/// `judge`, which has the tables and not the captures.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnRow {
    pub client: IpAddr,
    pub server: IpAddr,
    pub server_port: u16,
    pub first_syn: FirstSyn,
    /// The SYN-ACK the connection went on with, and the one with another ISN.
    pub synack: Option<SynAckRow>,
    pub second_synack: Option<SynAckRow>,
    /// The frames of two SYN-ACKs that answered one SYN transmission.
    pub synack_conflict: Option<[u64; 2]>,
    pub syn_data_acked: Option<DataAcked>,
    /// The SYN's cookie and the SYN-ACK's (the one gone on with) both there, and different.
    pub another_cookie: bool,
    pub reset_frame: Option<u64>,
    pub icmp_frame: Option<u64>,
    /// The MTU of a path-MTU error (`icmp_mtu`).
    pub icmp_mtu: Option<u32>,
    /// Of the RST, else the ICMP error.
    pub refusal_answers_first_syn: Option<bool>,
    pub outcome: Outcome,
    pub attempt: Option<Arc<AttemptLink>>,
    pub path: Option<PathFacts>,
}

impl Refused {
    fn of(frame: u64, first: &FirstSyn, answers_first_syn: bool, by_reset: bool, mtu: Option<u32>) -> Self {
        Refused {
            frames_after_syn: u32::try_from(frame.saturating_sub(first.frame)).unwrap_or(u32::MAX),
            answers_first_syn,
            by_reset,
            too_big_mtu: mtu.and_then(|m| std::num::NonZeroU16::new(m.clamp(1, u32::from(u16::MAX)) as u16)),
        }
    }
}

impl ConnSummary {
    /// From a connections table row, as [`ConnSummary::of`] makes it from the connection.
    pub fn of_row(row: ConnRow, stack_kinds: &mut impl FnMut(StackKinds) -> u32) -> Self {
        let first = row.first_syn;
        let use_second = match (&row.synack, &row.second_synack) {
            (Some(s), Some(other)) => crate::record::second_answers_first_syn(
                s.answers,
                other.answers,
                row.synack_conflict.is_some(),
            ),
            _ => false,
        };
        let answer = if use_second { row.second_synack.as_ref() } else { row.synack.as_ref() };
        let refusal = row.reset_frame.map(|f| (f, true)).or(row.icmp_frame.map(|f| (f, false)));
        let synack_frame = row.synack.as_ref().map(|s| s.frame);
        ConnSummary {
            first_syn: first,
            synack: answer.map(|s| {
                let fields = SynAckFields {
                    frame: s.frame,
                    time_ns: s.time_ns,
                    answers: s.answers,
                    tfo: s.tfo,
                    tfo_kind: s.tfo_kind,
                    ttl: s.ttl,
                    mss: s.mss,
                    data_len: s.data_len,
                    option_kinds: &s.option_kinds,
                    another_cookie: row.another_cookie,
                    features: s.features,
                };
                SynAckSummary::of(fields, &first, stack_kinds)
            }),
            syn_data_acked: row.syn_data_acked,
            refused: refusal.map(|(frame, by_reset)| {
                let mtu = if by_reset { None } else { row.icmp_mtu };
                Refused::of(frame, &first, row.refusal_answers_first_syn.unwrap_or(false), by_reset, mtu)
            }),
            synack_conflict: match (row.synack_conflict, synack_frame) {
                (Some([a, b]), Some(s)) => conflict_distance(s, if a == s { b } else { a }),
                _ => None,
            },
            outcome: row.outcome,
            attempt: row.attempt,
            path: row.path.map(Arc::new),
        }
    }

    /// `stack_kinds` numbers SYN-ACK option lists (see [`SynAckSummary::stack_kinds`]).
    pub fn of(c: &Connection, stack_kinds: &mut impl FnMut(StackKinds) -> u32) -> Self {
        let sent = c.first_syn();
        let first = FirstSyn {
            frame: sent.frame,
            time_ns: sent.time_ns,
            tfo: sent.tfo,
            data_len: sent.data_len,
            features: sent.features,
        };
        let refused = |r: &crate::record::Refusal, by_reset| {
            Refused::of(r.frame, &first, r.answers_first_syn, by_reset, r.mtu)
        };
        ConnSummary {
            first_syn: first,
            synack: c.synack_to_first_syn().map(|s| {
                let fields = SynAckFields {
                    frame: s.frame,
                    time_ns: s.time_ns,
                    answers: s.answers,
                    tfo: s.tfo,
                    tfo_kind: s.tfo_kind,
                    ttl: s.ttl,
                    mss: s.mss,
                    data_len: s.data_len,
                    option_kinds: &s.option_kinds,
                    another_cookie: another_cookie(c),
                    features: s.features,
                };
                SynAckSummary::of(fields, &first, stack_kinds)
            }),
            syn_data_acked: c.syn_data_acked,
            synack_conflict: match (&c.synack, &c.other_synack) {
                (Some(s), Some(other)) if c.synack_conflict => conflict_distance(s.frame, other.frame),
                _ => None,
            },
            refused: c
                .reset
                .as_ref()
                .map(|r| refused(r, true))
                .or(c.icmp.as_ref().map(|r| refused(r, false))),
            outcome: c.outcome,
            attempt: c.attempt.clone(),
            path: PathFacts::of(c).map(Arc::new),
        }
    }

    /// The frames of two SYN-ACKs (different ISNs) that answered the same SYN transmission.
    pub fn conflicting_synack(&self) -> Option<(u64, u64)> {
        let first = self.synack.as_ref()?.frame;
        let other = first.checked_add_signed(i64::from(self.synack_conflict?.get()))?;
        Some((first.min(other), first.max(other)))
    }

    /// The frame of the RST or ICMP error that refused the connection.
    pub fn refusal_frame(&self) -> Option<u64> {
        self.refused.map(|r| self.first_syn.frame + u64::from(r.frames_after_syn))
    }

    /// Refused by a TCP RST (an ICMP error aside).
    pub fn reset(&self) -> bool {
        self.refused.is_some_and(|r| r.by_reset)
    }

    pub fn first_syn(&self) -> &FirstSyn {
        &self.first_syn
    }

    /// The first SYN carried a TFO option (a request, a cookie, or something malformed).
    pub fn tried_tfo(&self) -> bool {
        matches!(self.first_syn.tfo, SynTfo::CookieRequest | SynTfo::Cookie | SynTfo::Malformed)
    }

    /// A TFO exchange of any kind: a TFO option, or data on the SYN (with or without an
    /// option: Linux's cookie-less TFO sends none).
    pub fn tfo_exchange(&self) -> bool {
        self.tried_tfo() || self.first_syn.data_len > 0
    }
}

/// The shortest time after which a client retransmits a SYN: Linux's initial RTO (1 s, RFC
/// 6298), less a margin for the capture's clock; Windows waits 3 s.
const MIN_SYN_RTO_US: u32 = 900_000;

/// Without TCP timestamps (Windows clients, boxes that strip them) a SYN-ACK that acks no
/// data cannot say whether it answered the first SYN or its retransmission. Timing can: one
/// that came at least an RTO after the first SYN, after the retransmission had gone, and more
/// than four times the slowest round trip of the target's other handshakes, answered the
/// retransmission (had the first SYN got through, its answer would have come a round trip
/// later). Needs a round trip of the same target to compare with; else it stays ambiguous.
fn answer_by_timing(conns: &mut [ConnSummary]) {
    let round_trip_us = conns
        .iter()
        .filter_map(|c| c.synack.as_ref())
        .filter(|s| s.answers == SynAckAnswers::FirstSyn)
        .map(|s| s.after_syn_us)
        .max();
    let Some(round_trip_us) = round_trip_us else { return };
    for s in conns.iter_mut().filter_map(|c| c.synack.as_mut()) {
        if s.answers == SynAckAnswers::Ambiguous
            && s.after_syn_us >= MIN_SYN_RTO_US
            && s.after_syn_us / 4 > round_trip_us
        {
            s.answers = SynAckAnswers::RetransmittedSyn;
            s.answers_by_timing = true;
        }
    }
}

/// The SYN sent a cookie and the SYN-ACK gone on with carried another.
fn another_cookie(c: &Connection) -> bool {
    match (&c.syn_cookie, c.synack.as_ref().and_then(|s| s.cookie.as_ref())) {
        (Some(sent), Some(granted)) => sent != granted && c.first_syn().tfo == SynTfo::Cookie,
        _ => false,
    }
}

/// The second SYN-ACK's frame less the first's, as [`ConnSummary`] keeps it.
fn conflict_distance(synack: u64, other: u64) -> Option<std::num::NonZeroI32> {
    let distance = i64::try_from(other).unwrap_or(i64::MAX) - i64::try_from(synack).unwrap_or(0);
    std::num::NonZeroI32::new(distance.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
}

/// The addresses in the most connections, found in a few entries whatever the number of
/// addresses (Misra and Gries' frequent items): a count per candidate, all lowered when a new
/// address finds no room. A true count is at least the kept one, and at most n/(K+1) more.
#[derive(Debug, Clone, Default)]
struct HeavyHitters {
    /// (address, connections it took part in, of those as the client).
    candidates: Vec<(IpAddr, u64, u64)>,
    connections: u64,
}

impl HeavyHitters {
    const K: usize = 8;

    fn connection(&mut self, client: IpAddr, server: IpAddr) {
        self.connections += 1;
        for (ip, as_client) in [(client, 1), (server, 0)] {
            if let Some((_, n, c)) = self.candidates.iter_mut().find(|(seen, ..)| *seen == ip) {
                *n += 1;
                *c += as_client;
            } else if self.candidates.len() < Self::K {
                self.candidates.push((ip, 1, as_client));
            } else {
                for (_, n, c) in &mut self.candidates {
                    *n -= 1;
                    *c = (*c).min(*n);
                }
                self.candidates.retain(|(_, n, _)| *n > 0);
            }
        }
    }

    /// The address in more than a third of the connections by its kept count (so in at least
    /// that many): the vantage's, if any. Where two are in as many (one client, one server:
    /// both are in every connection), the one that opened them is the vantage: the side that
    /// sends the SYNs is the client, and a server is the vantage only where many clients
    /// connect to it.
    fn dominant(&self) -> Option<IpAddr> {
        let (ip, n, _) = self
            .candidates
            .iter()
            .max_by_key(|(ip, n, as_client)| (*n, *as_client, std::cmp::Reverse(*ip)))?;
        (*n * 3 > self.connections).then_some(*ip)
    }
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A vantage's connections as the verdicts see them: by target (server address and port), each
/// target's in first-SYN order once [`TargetConnections::finish`] has run.
#[derive(Debug, Clone, Default)]
pub struct TargetConnections {
    /// Hashed while connections arrive (one lookup per connection), sorted by target once
    /// they are all in.
    by_target: FastMap<(IpAddr, u16), Vec<ConnSummary>>,
    sorted: Vec<((IpAddr, u16), Vec<ConnSummary>)>,
    /// SYN-ACK option lists seen, numbered: a handful in any real capture.
    stack_kinds: FastMap<StackKinds, u32>,
    connections: u64,
    tfo: u64,
    /// Connections with a view from the server (echo origin or server capture).
    with_arrival: u64,
    own: OwnAddresses,
    /// `own` came from all of the vantage's connections, not only those added here (a bucket
    /// of its targets: `judge --buckets`).
    own_given: bool,
}

/// What tells a vantage's own addresses, from all its connections.
#[derive(Debug, Clone, Default)]
pub struct OwnAddresses {
    /// The addresses in the most connections, either side, per family: the vantage's own
    /// addresses are in nearly all of them.
    busiest_v4: HeavyHitters,
    busiest_v6: HeavyHitters,
    /// Client addresses of connections the collector's records name: ours, for certain.
    recorded_clients: Vec<IpAddr>,
}

impl OwnAddresses {
    pub fn connection(&mut self, client: IpAddr, server: IpAddr, recorded: bool) {
        let busiest = if client.is_ipv4() { &mut self.busiest_v4 } else { &mut self.busiest_v6 };
        busiest.connection(client, server);
        if recorded && !self.recorded_clients.contains(&client) {
            self.recorded_clients.push(client);
        }
    }

    /// The clients of the collector's records, else, per address family, the address that
    /// takes part in the most connections, if it is in a good share of them (a capturing host
    /// is in all of its own; at a router of many hosts none is).
    pub fn addresses(&self) -> Vec<IpAddr> {
        if !self.recorded_clients.is_empty() {
            return self.recorded_clients.clone();
        }
        [self.busiest_v4.dominant(), self.busiest_v6.dominant()].into_iter().flatten().collect()
    }
}

impl TargetConnections {
    pub fn add(&mut self, c: &Connection) {
        let known = &mut self.stack_kinds;
        let summary = ConnSummary::of(c, &mut |kinds| {
            let next = known.len() as u32;
            *known.entry(kinds).or_insert(next)
        });
        self.push(c.client.ip(), (c.server.ip(), c.server.port()), summary);
    }

    /// A connection from its connections table row.
    pub fn add_row(&mut self, row: ConnRow) {
        let (client, target) = (row.client, (row.server, row.server_port));
        let known = &mut self.stack_kinds;
        let summary = ConnSummary::of_row(row, &mut |kinds| {
            let next = known.len() as u32;
            *known.entry(kinds).or_insert(next)
        });
        self.push(client, target, summary);
    }

    /// A bucket of a vantage's targets, whose own addresses come from all its connections.
    pub fn with_own_addresses(own: OwnAddresses) -> Self {
        TargetConnections { own, own_given: true, ..Default::default() }
    }

    fn push(&mut self, client: IpAddr, target: (IpAddr, u16), summary: ConnSummary) {
        self.connections += 1;
        self.tfo += u64::from(summary.tried_tfo());
        self.with_arrival += u64::from(summary.path.is_some());
        if !self.own_given {
            self.own.connection(client, target.0, summary.attempt.is_some());
        }
        let conns = self.by_target.entry(target).or_default();
        if conns.len() == conns.capacity() {
            // Grow by a quarter, not double: these lists are most of what a big capture leaves
            // in memory, and doubling would leave up to half of them empty.
            conns.reserve_exact((conns.len() / 4).max(8));
        }
        conns.push(summary);
    }

    pub fn of(connections: &[Connection]) -> Self {
        let mut out = TargetConnections::default();
        for c in connections {
            out.add(c);
        }
        out.finish();
        out
    }

    /// Puts the targets in order, and each target's connections in first-SYN order ((time,
    /// frame) is unique in a stream). May run again after more connections are added.
    pub fn finish(&mut self) {
        let mut added: Vec<_> = self.by_target.drain().collect();
        self.sorted.append(&mut added);
        self.sorted.sort_unstable_by_key(|(target, _)| *target);
        // Connections of one target added before and after an earlier finish: one list.
        self.sorted.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1.append(&mut later.1);
            }
            same
        });
        for (_, conns) in &mut self.sorted {
            conns.sort_unstable_by_key(|c| (c.first_syn.time_ns, c.first_syn.frame));
            answer_by_timing(conns);
        }
    }

    /// One target's connections in first-SYN order, as of the last
    /// [`TargetConnections::finish`].
    pub fn get(&self, target: &(IpAddr, u16)) -> Option<&[ConnSummary]> {
        let i = self.sorted.binary_search_by_key(target, |(key, _)| *key).ok()?;
        Some(&self.sorted[i].1)
    }

    /// Targets in order, as of the last [`TargetConnections::finish`], as a slice (to be
    /// judged in parallel).
    pub fn sorted(&self) -> &[((IpAddr, u16), Vec<ConnSummary>)] {
        &self.sorted
    }

    /// Targets in order, as of the last [`TargetConnections::finish`].
    pub fn iter(&self) -> impl Iterator<Item = (&(IpAddr, u16), &Vec<ConnSummary>)> {
        self.sorted.iter().map(|(target, conns)| (target, conns))
    }

    /// Connections with a view from the server (echo origin or server capture).
    pub fn with_arrival(&self) -> usize {
        self.with_arrival as usize
    }

    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// Connections whose first SYN carried a TFO option.
    pub fn tfo_connections(&self) -> u64 {
        self.tfo
    }

    /// The vantage's own addresses (see [`OwnAddresses::addresses`]).
    pub fn own_addresses(&self) -> Vec<IpAddr> {
        self.own.addresses()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(server: &str, port: u16, time_ns: i64, frame: u64) -> Connection {
        let server = std::net::SocketAddr::new(server.parse().unwrap(), port);
        Connection::unanswered(
            "192.0.2.1:40000".parse().unwrap(),
            server,
            time_ns,
            frame,
            SynTfo::CookieRequest,
        )
    }

    #[test]
    fn one_client_one_server_the_client_is_the_vantage_whatever_the_addresses() {
        // Both addresses are in every connection; the SYNs' sender is the vantage, for either
        // order of the addresses and either family.
        for (client, server) in [
            ("198.51.100.9", "192.0.2.1"),
            ("192.0.2.1", "198.51.100.9"),
            ("2001:db8::2", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::2"),
        ] {
            let mut own = OwnAddresses::default();
            for _ in 0..3 {
                own.connection(client.parse().unwrap(), server.parse().unwrap(), false);
            }
            assert_eq!(own.addresses(), vec![client.parse::<IpAddr>().unwrap()], "{client} -> {server}");
        }
        // A server many clients connect to is the vantage (a capture at the server).
        let mut own = OwnAddresses::default();
        for i in 1..=6 {
            own.connection(format!("198.51.100.{i}").parse().unwrap(), "192.0.2.1".parse().unwrap(), false);
        }
        assert_eq!(own.addresses(), vec!["192.0.2.1".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn targets_in_order_and_their_connections_by_first_syn_across_finishes() {
        let mut targets = TargetConnections::default();
        targets.add(&conn("198.51.100.2", 80, 30, 3));
        targets.add(&conn("198.51.100.1", 443, 20, 2));
        targets.add(&conn("198.51.100.2", 80, 10, 1));
        targets.finish();
        targets.add(&conn("198.51.100.2", 80, 5, 9));
        targets.add(&conn("2001:db8::1", 80, 40, 4));
        targets.finish();
        let seen: Vec<(String, Vec<u64>)> = targets
            .iter()
            .map(|((ip, port), conns)| {
                (format!("{ip}:{port}"), conns.iter().map(|c| c.first_syn.frame).collect())
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("198.51.100.1:443".to_string(), vec![2]),
                ("198.51.100.2:80".to_string(), vec![9, 1, 3]),
                ("2001:db8::1:80".to_string(), vec![4]),
            ]
        );
        assert_eq!((targets.connections(), targets.tfo_connections()), (5, 5));
    }

    #[test]
    fn the_vantages_address_found_among_many_and_none_at_a_router() {
        let ip = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0xc612_0000 + i));
        // A client that fetched from 10,000 servers and was scanned by 100 hosts.
        let mut host = HeavyHitters::default();
        for i in 0..10_000 {
            host.connection(ip(1), ip(1000 + i));
        }
        for i in 0..100 {
            host.connection(ip(500 + i), ip(1));
        }
        assert_eq!(host.dominant(), Some(ip(1)));
        assert!(host.candidates.len() <= HeavyHitters::K);
        // A router between many hosts: nobody's address is in a third of the connections.
        let mut router = HeavyHitters::default();
        for i in 0..10_000 {
            router.connection(ip(10 + i % 50), ip(100_000 + i));
        }
        assert_eq!(router.dominant(), None);
    }

    #[test]
    fn a_summary_stays_small() {
        // The verdicts hold one per connection of the whole capture.
        assert!(std::mem::size_of::<ConnSummary>() <= 88, "{}", std::mem::size_of::<ConnSummary>());
    }

    #[test]
    fn stack_kinds_ignore_padding_and_tfo_and_keep_order() {
        assert_eq!(StackKinds::of(&[2, 1, 4, 8, 34, 254, 0]), StackKinds::of(&[2, 4, 8]));
        assert_ne!(StackKinds::of(&[2, 4, 8]), StackKinds::of(&[2, 8, 4]));
        // 40 option bytes hold at most 20 kinds of two bytes or more; more never panic.
        let many = [5u8; 40];
        assert_eq!(StackKinds::of(&many).len, 20);
    }
}
