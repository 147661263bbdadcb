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
    /// First SYN with a TFO option (a request, a cookie, or something malformed), or with
    /// data (cookie-less TFO sends no option).
    pub tfo: Vec<&'a ConnSummary>,
    /// First SYN with neither: the baseline.
    pub plain: Vec<&'a ConnSummary>,
}

impl<'r, 'a> Round<'r, 'a> {
    pub fn new(all: &'r [&'a ConnSummary]) -> Self {
        let (tfo, plain) = all.iter().partition(|c| c.tfo_exchange());
        Round { all, tfo, plain }
    }

    /// The TFO connections whose first SYN asked for a cookie.
    pub fn cookie_requests(&self) -> impl Iterator<Item = &'a ConnSummary> + '_ {
        self.tfo.iter().copied().filter(|c| c.first_syn().tfo == SynTfo::CookieRequest)
    }

    /// The first connection whose first SYN carried data (with a TFO option or without).
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
    c.refused
        .filter(|r| r.answers_first_syn && c.synack.is_none() && r.too_big_mtu.is_none())
        .and(c.refusal_frame())
}

/// A path-MTU error (fragmentation needed, packet too big) answered the first SYN: its frame
/// and the MTU it names. The SYN was too big for the path; no one refused it.
pub fn too_big_first_syn(c: &ConnSummary) -> Option<(u64, u16)> {
    let mtu = c.refused.filter(|r| r.answers_first_syn)?.too_big_mtu?;
    Some((c.refusal_frame()?, mtu.get()))
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

/// A cookie request answered, by its own first SYN's SYN-ACK, without a cookie: (SYN, SYN-ACK).
fn answered_without_cookie(c: &ConnSummary) -> Option<(u64, u64)> {
    let s =
        c.synack.as_ref().filter(|s| s.answers == SynAckAnswers::FirstSyn && s.tfo != SynAckTfo::Cookie)?;
    Some((c.first_syn().frame, s.frame))
}

/// Field notes, "The option on the wire": a kind-34 cookie in any SYN-ACK of the round (a later
/// request granted after an earlier one was refused counts), else one in the experimental kind
/// 254 (Linux's fallback form); "Seen since": a cookie sent with no request in the round and
/// none granted was cached from an earlier negotiation.
pub fn cookie<'a>(round: &Round<'_, 'a>) -> (CookieResult, Option<Evidence<'a>>) {
    let tfo: Vec<&ConnSummary> = round.tfo.iter().copied().filter(|c| c.tried_tfo()).collect();
    if tfo.is_empty() {
        return (CookieResult::NotRequested, None);
    }
    let cookies: Vec<&SynAckSummary> =
        tfo.iter().filter_map(|c| c.synack.as_ref()).filter(|s| s.tfo == SynAckTfo::Cookie).collect();
    let refused_first = |granted: u64| {
        round.cookie_requests().filter_map(answered_without_cookie).find(|(_, synack)| *synack < granted)
    };
    if let Some(s) = cookies.iter().find(|s| s.tfo_kind == Some(KIND_FASTOPEN)) {
        let refused = refused_first(s.frame).map(|(syn, _)| syn);
        return (
            CookieResult::Received,
            Some(Evidence::CookieGranted { synack: s.frame, refused_request: refused }),
        );
    }
    if let Some(s) = cookies.first() {
        return (CookieResult::ReceivedExpOnly, Some(Evidence::CookieExperimentalOnly { synack: s.frame }));
    }
    if round.cookie_requests().next().is_none() {
        if let Some(c) = tfo.iter().find(|c| c.first_syn().tfo == SynTfo::Cookie) {
            return (CookieResult::Cached, Some(Evidence::CookieCached { syn: c.first_syn().frame }));
        }
    }
    // "Seen since": cookies of 2, 3 or 18 bytes are on the wire; not a cookie a client keeps.
    let bad_length = tfo
        .iter()
        .filter_map(|c| c.synack.as_ref())
        .find(|s| s.tfo == SynAckTfo::CookieBadLength)
        .map(|s| Evidence::CookieBadLength { synack: s.frame });
    let answered_without = round
        .cookie_requests()
        .find_map(answered_without_cookie)
        .map(|(syn, synack)| Evidence::CookieRequestAnsweredWithout { syn, synack });
    (CookieResult::NotReceived, bad_length.or(answered_without))
}

