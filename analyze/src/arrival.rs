//! What arrived at the server, against what the client sent: the SYN (from the echo origin's
//! answer or from a capture made at the server), the request and the certificate. Facts per
//! connection; the verdicts name signatures from them ([`crate::verdict`]).

use std::fmt;

use crate::decode::options::{KIND_EOL, KIND_EXPERIMENTAL, KIND_FASTOPEN, KIND_NOP, KIND_TIMESTAMPS};
use crate::echo::Echo;
use crate::record::{Connection, SynAckAnswers, SynShape, SynTfo, SynTransmission};

pub use crate::record::{Arrival, ArrivalSource, SynSeen};

/// What the echo in a collector's record says arrived, if the fetch got one.
pub fn arrival_of_record(a: &crate::attempt::AttemptRecord) -> Option<Arrival> {
    a.echo.as_deref().map(|echo| arrival_from_echo(echo, a.request_headers.as_deref()))
}

/// The server's view from an echo; `sent_headers` is what the collector sent.
pub fn arrival_from_echo(echo: &Echo, sent_headers: Option<&[(String, String)]>) -> Arrival {
    let received: Vec<(String, String)> = echo.request.headers.clone();
    Arrival {
        source: ArrivalSource::Echo,
        syn: echo.syn.as_ref().map(SynSeen::from_echo),
        syn_data_accepted: echo.syn_data_accepted,
        origin_tfo: Some(echo.origin.tfo),
        request_changes: sent_headers.map(|sent| header_changes(sent, &received)),
        served_cert: echo.tls.as_ref().map(|t| t.cert_sha256.clone()),
    }
}

/// `added:NAME`, `removed:NAME`, `changed:NAME` (names in lower case, sorted): how the headers
/// received differ from those sent. Names are compared without case, as HTTP/1.1 does.
pub fn header_changes(sent: &[(String, String)], received: &[(String, String)]) -> Vec<String> {
    let values = |headers: &[(String, String)], name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    };
    let mut names: Vec<String> = sent.iter().chain(received).map(|(n, _)| n.to_ascii_lowercase()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (s, r) = (values(sent, &name), values(received, &name));
            let word = match (s.is_empty(), r.is_empty()) {
                (true, false) => "added",
                (false, true) => "removed",
                _ if s != r => "changed",
                _ => return None,
            };
            Some(format!("{word}:{name}"))
        })
        .collect()
}

/// One way the SYN that arrived differs from the one sent (the `syn_changes` words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynChange {
    OptionRemoved(u8),
    OptionAdded(u8),
    OptionsReordered,
    Mss(u16, u16),
    Window(u16, u16),
    Wscale(u8, u8),
    /// The TFO cookie arrived other than sent (another cookie, or a request in its place).
    CookieChanged,
    DataRemoved,
    DataChangedLen(u32, u32),
    IsnChanged,
    TimestampChanged,
    SourceChanged,
}

/// A fact of the path that is no TFO signature (the targets' `path_changes` words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathChange {
    /// The source changed, the ISN and TSval kept.
    Nat,
    MssClamped,
    /// The ISN changed, the TSval kept.
    IsnRewritten,
    /// An option, window or timestamp change that concerns no TFO option.
    Syn(SynChange),
}

impl fmt::Display for PathChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathChange::Nat => f.write_str("nat"),
            PathChange::MssClamped => f.write_str("mss_clamped"),
            PathChange::IsnRewritten => f.write_str("isn_rewritten"),
            PathChange::Syn(change) => change.fmt(f),
        }
    }
}

crate::record::string_enum!(
    /// Where the server's view of a target came from (the targets' `arrival_source`); an echo
    /// sorts first, as it says more (the request, the certificate).
    ArrivalKind {
        Echo => "echo",
        ServerCapture => "server_capture",
    }
);

impl ArrivalKind {
    pub fn of(source: &ArrivalSource) -> ArrivalKind {
        match source {
            ArrivalSource::Echo => ArrivalKind::Echo,
            ArrivalSource::ServerCapture { .. } => ArrivalKind::ServerCapture,
        }
    }
}

impl fmt::Display for SynChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SynChange::OptionRemoved(k) => write!(f, "option_removed:{k}"),
            SynChange::OptionAdded(k) => write!(f, "option_added:{k}"),
            SynChange::OptionsReordered => f.write_str("options_reordered"),
            SynChange::Mss(a, b) => write!(f, "mss:{a}>{b}"),
            SynChange::Window(a, b) => write!(f, "window:{a}>{b}"),
            SynChange::Wscale(a, b) => write!(f, "wscale:{a}>{b}"),
            SynChange::CookieChanged => f.write_str("cookie_changed"),
            SynChange::DataRemoved => f.write_str("data_removed"),
            SynChange::DataChangedLen(a, b) => write!(f, "data_changed_len:{a}>{b}"),
            SynChange::IsnChanged => f.write_str("isn_changed"),
            SynChange::TimestampChanged => f.write_str("timestamp_changed"),
            SynChange::SourceChanged => f.write_str("source_changed"),
        }
    }
}

