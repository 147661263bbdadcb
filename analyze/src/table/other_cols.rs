//! The files, hops and rates tables' columns: the one place their names are written. The
//! writers, `judge`'s reader and the report take them from here; tests hold the schemas
//! (`x-column-order`, `properties`) and the written frames to these lists.

use crate::record::string_enum;
use crate::verdict::Signature;

string_enum!(
    /// A files column, in the table's order.
    FileCol {
        Vantage => "vantage",
        Role => "role",
        Capture => "capture",
        Format => "format",
        Frames => "frames",
        Bytes => "bytes",
        Complete => "complete",
        StopOffset => "stop_offset",
        StopReason => "stop_reason",
        LastFrameTime => "last_frame_time",
        KernelDrops => "kernel_drops",
        SkippedBlocks => "skipped_blocks",
        HalfSeenHandshakes => "half_seen_handshakes",
        KernelDisagreements => "kernel_disagreements",
        Error => "error",
        Warnings => "warnings",
        CollectorRecords => "collector_records",
    }
);

string_enum!(
    /// A hops column, in the table's order.
    HopCol {
        Vantage => "vantage",
        Capture => "capture",
        Target => "target",
        IpVersion => "ip_version",
        ServerIp => "server_ip",
        ServerPort => "server_port",
        ProbePort => "probe_port",
        Probe => "probe",
        ProbeFeatures => "probe_features",
        HopLimit => "hop_limit",
        ProbeFrame => "probe_frame",
        ReplyFrame => "reply_frame",
        ResponderIp => "responder_ip",
        Reply => "reply",
        ReplyTtl => "reply_ttl",
        ResponderHops => "responder_hops",
        RttMs => "rtt_ms",
        QuoteLen => "quote_len",
        QuoteHasOptions => "quote_has_options",
        QuoteChanges => "quote_changes",
    }
);

string_enum!(
    /// The rates columns before the outcomes', in the table's order.
    RateCol {
        Vantage => "vantage",
        IpVersion => "ip_version",
        ServerPort => "server_port",
        Targets => "targets",
        Valid => "valid",
    }
);

string_enum!(
    /// The figures of each outcome in the rates table, in column order: `<outcome>_<stat>`.
    RateStat {
        Count => "count",
        Share => "share",
        CiLow => "ci_low",
        CiHigh => "ci_high",
    }
);

/// An outcome the rates table counts: every signature, then the facts studies publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Signature(Signature),
    /// Reachable without TFO and not with it (a cloud scan's 0.019 %).
    TfoDependentFailure,
    /// The origin refused the cookie it had granted (a load balancer's backends).
    CookieRejected,
    /// Any middlebox.
    Middlebox,
}

impl Outcome {
    /// In column order.
    pub fn all() -> impl Iterator<Item = Outcome> {
        Signature::ALL.iter().map(|s| Outcome::Signature(*s)).chain([
            Outcome::TfoDependentFailure,
            Outcome::CookieRejected,
            Outcome::Middlebox,
        ])
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Signature(s) => s.as_str(),
            Outcome::TfoDependentFailure => "tfo_dependent_failure",
            Outcome::CookieRejected => "cookie_rejected",
            Outcome::Middlebox => "middlebox",
        }
    }

    /// The rates column of one of this outcome's figures.
    pub fn column(self, stat: RateStat) -> String {
        format!("{}_{}", self.as_str(), stat.as_str())
    }
}

/// Every rates column, in the table's order.
pub fn rate_columns() -> Vec<String> {
    let outcomes = Outcome::all().flat_map(|o| RateStat::ALL.iter().map(move |s| o.column(*s)));
    RateCol::ALL.iter().map(|c| c.as_str().to_string()).chain(outcomes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(table: &str) -> (Vec<String>, Vec<String>) {
        let path = format!("{}/../schemas/{table}.json", env!("CARGO_MANIFEST_DIR"));
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let order =
            schema["x-column-order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string());
        let properties = schema["properties"].as_object().unwrap().keys().cloned();
        let mut properties: Vec<String> = properties.collect();
        properties.sort();
        (order.collect(), properties)
    }

    fn sorted(names: &[String]) -> Vec<String> {
        let mut names = names.to_vec();
        names.sort();
        names
    }

    fn names<T: AsRef<str>>(columns: &[T]) -> Vec<String> {
        columns.iter().map(|c| c.as_ref().to_string()).collect()
    }

    fn written(frame: &polars::prelude::DataFrame) -> Vec<String> {
        frame.get_column_names().iter().map(|n| n.to_string()).collect()
    }

    /// The schema's order and properties, and the writer's columns, are `ours`.
    fn follow(table: &str, ours: &[String], frame: &polars::prelude::DataFrame) {
        let (order, properties) = schema(table);
        assert_eq!((order, properties), (ours.to_vec(), sorted(ours)), "schemas/{table}.json");
        assert_eq!(written(frame), ours, "the {table} writer");
    }

    #[test]
    fn files_schema_and_writer_follow_these_columns() {
        follow("files", &names(FileCol::ALL), &super::super::files_frame(&[]).unwrap());
    }

    #[test]
    fn hops_schema_and_writer_follow_these_columns() {
        follow("hops", &names(HopCol::ALL), &super::super::hops_frame(&[]).unwrap());
    }

    #[test]
    fn rates_schema_and_writer_follow_these_columns() {
        let ours = rate_columns();
        let mut unique = ours.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RateCol::ALL.len() + 4 * (Signature::ALL.len() + 3), "every column once");
        follow("rates", &ours, &super::super::Rates::default().frame().unwrap());
    }
}