/// Field notes: the server accepted the SYN data when the SYN-ACK acknowledges it; a refusal
/// of the SYN-data is `reset`, no answer to it `dropped` (whether that is a middlebox's doing
/// is [`super::rules`]' question).
pub fn syn_data<'a>(round: &Round<'_, 'a>) -> (SynDataResult, Vec<Evidence<'a>>) {
    let Some(c) = round.syn_data() else { return (SynDataResult::NotAttempted, vec![]) };
    let syn = c.first_syn().frame;
    let mut evidence = Vec::new();
    if c.first_syn().tfo == SynTfo::None {
        evidence.push(Evidence::SynDataWithoutOption { syn, len: c.first_syn().data_len });
    }
    let result = if let Some((icmp, mtu)) = too_big_first_syn(c) {
        evidence.push(Evidence::SynDataTooBig { syn, icmp, mtu, len: c.first_syn().data_len });
        SynDataResult::TooBig
    } else if refused_first_syn(c).is_some() {
        SynDataResult::Reset
    } else if first_syn_unanswered(c) {
        SynDataResult::Dropped
    } else {
        match (&c.synack, c.syn_data_acked) {
            (Some(s), Some(DataAcked::Acked)) => {
                evidence.push(Evidence::SynDataAcked { syn, synack: s.frame });
                SynDataResult::Acked
            }
            (Some(s), Some(acked @ (DataAcked::Partial | DataAcked::AllButOne))) => {
                let all_but_one = acked == DataAcked::AllButOne;
                evidence.push(Evidence::SynDataPartiallyAcked { syn, synack: s.frame, all_but_one });
                SynDataResult::Acked
            }
            (Some(s), _) => {
                evidence.push(Evidence::SynDataNotAcked { syn, synack: s.frame });
                SynDataResult::NotAcked
            }
            // A refusal after a retransmission, or a capture that ended too soon.
            (None, _) => SynDataResult::NotAttempted,
        }
    };
    (result, evidence)
}

/// The SYN-data's cookie refused by the origin: the SYN-ACK to that very SYN acked none of its
/// data and carried another cookie. (The same cookie again is no rejection.)
pub fn cookie_rejected<'a>(round: &Round<'_, 'a>) -> Option<Evidence<'a>> {
    let c = round.syn_data().filter(|c| c.first_syn().tfo == SynTfo::Cookie)?;
    let s = c.synack.as_ref().filter(|s| s.answers == SynAckAnswers::FirstSyn && s.another_cookie)?;
    (c.syn_data_acked == Some(DataAcked::NotAcked))
        .then_some(Evidence::CookieRejected { syn: c.first_syn().frame, synack: s.frame })
}

/// SYN-ACKs whose answered SYN rests on timing alone (no timestamps): said with the finding.
pub fn answered_by_timing<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    round
        .all
        .iter()
        .filter_map(|c| c.synack.as_ref())
        .filter(|s| s.answers_by_timing)
        .map(|s| Evidence::AnsweredByTiming { synack: s.frame, after_ms: s.after_syn_us / 1000 })
        .collect()
}

/// SYN-ACKs that carried data themselves (a server answering in its SYN-ACK): said, not judged.
pub fn synacks_with_data<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    round
        .all
        .iter()
        .filter_map(|c| c.synack.as_ref())
        .filter(|s| s.data_len > 0)
        .map(|s| Evidence::SynAckCarriedData { synack: s.frame, len: u32::from(s.data_len) })
        .collect()
}