impl SynChange {
    /// The change a `syn_changes` word names (its [`Display`](fmt::Display) form).
    pub fn parse(word: &str) -> Option<SynChange> {
        let pair = |v: &str| -> Option<(u32, u32)> {
            let (a, b) = v.split_once('>')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        };
        let (name, value) = word.split_once(':').unwrap_or((word, ""));
        let narrow =
            |(a, b): (u32, u32)| -> Option<(u16, u16)> { Some((a.try_into().ok()?, b.try_into().ok()?)) };
        Some(match name {
            "option_removed" => SynChange::OptionRemoved(value.parse().ok()?),
            "option_added" => SynChange::OptionAdded(value.parse().ok()?),
            "options_reordered" => SynChange::OptionsReordered,
            "mss" => narrow(pair(value)?).map(|(a, b)| SynChange::Mss(a, b))?,
            "window" => narrow(pair(value)?).map(|(a, b)| SynChange::Window(a, b))?,
            "wscale" => {
                let (a, b) = pair(value)?;
                SynChange::Wscale(a.try_into().ok()?, b.try_into().ok()?)
            }
            "cookie_changed" => SynChange::CookieChanged,
            "data_removed" => SynChange::DataRemoved,
            "data_changed_len" => pair(value).map(|(a, b)| SynChange::DataChangedLen(a, b))?,
            "isn_changed" => SynChange::IsnChanged,
            "timestamp_changed" => SynChange::TimestampChanged,
            "source_changed" => SynChange::SourceChanged,
            _ => return None,
        })
        .filter(|c| c.to_string() == word)
    }
}

/// The client's SYN transmission the arrived one is: the one with its TSval, else the one the
/// SYN-ACK answered, else the first. (A kernel resends a TFO SYN without the option and data:
/// an arrived retransmission compared with the first SYN would look stripped.) Without
/// timestamps, where the SYN-ACK cannot say which it answered: the last transmission that
/// carried what the arrived one carries (TFO option, data), else the first. A box that changed
/// the first SYN would have had it answered, with no retransmission to confuse it with.
pub fn sent_counterpart<'c>(conn: &'c Connection, seen: &SynSeen) -> &'c SynTransmission {
    if let Some(ts) = seen.tsval {
        // Transmissions within one timestamp tick share a TSval: the one that carried what
        // the arrived SYN carries.
        let mut sharing = conn.syns.iter().filter(|s| s.tsval == Some(ts));
        if let Some(first) = sharing.next() {
            return std::iter::once(first)
                .chain(sharing)
                .filter(|s| s.tfo == seen.tfo && s.data_len == seen.data_len)
                .last()
                .unwrap_or(first);
        }
    }
    match conn.synack.as_ref().map(|s| s.answers) {
        Some(SynAckAnswers::RetransmittedSyn) => conn.syns.last().unwrap_or(conn.first_syn()),
        Some(SynAckAnswers::Ambiguous) if seen.tsval.is_none() => conn
            .syns
            .iter()
            .rev()
            .find(|s| s.tfo == seen.tfo && s.data_len == seen.data_len)
            .unwrap_or(conn.first_syn()),
        _ => conn.first_syn(),
    }
}

fn is_padding(kind: &u8) -> bool {
    *kind == KIND_NOP || *kind == KIND_EOL
}

fn is_tfo(kind: u8) -> bool {
    kind == KIND_FASTOPEN || kind == KIND_EXPERIMENTAL
}

