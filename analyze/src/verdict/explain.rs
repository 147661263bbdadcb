//! The one place verdicts become English: each piece of [`Evidence`] has its clause, and a
//! target's explanation is its facts followed by its evidence in a fixed order. Every number
//! in a sentence is a field of the evidence it renders.

use super::evidence::{
    Arrived, Evidence, FeatureFailure, NoPackets, ResponseDifference, ServerSide, StackDifference,
};
use super::{Condition, Connectivity, CookieResult, SynDataResult};

/// The explanation of a judged target: "works, cookie received, SYN data acked: clause;
/// clause."
pub fn sentence(
    connectivity: Connectivity,
    cookie: CookieResult,
    syn_data: SynDataResult,
    evidence: &[Evidence<'_>],
) -> String {
    let mut ordered: Vec<&Evidence<'_>> = evidence.iter().collect();
    ordered.sort_by_key(|e| rank(e));
    let mut out = format!("{connectivity}, cookie {cookie}, SYN data {syn_data}");
    for (i, e) in ordered.iter().enumerate() {
        out.push_str(if i == 0 { ": " } else { "; " });
        out.push_str(&clause(e));
    }
    out.push('.');
    out
}

/// The explanation of a target known only from the collector's records.
pub fn no_packets(why: &NoPackets<'_>) -> String {
    match why {
        NoPackets::Unresolved { host } => format!("{host} did not resolve: no TFO exchange took place."),
        NoPackets::NeverOnTheWire { ip, errors } => format!(
            "no packet to {ip} was captured: the fetches failed before reaching the wire ({}).",
            if errors.is_empty() { "no error recorded".to_string() } else { errors.join(", ") }
        ),
    }
}

/// A sentence about the kernel's view of each fetch (a run without a capture), where the
/// "frames" are the fetches' places among the collector's records: said as such.
pub fn of_records(sentence: &str) -> String {
    let said = sentence.replace("frames ", "records ").replace("frame ", "record ");
    match said.split_once(": ") {
        Some((head, rest)) => format!(
            "{head}: judged from what the kernel told each fetch's socket (no capture; record N is the Nth fetch record): {rest}"
        ),
        None => format!("{said} (judged from what the kernel told each fetch's socket; no capture)"),
    }
}

/// SYN data beyond the default IPv4 MSS (RFC 879): such a SYN can exceed a path's MTU.
const LARGE_SYN_DATA: u32 = 536;

/// Where a clause stands in the sentence: how the rounds voted, the round's story (cookie,
/// option, SYN data, response), the origin's expectation, the SYN-ACKs, then validity.
fn rank(e: &Evidence<'_>) -> u8 {
    match e {
        Evidence::RoundsByKinds { .. } | Evidence::RoundsByRecords { .. } | Evidence::HeldInRounds { .. } => {
            0
        }
        Evidence::CookieGranted { .. }
        | Evidence::CookieCached { .. }
        | Evidence::CookieExperimentalOnly { .. }
        | Evidence::CookieRequestAnsweredWithout { .. }
        | Evidence::CookieBadLength { .. } => 1,
        Evidence::CookieRejected { .. } => 3,
        Evidence::OptionDropped { .. } | Evidence::OptionReset { .. } => 2,
        Evidence::SynDataWithoutOption { .. }
        | Evidence::SynAckCarriedData { .. }
        | Evidence::SynDataAcked { .. }
        | Evidence::SynDataPartiallyAcked { .. }
        | Evidence::SynDataTooBig { .. }
        | Evidence::SynDataNotAcked { .. }
        | Evidence::SynDataReset { .. }
        | Evidence::SynDataDropped { .. }
        | Evidence::AnsweredByTiming { .. } => 3,
        Evidence::ResponseDiffers { .. } | Evidence::SynAckConflict { .. } => 4,
        Evidence::OptionRemovedOnPath { .. }
        | Evidence::SynDataRemovedOnPath { .. }
        | Evidence::Reoriginated { .. }
        | Evidence::RequestChanged { .. }
        | Evidence::TlsIntercepted { .. }
        | Evidence::SetAsideByArrival { .. } => 4,
        Evidence::NotNegotiatedExpected { .. } | Evidence::NegotiatedUnexpected { .. } => 5,
        Evidence::SynAckDiffers { .. } => 6,
        Evidence::TtlDiffersFromControl { .. } => 7,
        Evidence::OptionsTruncated => 8,
        Evidence::CaptureDrops | Evidence::CaptureCut { .. } => 9,
        Evidence::CachedSynDrops { .. } => 10,
        Evidence::Blackhole { .. } => 11,
        Evidence::CouldNotTell { .. } => 12,
        Evidence::FeatureFailed { .. }
        | Evidence::CombinedInconclusive { .. }
        | Evidence::MptcpPaused { .. } => 13,
    }
}

/// Where hop-limited probes place the box, naming the probes' frames; None when they place
/// nothing (the TFO probes fared like the plain ones all the way).
pub fn location(l: &crate::locate::Location) -> Option<String> {
    use crate::locate::LocateEvidence as E;
    let max = l.hop_max?;
    let at = match l.hop_min {
        Some(min) if min == max => format!("at hop {max}"),
        Some(min) => format!("between hops {min} and {max}"),
        None => format!("at hop {max} or nearer"),
    };
    let routers: Vec<String> = l.ips.iter().map(|ip| ip.to_string()).collect();
    let routers = if routers.is_empty() { String::new() } else { format!(" ({})", routers.join(", ")) };
    let why: Vec<String> = l
        .evidence
        .iter()
        .map(|e| match e {
            E::SeenIntact { hop, probe_frame, reply_frame } => format!(
                "the TFO probe in frame {probe_frame} was seen unchanged at hop {hop} (frame {reply_frame})"
            ),
            E::Unanswered { hop, probe_frame, plain_reply_frame } => format!(
                "at hop {hop} the TFO probe in frame {probe_frame} got no answer where the plain probe did (frame {plain_reply_frame})"
            ),
            E::QuoteLost { hop, probe_frame, reply_frame } => format!(
                "the router at hop {hop} quoted the TFO probe in frame {probe_frame} without its option, cookie or data (frame {reply_frame})"
            ),
            E::AnsweredByBox { hop, probe_frame, reply_frame, reply } => format!(
                "the probe in frame {probe_frame} was answered ({reply}, frame {reply_frame}) by a box {hop} hops away, nearer than the origin"
            ),
        })
        .collect();
    let origin = l.origin_hops.map_or(String::new(), |o| format!("; the origin is {o} hops away"));
    Some(format!("hop-limited probes place the box {at}{routers}: {}{origin}", why.join(", and ")))
}

/// Words as people read them: `not_received` as "not received".
fn spaced(word: &str) -> String {
    word.replace('_', " ")
}

/// A feature as the explanation names it.
fn feature_name(feature: crate::record::Feature) -> &'static str {
    match feature {
        crate::record::Feature::Tfo => "TFO",
        crate::record::Feature::Mptcp => "MPTCP (MP_CAPABLE)",
        crate::record::Feature::Ecn => "ECN-setup (ECE+CWR)",
    }
}

