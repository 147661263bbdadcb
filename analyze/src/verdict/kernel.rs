//! A run without a capture (`collect` as an ordinary user, or `--no-capture`): each fetch's
//! connection as the kernel told it to the socket, in the shape the rules read, so the same
//! rules judge it. What the kernel tells (Linux 5.5+, TCP_INFO and tcp_metrics):
//!
//! - a fetch refused at once (ECONNREFUSED: a reset answered its SYN), or one whose handshake
//!   never completed (a timeout in SYN_SENT);
//! - `tcpi_fastopen_client_fail` 3: the SYN that carried data was retransmitted (a box dropped
//!   it; Linux's plain resend got through), its data not acked; 1: no cookie was there to send;
//! - a cookie request's SYN retransmitted (segments resent) with no cookie held afterwards: the
//!   TFO SYN was dropped, its plain resend answered;
//! - the cookie held after the cookie request (the next fetch's cache state): a cookie granted;
//! - the SYN data acked (`TCPI_OPT_SYN_DATA`);
//! - a data SYN resent before any retransmission timeout could fire (the whole fetch within
//!   [`MIN_SYN_RTO_NS`]): an ICMP too-big prompted it, and `tcpi_pmtu` says the MTU.
//!
//! Fetches to one address share the kernel's cookie, so each is judged by what it sent: a
//! cookie held before a cookie request (one that could not be flushed) made it a data fetch.
//! Frame numbers are the fetches' places among the attempt records (1-based), said as such.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::attempt::{AttemptRecord, FetchError, FetchKind};
use crate::decode::options::KIND_FASTOPEN;
use crate::record::{
    AttemptLink, Connection, DataAcked, Feature, Features, Outcome, Refusal, SynAck, SynAckAnswers,
    SynAckTfo, SynTfo,
};

/// tcpi_state of a socket whose handshake never completed, and of one closed by a failure.
const TCP_SYN_SENT: u8 = 2;
const TCP_CLOSE: u8 = 7;
/// `tcpi_fastopen_client_fail`: no cookie to send; the SYN was retransmitted.
const TFO_COOKIE_UNAVAILABLE: u8 = 1;
const TFO_SYN_RETRANSMITTED: u8 = 3;
/// Linux's shortest SYN retransmission timeout (1 s), less a margin: a data SYN resent sooner
/// was resent for an ICMP error, not for a loss.
const MIN_SYN_RTO_NS: i64 = 900_000_000;

/// Standing for the length of SYN data the kernel sent (the record has the request, not the
/// bytes that fitted in the SYN): the rules ask only whether there was any.
const SOME_DATA: u32 = 1;

/// The connections of the attempt records, in record order (those of names that did not
/// resolve left out: they have no connection).
/// `paused`: the kernel's blackhole detection paused active TFO during the run (its counter
/// moved): a TFO fetch the kernel reports no TFO failure for then sent a plain SYN.
pub fn connections(attempts: &[AttemptRecord], paused: bool) -> Vec<Connection> {
    let capture: Arc<str> = Arc::from("(no capture)");
    attempts
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            let ip: IpAddr = a.server_ip.parse().ok()?;
            // The entry after the fetch; from older collectors, the next fetch's to the address.
            let cookie_after = a
                .cache_after
                .as_ref()
                .or_else(|| {
                    attempts[i + 1..]
                        .iter()
                        .find(|later| later.server_ip == a.server_ip)
                        .and_then(|later| later.cache_before.as_ref())
                })
                .map(|c| c.cookie);
            Some(connection(a, ip, i as u64 + 1, cookie_after, paused, &capture))
        })
        .collect()
}