/// How `seen` differs from the transmission `sent` of `conn`, in a fixed order.
pub fn syn_changes(conn: &Connection, sent: &SynTransmission, seen: &SynSeen) -> Vec<SynChange> {
    let mut changes = Vec::new();
    let kinds = |shape: &SynShape| -> Vec<u8> {
        shape.option_kinds().iter().copied().filter(|k| !is_padding(k)).collect()
    };
    let (ours, theirs) = (kinds(&sent.shape), kinds(&seen.shape));
    let count = |list: &[u8], k: u8| list.iter().filter(|x| **x == k).count();
    let mut all: Vec<u8> = ours.iter().chain(&theirs).copied().collect();
    all.sort_unstable();
    all.dedup();
    for &k in &all {
        if count(&ours, k) > count(&theirs, k) {
            changes.push(SynChange::OptionRemoved(k));
        }
    }
    for &k in &all {
        if count(&theirs, k) > count(&ours, k) {
            changes.push(SynChange::OptionAdded(k));
        }
    }
    if changes.is_empty() && ours != theirs {
        changes.push(SynChange::OptionsReordered);
    }
    if let (Some(a), Some(b)) = (sent.shape.mss, seen.shape.mss) {
        if a != b {
            changes.push(SynChange::Mss(a, b));
        }
    }
    if sent.shape.window != seen.shape.window {
        changes.push(SynChange::Window(sent.shape.window, seen.shape.window));
    }
    if let (Some(a), Some(b)) = (sent.shape.wscale, seen.shape.wscale) {
        if a != b {
            changes.push(SynChange::Wscale(a, b));
        }
    }
    let first = std::ptr::eq(sent, conn.first_syn());
    let sent_cookie = if first { conn.syn_cookie.as_deref() } else { None };
    let kept_option = ours.iter().any(|k| is_tfo(*k)) && theirs.iter().any(|k| is_tfo(*k));
    if kept_option && (sent.tfo, sent_cookie) != (seen.tfo, seen.cookie.as_deref()) {
        changes.push(SynChange::CookieChanged);
    }
    match (sent.data_len, seen.data_len) {
        (a, 0) if a > 0 => changes.push(SynChange::DataRemoved),
        (a, b) if a != b => changes.push(SynChange::DataChangedLen(a, b)),
        _ => {}
    }
    if seen.isn != conn.isn {
        changes.push(SynChange::IsnChanged);
    }
    if let (Some(a), Some(b)) = (sent.tsval, seen.tsval) {
        if a != b {
            changes.push(SynChange::TimestampChanged);
        }
    }
    if seen.client != conn.client {
        changes.push(SynChange::SourceChanged);
    }
    changes
}

/// The SYN that arrived is not ours: another ISN and another TSval (or timestamps where there
/// were none, or none where there were), whatever the options: a transparent proxy running
/// the same kernel sends the same option kinds.
pub fn reoriginated(changes: &[SynChange]) -> bool {
    let has = |c: &SynChange| changes.contains(c);
    has(&SynChange::IsnChanged)
        && (has(&SynChange::TimestampChanged)
            || has(&SynChange::OptionRemoved(KIND_TIMESTAMPS))
            || has(&SynChange::OptionAdded(KIND_TIMESTAMPS)))
}

/// What the verdicts need of one connection's arrival: the facts, judged once.
#[derive(Debug, Clone, PartialEq)]
pub struct PathFacts {
    pub source: ArrivalSource,
    /// The client's transmission compared (its frame).
    pub sent_frame: u64,
    /// The client sent the TFO option (or a cookie) in that transmission.
    pub sent_tfo: bool,
    pub sent_data_len: u32,
    pub changes: Vec<SynChange>,
    /// The SYN that arrived is not ours: another ISN and another TSval (or timestamps where
    /// there were none, or none where there were).
    pub reoriginated: bool,
    /// The arrived SYN carried the TFO option as sent (request or the same cookie).
    pub option_arrived: Option<bool>,
    /// The arrived SYN carried all the data sent in it.
    pub data_arrived: Option<bool>,
    pub origin_tfo: Option<bool>,
    pub request_changes: Vec<String>,
    /// The client saw another certificate than the origin served: (client's, origin's).
    pub cert_mismatch: Option<(String, String)>,
}

impl PathFacts {
    pub fn of(conn: &Connection) -> Option<PathFacts> {
        let arrival = conn.arrival.as_deref()?;
        let compared = arrival.syn.as_ref().map(|seen| {
            let sent = sent_counterpart(conn, seen);
            (sent, seen, syn_changes(conn, sent, seen))
        });
        let (sent_frame, sent_tfo, sent_data_len) = match &compared {
            Some((sent, _, _)) => (sent.frame, sent.tfo != SynTfo::None, sent.data_len),
            None => (conn.first_syn().frame, conn.tried_tfo(), conn.first_syn().data_len),
        };
        let changes = compared.as_ref().map(|(_, _, c)| c.clone()).unwrap_or_default();
        let reoriginated = reoriginated(&changes);
        let option_arrived =
            compared.as_ref().filter(|_| sent_tfo && !reoriginated).map(|(_, seen, changes)| {
                seen.tfo != SynTfo::None && !changes.contains(&SynChange::CookieChanged)
            });
        let data_arrived = compared
            .as_ref()
            .filter(|_| sent_data_len > 0 && !reoriginated)
            .map(|(_, seen, _)| seen.data_len >= sent_data_len);
        let client_cert = conn.attempt.as_ref().and_then(|a| a.cert_sha256.clone());
        let cert_mismatch = match (client_cert, &arrival.served_cert) {
            (Some(client), Some(served)) if !client.eq_ignore_ascii_case(served) => {
                Some((client, served.clone()))
            }
            _ => None,
        };
        Some(PathFacts {
            source: arrival.source.clone(),
            sent_frame,
            sent_tfo,
            sent_data_len,
            reoriginated,
            option_arrived,
            data_arrived,
            origin_tfo: arrival.origin_tfo,
            request_changes: arrival.request_changes.clone().unwrap_or_default(),
            cert_mismatch,
            changes,
        })
    }

