//! The hops table: one row per hop-limited probe (schemas/hops.json).

use polars::prelude::*;

use super::TableError;
use crate::locate::HopRow;

/// One row per probe, vantage by vantage, in the order they were sent.
pub fn hops_frame(vantages: &[(&str, &[HopRow])]) -> Result<DataFrame, TableError> {
    let rows: Vec<(&str, &HopRow)> =
        vantages.iter().flat_map(|(v, rows)| rows.iter().map(move |r| (*v, r))).collect();
    let col = |name: &str, s: Series| -> Column { s.with_name(name.into()).into() };
    macro_rules! field {
        ($name:expr, $f:expr) => {
            col($name, Series::new("".into(), rows.iter().map($f).collect::<Vec<_>>()))
        };
    }
    let mut changes = ListStringChunkedBuilder::new("quote_changes".into(), rows.len(), rows.len() * 2);
    for (_, r) in &rows {
        match &r.quote_changes {
            Some(words) => changes.append_values_iter(words.iter().map(String::as_str)),
            None => changes.append_null(),
        }
    }
    let columns = vec![
        field!("vantage", |(v, _): &(&str, &HopRow)| v.to_string()),
        field!("capture", |(_, r): &(&str, &HopRow)| r.capture.to_string()),
        field!("target", |(_, r): &(&str, &HopRow)| r.target.clone()),
        field!("ip_version", |(_, r): &(&str, &HopRow)| r.ip_version()),
        field!("server_ip", |(_, r): &(&str, &HopRow)| r.server_ip.to_string()),
        field!("server_port", |(_, r): &(&str, &HopRow)| r.server_port),
        field!("probe_port", |(_, r): &(&str, &HopRow)| r.probe_port),
        field!("probe", |(_, r): &(&str, &HopRow)| r.probe.as_str()),
        {
            let mut features = ListStringChunkedBuilder::new("probe_features".into(), rows.len(), rows.len());
            for (_, r) in &rows {
                features.append_values_iter(r.features.iter().map(|f| f.as_str()));
            }
            features.finish().into_series().into()
        },
        field!("hop_limit", |(_, r): &(&str, &HopRow)| r.hop_limit),
        field!("probe_frame", |(_, r): &(&str, &HopRow)| r.probe_frame),
        field!("reply_frame", |(_, r): &(&str, &HopRow)| r.reply_frame),
        field!("responder_ip", |(_, r): &(&str, &HopRow)| r.responder_ip.map(|ip| ip.to_string())),
        field!("reply", |(_, r): &(&str, &HopRow)| r.reply.as_str()),
        field!("reply_ttl", |(_, r): &(&str, &HopRow)| r.reply_ttl),
        field!("responder_hops", |(_, r): &(&str, &HopRow)| r.responder_hops),
        field!("rtt_ms", |(_, r): &(&str, &HopRow)| r.rtt_ms),
        field!("quote_len", |(_, r): &(&str, &HopRow)| r.quote_len),
        field!("quote_has_options", |(_, r): &(&str, &HopRow)| r.quote_has_options),
        changes.finish().into_series().into(),
    ];
    DataFrame::new(rows.len(), columns).map_err(|error| TableError::Build { table: "hops", error })
}
