//! Every connection's TFO facts equal tshark's independent decoding of the same file.

mod common;

use std::path::Path;

use common::*;
use tfoscope_analyze::record::{SynAckTfo, SynTfo};
use tfoscope_analyze::{analyze_vantage, VantageSpec};

/// Negative cases with assertions of their own (tests/public_captures.rs).
fn excluded(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.contains("_b.pcap") || name.contains("_official.pcap")
}

fn check_against_tshark(path: &Path) -> usize {
    let result = analyze_vantage(&VantageSpec { name: "t".into(), files: vec![path.to_owned()] }).unwrap();
    let frames = tshark_frames(path);
    let ctx = path.display();
    assert!(!result.connections.is_empty(), "{ctx}: no connections");
    for conn in &result.connections {
        let first = conn.first_syn();
        let syn = &frames[&first.frame];
        assert!(syn.syn && !syn.ack, "{ctx} frame {}: not a SYN for tshark", first.frame);
        assert_eq!(first.data_len, syn.tcp_len, "{ctx} frame {}: SYN payload length", first.frame);
        let cookie = conn.syn_cookie.as_ref().map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>());
        match first.tfo {
            SynTfo::CookieRequest => assert!(syn.tfo_request && syn.tfo_cookie.is_none(), "{ctx} frame {}", first.frame),
            SynTfo::Cookie => assert_eq!(cookie, syn.tfo_cookie, "{ctx} frame {}", first.frame),
            // tshark cannot see an option the snap length cut off either; we must not call it none.
            SynTfo::None | SynTfo::Truncated => {
                assert!(!syn.tfo_request && syn.tfo_cookie.is_none(), "{ctx} frame {}: tshark sees TFO", first.frame)
            }
            SynTfo::Malformed => panic!("{ctx} frame {}: malformed TFO in an equality case", first.frame),
        }
        if let Some(synack) = &conn.synack {
            let row = &frames[&synack.frame];
            assert!(row.syn && row.ack, "{ctx} frame {}: not a SYN-ACK for tshark", synack.frame);
            let cookie = synack.cookie.as_ref().map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>());
            match synack.tfo {
                SynAckTfo::Cookie => assert_eq!(cookie, row.tfo_cookie, "{ctx} frame {}", synack.frame),
                SynAckTfo::None | SynAckTfo::Truncated => {
                    assert!(row.tfo_cookie.is_none() && !row.tfo_request, "{ctx} frame {}", synack.frame)
                }
                SynAckTfo::Malformed => panic!("{ctx} frame {}: malformed SYN-ACK TFO", synack.frame),
            }
        }
    }
    // Every SYN tshark sees is one of ours: the first of a connection or a retransmission.
    let tshark_syns = frames.values().filter(|f| f.syn && !f.ack).count() as u64;
    let our_syns: u64 = result.connections.iter().map(|c| u64::from(c.syn_count)).sum();
    assert_eq!(our_syns, tshark_syns, "{ctx}: SYN transmissions");
    result.connections.len()
}

#[test]
fn testdata_captures_agree_with_tshark() {
    if !have_tool("tshark") {
        return;
    }
    let files = captures_in(&testdata());
    assert!(files.len() >= 15, "testdata/ holds the lab captures");
    for path in files {
        check_against_tshark(&path);
    }
}

#[test]
fn public_captures_agree_with_tshark() {
    if !have_tool("tshark") {
        return;
    }
    let files: Vec<_> = captures_in(&shared_captures()).into_iter().filter(|p| !excluded(p)).collect();
    assert_eq!(files.len(), 5, "the five equality cases of ../shared/captures");
    let connections: usize = files.iter().map(|p| check_against_tshark(p)).sum();
    assert_eq!(connections, 4 + 1 + 1 + 1 + 3);
}