pub fn clause(e: &Evidence<'_>) -> String {
    match e {
        Evidence::RoundsByKinds { rounds, set_aside } => format!(
            "{rounds} rounds told apart by the kinds of their first SYNs (no collector records){}",
            set_aside_clause(*set_aside)
        ),
        Evidence::RoundsByRecords { rounds, set_aside } => {
            format!("{rounds} rounds from the collector's records{}", set_aside_clause(*set_aside))
        }
        Evidence::HeldInRounds { signature, holding, rounds } => {
            format!("{signature} in {holding} of {rounds} rounds")
        }
        Evidence::CookieGranted { synack, refused_request: None } => {
            format!("a cookie came in SYN-ACK frame {synack}")
        }
        Evidence::CookieGranted { synack, refused_request: Some(syn) } => format!(
            "a cookie came in SYN-ACK frame {synack}, after the cookie request in frame {syn} had been answered without one"
        ),
        Evidence::CookieCached { syn } => format!(
            "the SYN in frame {syn} sent a cookie that no request in the capture asked for: it was cached from an earlier negotiation"
        ),
        Evidence::SynDataWithoutOption { syn, len } => format!(
            "the SYN in frame {syn} carried {len} bytes of data without any TFO option (cookie-less TFO, or a crafted SYN)"
        ),
        Evidence::SynAckCarriedData { synack, len } => format!("SYN-ACK frame {synack} carried {len} bytes of data"),
        Evidence::CookieExperimentalOnly { synack } => {
            format!("a cookie came only in the experimental option 254 (SYN-ACK frame {synack})")
        }
        Evidence::CookieRequestAnsweredWithout { syn, synack } => format!(
            "the cookie request in frame {syn} was answered without a cookie (SYN-ACK frame {synack})"
        ),
        Evidence::CookieRejected { syn, synack } => format!(
            "the origin rejected the cookie the SYN-data in frame {syn} carried: SYN-ACK frame {synack} acked only the SYN and granted another cookie (a load balancer's backends with different keys, or a key rotation; not a middlebox)"
        ),
        Evidence::CookieBadLength { synack } => format!(
            "SYN-ACK frame {synack} carried a cookie of a length RFC 7413 does not allow (its bytes are in synack_cookie), which a client does not keep"
        ),
        Evidence::SynDataAcked { syn, synack } => format!("SYN-ACK frame {synack} acked the data of SYN frame {syn}"),
        Evidence::SynDataNotAcked { syn, synack } => {
            format!("SYN-ACK frame {synack} acked only the SYN of frame {syn}")
        }
        Evidence::OptionDropped { syn, plain_synack } => format!(
            "the TFO SYN in frame {syn} got no answer while a plain SYN did (SYN-ACK frame {plain_synack})"
        ),
        Evidence::OptionReset { refusal, syn, baseline_synack } => format!(
            "frame {refusal} refused the TFO SYN in frame {syn} while the baseline connected (frame {baseline_synack})"
        ),
        Evidence::SynDataReset { refusal, syn, no_data_synack } => format!(
            "frame {refusal} refused the SYN-data in frame {syn} while a SYN without data was answered (frame {no_data_synack})"
        ),
        Evidence::AnsweredByTiming { synack, after_ms } => format!(
            "without TCP timestamps, SYN-ACK frame {synack} is taken by its timing to answer the retransmitted SYN: it came {after_ms} ms after the first SYN, after the retransmission and far beyond the round trip of this target's other handshakes"
        ),
        Evidence::SynDataDropped { syn, no_data_synack, len, mss } => {
            let mut clause = format!(
                "the SYN-data in frame {syn} got no answer while a SYN without data did (frame {no_data_synack})"
            );
            // Large enough to exceed some paths' MTU: a path that loses it without an ICMP
            // error looks the same as a box dropping SYN data.
            if *len > LARGE_SYN_DATA {
                let mss = mss.map_or_else(|| "no MSS".to_string(), |m| format!("an MSS of {m}"));
                clause.push_str(&format!(
                    " (it carried {len} bytes of data and the SYN-ACK announced {mss}: a path whose MTU is too small for such a SYN, its ICMP error filtered, loses it the same way)"
                ));
            }
            clause
        }
        Evidence::SynDataTooBig { syn, icmp, mtu, len } => {
            let mtu = if *mtu > 1 { format!("names an MTU of {mtu}") } else { "names no MTU".to_string() };
            format!(
                "the SYN-data in frame {syn} ({len} bytes of data) was too big for the path: ICMP frame {icmp} {mtu}; a path MTU, not a middlebox, and SYN data could not be tested on it"
            )
        }
        Evidence::SynDataPartiallyAcked { syn, synack, all_but_one: true } => format!(
            "SYN-ACK frame {synack} acked all but the last byte of the SYN data of frame {syn}, as a proxy that answers the handshake itself does (Apple's stack calls it a one-byte proxy)"
        ),
        Evidence::SynDataPartiallyAcked { syn, synack, all_but_one: false } => {
            format!("SYN-ACK frame {synack} acked only part of the SYN data of frame {syn}")
        }
        Evidence::SynAckConflict { synack, other } => format!(
            "SYN-ACK frames {synack} and {other} answered the same SYN with different ISNs: something besides the origin answered"
        ),
        Evidence::ResponseDiffers { fetch, difference } => {
            let what = match difference {
                ResponseDifference::Status { got, baseline } => {
                    format!("status {got} where the baseline got {baseline}")
                }
                ResponseDifference::Certificate => "another certificate than the baseline's".to_string(),
                ResponseDifference::Echo { got: false } => {
                    "an answer that is not the echo origin's, where the baseline got the echo".to_string()
                }
                ResponseDifference::Echo { got: true } => {
                    "the echo origin's answer, where the baseline got another".to_string()
                }
                ResponseDifference::Size { got, baseline } => {
                    format!("{got} bytes where the baseline got {baseline}")
                }
            };
            format!("the {} fetch got {what}", spaced(fetch.as_str()))
        }
        Evidence::OptionRemovedOnPath { syns } => {
            format!("the TFO option did not arrive as sent in {}", arrived_list(syns))
        }
        Evidence::SynDataRemovedOnPath { syns } => {
            format!("the SYN data did not arrive with its SYN in {}", arrived_list(syns))
        }
        Evidence::Reoriginated { syns } => format!(
            "the SYN that arrived is not the client's (another ISN and timestamp) for {}: a transparent proxy opened its own connection",
            arrived_list(syns)
        ),
        Evidence::RequestChanged { fetch, changes } => format!(
            "the request of the {} fetch arrived changed ({})",
            spaced(fetch.as_str()),
            changes.join(", ")
        ),
        Evidence::TlsIntercepted { fetch, client_cert, served_cert } => format!(
            "the {} fetch saw certificate {} where the echo origin served {}: the TLS session was intercepted",
            spaced(fetch.as_str()),
            short(client_cert),
            short(served_cert)
        ),
        Evidence::SetAsideByArrival { signature, syn, server } => format!(
            "{signature} inferred, but the SYN in frame {syn} arrived with what it carried ({}): the server's view wins, so it is set aside",
            server_side(server)
        ),
        Evidence::NotNegotiatedExpected { source, cookie } => {
            format!("{source} says the origin does TFO, yet the cookie was {}", spaced(cookie.as_str()))
        }
        Evidence::NegotiatedUnexpected { source } => {
            format!("{source} says the origin has no TFO, yet TFO was negotiated here")
        }
        Evidence::SynAckDiffers { tfo_synack, baseline_synack, difference } => match difference {
            StackDifference::Ttl { tfo, baseline } => format!(
                "the SYN-ACK to a TFO SYN (frame {tfo_synack}, TTL {tfo}) differs from the baseline's (frame {baseline_synack}, TTL {baseline})"
            ),
            StackDifference::Mss { tfo, baseline } => format!(
                "the SYN-ACK to a TFO SYN (frame {tfo_synack}, MSS {}) differs from the baseline's (frame {baseline_synack}, MSS {})",
                mss(*tfo),
                mss(*baseline)
            ),
            StackDifference::Options => format!(
                "the SYN-ACK to a TFO SYN (frame {tfo_synack}) carries other TCP options than the baseline's (frame {baseline_synack})"
            ),
        },
        Evidence::TtlDiffersFromControl { synack, ttl, control_ttl } => format!(
            "SYN-ACK frame {synack} has TTL {ttl} where the control saw {control_ttl}: something nearer answered"
        ),
        Evidence::OptionsTruncated => "TCP options were cut by the snap length, so TFO cannot be judged".to_string(),
        Evidence::CaptureDrops => {
            "the capturing kernel dropped packets, so this measurement is not valid".to_string()
        }
        Evidence::CaptureCut { .. } => {
            "the capture file was cut off while this target's fetches may still have been under way, so this measurement is not valid".to_string()
        }
        Evidence::CachedSynDrops { fetch, round, drops } => format!(
            "before the {} fetch (round {round}) the kernel already remembered {drops} SYN-data loss(es) for this address, so this measurement is not valid",
            spaced(fetch.as_str())
        ),
        Evidence::FeatureFailed { feature, failure, frame } => match failure {
            FeatureFailure::Dropped => format!(
                "an {} SYN in frame {frame} went unanswered where the baseline's was answered at once (a box drops SYNs asking for {feature})",
                feature_name(*feature)
            ),
            FeatureFailure::Reset => format!(
                "a reset in frame {frame} refused the {} SYN where the baseline went through",
                feature_name(*feature)
            ),
            FeatureFailure::NotNegotiatedExpected => format!(
                "the SYN-ACK in frame {frame} did not grant {} where the control's did (taken off on the path)",
                feature_name(*feature)
            ),
        },
        Evidence::MptcpPaused { frame } => format!(
            "the kernel's MPTCP blackhole detection paused MPTCP during the run{}, so no MPTCP result is valid (net.mptcp.blackhole_timeout; --fix-sysctl turns it off for a run)",
            frame.map_or(String::new(), |f| format!(" (the SYN in frame {f} asked for it and carried no MP_CAPABLE)"))
        ),
        Evidence::CombinedInconclusive { frame } => format!(
            "the first attempt with every feature (SYN in frame {frame}) met trouble once and each feature then went through alone: inconclusive, no feature and no middlebox named"
        ),
        Evidence::CouldNotTell { syn_data, negotiation, wire } => {
            let mut what = Vec::new();
            if *syn_data {
                what.push("SYN data (signature 2: no cookie to send it with, or its fate not told apart from the origin's)");
            }
            if *negotiation {
                what.push("negotiation (signature 3: no --control, --expect or echo origin)");
            }
            if *wire {
                what.push("what only the packets show (no capture: two SYN-ACKs, TTLs, options, a re-originated connection)");
            }
            format!("no middlebox found, but untested: {}, so it cannot say there is none", what.join(" and "))
        }
        Evidence::Blackhole { from: None } => {
            "the kernel's TFO blackhole detection paused TFO during the run, so this measurement is not valid"
                .to_string()
        }
        Evidence::Blackhole { from: Some((at_ns, target)) } => {
            let at = chrono::DateTime::from_timestamp_nanos(*at_ns).format("%Y-%m-%d %H:%M:%S%.3f UTC");
            format!(
                "the kernel's TFO blackhole detection paused TFO from {at} (the fetch to {target} went out without it), so this measurement, made after, is not valid; the pause lasts net.ipv4.tcp_fastopen_blackhole_timeout_sec (root sets it to 0 to measure without it)"
            )
        }
    }
}

