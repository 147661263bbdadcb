//! Makes fresh captures with the lab script (network namespaces, the kernel's TFO, netfilter
//! middleboxes) and checks them as the committed testdata/ is checked: the script still
//! reproduces the field notes on this kernel. Needs root; one namespace test in this binary.

use crate::common;

use std::process::Command;

use common::*;
use tfoscope_analyze::record::{DataAcked, Outcome, SynAckAnswers, SynAckTfo, SynTfo};
use tfoscope_analyze::{analyze, AnalyzeOptions, Inputs};

#[test]
fn lab_script_reproduces_the_field_notes() {
    let _one_at_a_time = common::namespace_lock();
    if !have_root() || !have_tool("tshark") || !have_tool("tcpdump") {
        return;
    }
    let out = tempdir("lab");
    // What a run killed mid-setup leaves behind: a stale namespace and a veth pair not yet
    // moved out of this namespace. The script clears both first.
    let _ = Command::new("ip").args(["netns", "add", "tft-r"]).status();
    let _ =
        Command::new("ip").args(["link", "add", "tft-cr", "type", "veth", "peer", "name", "tft-rc"]).status();
    let status = Command::new("bash")
        .arg(root().join("lab/scripts/make-testdata.sh"))
        .env("TFOSCOPE", env!("CARGO_BIN_EXE_tfoscope"))
        .arg(&out)
        .args(["clean_http", "option_dropped", "syndata_reset", "option_stripped"])
        .env("TFO_LAB_PREFIX", "tft")
        .status()
        .unwrap();
    assert!(status.success(), "lab script failed");
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&links.stdout).contains("tft-"), "the lab left interfaces behind");
    let conns = |name: &str| {
        let path = out.join(name);
        check_against_tshark(&path);
        analyze(&Inputs::file(name, path), &AnalyzeOptions::in_memory()).into_single().unwrap().connections
    };

    let clean = conns("clean_http.pcap");
    assert_eq!(clean.len(), 3);
    assert_eq!(clean[0].first_syn().tfo, SynTfo::CookieRequest);
    assert_eq!(clean[0].synack.as_ref().unwrap().tfo, SynAckTfo::Cookie);
    assert_eq!(clean[1].first_syn().tfo, SynTfo::Cookie);
    assert_eq!(clean[1].syn_cookie, clean[0].synack.as_ref().unwrap().cookie);
    assert_eq!(clean[1].syn_data_acked, Some(DataAcked::Acked));
    assert_eq!(clean[2].first_syn().tfo, SynTfo::None);
    assert!(clean.iter().all(|c| c.outcome == Outcome::Established));

    let dropped = conns("option_dropped.pcap");
    assert_eq!(dropped.len(), 3);
    for c in &dropped[..2] {
        assert!(c.tried_tfo());
        assert_eq!(c.synack.as_ref().unwrap().answers, SynAckAnswers::RetransmittedSyn);
        assert_eq!(c.outcome, Outcome::EstablishedAfterFallback);
    }
    assert_eq!(dropped[2].outcome, Outcome::Established);

    let reset = conns("syndata_reset.pcap");
    assert_eq!(reset[1].first_syn().tfo, SynTfo::Cookie);
    assert_eq!(reset[1].outcome, Outcome::Reset);
    assert!(reset[1].reset.unwrap().answers_first_syn);
    assert_eq!(reset[2].outcome, Outcome::Established);

    let stripped = conns("option_stripped.pcap");
    assert_eq!(stripped[0].first_syn().tfo, SynTfo::CookieRequest);
    assert_eq!(stripped[0].synack.as_ref().unwrap().tfo, SynAckTfo::None);
    assert_eq!(stripped[1].syn_tfo_kind, Some(254), "Linux falls back to the experimental option");

    // The verdicts on the fresh captures, clean_http as the control.
    let out_dir = out.join("verdicts");
    let run = tfoscope()
        .args(["analyze", "--format", "json", "-o", out_dir.to_str().unwrap(), "--control"])
        .arg(out.join("clean_http.pcap"))
        .args(["option_dropped.pcap", "syndata_reset.pcap", "option_stripped.pcap"].map(|f| out.join(f)))
        .output()
        .unwrap();
    assert!(run.status.success());
    let text = std::fs::read_to_string(out_dir.join("targets.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let signatures = |vantage: &str| -> Vec<String> {
        let row = rows.iter().find(|r| r["vantage"] == vantage).unwrap();
        row["signatures"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
    };
    assert_eq!(signatures("clean_http"), Vec::<String>::new());
    assert_eq!(signatures("option_dropped"), vec!["option_dropped", "not_negotiated_expected"]);
    assert_eq!(signatures("syndata_reset"), vec!["syn_data_reset"]);
    assert_eq!(signatures("option_stripped"), vec!["not_negotiated_expected"]);
    let _ = std::fs::remove_dir_all(&out);
}
