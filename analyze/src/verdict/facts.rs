//! What one measurement round (cookie request, SYN-data, baseline, in any order) shows,
//! before any judgement of middleboxes: connectivity, the cookie, the SYN data.

use super::evidence::Evidence;
use super::{Connectivity, CookieResult, SynDataResult};
use crate::decode::options::KIND_FASTOPEN;
use crate::record::{DataAcked, Outcome, SynAckAnswers, SynAckTfo, SynTfo};
use crate::summary::{ConnSummary, SynAckSummary};

/// One round's connections, split by what their first SYN carried.
pub struct Round<'r, 'a> {
    pub all: &'r [&'a ConnSummary],
    /// First SYN with a TFO option (a request, a cookie, or something malformed).
    pub tfo: Vec<&'a ConnSummary>,
    /// First SYN without one.
    pub plain: Vec<&'a ConnSummary>,
}

impl<'r, 'a> Round<'r, 'a> {
    pub fn new(all: &'r [&'a ConnSummary]) -> Self {
        let (tfo, plain) = all.iter().partition(|c| c.tried_tfo());
        Round { all, tfo, plain }
    }

    /// The TFO connections whose first SYN asked for a cookie.
    pub fn cookie_requests(&self) -> impl Iterator<Item = &'a ConnSummary> + '_ {
        self.tfo.iter().copied().filter(|c| c.first_syn().tfo == SynTfo::CookieRequest)
    }

    /// The first TFO connection whose first SYN carried data.
    pub fn syn_data(&self) -> Option<&'a ConnSummary> {
        self.tfo.iter().copied().find(|c| c.first_syn().data_len > 0)
    }

    /// A SYN without data to this target was answered: a plain connection, a cookie request,
    /// or a plain retransmission of any SYN. The SYN-ACK's frame.
    pub fn syn_without_data_answered(&self) -> Option<u64> {
        self.all.iter().find_map(|c| {
            let s = c.synack.as_ref()?;
            let no_data = c.first_syn().data_len == 0 || s.answers == SynAckAnswers::RetransmittedSyn;
            no_data.then_some(s.frame)
        })
    }

    /// A SYN without any TFO option was answered: a plain connection, or the kernel's plain
    /// retransmission of a TFO SYN. The SYN-ACK's frame.
    pub fn plain_syn_answered(&self) -> Option<u64> {
        self.all.iter().find_map(|c| {
            let s = c.synack.as_ref()?;
            (!c.tried_tfo() || s.answers == SynAckAnswers::RetransmittedSyn).then_some(s.frame)
        })
    }

    /// The first baseline connection that got a SYN-ACK: the SYN-ACK's frame.
    pub fn baseline_answered(&self) -> Option<u64> {
        self.plain.iter().find_map(|c| c.synack.as_ref().map(|s| s.frame))
    }
}

pub fn answered(c: &ConnSummary) -> bool {
    c.synack.is_some()
}

/// No SYN-ACK, and the connection did not merely run out of capture.
pub fn failed(c: &ConnSummary) -> bool {
    c.synack.is_none() && c.outcome != Outcome::Incomplete
}

/// A refusal (RST, or an ICMP error other than a path-MTU one) that answered the first SYN:
/// its frame.
pub fn refused_first_syn(c: &ConnSummary) -> Option<u64> {
    c.refused.filter(|r| r.answers_first_syn && c.synack.is_none()).map(|r| r.frame)
}

/// The first SYN went unanswered: its retransmission got the SYN-ACK, or nothing ever came.
pub fn first_syn_unanswered(c: &ConnSummary) -> bool {
    match &c.synack {
        Some(s) => s.answers == SynAckAnswers::RetransmittedSyn,
        None => c.refused.is_none() && c.outcome == Outcome::Timeout,
    }
}

/// The SYN-ACK that answered the connection's plain retransmission, when that is what got
/// the answer: the best witness that the first SYN, not the path, was the trouble.
pub fn own_retransmission_answered(c: &ConnSummary) -> Option<u64> {
    c.synack.as_ref().filter(|s| s.answers == SynAckAnswers::RetransmittedSyn).map(|s| s.frame)
}

/// Field notes, "Not a middlebox": host down (nothing answers) is offline, port closed
/// (everything refused) is closed; a baseline that failed while TFO got through is transient.
pub fn connectivity(round: &Round<'_, '_>) -> Connectivity {
    if round.all.iter().all(|c| c.synack.is_none() && !c.reset()) {
        Connectivity::Offline
    } else if round.all.iter().all(|c| c.synack.is_none()) {
        Connectivity::Closed
    } else if !round.plain.is_empty()
        && round.plain.iter().all(|c| failed(c))
        && round.tfo.iter().any(|c| answered(c))
    {
        Connectivity::Transient
    } else if round.tfo.iter().any(|c| failed(c)) {
        Connectivity::TfoBroken
    } else {
        Connectivity::Works
    }
}

/// Field notes, "The option on the wire": a kind-34 cookie in a SYN-ACK, else one in the
/// experimental kind 254 (Linux's fallback form), else none.
pub fn cookie<'a>(round: &Round<'_, 'a>) -> (CookieResult, Option<Evidence<'a>>) {
    if round.tfo.is_empty() {
        return (CookieResult::NotRequested, None);
    }
    let cookies: Vec<&SynAckSummary> =
        round.tfo.iter().filter_map(|c| c.synack.as_ref()).filter(|s| s.tfo == SynAckTfo::Cookie).collect();
    if let Some(s) = cookies.iter().find(|s| s.tfo_kind == Some(KIND_FASTOPEN)) {
        return (CookieResult::Received, Some(Evidence::CookieGranted { synack: s.frame }));
    }
    if let Some(s) = cookies.first() {
        return (CookieResult::ReceivedExpOnly, Some(Evidence::CookieExperimentalOnly { synack: s.frame }));
    }
    let answered_without = round.cookie_requests().find_map(|c| {
        let s = c.synack.as_ref().filter(|s| s.answers == SynAckAnswers::FirstSyn)?;
        Some(Evidence::CookieRequestAnsweredWithout { syn: c.first_syn().frame, synack: s.frame })
    });
    (CookieResult::NotReceived, answered_without)
}

/// Field notes: the server accepted the SYN data when the SYN-ACK acknowledges it; a refusal
/// of the SYN-data is `reset`, no answer to it `dropped` (whether that is a middlebox's doing
/// is [`super::rules`]' question).
pub fn syn_data<'a>(round: &Round<'_, 'a>) -> (SynDataResult, Option<Evidence<'a>>) {
    let Some(c) = round.syn_data() else { return (SynDataResult::NotAttempted, None) };
    let syn = c.first_syn().frame;
    if refused_first_syn(c).is_some() {
        return (SynDataResult::Reset, None);
    }
    if first_syn_unanswered(c) {
        return (SynDataResult::Dropped, None);
    }
    match (&c.synack, c.syn_data_acked) {
        (Some(s), Some(DataAcked::Acked | DataAcked::Partial)) => {
            (SynDataResult::Acked, Some(Evidence::SynDataAcked { syn, synack: s.frame }))
        }
        (Some(s), _) => (SynDataResult::NotAcked, Some(Evidence::SynDataNotAcked { syn, synack: s.frame })),
        // A refusal after a retransmission, or a capture that ended too soon.
        (None, _) => (SynDataResult::NotAttempted, None),
    }
}
