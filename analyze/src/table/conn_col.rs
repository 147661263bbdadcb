//! The connections table's columns: the one place their names are written. The writer
//! (`table::connections`), judge's reader (`dataset::rows`) and the report take them from here;
//! a test holds `schemas/connections.json` (names and order; types and descriptions are the
//! schema's) and the written table to this list.

crate::record::string_enum!(
    /// A connections column, in the table's order.
    ConnCol {
        Capture => "capture",
        Vantage => "vantage",
        IpVersion => "ip_version",
        ClientIp => "client_ip",
        ServerIp => "server_ip",
        ClientPort => "client_port",
        ServerPort => "server_port",
        ClientIsn => "client_isn",
        FirstSynTime => "first_syn_time",
        FirstSynFrame => "first_syn_frame",
        SynCount => "syn_count",
        SynTfo => "syn_tfo",
        SynTfoKind => "syn_tfo_kind",
        SynTfoDuplicate => "syn_tfo_duplicate",
        SynCookie => "syn_cookie",
        SynDataLen => "syn_data_len",
        SynFeatures => "syn_features",
        SynOptionsError => "syn_options_error",
        RetransmittedSynFrame => "retransmitted_syn_frame",
        SynackFrame => "synack_frame",
        SynackAnswers => "synack_answers",
        SynackTfo => "synack_tfo",
        SynackTfoKind => "synack_tfo_kind",
        SynackCookie => "synack_cookie",
        SynDataAcked => "syn_data_acked",
        SynDataResent => "syn_data_resent",
        SynackTtl => "synack_ttl",
        SynackWindow => "synack_window",
        SynackMss => "synack_mss",
        SynackOptions => "synack_options",
        SynackDataLen => "synack_data_len",
        SynackFeatures => "synack_features",
        SecondSynackFrame => "second_synack_frame",
        SynackConflict => "synack_conflict",
        ResetFrame => "reset_frame",
        IcmpFrame => "icmp_frame",
        IcmpType => "icmp_type",
        IcmpCode => "icmp_code",
        IcmpMtu => "icmp_mtu",
        IcmpSender => "icmp_sender",
        Outcome => "outcome",
        ConnectMs => "connect_ms",
        Attempt => "attempt",
        AttemptFeatures => "attempt_features",
        AttemptSource => "attempt_source",
        AppResult => "app_result",
        ArrivedClientIp => "arrived_client_ip",
        ArrivedClientPort => "arrived_client_port",
        ArrivedIsnSame => "arrived_isn_same",
        SentTtl => "sent_ttl",
        ArrivedTtl => "arrived_ttl",
        PathHops => "path_hops",
        ArrivedOptions => "arrived_options",
        ArrivedTfo => "arrived_tfo",
        ArrivedCookie => "arrived_cookie",
        ArrivedSynDataLen => "arrived_syn_data_len",
        ArrivedMss => "arrived_mss",
        ArrivedWindow => "arrived_window",
        SynChanges => "syn_changes",
        ArrivalSource => "arrival_source",
        Url => "url",
        Host => "host",
        Round => "round",
        HttpStatus => "http_status",
        ResponseSize => "response_size",
        CertSha256 => "cert_sha256",
        CertError => "cert_error",
        CachedSynDrops => "cached_syn_drops",
        Category => "category",
        Echo => "echo",
        SynackTime => "synack_time",
        SecondSynackTime => "second_synack_time",
        SecondSynackAnswers => "second_synack_answers",
        SecondSynackTfo => "second_synack_tfo",
        SecondSynackTfoKind => "second_synack_tfo_kind",
        SecondSynackTtl => "second_synack_ttl",
        SecondSynackMss => "second_synack_mss",
        SecondSynackOptions => "second_synack_options",
        SecondSynackDataLen => "second_synack_data_len",
        SecondSynackFeatures => "second_synack_features",
        RefusalAnswersFirstSyn => "refusal_answers_first_syn",
        ServerView => "server_view",
        ServerCapture => "server_capture",
        ServerFrame => "server_frame",
        ComparedSynFrame => "compared_syn_frame",
        ComparedSynTfo => "compared_syn_tfo",
        ComparedSynDataLen => "compared_syn_data_len",
        OptionArrived => "option_arrived",
        DataArrived => "data_arrived",
        OriginTfo => "origin_tfo",
        RequestChanges => "request_changes",
        ServedCertSha256 => "served_cert_sha256",
    }
);

#[cfg(test)]
mod tests {
    use super::ConnCol;

    #[test]
    fn the_schema_names_these_columns_in_this_order() {
        let schema: serde_json::Value =
            serde_json::from_str(super::super::connections::CONNECTIONS_SCHEMA).unwrap();
        let order: Vec<&str> =
            schema["x-column-order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let ours: Vec<&str> = ConnCol::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(order, ours);
        let properties = schema["properties"].as_object().unwrap();
        assert_eq!(properties.len(), ConnCol::ALL.len(), "a property per column, no more");
        assert!(ours.iter().all(|c| properties.contains_key(*c)));
    }
}