/// "SYN frames 1 (option_removed:34) and 11 (...), by the echo origin's answer", or with a
/// server capture, "..., server capture S frames 4 and 9" (each SYN's frame there, in order;
/// the file named once where one file holds them all).
fn arrived_list(syns: &[Arrived<'_>]) -> String {
    let item = |a: &Arrived<'_>| {
        if a.detail.is_empty() {
            a.syn.to_string()
        } else {
            format!("{} ({})", a.syn, a.detail)
        }
    };
    let items: Vec<String> = syns.iter().map(item).collect();
    let frames = |what: &str, items: &[String]| match items {
        [one] => format!("{what} frame {one}"),
        [rest @ .., last] => format!("{what} frames {} and {last}", rest.join(", ")),
        [] => String::new(),
    };
    let ours = frames("SYN", &items);
    let captures: Vec<(&str, u64)> = syns
        .iter()
        .filter_map(|a| match a.server {
            ServerSide::Capture { capture, frame } => Some((capture, frame)),
            ServerSide::Echo => None,
        })
        .collect();
    if captures.is_empty() {
        return format!("{ours}, by the echo origin's answer");
    }
    let theirs: Vec<String> = captures.iter().map(|(_, f)| f.to_string()).collect();
    if captures.len() == syns.len() && captures.iter().all(|(c, _)| *c == captures[0].0) {
        format!("{ours}, as server capture {} {}", captures[0].0, frames("", &theirs).trim_start())
    } else {
        let each: Vec<String> =
            syns.iter().map(|a| format!("{} ({})", a.syn, server_side(&a.server))).collect();
        format!("{ours}: {}", each.join(", "))
    }
}

