//! The page: the run, the rates, the verdicts, the ladders; HTML written by hand, every value
//! escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use polars::prelude::*;

use super::escape::escape;
use super::input::ReportInput;
use super::svg::{ladder, share_bars, Bar, Rung};
use crate::table::conn_col::ConnCol;
use crate::table::other_cols::{FileCol, Outcome, RateCol, RateStat};
use crate::table::target_col::TargetCol;

/// Targets drawn as ladders at most: a page that opens at once even for a large run (every
/// verdict is still in the table).
const LADDERS_AT_MOST: usize = 40;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}\
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}\
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}th,td{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.yes{color:#b00;font-weight:bold}.no{color:#070}.unk{color:#a60}\
svg text{font-size:12px;font-family:sans-serif}svg .h{font-weight:bold}svg .small{font-size:10px;fill:#555}\
svg .bar{fill:#6a8fc8}svg .ci,svg .axis{stroke:#333;stroke-width:1}svg .pkt{stroke-width:1.5}\
svg .syn{stroke:#1f5fbf}svg .resend{stroke:#1f5fbf;stroke-dasharray:4 3}svg .answer{stroke:#2a8a2a}svg .none{fill:#b00}\
svg .what{font-size:11px;font-weight:bold}tr.expl td{color:#444;border-top:none;padding-bottom:.6em}.warn{color:#a60}.wide{overflow-x:auto}\
@media print{body{margin:0}h2{break-after:avoid}svg,table{break-inside:avoid}}";

/// The column `name` as text values (lists joined with ", "), for any type.
fn texts(df: &DataFrame, name: &str) -> Vec<String> {
    let Ok(column) = df.column(name) else { return vec![String::new(); df.height()] };
    let series = column.as_materialized_series();
    (0..df.height())
        .map(|i| match series.get(i) {
            Ok(AnyValue::Null) | Err(_) => String::new(),
            Ok(AnyValue::String(s)) => s.to_string(),
            Ok(AnyValue::StringOwned(s)) => s.to_string(),
            Ok(AnyValue::List(items)) => {
                let items: Vec<String> = (0..items.len())
                    .filter_map(|j| items.get(j).ok())
                    .map(|v| match v {
                        AnyValue::String(s) => s.to_string(),
                        AnyValue::StringOwned(s) => s.to_string(),
                        other => other.to_string(),
                    })
                    .collect();
                items.join(", ")
            }
            Ok(other) => other.to_string(),
        })
        .collect()
}

fn numbers(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    let Ok(column) = df.column(name) else { return vec![None; df.height()] };
    let Ok(cast) = column.as_materialized_series().cast(&DataType::Float64) else {
        return vec![None; df.height()];
    };
    cast.f64().map(|ca| ca.iter().collect()).unwrap_or_else(|_| vec![None; df.height()])
}

pub fn render(input: &ReportInput) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>tfoscope report</title><style>{STYLE}</style></head><body><h1>tfoscope report</h1><p>Made by tfoscope {} from {}.</p>",
        env!("CARGO_PKG_VERSION"),
        escape(&input.sources.join(", "))
    );
    run_section(&mut page, input);
    rates_section(&mut page, &input.rates);
    targets_section(&mut page, &input.targets);
    ladders_section(&mut page, input);
    page.push_str("<p class=\"small\">middlebox: YES a signature holds; no: every signature that could show this path's box was tested and none holds; ?: it could not tell (see untested); -: no TFO exchange took place. Shares are of the valid measurements, with 95 % Wilson intervals.</p></body></html>\n");
    page
}

/// The vantages: captures, packets, whether read whole, the time span, warnings.
fn run_section(page: &mut String, input: &ReportInput) {
    page.push_str("<h2>The run</h2>");
    let Some(files) = &input.files else {
        page.push_str("<p>No files table here (a judge output): the captures are described where they were analysed.</p>");
        return;
    };
    let (vantage, role, frames, complete) = (
        texts(files, FileCol::Vantage.as_str()),
        texts(files, FileCol::Role.as_str()),
        numbers(files, FileCol::Frames.as_str()),
        texts(files, FileCol::Complete.as_str()),
    );
    let mut by: BTreeMap<&str, (String, usize, f64, bool)> = BTreeMap::new();
    for i in 0..files.height() {
        let e = by.entry(vantage[i].as_str()).or_insert((role[i].clone(), 0, 0.0, true));
        e.1 += 1;
        e.2 += frames[i].unwrap_or(0.0);
        e.3 &= complete[i] == "true";
    }
    let span = input.connections.as_ref().map(|c| {
        let mut times: Vec<String> =
            texts(c, ConnCol::FirstSynTime.as_str()).into_iter().filter(|t| !t.is_empty()).collect();
        times.sort();
        (times.first().cloned().unwrap_or_default(), times.last().cloned().unwrap_or_default())
    });
    page.push_str(
        "<table><tr><th>vantage</th><th>role</th><th>captures</th><th>packets</th><th>read whole</th></tr>",
    );
    for (v, (role, captures, packets, whole)) in &by {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{captures}</td><td class=\"n\">{packets:.0}</td><td>{}</td></tr>",
            escape(v),
            escape(role),
            if *whole { "yes" } else { "<span class=\"warn\">PARTIAL</span>" }
        );
    }
    page.push_str("</table>");
    if let Some((first, last)) = span.filter(|(f, _)| !f.is_empty()) {
        let _ = write!(page, "<p>First SYN {}, last {}.</p>", escape(&first), escape(&last));
    }
    let mut warnings: Vec<String> =
        texts(files, FileCol::Warnings.as_str()).into_iter().filter(|w| !w.is_empty()).collect();
    warnings.sort();
    warnings.dedup();
    for w in warnings {
        let _ = write!(page, "<p class=\"warn\">warning: {}</p>", escape(&w));
    }
}

/// Per vantage overall: the outcomes seen, as bars with intervals; then every row as a table.
fn rates_section(page: &mut String, rates: &DataFrame) {
    page.push_str("<h2>Rates</h2>");
    let outcomes: Vec<Outcome> = Outcome::all().collect();
    let (vantage, version, port) = (
        texts(rates, RateCol::Vantage.as_str()),
        texts(rates, RateCol::IpVersion.as_str()),
        texts(rates, RateCol::ServerPort.as_str()),
    );
    let (targets, valid) =
        (numbers(rates, RateCol::Targets.as_str()), numbers(rates, RateCol::Valid.as_str()));
    let column = |o: &Outcome, stat: RateStat| numbers(rates, &o.column(stat));
    let counts: Vec<Vec<Option<f64>>> = outcomes.iter().map(|o| column(o, RateStat::Count)).collect();
    let shares: Vec<Vec<Option<f64>>> = outcomes.iter().map(|o| column(o, RateStat::Share)).collect();
    let lows: Vec<Vec<Option<f64>>> = outcomes.iter().map(|o| column(o, RateStat::CiLow)).collect();
    let highs: Vec<Vec<Option<f64>>> = outcomes.iter().map(|o| column(o, RateStat::CiHigh)).collect();
    for i in (0..rates.height()).filter(|&i| version[i].is_empty() && port[i].is_empty()) {
        let n = valid[i].unwrap_or(0.0) as u64;
        // Every outcome seen, and always the middlebox share: a clean run says 0 with its
        // interval, which is a finding too.
        let bars: Vec<Bar<'_>> = outcomes
            .iter()
            .enumerate()
            .filter(|(k, o)| counts[*k][i].unwrap_or(0.0) > 0.0 || **o == Outcome::Middlebox)
            .filter_map(|(k, o)| {
                Some(Bar {
                    label: o.as_str(),
                    count: counts[k][i].unwrap_or(0.0) as u64,
                    share: shares[k][i]?,
                    low: lows[k][i]?,
                    high: highs[k][i]?,
                })
            })
            .collect();
        if bars.is_empty() {
            let _ = write!(page, "<p>{}: no valid measurement.</p>", escape(&vantage[i]));
        } else {
            page.push_str(&share_bars(&format!("vantage {}", vantage[i]), n, &bars));
        }
    }
    page.push_str("<div class=\"wide\"><table><tr><th>vantage</th><th>IP</th><th>port</th><th>targets</th><th>valid</th>");
    let shown: Vec<usize> =
        (0..outcomes.len()).filter(|&k| counts[k].iter().any(|c| c.unwrap_or(0.0) > 0.0)).collect();
    for &k in &shown {
        let _ = write!(page, "<th>{}</th>", escape(outcomes[k].as_str()));
    }
    page.push_str("</tr>");
    for i in 0..rates.height() {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{:.0}</td><td class=\"n\">{:.0}</td>",
            escape(&vantage[i]),
            if version[i].is_empty() { "all" } else { &version[i] },
            if port[i].is_empty() { "all" } else { &port[i] },
            targets[i].unwrap_or(0.0),
            valid[i].unwrap_or(0.0)
        );
        for &k in &shown {
            match (counts[k][i], shares[k][i], lows[k][i], highs[k][i]) {
                (Some(c), Some(s), Some(l), Some(h)) => {
                    let _ = write!(
                        page,
                        "<td class=\"n\">{c:.0} ({:.1} %, {:.1}–{:.1})</td>",
                        s * 100.0,
                        l * 100.0,
                        h * 100.0
                    );
                }
                _ => page.push_str("<td class=\"n\">-</td>"),
            }
        }
        page.push_str("</tr>");
    }
    page.push_str("</table></div>");
    if shown.is_empty() {
        page.push_str("<p>No outcome was seen on any valid target.</p>");
    }
}

fn middlebox_cell(value: &str) -> &'static str {
    match value {
        "true" => "<td class=\"yes\">YES</td>",
        "false" => "<td class=\"no\">no</td>",
        _ => "<td class=\"unk\">?</td>",
    }
}

/// Every verdict: what it found, what it could not test, and its sentence.
fn targets_section(page: &mut String, targets: &DataFrame) {
    page.push_str("<h2>Targets</h2><div class=\"wide\"><table><tr><th>vantage</th><th>target</th><th>address</th><th>connectivity</th><th>cookie</th><th>SYN data</th><th>middlebox</th><th>signatures</th><th>untested</th><th>rests on</th></tr>");
    let cols: Vec<Vec<String>> = [
        TargetCol::Vantage,
        TargetCol::Target,
        TargetCol::ServerIp,
        TargetCol::Connectivity,
        TargetCol::Cookie,
        TargetCol::SynData,
        TargetCol::Middlebox,
        TargetCol::Signatures,
        TargetCol::Untested,
        TargetCol::Evidence,
        TargetCol::Explanation,
    ]
    .iter()
    .map(|c| texts(targets, c.as_str()))
    .collect();
    for i in 0..targets.height() {
        let exchanged = !matches!(cols[3][i].as_str(), "offline" | "closed" | "unresolved");
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td></tr><tr class=\"expl\"><td colspan=\"10\">{}</td></tr>",
            escape(&cols[0][i]),
            escape(&cols[1][i]),
            escape(&cols[2][i]),
            escape(&cols[3][i]),
            escape(&cols[4][i]),
            escape(&cols[5][i]),
            if exchanged { middlebox_cell(&cols[6][i]) } else { "<td>-</td>" },
            escape(&cols[7][i]),
            escape(&cols[8][i]),
            escape(&cols[9][i]),
            escape(&cols[10][i]),
        );
    }
    page.push_str("</table></div>");
}

