//! The rates a study publishes, from the verdicts: per vantage, IP version and server port
//! (and per vantage overall), how many targets were measured, how many validly, and for each
//! outcome how many showed it, its share of the valid ones and a 95 % Wilson interval. Defined
//! as the published figures are: `tfo_dependent_failure` is a target reachable without TFO
//! and not with it (a cloud scan's 0.019 %); `cookie_rejected` an origin that refused the
//! cookie it had granted (a load balancer's backends, a 2020 study's 40 % of revisits).

use std::collections::BTreeMap;

use polars::prelude::*;

use super::other_cols::{Outcome, RateCol, RateStat};
use super::TableError;
use crate::verdict::{Connectivity, Direction, TargetVerdict};

/// Whether a verdict shows an outcome.
fn shows(v: &TargetVerdict, outcome: Outcome) -> bool {
    match outcome {
        Outcome::TfoDependentFailure => v.connectivity == Connectivity::TfoBroken,
        Outcome::CookieRejected => v.cookie_rejected,
        Outcome::Middlebox => v.middlebox == Some(true),
        Outcome::Signature(signature) => v.signatures.contains(&signature),
    }
}

/// A valid measurement: a path the vantage measured (outbound) where a TFO exchange took
/// place on a measurement nothing spoiled. The shares are of these.
fn valid(v: &TargetVerdict) -> bool {
    v.direction == Direction::Outbound && v.measurement_valid && v.tfo_exchanged()
}

/// One row's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counts {
    targets: u64,
    valid: u64,
    showing: Vec<u64>,
}

/// Rates gathered a batch of verdicts at a time (`judge --buckets` judges in buckets).
#[derive(Debug, Default)]
pub struct Rates {
    /// By (vantage, ip version, server port); the version and port None for the vantage
    /// overall.
    rows: BTreeMap<(String, Option<u8>, Option<u16>), Counts>,
}

impl Rates {
    pub fn add(&mut self, verdicts: &[TargetVerdict]) {
        let outcomes: Vec<Outcome> = Outcome::all().collect();
        for v in verdicts.iter().filter(|v| v.direction == Direction::Outbound) {
            let keys =
                [(v.vantage.clone(), None, None), (v.vantage.clone(), v.ip_version(), Some(v.server_port))];
            for key in keys {
                let counts = self
                    .rows
                    .entry(key)
                    .or_insert_with(|| Counts { showing: vec![0; outcomes.len()], ..Counts::default() });
                counts.targets += 1;
                if valid(v) {
                    counts.valid += 1;
                    for (n, outcome) in counts.showing.iter_mut().zip(&outcomes) {
                        *n += u64::from(shows(v, *outcome));
                    }
                }
            }
        }
    }

    /// The `rates` table (schemas/rates.json): a vantage's overall row first, then its rows by
    /// IP version and port.
    pub fn frame(&self) -> Result<DataFrame, TableError> {
        let build = |error| TableError::Build { table: "rates", error };
        let rows: Vec<(&(String, Option<u8>, Option<u16>), &Counts)> = self.rows.iter().collect();
        let n = rows.len();
        let mut columns: Vec<Column> = vec![
            Series::new(
                RateCol::Vantage.as_str().into(),
                rows.iter().map(|(k, _)| k.0.as_str()).collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                RateCol::IpVersion.as_str().into(),
                rows.iter().map(|(k, _)| k.1).collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                RateCol::ServerPort.as_str().into(),
                rows.iter().map(|(k, _)| k.2).collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                RateCol::Targets.as_str().into(),
                rows.iter().map(|(_, c)| c.targets).collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                RateCol::Valid.as_str().into(),
                rows.iter().map(|(_, c)| c.valid).collect::<Vec<_>>(),
            )
            .into(),
        ];
        for (i, outcome) in Outcome::all().enumerate() {
            let count: Vec<u64> = rows.iter().map(|(_, c)| c.showing[i]).collect();
            let share: Vec<Option<f64>> = rows
                .iter()
                .map(|(_, c)| (c.valid > 0).then(|| c.showing[i] as f64 / c.valid as f64))
                .collect();
            let interval: Vec<Option<(f64, f64)>> =
                rows.iter().map(|(_, c)| wilson(c.showing[i], c.valid)).collect();
            columns.push(Series::new(outcome.column(RateStat::Count).into(), count).into());
            columns.push(Series::new(outcome.column(RateStat::Share).into(), share).into());
            columns.push(
                Series::new(
                    outcome.column(RateStat::CiLow).into(),
                    interval.iter().map(|w| w.map(|w| w.0)).collect::<Vec<_>>(),
                )
                .into(),
            );
            columns.push(
                Series::new(
                    outcome.column(RateStat::CiHigh).into(),
                    interval.iter().map(|w| w.map(|w| w.1)).collect::<Vec<_>>(),
                )
                .into(),
            );
        }
        DataFrame::new(n, columns).map_err(build)
    }
}

/// The 95 % Wilson score interval of `k` successes in `n` trials (Wilson 1927): unlike the
/// normal approximation it stays within [0, 1] and is sound for the small shares middleboxes
/// have. None for no trials.
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    const Z: f64 = 1.959_963_984_540_054;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_match_published_values() {
        // Worked values (Newcombe 1998, table I): 0 of 10, 5 of 10, 81 of 263.
        let close = |a: f64, b: f64| (a - b).abs() < 5e-4;
        let (lo, hi) = wilson(0, 10).unwrap();
        assert!(close(lo, 0.0) && close(hi, 0.2775), "{lo} {hi}");
        let (lo, hi) = wilson(5, 10).unwrap();
        assert!(close(lo, 0.2366) && close(hi, 0.7634), "{lo} {hi}");
        let (lo, hi) = wilson(81, 263).unwrap();
        assert!(close(lo, 0.2553) && close(hi, 0.3662), "{lo} {hi}");
        assert_eq!(wilson(3, 0), None);
    }

    #[test]
    fn each_outcome_is_shown_by_its_own_fact_alone() {
        use crate::verdict::{Finding, Signature};
        let plain = || {
            let ip = Some("198.51.100.1".parse().unwrap());
            TargetVerdict::unjudged("v", "t".into(), (ip, 80), Connectivity::Works, String::new())
        };
        let shown = |v: &TargetVerdict| -> Vec<&str> {
            Outcome::all().filter(|o| shows(v, *o)).map(Outcome::as_str).collect()
        };
        assert!(shown(&plain()).is_empty());
        let mut v = plain();
        v.connectivity = Connectivity::TfoBroken;
        assert_eq!(shown(&v), ["tfo_dependent_failure"]);
        let mut v = plain();
        v.cookie_rejected = true;
        assert_eq!(shown(&v), ["cookie_rejected"]);
        let mut v = plain();
        v.middlebox = Finding::Middlebox;
        assert_eq!(shown(&v), ["middlebox"]);
        for s in Signature::ALL {
            let mut v = plain();
            v.signatures = vec![*s];
            assert_eq!(shown(&v), [s.as_str()]);
        }
    }
}
