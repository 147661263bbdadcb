//! The targets table's columns: the one place their names are written. The writer
//! (`table::targets`) and the report take them from here; a test holds
//! `schemas/targets.json` (names and order) and the written table to this list.

crate::record::string_enum!(
    /// A targets column, in the table's order.
    TargetCol {
        Vantage => "vantage",
        Target => "target",
        Category => "category",
        CertError => "cert_error",
        ServerIp => "server_ip",
        ServerPort => "server_port",
        IpVersion => "ip_version",
        Direction => "direction",
        Connections => "connections",
        Rounds => "rounds",
        Connectivity => "connectivity",
        Cookie => "cookie",
        SynData => "syn_data",
        Signatures => "signatures",
        Untested => "untested",
        Middlebox => "middlebox",
        ExpectedTfo => "expected_tfo",
        SynackDiffers => "synack_differs",
        MeasurementValid => "measurement_valid",
        CookieRejected => "cookie_rejected",
        Evidence => "evidence",
        Explanation => "explanation",
        Conditions => "conditions",
        PathChanges => "path_changes",
        ArrivalSource => "arrival_source",
        OriginHops => "origin_hops",
        MiddleboxHopMin => "middlebox_hop_min",
        MiddleboxHopMax => "middlebox_hop_max",
        MiddleboxIps => "middlebox_ips",
        FeaturesTried => "features_tried",
        FeaturesNegotiated => "features_negotiated",
        FeatureFailures => "feature_failures",
    }
);

#[cfg(test)]
mod tests {
    use super::TargetCol;

    #[test]
    fn the_schema_names_these_columns_in_this_order() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../schemas/targets.json")).unwrap();
        let order: Vec<&str> =
            schema["x-column-order"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let ours: Vec<&str> = TargetCol::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(order, ours);
        let frame = super::super::targets_frame(&[]).unwrap();
        let written: Vec<&str> = frame.get_column_names().iter().map(|n| n.as_str()).collect();
        assert_eq!(written, ours, "the writer writes these, in this order");
    }
}