/// For each target that shows a middlebox: its connections drawn between client and server.
fn ladders_section(page: &mut String, input: &ReportInput) {
    page.push_str("<h2>The fetches of each target with a middlebox</h2>");
    let Some(conns) = &input.connections else {
        page.push_str("<p>No connections table here (a judge output): no ladders.</p>");
        return;
    };
    let t = &input.targets;
    let (vantage, target, ip, port, middlebox, signatures) = (
        texts(t, TargetCol::Vantage.as_str()),
        texts(t, TargetCol::Target.as_str()),
        texts(t, TargetCol::ServerIp.as_str()),
        texts(t, TargetCol::ServerPort.as_str()),
        texts(t, TargetCol::Middlebox.as_str()),
        texts(t, TargetCol::Signatures.as_str()),
    );
    let c: BTreeMap<ConnCol, Vec<String>> =
        super::input::LADDER_COLUMNS.iter().map(|n| (*n, texts(conns, n.as_str()))).collect();
    let connect_ms = numbers(conns, ConnCol::ConnectMs.as_str());
    let mut drawn = 0;
    for i in (0..t.height()).filter(|&i| middlebox[i] == "true") {
        if drawn == LADDERS_AT_MOST {
            let _ = write!(page, "<p>… and more: the first {LADDERS_AT_MOST} are drawn; every verdict is in the table above.</p>");
            break;
        }
        let mut rows: Vec<usize> = (0..conns.height())
            .filter(|&j| {
                c[&ConnCol::Vantage][j] == vantage[i]
                    && c[&ConnCol::ServerIp][j] == ip[i]
                    && c[&ConnCol::ServerPort][j] == port[i]
            })
            .collect();
        rows.sort_by(|a, b| c[&ConnCol::FirstSynTime][*a].cmp(&c[&ConnCol::FirstSynTime][*b]));
        if rows.is_empty() {
            continue;
        }
        let rungs: Vec<Rung<'_>> = rows
            .iter()
            .map(|&j| {
                let data = c[&ConnCol::SynDataLen][j].parse::<u64>().unwrap_or(0);
                let syn = format!(
                    "SYN {}{} (frame {})",
                    c[&ConnCol::SynTfo][j].replace('_', " "),
                    if data > 0 { format!(" + {data} bytes") } else { String::new() },
                    c[&ConnCol::FirstSynFrame][j]
                );
                let answer = if !c[&ConnCol::SynackFrame][j].is_empty() {
                    let acked = &c[&ConnCol::SynDataAcked][j];
                    let to = if c[&ConnCol::SynackAnswers][j] == "retransmitted_syn" {
                        ", to the resend"
                    } else {
                        ""
                    };
                    Some((
                        format!(
                            "SYN-ACK {}{}{to} (frame {})",
                            c[&ConnCol::SynackTfo][j].replace('_', " "),
                            if acked.is_empty() {
                                String::new()
                            } else {
                                format!(", data {}", acked.replace('_', " "))
                            },
                            c[&ConnCol::SynackFrame][j]
                        ),
                        connect_ms[j],
                    ))
                } else if !c[&ConnCol::ResetFrame][j].is_empty() {
                    Some((format!("RST (frame {})", c[&ConnCol::ResetFrame][j]), None))
                } else if !c[&ConnCol::IcmpFrame][j].is_empty() {
                    Some((format!("ICMP error (frame {})", c[&ConnCol::IcmpFrame][j]), None))
                } else {
                    None
                };
                Rung {
                    what: if c[&ConnCol::Attempt][j].is_empty() {
                        "connection"
                    } else {
                        c[&ConnCol::Attempt][j].as_str()
                    },
                    syn,
                    resent: !c[&ConnCol::RetransmittedSynFrame][j].is_empty(),
                    answer,
                    outcome: c[&ConnCol::Outcome][j].as_str(),
                }
            })
            .collect();
        let title = format!("{} {} ({}): {}", vantage[i], target[i], ip[i], signatures[i]);
        let _ = write!(page, "<h3>{}</h3>", escape(&title));
        page.push_str(&ladder(&title, &rungs));
        drawn += 1;
    }
    if drawn == 0 {
        page.push_str("<p>No target shows a middlebox.</p>");
    }
}
