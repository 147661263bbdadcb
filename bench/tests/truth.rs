//! The benchmark input is judged right, not only fast: a small synthetic capture, analyzed,
//! agrees with the generator's truth on every connection.

use std::collections::HashMap;
use std::io::BufWriter;

use tfoscope_analyze::record::Connection;
use tfoscope_analyze::{analyze, AnalyzeOptions, Inputs};
use tfoscope_bench::{generate, Behaviour, GenConfig, Truth};

fn observed(c: &Connection) -> Truth {
    let synack = c.synack.as_ref();
    Truth {
        client: c.client,
        server: c.server,
        isn: c.isn,
        behaviour: Behaviour::Plain, // not observable; compared apart
        syn_tfo: c.first_syn().tfo.as_str(),
        syn_tfo_kind: c.syn_tfo_kind,
        syn_data_len: c.first_syn().data_len,
        synack_tfo: synack.map_or("-", |s| s.tfo.as_str()),
        synack_tfo_kind: synack.and_then(|s| s.tfo_kind),
        synack_answers: synack.map_or("-", |s| s.answers.as_str()),
        syn_data_acked: c.syn_data_acked.map(|d| d.as_str()),
        outcome: c.outcome.as_str(),
    }
}

#[test]
fn every_generated_connection_is_reported_as_generated_web_like() {
    judged_as_generated(GenConfig::WEB_RESPONSE, "web");
}

#[test]
fn every_generated_connection_is_reported_as_generated_connection_heavy() {
    judged_as_generated(300, "small");
}

fn judged_as_generated(response_bytes: usize, name: &str) {
    let dir = std::env::temp_dir().join(format!("tfoscope-truth-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("synthetic.pcap");
    let mut truths = Vec::new();
    let config = GenConfig { packets: 30_000, concurrent: 64, gap_us: 10, response_bytes };
    let stats = {
        let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
        generate(&config, &mut out, |t| truths.push(t.clone())).unwrap()
    };
    assert!(stats.packets >= 29_000, "{stats:?}");
    let result = analyze(&Inputs::file("synthetic", path.clone()), &AnalyzeOptions::in_memory())
        .into_single()
        .unwrap();
    assert_eq!(result.report.frames, stats.packets);
    assert_eq!(result.connections.len(), truths.len(), "one connection per generated one");

    let by_key: HashMap<(std::net::SocketAddr, u32), &Connection> =
        result.connections.iter().map(|c| ((c.client, c.isn), c)).collect();
    let mut seen_behaviours = std::collections::HashSet::new();
    let mut families = std::collections::HashSet::new();
    for t in &truths {
        let c = by_key.get(&(t.client, t.isn)).unwrap_or_else(|| panic!("no connection for {t:?}"));
        let expected = Truth { behaviour: Behaviour::Plain, ..t.clone() };
        assert_eq!(observed(c), expected, "{:?}", t.behaviour);
        seen_behaviours.insert(format!("{:?}", t.behaviour));
        families.insert(t.client.is_ipv4());
    }
    assert_eq!(seen_behaviours.len(), Behaviour::ALL.len());
    assert_eq!(families.len(), 2, "IPv4 and IPv6");
    let _ = std::fs::remove_dir_all(&dir);
}
