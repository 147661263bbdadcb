//! What decided a verdict, as data: the frames and values each fact and rule rests on. The
//! sentences are written from it in one place, [`super::explain`].

use std::net::IpAddr;

use super::{CookieResult, Signature};
use crate::attempt::FetchKind;
use crate::record::{string_enum, Feature};

/// One piece of evidence. Frames are frame numbers in the capture (Wireshark's).
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence<'a> {
    /// The target's rounds were formed from the kinds of their first SYNs (no collector
    /// records); `set_aside` of them held only a baseline and did not vote.
    RoundsByKinds { rounds: usize, set_aside: usize },
    /// The target's rounds are the collector's (its records name them); `set_aside` held only
    /// a baseline and did not vote.
    RoundsByRecords { rounds: usize, set_aside: usize },
    /// A signature held in `holding` of the target's `rounds` voting rounds (said when there
    /// are several).
    HeldInRounds { signature: Signature, holding: usize, rounds: usize },

    // What a round shows (facts).
    /// A kind-34 cookie came in this SYN-ACK; `refused_request`: an earlier cookie request of
    /// the round (its SYN's frame) was answered without one.
    CookieGranted { synack: u64, refused_request: Option<u64> },
    /// A cookie was sent in this SYN with no request in the round and none granted: cached
    /// from an earlier negotiation.
    CookieCached { syn: u64 },
    /// The only cookie came in the experimental option 254.
    CookieExperimentalOnly { synack: u64 },
    /// The cookie request was answered, without a cookie.
    CookieRequestAnsweredWithout { syn: u64, synack: u64 },
    /// The origin refused the cookie the SYN-data carried: its SYN-ACK acked only the SYN and
    /// granted another cookie.
    CookieRejected { syn: u64, synack: u64 },
    /// A SYN-ACK to a TFO SYN carried a cookie of a length RFC 7413 forbids.
    CookieBadLength { synack: u64 },
    /// The SYN carried `len` bytes of data without any TFO option (cookie-less TFO, or crafted).
    SynDataWithoutOption { syn: u64, len: u32 },
    /// The SYN-ACK itself carried `len` bytes of data.
    SynAckCarriedData { synack: u64, len: u32 },
    /// The SYN-ACK acknowledged the SYN's data.
    SynDataAcked { syn: u64, synack: u64 },
    /// The SYN-ACK acked part of the SYN data: all but its last byte (a proxy answering the
    /// handshake itself), or another part.
    SynDataPartiallyAcked { syn: u64, synack: u64, all_but_one: bool },
    /// A path-MTU error answered the SYN-data: it was too big for the path.
    SynDataTooBig { syn: u64, icmp: u64, mtu: u16, len: u32 },
    /// The SYN-ACK acknowledged only the SYN, not its data.
    SynDataNotAcked { syn: u64, synack: u64 },

    // The round rules' signatures.
    /// A TFO SYN went unanswered while a plain SYN (its own retransmission, or another) was.
    OptionDropped { syn: u64, plain_synack: u64 },
    /// A refusal answered the TFO SYN while the baseline connected.
    OptionReset { refusal: u64, syn: u64, baseline_synack: u64 },
    /// A refusal answered the SYN-data while a SYN without data was answered.
    SynDataReset { refusal: u64, syn: u64, no_data_synack: u64 },
    /// The SYN-data went unanswered while a SYN without data was answered.
    /// `len`: the data the SYN carried; `mss`: the MSS the SYN-ACK announced.
    SynDataDropped { syn: u64, no_data_synack: u64, len: u32, mss: Option<u16> },
    /// Without timestamps, a SYN-ACK taken to answer a retransmission by its timing.
    AnsweredByTiming { synack: u64, after_ms: u32 },
    /// Two SYN-ACKs with different ISNs answered the one SYN transmission: the frames of both.
    SynAckConflict { synack: u64, other: u64 },
    /// A TFO fetch's application result differs from the baseline's (collector records).
    ResponseDiffers { fetch: FetchKind, difference: ResponseDifference<'a> },

    // What arrived at the server (echo origin or server capture).
    /// The TFO option (or its cookie) the client sent in these SYNs did not arrive as sent;
    /// each with its `syn_changes` word.
    OptionRemovedOnPath { syns: Vec<Arrived<'a>> },
    /// The data of these SYNs did not arrive with them; each with the bytes sent and arrived.
    SynDataRemovedOnPath { syns: Vec<Arrived<'a>> },
    /// The SYNs that arrived for these connections are not the client's (another ISN and TSval).
    Reoriginated { syns: Vec<Arrived<'a>> },
    /// The request's headers changed on the way (`added:via`, ...).
    RequestChanged { fetch: FetchKind, changes: &'a [String] },
    /// The client saw another certificate than the echo origin served.
    TlsIntercepted { fetch: FetchKind, client_cert: &'a str, served_cert: &'a str },
    /// An inferred signature the server's view contradicts, set aside: the SYN `syn` arrived
    /// with its option or data.
    SetAsideByArrival { signature: Signature, syn: u64, server: ServerSide<'a> },

    // Against what was expected of the origin.
    /// The expectation says TFO, and the cookie was not received (or only in the old form).
    NotNegotiatedExpected { source: &'a str, cookie: CookieResult },
    /// The expectation says no TFO, and TFO was negotiated.
    NegotiatedUnexpected { source: &'a str },

    // The SYN-ACKs' fingerprints.
    /// A SYN-ACK to a TFO SYN differs from a baseline's SYN-ACK.
    SynAckDiffers { tfo_synack: u64, baseline_synack: u64, difference: StackDifference },
    /// A SYN-ACK's TTL differs from the one the control saw.
    TtlDiffersFromControl { synack: u64, ttl: u8, control_ttl: u8 },

    // Why a measurement is not valid or not complete.
    /// TCP options were cut by the snap length.
    OptionsTruncated,
    /// The capturing kernel dropped packets.
    CaptureDrops,
    /// The capture file was cut off (at its last packet's time) while this target's fetches
    /// may still have been under way.
    CaptureCut { at_ns: i64 },
    /// The kernel remembered SYN-data losses for the address before a TFO fetch.
    CachedSynDrops { fetch: FetchKind, round: u32, drops: u16 },
    /// The kernel's blackhole detection paused TFO during the run.
    /// With where the pause shows first (the time, the target), where the capture tells it.
    Blackhole { from: Option<(i64, std::net::SocketAddr)> },
    /// No signature holds, yet not every one could be looked for: why the target could not
    /// tell (its `middlebox` is null).
    CouldNotTell { syn_data: bool, negotiation: bool, wire: bool },
    /// A feature beside TFO met the path, shown at `frame` (the SYN lost, the reset, the
    /// SYN-ACK without it).
    FeatureFailed { feature: Feature, failure: FeatureFailure, frame: u64 },
    /// The combined first attempt met trouble (its SYN in `frame`) and every feature went
    /// through alone: no feature, no middlebox named.
    CombinedInconclusive { frame: u64 },
    /// MPTCP's blackhole detection paused it (the run's counters, or a fetch that asked for
    /// MPTCP whose first SYN, in `frame`, carried no MP_CAPABLE): no MPTCP result is valid.
    MptcpPaused { frame: Option<u64> },
}

/// A client's SYN (its frame), where the server's view of it comes from, and what that
/// view shows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrived<'a> {
    pub syn: u64,
    pub server: ServerSide<'a>,
    pub detail: String,
}

/// Which server-side view a fact comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSide<'a> {
    Echo,
    Capture { capture: &'a str, frame: u64 },
}

impl<'a> ServerSide<'a> {
    pub fn of(source: &'a crate::arrival::ArrivalSource) -> Self {
        match source {
            crate::arrival::ArrivalSource::Echo => ServerSide::Echo,
            crate::arrival::ArrivalSource::ServerCapture { capture, frame } => {
                ServerSide::Capture { capture, frame: *frame }
            }
        }
    }
}

/// What tells two SYN-ACKs' stacks apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackDifference {
    Ttl {
        tfo: u8,
        baseline: u8,
    },
    Mss {
        tfo: Option<u16>,
        baseline: Option<u16>,
    },
    /// The option kinds other than TFO and padding, or their order.
    Options,
}

/// How a TFO fetch's response differed from the baseline's.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseDifference<'a> {
    /// Another status (or error kind), each as the `app_result` column shows it.
    Status {
        got: &'a str,
        baseline: &'a str,
    },
    Certificate,
    /// One of the two was the echo origin's answer and the other not (`got`: the TFO fetch's).
    Echo {
        got: bool,
    },
    Size {
        got: u64,
        baseline: u64,
    },
}

/// A target known only from the collector's records: no packet to judge.
#[derive(Debug, Clone, PartialEq)]
pub enum NoPackets<'a> {
    /// The name did not resolve.
    Unresolved { host: &'a str },
    /// Fetches to the address failed before any packet reached the wire; their error kinds.
    NeverOnTheWire { ip: IpAddr, errors: Vec<&'a str> },
}

string_enum!(
    /// How a feature beside TFO met the path: its first SYN unanswered where the baseline's
    /// was answered at once; a reset refusing its first SYN where the baseline went through;
    /// nothing late, yet the SYN-ACK lacked it where the control's granted it.
    FeatureFailure {
        Dropped => "dropped",
        Reset => "reset",
        NotNegotiatedExpected => "not_negotiated_expected",
    }
);

impl FeatureFailure {
    /// Its word in `feature_failures` after `feature:`: MPTCP's drop and reset are of its option.
    pub fn word(self, feature: Feature) -> &'static str {
        match (feature, self) {
            (Feature::Mptcp, FeatureFailure::Dropped) => "option_dropped",
            (Feature::Mptcp, FeatureFailure::Reset) => "option_reset",
            (_, other) => other.as_str(),
        }
    }
}
