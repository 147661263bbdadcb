//! Captures made at the server (`--server-capture`) as the server's view of the measured
//! connections: each client connection is joined to the server-side connection that is it,
//! by ISN and time, or where the ISN was rewritten or a box opened its own connection, by
//! the first bytes of the request (the SYN data or the first segment) and time. Two-ended
//! tcpdump runs then give the `arrived_*` columns and path signatures an echo origin gives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::record::{Arrival, ArrivalSource, SynSeen};
use crate::record::{Connection, RequestPrint, SynAckAnswers, SynAckTfo};

/// One SYN as the server's capture holds it.
#[derive(Debug, Clone)]
struct ServerSyn {
    capture: Arc<str>,
    frame: u64,
    time_ns: i64,
    seen: SynSeen,
    /// The server granted a cookie on this connection.
    granted_cookie: bool,
}

#[derive(Debug)]
pub struct ServerView {
    syns: Vec<ServerSyn>,
    by_isn: HashMap<u32, Vec<usize>>,
    by_print: HashMap<RequestPrint, Vec<usize>>,
    /// Server connections already joined: a request sent three times (the collector's
    /// fetches are alike) is joined once each, nearest in time first.
    taken: Mutex<Vec<bool>>,
    /// How far apart the two machines' clocks (and the two ends of one SYN) may be.
    skew_ns: i64,
}

impl ServerView {
    pub fn new(connections: &[Connection], skew_ns: i64) -> Self {
        let mut view = ServerView {
            syns: Vec::with_capacity(connections.len()),
            by_isn: HashMap::new(),
            by_print: HashMap::new(),
            taken: Mutex::new(Vec::new()),
            skew_ns,
        };
        for c in connections {
            // The SYN the server answered: what arrived of the attempt that went on.
            let answered = match c.synack.as_ref().map(|s| s.answers) {
                Some(SynAckAnswers::RetransmittedSyn) => c.syns.last().unwrap_or(c.first_syn()),
                _ => c.first_syn(),
            };
            let i = view.syns.len();
            view.syns.push(ServerSyn {
                capture: c.capture.clone(),
                frame: answered.frame,
                time_ns: answered.time_ns,
                seen: SynSeen::from_transmission(c, answered),
                granted_cookie: c.synack.as_ref().is_some_and(|s| s.tfo == SynAckTfo::Cookie),
            });
            view.by_isn.entry(c.isn).or_default().push(i);
            if let Some(print) = c.request_print {
                view.by_print.entry(print).or_default().push(i);
            }
        }
        view.taken = Mutex::new(vec![false; view.syns.len()]);
        view
    }

    pub fn len(&self) -> usize {
        self.syns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.syns.is_empty()
    }

    /// The server's view of `conn`, if its capture holds it.
    pub fn arrival(&self, conn: &Connection) -> Option<Arrival> {
        let t = conn.first_syn().time_ns;
        let near = |i: &usize| (self.syns[*i].time_ns - t).abs() <= self.skew_ns;
        let nearest = |candidates: &mut dyn Iterator<Item = usize>| {
            candidates.min_by_key(|i| (self.syns[*i].time_ns - t).unsigned_abs())
        };
        let mut taken = self.taken.lock().expect("no panics while held");
        let by_isn = self.by_isn.get(&conn.isn).into_iter().flatten().copied().filter(|i| near(i));
        let found = nearest(&mut by_isn.filter(|i| !taken[*i])).or_else(|| {
            let print = conn.request_print?;
            let by_print = self.by_print.get(&print).into_iter().flatten().copied().filter(|i| near(i));
            nearest(&mut by_print.filter(|i| !taken[*i]))
        })?;
        taken[found] = true;
        let syn = &self.syns[found];
        Some(Arrival {
            source: ArrivalSource::ServerCapture { capture: syn.capture.clone(), frame: syn.frame },
            syn: Some(syn.seen.clone()),
            syn_data_accepted: None,
            origin_tfo: syn.granted_cookie.then_some(true),
            request_changes: None,
            served_cert: None,
        })
    }
}