    /// Which kind of view of the server this is.
    pub fn source_kind(&self) -> ArrivalKind {
        ArrivalKind::of(&self.source)
    }

    /// The changes that are facts of the path but no TFO signature: `nat` (source changed,
    /// ISN and TSval kept), `mss_clamped`, `isn_rewritten` (ISN changed, TSval kept), and the
    /// option, window and timestamp words of [`SynChange`] that concern no TFO option.
    pub fn path_changes(&self) -> Vec<PathChange> {
        if self.reoriginated {
            return Vec::new();
        }
        let has = |c: SynChange| self.changes.contains(&c);
        let mut changes = Vec::new();
        for c in &self.changes {
            let change = match *c {
                SynChange::SourceChanged if !has(SynChange::IsnChanged) => PathChange::Nat,
                SynChange::Mss(a, b) if b < a => PathChange::MssClamped,
                SynChange::IsnChanged => PathChange::IsnRewritten,
                SynChange::OptionRemoved(k) | SynChange::OptionAdded(k) if is_tfo(k) => continue,
                SynChange::CookieChanged | SynChange::DataRemoved | SynChange::DataChangedLen(..) => continue,
                SynChange::SourceChanged => continue,
                other => PathChange::Syn(other),
            };
            changes.push(change);
        }
        changes
    }
}

#[cfg(test)]
mod tests {

    proptest::proptest! {
        /// Every `syn_changes` word reads back as the change it names (judge reads them).
        #[test]
        fn syn_change_words_read_back(kind: u8, a: u16, b: u16, c: u8, d: u8, x: u32, y: u32) {
            let all = [
                SynChange::OptionRemoved(kind), SynChange::OptionAdded(kind), SynChange::OptionsReordered,
                SynChange::Mss(a, b), SynChange::Window(a, b), SynChange::Wscale(c, d),
                SynChange::CookieChanged, SynChange::DataRemoved, SynChange::DataChangedLen(x, y),
                SynChange::IsnChanged, SynChange::TimestampChanged, SynChange::SourceChanged,
            ];
            for change in all {
                proptest::prop_assert_eq!(SynChange::parse(&change.to_string()), Some(change));
            }
        }
    }

    #[test]
    fn words_that_name_no_change_are_none() {
        for word in ["", "mss", "mss:1>", "mss:70000>1", "option_removed:256", "data_removed:1", "x"] {
            assert_eq!(SynChange::parse(word), None, "{word}");
        }
    }
    use super::*;
    use crate::record::{SynAck, SynAckTfo};
    use std::net::SocketAddr;

    const KINDS: [u8; 6] = [2, 4, 8, 1, 3, 34];

    fn conn(tsval: Option<u32>) -> Connection {
        let client: SocketAddr = "192.0.2.2:40000".parse().unwrap();
        let server: SocketAddr = "198.51.100.1:80".parse().unwrap();
        let mut c = Connection::unanswered(client, server, 0, 1, SynTfo::Cookie);
        c.isn = 1000;
        c.syn_cookie = Some(vec![1, 2, 3, 4, 5, 6, 7, 8]);
        c.syns[0].data_len = 73;
        c.syns[0].tsval = tsval;
        c.syns[0].shape = SynShape::new(64, 64240, Some(1460), Some(7), &KINDS);
        c
    }

    fn seen_as_sent(c: &Connection) -> SynSeen {
        SynSeen::from_transmission(c, c.first_syn())
    }