fn connection(
    a: &AttemptRecord,
    ip: IpAddr,
    number: u64,
    cookie_after: Option<bool>,
    paused: bool,
    capture: &Arc<str>,
) -> Connection {
    let unspecified = if ip.is_ipv4() { IpAddr::from([0u8; 4]) } else { IpAddr::from([0u16; 8]) };
    let client = SocketAddr::new(unspecified, a.local_port);
    let info = a.tcp_info;
    let fail = info.map(|i| i.fastopen_client_fail);
    let cookie_before = a.cache_before.as_ref().is_some_and(|c| c.cookie);
    // What the SYN carried: a cookie (and data) when the kernel held one and the fetch asked
    // for TFO, unless the kernel said it had none to send.
    let sent_cookie = a.fetch.tfo() && cookie_before && fail != Some(TFO_COOKIE_UNAVAILABLE);
    // While TFO is paused the kernel sends a plain SYN and reports no failure (0), where a
    // cookie request reports 1 (no cookie to send).
    let sent_plain = paused && a.fetch.tfo() && !sent_cookie && fail == Some(0);
    let tfo = match (a.fetch, sent_cookie) {
        (FetchKind::Plain, _) => SynTfo::None,
        _ if sent_plain => SynTfo::None,
        (_, true) => SynTfo::Cookie,
        (_, false) => SynTfo::CookieRequest,
    };
    let mut conn =
        Connection::unanswered(client, SocketAddr::new(ip, a.server_port), a.start_ns, number, tfo);
    conn.capture = capture.clone();
    conn.isn = 0;
    conn.last_time_ns = a.end_ns;
    if sent_cookie {
        conn.syns[0].data_len = SOME_DATA;
    }
    // The SYN asked for what the fetch asked for, TFO aside while the kernel paused it.
    let asked = a.asked_features();
    conn.syns[0].features =
        if tfo == SynTfo::None { Features::of(asked.iter().filter(|f| *f != Feature::Tfo)) } else { asked };
    conn.attempt = Some(Arc::new(AttemptLink::of(a)));
    conn.arrival = crate::arrival::arrival_of_record(a).map(Box::new);
    let error = a.result.error.as_ref();
    // An HTTP answer, or a round trip measured (the SYN-ACK's), or a state past the handshake.
    let handshake_done = a.result.status.is_some()
        || info.is_some_and(|i| i.rtt_us > 0 || !matches!(i.state, TCP_SYN_SENT | TCP_CLOSE));
    if error == Some(&FetchError::Refused) {
        conn.reset = Some(Refusal {
            frame: number,
            time_ns: a.end_ns,
            icmp: None,
            answers_first_syn: true,
            ttl: 0,
            mtu: None,
        });
        conn.outcome = Outcome::Reset;
        return conn;
    }
    if !handshake_done {
        conn.outcome = Outcome::Timeout;
        return conn;
    }
    let resent = info.map_or(0, |i| i.total_retrans);
    let granted = a.fetch == FetchKind::TfoCookieRequest && !cookie_before && cookie_after == Some(true);
    // The TFO SYN went unanswered and its plain resend got through: the kernel says so for a
    // data SYN; for a cookie request, segments resent and no cookie held afterwards.
    let retransmitted = match tfo {
        SynTfo::Cookie => fail == Some(TFO_SYN_RETRANSMITTED),
        SynTfo::CookieRequest => resent > 0 && !granted,
        // A SYN asking for MPTCP or ECN alone: its resends are the SYN's (the fetch is one
        // request), the feature lost with them.
        SynTfo::None => resent > 0 && !conn.syns[0].features.is_empty(),
        _ => false,
    };
    // Resent at once: the path's MTU was too small for the SYN-data (the ICMP error itself
    // is not seen; the MTU the kernel took from it is).
    if tfo == SynTfo::Cookie && retransmitted && a.end_ns - a.start_ns < MIN_SYN_RTO_NS {
        let too_big = if ip.is_ipv4() { (3, 4) } else { (2, 0) };
        conn.icmp = Some(Refusal {
            frame: number,
            time_ns: a.start_ns,
            icmp: Some(too_big),
            answers_first_syn: true,
            ttl: 0,
            mtu: Some(info.map_or(0, |i| i.pmtu)),
        });
    }
    if retransmitted {
        // Linux's resend: no option, no data, no ECN setup.
        let mut resend = conn.syns[0].clone();
        resend.tfo = SynTfo::None;
        resend.data_len = 0;
        resend.features = Features::NONE;
        conn.syns.push(resend);
        conn.syn_count = 2;
    }
    assume_unknowns_as_arrived(&mut conn);
    conn.synack = Some(SynAck {
        frame: number,
        time_ns: a.end_ns,
        isn: 0,
        data_len: 0,
        tsecr: None,
        answers: if retransmitted { SynAckAnswers::RetransmittedSyn } else { SynAckAnswers::FirstSyn },
        tfo: if granted { SynAckTfo::Cookie } else { SynAckTfo::None },
        tfo_kind: granted.then_some(KIND_FASTOPEN),
        cookie: None,
        ack: 0,
        ttl: 0,
        window: 0,
        mss: None,
        option_kinds: Vec::new(),
        features: {
            let granted_by_kernel = info.map_or(Features::NONE, |i| i.granted());
            if granted {
                granted_by_kernel.with(Feature::Tfo)
            } else {
                granted_by_kernel
            }
        },
    });
    if sent_cookie {
        conn.syn_data_acked = Some(match a.syn_data_acked {
            Some(true) => DataAcked::Acked,
            _ => DataAcked::NotAcked,
        });
    }
    conn.outcome = if retransmitted { Outcome::EstablishedAfterFallback } else { Outcome::Established };
    conn
}

