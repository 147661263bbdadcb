//! The hops table: one row per hop-limited probe (schemas/hops.json).

use polars::prelude::*;

use super::other_cols::HopCol;
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
    let mut changes =
        ListStringChunkedBuilder::new(HopCol::QuoteChanges.as_str().into(), rows.len(), rows.len() * 2);
    for (_, r) in &rows {
        match &r.quote_changes {
            Some(words) => changes.append_values_iter(words.iter().map(String::as_str)),
            None => changes.append_null(),
        }
    }
    let columns = vec![
        field!(HopCol::Vantage.as_str(), |(v, _): &(&str, &HopRow)| v.to_string()),
        field!(HopCol::Capture.as_str(), |(_, r): &(&str, &HopRow)| r.capture.to_string()),
        field!(HopCol::Target.as_str(), |(_, r): &(&str, &HopRow)| r.target.clone()),
        field!(HopCol::IpVersion.as_str(), |(_, r): &(&str, &HopRow)| r.ip_version()),
        field!(HopCol::ServerIp.as_str(), |(_, r): &(&str, &HopRow)| r.server_ip.to_string()),
        field!(HopCol::ServerPort.as_str(), |(_, r): &(&str, &HopRow)| r.server_port),
        field!(HopCol::ProbePort.as_str(), |(_, r): &(&str, &HopRow)| r.probe_port),
        field!(HopCol::Probe.as_str(), |(_, r): &(&str, &HopRow)| r.probe.as_str()),
        {
            let mut features =
                ListStringChunkedBuilder::new(HopCol::ProbeFeatures.as_str().into(), rows.len(), rows.len());
            for (_, r) in &rows {
                features.append_values_iter(r.features.iter().map(|f| f.as_str()));
            }
            features.finish().into_series().into()
        },
        field!(HopCol::HopLimit.as_str(), |(_, r): &(&str, &HopRow)| r.hop_limit),
        field!(HopCol::ProbeFrame.as_str(), |(_, r): &(&str, &HopRow)| r.probe_frame),
        field!(HopCol::ReplyFrame.as_str(), |(_, r): &(&str, &HopRow)| r.reply_frame),
        field!(HopCol::ResponderIp.as_str(), |(_, r): &(&str, &HopRow)| r
            .responder_ip
            .map(|ip| ip.to_string())),
        field!(HopCol::Reply.as_str(), |(_, r): &(&str, &HopRow)| r.reply.as_str()),
        field!(HopCol::ReplyTtl.as_str(), |(_, r): &(&str, &HopRow)| r.reply_ttl),
        field!(HopCol::ResponderHops.as_str(), |(_, r): &(&str, &HopRow)| r.responder_hops),
        field!(HopCol::RttMs.as_str(), |(_, r): &(&str, &HopRow)| r.rtt_ms),
        field!(HopCol::QuoteLen.as_str(), |(_, r): &(&str, &HopRow)| r.quote_len),
        field!(HopCol::QuoteHasOptions.as_str(), |(_, r): &(&str, &HopRow)| r.quote_has_options),
        changes.finish().into_series().into(),
    ];
    DataFrame::new(rows.len(), columns).map_err(|error| TableError::Build { table: "hops", error })
}
