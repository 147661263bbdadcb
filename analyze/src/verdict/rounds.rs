//! A target's connections into measurement rounds, and the vote across rounds.
//!
//! With the collector's records each connection names its round. Without them (another tool's
//! capture) a round holds at most one connection of each kind of fetch, told by its first SYN
//! (a cookie request, a SYN with data or a cookie, a plain SYN), in whatever order the tool
//! made them: a connection whose kind the round already holds starts the next round. One
//! exception: a second cookie request joins the round when the first was answered without a
//! cookie and no SYN-data followed yet (clients that ask twice); and a connection that began
//! before the same kind's was answered is the one fetch seen twice (both sides of a NAT that
//! rewrites ISNs) or a parallel attempt. PATHspider's order (baseline,
//! request, data), ours (request, data, baseline) and any other come out as the same rounds.

use std::collections::BTreeMap;

use crate::attempt::FetchKind;
use crate::record::{SynAckTfo, SynTfo};
use crate::summary::ConnSummary;

/// How the rounds were formed, for the explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundsFormed {
    /// From the collector's records.
    ByRecords,
    /// From the kinds of the connections' first SYNs, in capture order.
    ByKinds,
}

pub fn split_rounds<'a>(conns: &[&'a ConnSummary]) -> (Vec<Vec<&'a ConnSummary>>, RoundsFormed) {
    if !conns.is_empty() && conns.iter().all(|c| c.attempt.is_some()) {
        let mut by_round: BTreeMap<u32, Vec<&ConnSummary>> = BTreeMap::new();
        for c in conns {
            by_round.entry(c.attempt.as_ref().expect("checked").round).or_default().push(c);
        }
        return (by_round.into_values().collect(), RoundsFormed::ByRecords);
    }
    let mut rounds: Vec<Vec<&ConnSummary>> = Vec::new();
    let mut state = RoundState::default();
    for c in conns {
        let kind = inferred_kind(c);
        if rounds.is_empty() || kind.is_some_and(|k| state.starts_next(k, c)) {
            rounds.push(Vec::new());
            state = RoundState::default();
        }
        if let Some(kind) = kind {
            state.add(kind, c);
        }
        rounds.last_mut().expect("pushed").push(c);
    }
    (rounds, RoundsFormed::ByKinds)
}

/// What the round being formed holds, kept as connections join it (a target of a million
/// connections must not be walked once per connection).
#[derive(Debug, Clone, Copy)]
struct RoundState {
    /// Per kind (request, data, plain): whether the round holds one, and when the last of
    /// them was answered (ns; i64::MIN while none was).
    held: [bool; 3],
    answered_until_ns: [i64; 3],
    /// Every cookie request of the round went without a cookie.
    requests_refused: bool,
}

impl Default for RoundState {
    fn default() -> Self {
        RoundState { held: [false; 3], answered_until_ns: [i64::MIN; 3], requests_refused: true }
    }
}

impl RoundState {
    fn slot(kind: FetchKind) -> usize {
        match kind {
            FetchKind::TfoCookieRequest => 0,
            FetchKind::TfoData => 1,
            FetchKind::Plain => 2,
        }
    }

    /// `c`, of `kind`, begins the next round: the round holds one of its kind already, answered
    /// before `c` began, and `c` is not a client asking for a cookie again.
    fn starts_next(&self, kind: FetchKind, c: &ConnSummary) -> bool {
        let slot = Self::slot(kind);
        let overlapping = c.first_syn().time_ns < self.answered_until_ns[slot];
        let asks_again = kind == FetchKind::TfoCookieRequest && self.requests_refused && !self.held[1];
        self.held[slot] && !overlapping && !asks_again
    }

    fn add(&mut self, kind: FetchKind, c: &ConnSummary) {
        let slot = Self::slot(kind);
        self.held[slot] = true;
        if let Some(s) = &c.synack {
            let answered_ns = c.first_syn().time_ns.saturating_add(i64::from(s.after_syn_us) * 1000);
            self.answered_until_ns[slot] = self.answered_until_ns[slot].max(answered_ns);
        }
        if kind == FetchKind::TfoCookieRequest {
            self.requests_refused &= c.synack.as_ref().is_none_or(|s| s.tfo != SynAckTfo::Cookie);
        }
    }
}

/// The fetch a connection stands for, by its first SYN; None when the options were cut.
pub fn inferred_kind(c: &ConnSummary) -> Option<FetchKind> {
    let syn = c.first_syn();
    match syn.tfo {
        SynTfo::Truncated => None,
        _ if syn.data_len > 0 => Some(FetchKind::TfoData),
        SynTfo::Cookie => Some(FetchKind::TfoData),
        SynTfo::CookieRequest | SynTfo::Malformed => Some(FetchKind::TfoCookieRequest),
        SynTfo::None => Some(FetchKind::Plain),
    }
}

/// A round that tried TFO: its first SYNs carried a TFO option or data. Only these vote on a
/// target's verdict when there are any: a round of only a baseline says nothing of TFO.
pub fn tried_tfo(round: &[&ConnSummary]) -> bool {
    round.iter().any(|c| c.tfo_exchange())
}

/// The value most rounds show; ties go to the earliest round. Counted per distinct value (a
/// handful): a long capture of one target has thousands of rounds.
pub fn majority<T: Copy + PartialEq>(values: impl Iterator<Item = T>) -> T {
    // (value, count), in order of first appearance.
    let mut counts: Vec<(T, usize)> = Vec::new();
    for v in values {
        match counts.iter_mut().find(|(seen, _)| *seen == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max().expect("at least one round");
    counts.into_iter().find(|(_, n)| *n == best).expect("the maximum is there").0
}