/// Without a capture the sent SYN's ISN, timestamp, window and options are unknown (only
/// what it carried of TFO is): they are taken to be what the echo origin saw arrive, so the
/// comparison finds only what is known to differ (the option, the data), and claims nothing
/// of ISNs (a re-originated connection needs the wire to be told). The arrived SYN is the
/// last transmission: the kernel's resend where there was one.
fn assume_unknowns_as_arrived(conn: &mut Connection) {
    let Some(arrival) = conn.arrival.as_deref_mut() else { return };
    // Another source port than ours: the arrived SYN may be another connection's (a
    // transparent proxy's own, or ours through a NAT): without our ISN there is no telling, so
    // nothing of the SYN is compared (the request, the certificate and the origin's word stay).
    if arrival.syn.as_ref().is_some_and(|seen| seen.client.port() != conn.client.port()) {
        arrival.syn = None;
        return;
    }
    let Some(seen) = conn.arrival.as_ref().and_then(|a| a.syn.as_ref()) else { return };
    let (isn, tsval, shape, cookie, client_ip) =
        (seen.isn, seen.tsval, seen.shape, seen.cookie.clone(), seen.client.ip());
    conn.isn = isn;
    // Our own address is unknown too (behind a NAT the echo sees another); our port is known.
    conn.client = SocketAddr::new(client_ip, conn.client.port());
    if conn.first_syn().tfo == SynTfo::Cookie {
        conn.syn_cookie = cookie;
    }
    // The arrived SYN is the first transmission if it carried what only that one did (the
    // option, the data: a box dropped the SYN-ACK, not the SYN), else the last.
    let arrived = if seen.tfo != SynTfo::None || seen.data_len > 0 { 0 } else { conn.syns.len() - 1 };
    for (i, syn) in conn.syns.iter_mut().enumerate() {
        syn.shape = shape;
        syn.tsval = if i == arrived { tsval } else { None };
    }
}

#[cfg(test)]
#[allow(non_snake_case)]
mod tests {
    use super::*;
    use crate::attempt::{AppResult, CacheState, KernelView, RunPhase, RunRecord};
    use crate::expect::Expectations;
    use crate::summary::TargetConnections;
    use crate::verdict::{
        judge_vantage_with_records, CaptureHealth, Signature, SynDataResult, TargetVerdict, Untested,
    };

    const MS: i64 = 1_000_000;

    /// What the kernel tells of one fetch: HTTP status or error, client fail, segments resent,
    /// whether a cookie was held before, the time it took.
    struct Fetch {
        kind: FetchKind,
        status: Option<u16>,
        error: Option<&'static str>,
        fail: u8,
        resent: u32,
        cookie_before: bool,
        acked: bool,
        took_ms: i64,
        state: u8,
        pmtu: u32,
    }

    fn ok(kind: FetchKind) -> Fetch {
        Fetch {
            kind,
            status: Some(200),
            error: None,
            fail: 0,
            resent: 0,
            cookie_before: false,
            acked: false,
            took_ms: 5,
            state: 1,
            pmtu: 1500,
        }
    }

    fn records(fetches: &[Fetch]) -> Vec<AttemptRecord> {
        fetches
            .iter()
            .enumerate()
            .map(|(i, f)| AttemptRecord {
                start_ns: i as i64 * 2000 * MS,
                end_ns: i as i64 * 2000 * MS + f.took_ms * MS,
                syn_data_acked: Some(f.acked),
                fastopen_client_fail: Some(f.fail),
                cookie_flushed: Some(false),
                cache_before: Some(CacheState { cookie: f.cookie_before, syn_drops: 0, cookie_hex: None }),
                result: AppResult {
                    status: f.status,
                    error: f.error.map(FetchError::from_word),
                    ..AppResult::default()
                },
                tcp_info: Some(KernelView {
                    state: f.state,
                    options: if f.acked { 0x20 } else { 0 },
                    fastopen_client_fail: f.fail,
                    total_retrans: f.resent,
                    rtt_us: if f.status.is_some() { 400 } else { 0 },
                    snd_mss: 1448,
                    rcv_mss: 1448,
                    pmtu: f.pmtu,
                    mptcp_flags: None,
                }),
                ..crate::verdict::tests::attempt_record("198.51.100.1", f.kind, 40000 + i as u16)
            })
            .collect()
    }

