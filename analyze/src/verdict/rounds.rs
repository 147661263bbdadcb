//! A target's connections into measurement rounds, and the vote across rounds.

use std::collections::BTreeMap;

use crate::summary::ConnSummary;

/// The collector's records say which round each connection belongs to; without them a new
/// round starts with a TFO connection that follows a plain one (the collector's order: cookie
/// request, SYN-data, baseline).
pub fn split_rounds<'a>(conns: &[&'a ConnSummary]) -> Vec<Vec<&'a ConnSummary>> {
    if !conns.is_empty() && conns.iter().all(|c| c.attempt.is_some()) {
        let mut by_round: BTreeMap<u32, Vec<&ConnSummary>> = BTreeMap::new();
        for c in conns {
            by_round.entry(c.attempt.as_ref().expect("checked").round).or_default().push(c);
        }
        return by_round.into_values().collect();
    }
    let mut rounds: Vec<Vec<&ConnSummary>> = Vec::new();
    for c in conns {
        let starts = match rounds.last().and_then(|r| r.last()) {
            None => true,
            Some(prev) => c.tried_tfo() && !prev.tried_tfo(),
        };
        if starts {
            rounds.push(Vec::new());
        }
        rounds.last_mut().expect("pushed").push(c);
    }
    rounds
}

/// The value most rounds show; ties go to the earliest round.
pub fn majority<T: Copy + PartialEq>(values: impl Iterator<Item = T>) -> T {
    let values: Vec<T> = values.collect();
    let mut best = values[0];
    let mut best_count = 0;
    for v in &values {
        let count = values.iter().filter(|x| *x == v).count();
        if count > best_count {
            best = *v;
            best_count = count;
        }
    }
    best
}
