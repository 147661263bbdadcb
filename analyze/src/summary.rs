//! What the verdicts need of each connection, and nothing more.
//!
//! The connections table takes whole [`Connection`]s a batch at a time and lets them go; the
//! verdicts are made once every file has been read, so each connection leaves behind a
//! [`ConnSummary`] (fixed size, no heap of its own) under its target. Memory then follows the
//! open connections and the targets plus a small record per connection, not the file.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::decode::options::{KIND_EOL, KIND_EXPERIMENTAL, KIND_FASTOPEN, KIND_NOP};
use crate::record::{AttemptLink, Connection, DataAcked, Outcome, SynAck, SynAckAnswers, SynAckTfo, SynTfo};

/// The first SYN of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstSyn {
    pub frame: u64,
    pub time_ns: i64,
    pub tfo: SynTfo,
    pub data_len: u32,
}

/// Option kinds of a SYN-ACK that say something about the stack that built it: TFO and
/// padding removed, since they differ by design between TFO and plain answers. Every other
/// option takes at least two bytes of the 40, so 20 kinds always fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackKinds {
    len: u8,
    kinds: [u8; 20],
}

impl StackKinds {
    pub fn of(option_kinds: &[u8]) -> Self {
        let mut out = StackKinds { len: 0, kinds: [0; 20] };
        for &k in option_kinds
            .iter()
            .filter(|k| ![KIND_NOP, KIND_EOL, KIND_FASTOPEN, KIND_EXPERIMENTAL].contains(k))
        {
            if usize::from(out.len) < out.kinds.len() {
                out.kinds[usize::from(out.len)] = k;
                out.len += 1;
            }
        }
        out
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.kinds[..usize::from(self.len)]
    }
}

/// The first SYN-ACK, as the verdicts see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynAckSummary {
    pub frame: u64,
    pub answers: SynAckAnswers,
    pub tfo: SynAckTfo,
    pub tfo_kind: Option<u8>,
    pub ttl: u8,
    pub mss: Option<u16>,
    pub stack_kinds: StackKinds,
}

impl SynAckSummary {
    pub fn of(s: &SynAck) -> Self {
        SynAckSummary {
            frame: s.frame,
            answers: s.answers,
            tfo: s.tfo,
            tfo_kind: s.tfo_kind,
            ttl: s.ttl,
            mss: s.mss,
            stack_kinds: StackKinds::of(&s.option_kinds),
        }
    }
}

/// A RST or ICMP error that refused the connection before any SYN-ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub frame: u64,
    pub answers_first_syn: bool,
}

/// One connection as the verdicts see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnSummary {
    pub first_syn: FirstSyn,
    pub synack: Option<SynAckSummary>,
    pub syn_data_acked: Option<DataAcked>,
    pub reset: Option<Refused>,
    pub icmp: Option<Refused>,
    pub outcome: Outcome,
    pub attempt: Option<Arc<AttemptLink>>,
}

impl ConnSummary {
    pub fn of(c: &Connection) -> Self {
        let first = c.first_syn();
        let refused =
            |r: &crate::record::Refusal| Refused { frame: r.frame, answers_first_syn: r.answers_first_syn };
        ConnSummary {
            first_syn: FirstSyn {
                frame: first.frame,
                time_ns: first.time_ns,
                tfo: first.tfo,
                data_len: first.data_len,
            },
            synack: c.synack.as_ref().map(SynAckSummary::of),
            syn_data_acked: c.syn_data_acked,
            reset: c.reset.as_ref().map(refused),
            icmp: c.icmp.as_ref().map(refused),
            outcome: c.outcome,
            attempt: c.attempt.clone(),
        }
    }

    pub fn first_syn(&self) -> &FirstSyn {
        &self.first_syn
    }

    /// The first SYN carried a TFO option (a request, a cookie, or something malformed).
    pub fn tried_tfo(&self) -> bool {
        matches!(self.first_syn.tfo, SynTfo::CookieRequest | SynTfo::Cookie | SynTfo::Malformed)
    }
}

/// A vantage's connections as the verdicts see them: by target (server address and port), each
/// target's in first-SYN order once [`TargetConnections::finish`] has run.
#[derive(Debug, Clone, Default)]
pub struct TargetConnections {
    by_target: BTreeMap<(IpAddr, u16), Vec<ConnSummary>>,
    connections: u64,
    tfo: u64,
}

impl TargetConnections {
    pub fn add(&mut self, c: &Connection) {
        let summary = ConnSummary::of(c);
        self.connections += 1;
        self.tfo += u64::from(summary.tried_tfo());
        self.by_target.entry((c.server.ip(), c.server.port())).or_default().push(summary);
    }

    pub fn of(connections: &[Connection]) -> Self {
        let mut out = TargetConnections::default();
        for c in connections {
            out.add(c);
        }
        out.finish();
        out
    }

    /// Puts each target's connections in first-SYN order ((time, frame) is unique in a stream).
    pub fn finish(&mut self) {
        for conns in self.by_target.values_mut() {
            conns.sort_unstable_by_key(|c| (c.first_syn.time_ns, c.first_syn.frame));
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&(IpAddr, u16), &Vec<ConnSummary>)> {
        self.by_target.iter()
    }

    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// Connections whose first SYN carried a TFO option.
    pub fn tfo_connections(&self) -> u64 {
        self.tfo
    }
}