    fn without_capture() -> Vec<RunRecord> {
        [RunPhase::Start, RunPhase::End]
            .into_iter()
            .map(|phase| RunRecord {
                tool: "tfoscope".into(),
                version: "0".into(),
                phase,
                tcp_fastopen: Some(1),
                tcp_fastopen_blackhole_timeout_sec: Some(0),
                counters: Default::default(),
                captured: Some(false),
                cookies_flushable: Some(false),
                features: None,
                features_skipped: vec![],
                mptcp_blackhole_timeout: None,
            })
            .collect()
    }

    /// The verdict of one target's fetches, TFO expected of the origin.
    fn judge(fetches: &[Fetch]) -> TargetVerdict {
        let mut expect = Expectations::new();
        expect.insert(
            ("198.51.100.1".parse().unwrap(), 80),
            crate::expect::Expectation {
                expected_tfo: Some(true),
                source: "test".into(),
                ..Default::default()
            },
        );
        let mut v = judge_vantage_with_records(
            "v",
            &TargetConnections::default(),
            &expect,
            CaptureHealth::default(),
            &records(fetches),
            &without_capture(),
        );
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    /// The second fetch holds the cookie the first one got (the kernel's cache).
    fn data(mut f: Fetch) -> Fetch {
        f.cookie_before = true;
        f
    }

    #[test]
    fn a_clean_path__no_signature_and_the_wire_untested() {
        let v = judge(&[
            ok(FetchKind::TfoCookieRequest),
            data(Fetch { acked: true, ..ok(FetchKind::TfoData) }),
            ok(FetchKind::Plain),
        ]);
        assert_eq!((v.cookie, v.syn_data), (crate::verdict::CookieResult::Received, SynDataResult::Acked));
        assert!(v.signatures.is_empty(), "{}", v.explanation);
        assert_eq!(v.untested, vec![Untested::Wire]);
        assert_eq!((v.middlebox.as_bool(), v.evidence.clone()), (None, vec![crate::verdict::Basis::Kernel]));
        assert!(v.explanation.contains("record 1") && !v.explanation.contains("frame"), "{}", v.explanation);
    }

    #[test]
    fn the_tfo_syn_dropped__resent_and_no_cookie_after() {
        let request = Fetch { resent: 1, took_ms: 1010, ..ok(FetchKind::TfoCookieRequest) };
        let v = judge(&[
            request,
            Fetch { fail: 1, resent: 1, took_ms: 1010, ..ok(FetchKind::TfoData) },
            ok(FetchKind::Plain),
        ]);
        assert!(v.signatures.contains(&Signature::OptionDropped), "{}", v.explanation);
        assert!(v.signatures.contains(&Signature::NotNegotiatedExpected));
        assert_eq!(v.middlebox.as_bool(), Some(true));
    }

    #[test]
    fn the_tfo_syn_refused__option_reset() {
        let refused = |kind| Fetch { status: None, error: Some("refused"), state: 7, ..ok(kind) };
        let v = judge(&[
            refused(FetchKind::TfoCookieRequest),
            Fetch { fail: 1, ..refused(FetchKind::TfoData) },
            ok(FetchKind::Plain),
        ]);
        assert!(v.signatures.contains(&Signature::OptionReset), "{}", v.explanation);
    }

    #[test]
    fn the_data_syn_dropped_or_too_big__told_apart_by_how_soon_it_was_resent() {
        // Resent after an RTO: a box dropped it.
        let dropped = data(Fetch { fail: 3, resent: 1, took_ms: 1020, ..ok(FetchKind::TfoData) });
        let v = judge(&[ok(FetchKind::TfoCookieRequest), dropped, ok(FetchKind::Plain)]);
        assert_eq!(v.syn_data, SynDataResult::Dropped);
        assert_eq!(v.signatures, vec![Signature::SynDataDropped], "{}", v.explanation);
        // Resent at once, the path MTU lowered: an ICMP too-big prompted it.
        let too_big = data(Fetch { fail: 3, resent: 1, took_ms: 8, pmtu: 1280, ..ok(FetchKind::TfoData) });
        let v = judge(&[ok(FetchKind::TfoCookieRequest), too_big, ok(FetchKind::Plain)]);
        assert_eq!(v.syn_data, SynDataResult::TooBig, "{}", v.explanation);
        assert!(v.signatures.is_empty());
        assert!(v.explanation.contains("MTU of 1280"), "{}", v.explanation);
    }

    #[test]
    fn the_data_syn_refused__syn_data_reset() {
        let refused =
            data(Fetch { status: None, error: Some("refused"), state: 7, ..ok(FetchKind::TfoData) });
        let v = judge(&[ok(FetchKind::TfoCookieRequest), refused, ok(FetchKind::Plain)]);
        assert_eq!(v.signatures, vec![Signature::SynDataReset], "{}", v.explanation);
    }

    #[test]
    fn a_cookie_held_before_the_request__judged_as_the_data_fetch_it_was() {
        let held = data(Fetch { acked: true, ..ok(FetchKind::TfoCookieRequest) });
        let v = judge(&[held, data(Fetch { acked: true, ..ok(FetchKind::TfoData) }), ok(FetchKind::Plain)]);
        assert_eq!(v.cookie, crate::verdict::CookieResult::Cached);
        assert_eq!(v.syn_data, SynDataResult::Acked);
        assert!(
            v.signatures.is_empty(),
            "no false signature 3 for a cookie kept from before: {}",
            v.explanation
        );
    }

    #[test]
    fn a_host_that_never_answers__offline() {
        let silent =
            |kind| Fetch { status: None, error: Some("timeout"), state: 2, took_ms: 3000, ..ok(kind) };
        let v = judge(&[
            silent(FetchKind::TfoCookieRequest),
            silent(FetchKind::TfoData),
            silent(FetchKind::Plain),
        ]);
        assert_eq!(v.connectivity, crate::verdict::Connectivity::Offline);
        assert_eq!(v.middlebox.as_bool(), None);
    }

    #[test]
    fn features_from_the_kernels_view__an_mptcp_drop_named_and_ecn_granted() {
        use crate::attempt::{MPTCP_INFO_FLAG_FALLBACK, MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED, TCPI_OPT_ECN};
        use crate::record::{Feature, Features};
        // The combined attempt resent its SYNs (MPTCP's fell back), the baseline went through
        // at once; then TFO alone, MPTCP alone (resent, fell back) and ECN alone (granted).
        let all = Features::parse_list("tfo,mptcp,ecn").unwrap();
        let late = |kind| Fetch { resent: 3, fail: 1, ..ok(kind) };
        let fetches = [
            late(FetchKind::TfoCookieRequest),
            late(FetchKind::TfoData),
            ok(FetchKind::Plain),
            ok(FetchKind::TfoCookieRequest),
            data(Fetch { acked: true, ..ok(FetchKind::TfoData) }),
            Fetch { resent: 3, ..ok(FetchKind::Plain) },
            ok(FetchKind::Plain),
        ];
        let asked = [
            all,
            all,
            Features::NONE,
            Features::TFO,
            Features::TFO,
            Features::of([Feature::Mptcp]),
            Features::of([Feature::Ecn]),
        ];
        let mut attempts = records(&fetches);
        for (a, asked) in attempts.iter_mut().zip(asked) {
            a.features = Some(asked);
            let info = a.tcp_info.as_mut().unwrap();
            if asked.contains(Feature::Mptcp) {
                info.mptcp_flags = Some(MPTCP_INFO_FLAG_FALLBACK);
            }
            if asked == Features::of([Feature::Ecn]) {
                info.options |= TCPI_OPT_ECN;
            }
        }
        // The first TFO-alone request got a cookie: the data fetch after it holds one.
        let judge_attempts = |attempts: &[AttemptRecord]| {
            let mut v = judge_vantage_with_records(
                "v",
                &TargetConnections::default(),
                &Expectations::new(),
                CaptureHealth::default(),
                attempts,
                &without_capture(),
            );
            assert_eq!(v.len(), 1);
            v.remove(0)
        };
        let v = judge_attempts(&attempts);
        assert_eq!(v.feature_failures, ["mptcp:option_dropped"], "{}", v.explanation);
        assert_eq!(v.features_tried, all);
        assert_eq!(v.features_negotiated.names(), ["tfo", "ecn"]);
        assert!(v.signatures.is_empty(), "{:?}", v.signatures);
        assert_eq!(v.middlebox.as_bool(), Some(true));

        // MPTCP alone answered at once and in use (the peer's key, no fallback): nothing named.
        attempts[5].tcp_info.as_mut().unwrap().total_retrans = 0;
        attempts[5].tcp_info.as_mut().unwrap().mptcp_flags = Some(MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED);
        let v = judge_attempts(&attempts);
        assert!(v.feature_failures.is_empty(), "{:?}", v.feature_failures);
        assert_eq!(v.features_negotiated, all);
    }
}