fn server_side(server: &ServerSide<'_>) -> String {
    match server {
        ServerSide::Echo => "the echo origin's answer".to_string(),
        ServerSide::Capture { capture, frame } => format!("server capture {capture}, frame {frame}"),
    }
}

/// The first 16 hex digits of a fingerprint: enough to tell two apart in a sentence.
fn short(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

fn set_aside_clause(set_aside: usize) -> String {
    if set_aside == 0 {
        String::new()
    } else {
        format!(", {set_aside} of them holding only a baseline and not counted")
    }
}

fn mss(value: Option<u16>) -> String {
    value.map_or_else(|| "none".to_string(), |v| v.to_string())
}

/// PATHspider's TFO plugin vocabulary, so results compare with its observatory data. As its
/// `combine_flows` (pathspider/plugins/tfo.py, checked against its source): the connectivity
/// always (works, transient, broken, offline: `combine_connectivity` in pathspider/base.py);
/// the cookie and SYN-data words only when the TFO connection got through (works, transient).
/// PATHspider says `cookie.received` when its SYN-data carried a cookie, so a cached cookie is
/// received in its words; `syndata.failed` is its SYN-data without an answer.
pub fn conditions(
    connectivity: Connectivity,
    cookie: CookieResult,
    syn_data: SynDataResult,
) -> Vec<Condition> {
    let mut out = Vec::new();
    out.extend(match connectivity {
        Connectivity::Works => Some(Condition::Works),
        Connectivity::TfoBroken => Some(Condition::Broken),
        Connectivity::Offline => Some(Condition::Offline),
        // PATHspider says offline for both; the connectivity column tells a closed port apart,
        // and the conditions say the same.
        Connectivity::Closed => Some(Condition::Closed),
        Connectivity::Transient => Some(Condition::Transient),
        Connectivity::Unresolved => None,
    });
    if !matches!(connectivity, Connectivity::Works | Connectivity::Transient) {
        return out;
    }
    out.extend(match cookie {
        CookieResult::Received | CookieResult::ReceivedExpOnly | CookieResult::Cached => {
            Some(Condition::CookieReceived)
        }
        CookieResult::NotReceived => Some(Condition::CookieNotReceived),
        CookieResult::NotRequested => None,
    });
    out.extend(match syn_data {
        SynDataResult::Acked => Some(Condition::SynDataAcked),
        SynDataResult::NotAcked => Some(Condition::SynDataNotAcked),
        SynDataResult::Dropped | SynDataResult::Reset => Some(Condition::SynDataFailed),
        SynDataResult::TooBig => Some(Condition::SynDataTooBig),
        SynDataResult::NotAttempted => None,
    });
    out
}
