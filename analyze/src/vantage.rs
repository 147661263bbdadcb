//! One vantage = one packet stream, possibly rotated over several files (tcpdump -C/-G): the
//! files are read in time order into one flow table, so a connection that crosses a file
//! boundary is not split.

use std::net::IpAddr;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use crate::attempt::{AttemptRecord, CollectorRecord, ATTEMPT_PEN};
use crate::decode::{self, DecodeError};
use crate::flow::{FlowConfig, FlowTable, PacketRef};
use crate::locate::{hop_row, HopRow, ProbeIndex};
use crate::read::{self, CaptureEvent, ReadError, ReadOptions};
use crate::record::{AttemptLink, Connection};
use crate::result::{AnalyzeError, FileReport, Progress, VantageReport, VantageResult, VantageSpec};
use crate::server_view::ServerView;
use crate::summary::TargetConnections;

/// The first frame's timestamp, to put rotated files in order.
fn first_timestamp(path: &Path) -> Result<Option<i64>, ReadError> {
    let mut first = None;
    read::read_capture(path, |event| match event {
        CaptureEvent::Frame(frame) => {
            first = Some(frame.ts_ns);
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })?;
    Ok(first)
}

/// What of the server's view a vantage's connections get.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ServerSide<'v> {
    /// Echoes, and the server captures' view where there are any.
    Use(Option<&'v ServerView>),
    /// Neither: the client's side alone, as a tool without a server of its own sees it.
    Ignored,
}

/// Takes one vantage's finished connections, a batch at a time (vantage name, batch).
pub(crate) type BatchSink<'a, E> = dyn FnMut(&str, Vec<Connection>) -> Result<(), E> + 'a;

/// Reads a vantage's files in time order into one flow table and hands its connections to
/// `sink` in batches as they finish (each batch in first-SYN order, linked to the collector's
/// records), keeping only their summaries for the verdicts: memory follows the open
/// connections, not the file. The result's `connections` is empty.
pub(crate) fn read_vantage<E: std::error::Error>(
    spec: &VantageSpec,
    config: &FlowConfig,
    read_options: ReadOptions,
    progress: &Progress<'_>,
    server_side: ServerSide<'_>,
    sink: &mut BatchSink<'_, E>,
) -> Result<VantageResult, AnalyzeError<E>> {
    let mut report = VantageReport::default();
    let mut files = spec.files.clone();
    if files.len() > 1 {
        // One bad file of a rotated stream loses that file, not the stream: it is reported, the
        // rest are read. (A file of its own that cannot be read is an error, as before.)
        let mut keyed = Vec::with_capacity(files.len());
        let mut first_error = None;
        for path in files {
            match first_timestamp(&path) {
                Ok(ts) => keyed.push((ts, path)),
                Err(e) => {
                    report.warnings.push(format!("{e}: skipped, the rest of the vantage is read"));
                    report.unreadable.push((path, e.to_string()));
                    first_error.get_or_insert(e);
                }
            }
        }
        if keyed.is_empty() {
            if let Some(e) = first_error {
                return Err(e.into());
            }
        }
        keyed.sort_by_key(|(ts, _)| ts.unwrap_or(i64::MAX));
        files = keyed.into_iter().map(|(_, p)| p).collect();
    }

    let mut table = FlowTable::new(*config);
    let mut targets = TargetConnections::default();
    // Per capture, the connections whose packets and kernel view disagree, and the first one.
    let mut disagreements: std::collections::HashMap<Arc<str>, (u64, String)> = Default::default();
    let mut sink_error: Option<E> = None;
    // Attempt records precede the end of their connections in our captures (a record is
    // written when its fetch ends; a connection is emitted seconds of capture time after it
    // closes), so linking as connections finish sees every record that concerns them.
    let mut attempt_index = AttemptIndex::default();
    let mut probe_index = ProbeIndex::default();
    let mut hops: Vec<HopRow> = Vec::new();
    let mut emit =
        |mut batch: Vec<Connection>, report: &VantageReport, index: &AttemptIndex, probes: &ProbeIndex| {
            in_first_syn_order(&mut batch);
            // Hop-limited probes are no fetches: they go to the hops table, not to the
            // connections, rounds and verdicts.
            batch.retain(|c| match hop_row(c, &report.probes, probes) {
                Some(row) => {
                    hops.push(row);
                    false
                }
                None => true,
            });
            let attempts = &report.attempts;
            for (capture, what) in link_attempts(&mut batch, attempts, index) {
                disagreements.entry(capture).or_insert((0, what)).0 += 1;
            }
            match server_side {
                ServerSide::Ignored => batch.iter_mut().for_each(|c| c.arrival = None),
                ServerSide::Use(Some(view)) => {
                    // An echo, where there is one, says more (the request, the certificate).
                    for c in batch.iter_mut().filter(|c| c.arrival.is_none()) {
                        c.arrival = view.arrival(c).map(Box::new);
                    }
                }
                ServerSide::Use(None) => {}
            }
            for c in &batch {
                targets.add(c);
            }
            sink(&spec.name, batch)
        };
    for path in files {
        let capture: Arc<str> = Arc::from(path.display().to_string());
        let half_seen_before = table.stats.half_seen_handshakes;
        let mut collector_records = Vec::new();
        let read = read::read_capture_with(&path, read_options, progress, |event| {
            if let CaptureEvent::Custom { pen: ATTEMPT_PEN, data, offset } = event {
                let data = crate::attempt::without_padding(data);
                let keep = || String::from_utf8_lossy(data).into_owned();
                match CollectorRecord::from_json(data) {
                    Some(CollectorRecord::Attempt(a)) => {
                        report.attempts.push(a);
                        attempt_index.add(&report.attempts);
                        collector_records.push(keep());
                    }
                    Some(CollectorRecord::Run(r)) => {
                        report.runs.push(r);
                        collector_records.push(keep());
                    }
                    Some(CollectorRecord::Probe(p)) => {
                        report.probes.push(p);
                        probe_index.add(&report.probes);
                    }
                    None => report
                        .warnings
                        .push(format!("{}: unreadable attempt record at byte {offset}", path.display())),
                }
            }
            if let CaptureEvent::Frame(frame) = event {
                report.frames += 1;
                match decode::decode(frame.linktype, frame.data) {
                    Ok(packet) => {
                        let at = PacketRef { capture: &capture, frame: frame.number, ts_ns: frame.ts_ns };
                        table.push(at, &packet);
                        if table.done_len() >= config.batch.max(1) {
                            if let Err(e) = emit(table.take_done(), &report, &attempt_index, &probe_index) {
                                sink_error = Some(e);
                                return ControlFlow::Break(());
                            }
                        }
                    }
                    Err(DecodeError::UnsupportedLinktype(linktype)) => {
                        *report.skipped_linktypes.entry(linktype).or_default() += 1;
                    }
                    Err(e) => *report.undecoded.entry(e.category()).or_default() += 1,
                }
            }
            ControlFlow::Continue(())
        })?;
        if let Some(e) = sink_error {
            return Err(AnalyzeError::Sink(e));
        }
        if let Some(stop) = &read.stop {
            report.warnings.push(format!("{}: partial: {stop}", path.display()));
        }
        if let Some(drops) = read.kernel_drops.filter(|d| *d > 0) {
            report.warnings.push(format!("{}: the capturing kernel dropped {drops} packets", path.display()));
        }
        let half_seen_handshakes = table.stats.half_seen_handshakes - half_seen_before;
        report.files.push(FileReport {
            path,
            read,
            half_seen_handshakes,
            collector_records,
            kernel_disagreements: 0,
        });
    }
    let (rest, flow) = table.finish();
    if flow.over_capacity > 0 {
        report.warnings.push(format!(
            "{}: {} connections not tracked: more than {} open at once (--max-open)",
            spec.name, flow.over_capacity, config.max_open
        ));
    }
    if flow.half_seen_handshakes > 0 {
        report.warnings.push(format!(
            "{}: {} SYN-ACKs without their SYN (handshakes begun before the capture): no connection records",
            spec.name, flow.half_seen_handshakes
        ));
    }
    report.flow = flow;
    emit(rest, &report, &attempt_index, &probe_index).map_err(AnalyzeError::Sink)?;
    for file in &mut report.files {
        let name = file.path.display().to_string();
        if let Some((count, first)) = disagreements.get(name.as_str()) {
            file.kernel_disagreements = *count;
            report.warnings.push(format!(
                "{name}: the packets and the kernel's view disagree on {count} connection(s) (first: {first}): one of the two readings is wrong"
            ));
        }
    }
    targets.finish();
    Ok(VantageResult { name: spec.name.clone(), connections: Vec::new(), targets, hops, report })
}

/// Sorts by (first SYN time, frame), unique within a stream. Connections are large, so the
/// order is found on small keys, then put in place along its cycles: no second batch-sized
/// vector, megabytes each batch (measured: a fifth of analyze's peak memory on the web-like
/// benchmark capture, with the purge delay main sets).
pub(crate) fn in_first_syn_order(batch: &mut [Connection]) {
    let mut order: Vec<(i64, u64, usize)> =
        batch.iter().enumerate().map(|(i, c)| (c.first_syn().time_ns, c.first_syn().frame, i)).collect();
    order.sort_unstable();
    // from[k]: where the connection that belongs at k is now.
    let mut from: Vec<usize> = order.into_iter().map(|(_, _, i)| i).collect();
    for start in 0..from.len() {
        // Each swap puts one connection in its place and carries the start's one along the
        // cycle, to the place that wants it last.
        let mut k = start;
        while from[k] != start {
            let source = from[k];
            batch.swap(k, source);
            from[k] = k;
            k = source;
        }
        from[k] = k;
    }
}

/// Slack around an attempt's start and end within which its SYN must fall.
const ATTEMPT_SLACK_NS: i64 = 2_000_000_000;

/// The collector's records by local port, built up as the records stream by, so linking a
/// batch costs the batch, not every record again.
/// The records' server addresses are parsed once here, so linking compares numbers.
#[derive(Debug, Default)]
struct AttemptIndex {
    by_port: std::collections::HashMap<u16, Vec<(IpAddr, usize)>>,
}

impl AttemptIndex {
    fn add(&mut self, attempts: &[AttemptRecord]) {
        let Some(a) = attempts.last().filter(|a| a.local_port != 0) else { return };
        // A record without an address (a name that did not resolve) made no connection.
        if let Ok(ip) = a.server_ip.parse::<IpAddr>() {
            self.by_port.entry(a.local_port).or_default().push((ip, attempts.len() - 1));
        }
    }
}

/// Ties each connection to the collector's record of the fetch that made it (same server, same
/// local port, first SYN within the fetch's time); returns the connections whose packets
/// disagree with the kernel's view in that record (capture, what).
fn link_attempts(
    connections: &mut [Connection],
    attempts: &[AttemptRecord],
    index: &AttemptIndex,
) -> Vec<(Arc<str>, String)> {
    let mut disagreeing = Vec::new();
    if attempts.is_empty() {
        return disagreeing;
    }
    for conn in connections {
        let t = conn.first_syn().time_ns;
        let server_ip = conn.server.ip();
        let found = index.by_port.get(&conn.client.port()).and_then(|candidates| {
            candidates.iter().filter(|(ip, _)| *ip == server_ip).map(|&(_, i)| &attempts[i]).find(|a| {
                a.server_port == conn.server.port()
                    && t >= a.start_ns - ATTEMPT_SLACK_NS
                    && t <= a.end_ns + ATTEMPT_SLACK_NS
            })
        });
        if let Some(a) = found {
            conn.attempt = Some(Arc::new(AttemptLink::of(a)));
            conn.arrival = crate::arrival::arrival_of_record(a).map(Box::new);
            if let Some(what) = disagreement(conn, a) {
                disagreeing.push((conn.capture.clone(), format!("frame {}: {what}", conn.first_syn().frame)));
            }
        }
    }
    disagreeing
}

/// TCPI_OPT_SYN_DATA: the kernel saw its SYN data acked.
const TCPI_OPT_SYN_DATA: u8 = 0x20;

/// Where the packets of a connection and the kernel's view of it (TCP_INFO in its record)
/// disagree: the SYN data acked or not, the connection refused or not.
fn disagreement(conn: &Connection, a: &AttemptRecord) -> Option<&'static str> {
    let info = a.tcp_info?;
    let answered = conn.synack.is_some();
    if conn.first_syn().data_len > 0 && answered {
        let wire = matches!(
            conn.syn_data_acked,
            Some(
                crate::record::DataAcked::Acked
                    | crate::record::DataAcked::Partial
                    | crate::record::DataAcked::AllButOne
            )
        );
        let kernel = info.options & TCPI_OPT_SYN_DATA != 0;
        if wire != kernel {
            return Some(if kernel {
                "the kernel saw its SYN data acked, the SYN-ACK acked none"
            } else {
                "the SYN-ACK acked the SYN data, the kernel saw none acked"
            });
        }
    }
    let wire_refused = !answered && (conn.reset.is_some() || conn.icmp.is_some_and(|i| !i.too_big()));
    let kernel_refused = a.result.error == Some(crate::attempt::FetchError::Refused);
    match (wire_refused, kernel_refused) {
        (true, false) if a.result.status.is_some() => {
            Some("a refusal on the wire, an HTTP answer to the socket")
        }
        (false, true) if answered => Some("refused to the socket, answered on the wire"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::in_first_syn_order;
    use crate::record::{Connection, SynTfo};
    use proptest::prelude::*;
    use std::net::SocketAddr;

    /// A connection whose first SYN is at (time, frame); `id` (its client port) tells it from
    /// the others.
    fn connection(id: u16, time_ns: i64, frame: u64) -> Connection {
        let client = SocketAddr::new("192.0.2.1".parse().unwrap(), id);
        let server = SocketAddr::new("198.51.100.1".parse().unwrap(), 80);
        Connection::unanswered(client, server, time_ns, frame, SynTfo::None)
    }

    /// The collector's record of a fetch from `port` to 198.51.100.1:80, with the kernel's view.
    fn record(port: u16, options: u8, error: Option<&str>) -> crate::attempt::AttemptRecord {
        crate::attempt::AttemptRecord {
            end_ns: 10_000_000_000,
            result: crate::attempt::AppResult {
                status: error.is_none().then_some(200),
                error: error.map(Into::into),
                ..Default::default()
            },
            tcp_info: Some(crate::attempt::KernelView {
                state: 1,
                options,
                fastopen_client_fail: 0,
                total_retrans: 0,
                rtt_us: 100,
                snd_mss: 1448,
                rcv_mss: 1448,
                pmtu: 1500,
                mptcp_flags: None,
            }),
            ..crate::verdict::tests::attempt_record("198.51.100.1", crate::attempt::FetchKind::TfoData, port)
        }
    }

    #[test]
    fn packets_and_kernel_view_compared_where_both_speak() {
        use crate::record::{SynAckAnswers, SynTfo};
        use crate::verdict::tests::conn;
        let link = |mut c: Connection, r: crate::attempt::AttemptRecord| {
            let records = [r];
            let mut index = super::AttemptIndex::default();
            index.add(&records);
            let found = super::link_attempts(std::slice::from_mut(&mut c), &records, &index);
            assert!(c.attempt.is_some(), "the record is linked");
            found
        };
        let cookie = || SynTfo::Cookie;
        // SYN data acked on the wire and in the kernel; not acked in either: agreement.
        let acked = conn(100, cookie(), 50, Some(SynAckAnswers::FirstSyn), false);
        assert!(link(acked.clone(), record(100, 0x27, None)).is_empty());
        let mut unacked = acked.clone();
        unacked.syn_data_acked = Some(crate::record::DataAcked::NotAcked);
        assert!(link(unacked.clone(), record(100, 0x07, None)).is_empty());
        // Each side alone: a disagreement, named by the first SYN's frame.
        let found = link(acked.clone(), record(100, 0x07, None));
        assert_eq!(found.len(), 1);
        assert_eq!(&*found[0].0, "t");
        assert!(found[0].1.starts_with("frame 100: the SYN-ACK acked the SYN data"), "{}", found[0].1);
        let found = link(unacked, record(100, 0x27, None));
        assert!(found[0].1.contains("the kernel saw its SYN data acked"), "{}", found[0].1);
        // Refused to the socket while the wire shows the handshake answered.
        let found = link(acked.clone(), record(100, 0x27, Some("refused")));
        assert!(found[0].1.contains("refused to the socket, answered on the wire"), "{:?}", found);
        // A wire refusal (a reset, no SYN-ACK) with an HTTP answer to the socket.
        let mut reset = conn(101, cookie(), 50, None, false);
        reset.reset = Some(crate::record::Refusal {
            frame: 103,
            time_ns: 103_000_000,
            icmp: None,
            answers_first_syn: true,
            ttl: 63,
            mtu: None,
        });
        let found = link(reset.clone(), record(101, 0x07, None));
        assert!(found[0].1.contains("a refusal on the wire, an HTTP answer"), "{:?}", found);
        assert!(link(reset, record(101, 0x07, Some("refused"))).is_empty());
        // No kernel view (an older record): nothing to compare.
        let mut old = record(100, 0x07, None);
        old.tcp_info = None;
        assert!(link(acked, old).is_empty());
    }

    proptest! {
        /// Put in place along the permutation's cycles: the same connections, each once, in
        /// (first SYN time, frame) order, whatever order they finished in.
        #[test]
        fn batches_come_out_in_first_syn_order(keys in proptest::collection::vec((0i64..50, 0u64..1000), 0..200)) {
            let mut batch: Vec<Connection> =
                keys.iter().enumerate().map(|(i, &(t, f))| connection(i as u16, t, f)).collect();
            let mut expected: Vec<(i64, u64, u16)> =
                keys.iter().enumerate().map(|(i, &(t, f))| (t, f, i as u16)).collect();
            expected.sort_unstable();
            in_first_syn_order(&mut batch);
            let found: Vec<(i64, u64, u16)> =
                batch.iter().map(|c| (c.first_syn().time_ns, c.first_syn().frame, c.client.port())).collect();
            prop_assert_eq!(found, expected);
        }
    }
}