    fn words(changes: &[SynChange]) -> Vec<String> {
        changes.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn a_syn_that_arrived_as_sent_has_no_changes_and_keeps_option_and_data() {
        let mut c = conn(Some(7));
        let seen = seen_as_sent(&c);
        assert!(syn_changes(&c, c.first_syn(), &seen).is_empty());
        c.arrival = Some(Box::new(Arrival {
            source: ArrivalSource::Echo,
            syn: Some(seen),
            syn_data_accepted: Some(true),
            origin_tfo: Some(true),
            request_changes: Some(vec![]),
            served_cert: None,
        }));
        let facts = PathFacts::of(&c).unwrap();
        assert_eq!(
            (facts.option_arrived, facts.data_arrived, facts.reoriginated),
            (Some(true), Some(true), false)
        );
        assert!(facts.path_changes().is_empty());
    }

    #[test]
    fn a_stripped_option_removed_data_and_a_clamped_mss_are_named() {
        let c = conn(Some(7));
        let mut seen = seen_as_sent(&c);
        seen.shape = SynShape::new(62, 64240, Some(1400), Some(7), &[2, 4, 8, 1, 3, 1, 1, 1, 1]);
        seen.tfo = SynTfo::None;
        seen.cookie = None;
        seen.data_len = 0;
        let changes = syn_changes(&c, c.first_syn(), &seen);
        assert_eq!(words(&changes), ["option_removed:34", "mss:1460>1400", "data_removed"]);
    }

    #[test]
    fn another_isn_and_tsval_is_reoriginated_but_isn_alone_is_a_rewrite_and_source_alone_nat() {
        let mut c = conn(Some(7));
        let mut proxy = seen_as_sent(&c);
        proxy.isn = 99;
        proxy.tsval = Some(12345);
        proxy.client = "198.51.100.254:50000".parse().unwrap();
        let arrival = |syn| Arrival {
            source: ArrivalSource::Echo,
            syn: Some(syn),
            syn_data_accepted: None,
            origin_tfo: Some(true),
            request_changes: None,
            served_cert: None,
        };
        c.arrival = Some(Box::new(arrival(proxy.clone())));
        let facts = PathFacts::of(&c).unwrap();
        assert!(facts.reoriginated);
        assert_eq!(facts.option_arrived, None, "a proxy's SYN says nothing of our option");
        assert!(facts.path_changes().is_empty());

        let mut rewritten = seen_as_sent(&c);
        rewritten.isn = 99;
        c.arrival = Some(Box::new(arrival(rewritten)));
        let facts = PathFacts::of(&c).unwrap();
        assert!(!facts.reoriginated);
        assert_eq!(facts.path_changes(), [PathChange::IsnRewritten]);

        let mut natted = seen_as_sent(&c);
        natted.client = "198.51.100.254:40000".parse().unwrap();
        c.arrival = Some(Box::new(arrival(natted)));
        assert_eq!(PathFacts::of(&c).unwrap().path_changes(), [PathChange::Nat]);
    }

    #[test]
    fn an_arrived_retransmission_is_compared_with_the_retransmission() {
        let mut c = conn(Some(7));
        c.syns.push(SynTransmission {
            frame: 2,
            time_ns: 1_000_000_000,
            tfo: SynTfo::None,
            data_len: 0,
            tsval: Some(1007),
            shape: SynShape::new(64, 64240, Some(1460), Some(7), &[2, 4, 8, 1, 3]),
            features: crate::record::Features::NONE,
        });
        let seen = SynSeen::from_transmission(&c, &c.syns[1]);
        let sent = sent_counterpart(&c, &seen);
        assert_eq!(sent.frame, 2);
        assert!(syn_changes(&c, sent, &seen).is_empty());
        // Without timestamps, the SYN-ACK's answer decides.
        let mut seen = seen;
        seen.tsval = None;
        c.synack = Some(SynAck {
            frame: 3,
            time_ns: 0,
            isn: 1,
            data_len: 0,
            tsecr: None,
            answers: SynAckAnswers::RetransmittedSyn,
            tfo: SynAckTfo::None,
            tfo_kind: None,
            cookie: None,
            ack: 1001,
            ttl: 64,
            window: 65160,
            mss: Some(1460),
            option_kinds: vec![],
            features: crate::record::Features::NONE,
        });
        assert_eq!(sent_counterpart(&c, &seen).frame, 2);
    }

    #[test]
    fn header_changes_ignore_case_and_order_and_name_what_moved() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
        };
        let sent = h(&[("Host", "a"), ("User-Agent", "x"), ("Connection", "close")]);
        assert!(header_changes(&sent, &h(&[("host", "a"), ("connection", "close"), ("user-agent", "x")]))
            .is_empty());
        let received = h(&[("Host", "a"), ("User-Agent", "y"), ("Via", "1.1 squid")]);
        assert_eq!(
            header_changes(&sent, &received),
            ["removed:connection", "changed:user-agent", "added:via"]
        );
    }
}
