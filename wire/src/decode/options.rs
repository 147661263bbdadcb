//! TCP options, walked with nom.
//!
//! etherparse's option iterator stops at kind 34, so the walk is ours. It keeps every option in
//! order; TFO comes in two forms: kind 34 (RFC 7413) and kind 254 with the experimental magic
//! 0xF989 (RFC 6994), which Linux falls back to.
//!
//! Contract: the walk never panics and never loops. A zero or overrunning length ends it with
//! an [`OptionError`]; options cut off by the capture's snap length end it with
//! [`OptionError::Truncated`], never with "no more options".

use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::{IResult, Parser};

pub const KIND_EOL: u8 = 0;
pub const KIND_NOP: u8 = 1;
pub const KIND_MSS: u8 = 2;
pub const KIND_WINDOW_SCALE: u8 = 3;
pub const KIND_SACK_PERMITTED: u8 = 4;
pub const KIND_SACK: u8 = 5;
pub const KIND_TIMESTAMPS: u8 = 8;
pub const KIND_MPTCP: u8 = 30;
pub const KIND_FASTOPEN: u8 = 34;
pub const KIND_EXPERIMENTAL: u8 = 254;
pub const TFO_EXPERIMENT_ID: u16 = 0xF989;

/// One TCP option, borrowing its bytes from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    EndOfList,
    Nop,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    Sack(&'a [u8]),
    Timestamps {
        tsval: u32,
        tsecr: u32,
    },
    /// Kind 34: an empty cookie is a cookie request. The cookie is kept raw, whatever its
    /// length; [`TcpOption::tfo`] judges it.
    FastOpen {
        cookie: &'a [u8],
    },
    /// Kind 254 with magic 0xF989.
    FastOpenExp {
        cookie: &'a [u8],
    },
    /// Any other kind, including 254 with another experiment id, or a known kind whose length
    /// does not fit it.
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
}

/// Why the option walk stopped before the end of the declared option space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionError {
    /// An option of length 0 or 1 (other than EOL/NOP), at this offset in the option space.
    BadLength { offset: usize, kind: u8, len: u8 },
    /// An option claims more bytes than the TCP header declares.
    Overrun { offset: usize, kind: u8, len: u8 },
    /// The capture's snap length cut the options at this offset.
    Truncated { offset: usize },
}

/// What the TFO option of a segment says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tfo<'a> {
    Request,
    Cookie(&'a [u8]),
    /// A kind-34 option of a length RFC 7413 forbids (odd, or a cookie outside 4..=16 bytes),
    /// with the bytes it carried: what was on the wire is kept, the length is the finding.
    Malformed(&'a [u8]),
}

/// The TFO option's form on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TfoKind {
    Rfc7413,
    Experimental,
}

impl TfoKind {
    pub fn kind(self) -> u8 {
        match self {
            TfoKind::Rfc7413 => KIND_FASTOPEN,
            TfoKind::Experimental => KIND_EXPERIMENTAL,
        }
    }
}

impl<'a> TcpOption<'a> {
    pub fn kind(&self) -> u8 {
        match self {
            TcpOption::EndOfList => KIND_EOL,
            TcpOption::Nop => KIND_NOP,
            TcpOption::Mss(_) => KIND_MSS,
            TcpOption::WindowScale(_) => KIND_WINDOW_SCALE,
            TcpOption::SackPermitted => KIND_SACK_PERMITTED,
            TcpOption::Sack(_) => KIND_SACK,
            TcpOption::Timestamps { .. } => KIND_TIMESTAMPS,
            TcpOption::FastOpen { .. } => KIND_FASTOPEN,
            TcpOption::FastOpenExp { .. } => KIND_EXPERIMENTAL,
            TcpOption::Unknown { kind, .. } => *kind,
        }
    }

    /// The TFO meaning of this option, if it is one of the two TFO forms.
    pub fn tfo(&self) -> Option<(TfoKind, Tfo<'a>)> {
        match *self {
            TcpOption::FastOpen { cookie } => {
                let tfo = match cookie.len() {
                    0 => Tfo::Request,
                    4..=16 if cookie.len() % 2 == 0 => Tfo::Cookie(cookie),
                    _ => Tfo::Malformed(cookie),
                };
                Some((TfoKind::Rfc7413, tfo))
            }
            TcpOption::FastOpenExp { cookie } => {
                let tfo = if cookie.is_empty() { Tfo::Request } else { Tfo::Cookie(cookie) };
                Some((TfoKind::Experimental, tfo))
            }
            _ => None,
        }
    }
}

/// Iterator over the options of one TCP header.
///
/// `captured` is the option bytes present in the capture; `declared_len` is the option space
/// the header's data offset declares. When the capture holds less than declared, running into
/// the cut yields [`OptionError::Truncated`].
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    captured: &'a [u8],
    declared_len: usize,
    offset: usize,
    done: bool,
}

impl<'a> OptionIter<'a> {
    pub fn new(captured: &'a [u8], declared_len: usize) -> Self {
        let captured = &captured[..captured.len().min(declared_len)];
        OptionIter { captured, declared_len, offset: 0, done: false }
    }
}

/// What the walk finds at one offset, before any option's body is read.
enum Step {
    EndOfList,
    Nop,
    /// An option of this kind whose `len` bytes are all present.
    Option {
        kind: u8,
        len: usize,
    },
    /// The walk ends here.
    Stop(OptionError),
}

/// One step of the walk: the bounds and length checks both the iterator and the summary obey.
#[inline]
fn step(captured: &[u8], declared_len: usize, offset: usize) -> Step {
    let rest = &captured[offset.min(captured.len())..];
    let truncated = captured.len() < declared_len;
    match *rest {
        [] => Step::Stop(OptionError::Truncated { offset }),
        // Everything after EOL is padding.
        [KIND_EOL, ..] => Step::EndOfList,
        [KIND_NOP, ..] => Step::Nop,
        [_] if truncated => Step::Stop(OptionError::Truncated { offset }),
        [kind] => Step::Stop(OptionError::Overrun { offset, kind, len: 0 }),
        [kind, len, ..] if len < 2 => Step::Stop(OptionError::BadLength { offset, kind, len }),
        [kind, len, ..] => {
            let n = usize::from(len);
            if offset + n > declared_len {
                Step::Stop(OptionError::Overrun { offset, kind, len })
            } else if n > rest.len() {
                Step::Stop(OptionError::Truncated { offset })
            } else {
                Step::Option { kind, len: n }
            }
        }
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<TcpOption<'a>, OptionError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.offset >= self.declared_len {
            return None;
        }
        let offset = self.offset;
        let error = match step(self.captured, self.declared_len, offset) {
            Step::EndOfList => {
                self.done = true;
                return Some(Ok(TcpOption::EndOfList));
            }
            Step::Nop => {
                self.offset += 1;
                return Some(Ok(TcpOption::Nop));
            }
            Step::Option { kind, len } => match parse_option(&self.captured[offset..offset + len]) {
                Ok((_, option)) => {
                    self.offset += len;
                    return Some(Ok(option));
                }
                // Unreachable given the checks of `step`, but the walk must not panic.
                Err(_) => OptionError::Overrun { offset, kind, len: len as u8 },
            },
            Step::Stop(error) => error,
        };
        self.done = true;
        Some(Err(error))
    }
}

/// Parses one option of length >= 2 whose bytes are all present.
#[inline]
fn parse_option(input: &[u8]) -> IResult<&[u8], TcpOption<'_>> {
    let (input, kind) = be_u8(input)?;
    let (input, len) = be_u8(input)?;
    let (rest, body) = take(usize::from(len) - 2).parse(input)?;
    let option = match (kind, body.len()) {
        (KIND_MSS, 2) => TcpOption::Mss(be_u16(body)?.1),
        (KIND_WINDOW_SCALE, 1) => TcpOption::WindowScale(body[0]),
        (KIND_SACK_PERMITTED, 0) => TcpOption::SackPermitted,
        (KIND_SACK, _) => TcpOption::Sack(body),
        (KIND_TIMESTAMPS, 8) => {
            let (b, tsval) = be_u32(body)?;
            let (_, tsecr) = be_u32(b)?;
            TcpOption::Timestamps { tsval, tsecr }
        }
        (KIND_FASTOPEN, _) => TcpOption::FastOpen { cookie: body },
        (KIND_EXPERIMENTAL, n) if n >= 2 && be_u16(body)?.1 == TFO_EXPERIMENT_ID => {
            TcpOption::FastOpenExp { cookie: &body[2..] }
        }
        _ => TcpOption::Unknown { kind, data: body },
    };
    Ok((rest, option))
}

/// Everything the connection builder needs from one segment's options, gathered in one walk
/// without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSummary<'a> {
    /// The first TFO option seen.
    pub tfo: Option<(TfoKind, Tfo<'a>)>,
    /// More than one TFO option was present.
    pub tfo_duplicate: bool,
    pub timestamps: Option<(u32, u32)>,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    /// Why the walk stopped early, if it did.
    pub error: Option<OptionError>,
    /// An MPTCP option of subtype MP_CAPABLE (0) was present.
    pub mp_capable: bool,
    /// The kinds of the options before any error, in order (40 option bytes hold at most 40).
    kinds: [u8; 40],
    kinds_len: u8,
}

impl Default for OptionSummary<'_> {
    fn default() -> Self {
        OptionSummary {
            tfo: None,
            tfo_duplicate: false,
            timestamps: None,
            mss: None,
            wscale: None,
            error: None,
            mp_capable: false,
            kinds: [0; 40],
            kinds_len: 0,
        }
    }
}

crate::string_enum!(
    /// What a SYN's TFO option says: the one reading of a SYN, for the client's capture and the
    /// echo origin's saved SYN alike.
    SynTfo {
        None => "none",
        CookieRequest => "cookie_request",
        Cookie => "cookie",
        Malformed => "malformed",
        Truncated => "truncated",
    }
);

/// Written as its word (the echo document's `syn.tfo`).
impl serde::Serialize for SynTfo {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A word this version does not know (a later echo origin's) reads as `malformed`: the SYN's
/// option is then not taken as none, and the rest of the document is kept.
impl<'de> serde::Deserialize<'de> for SynTfo {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(SynTfo::parse(&word).unwrap_or(SynTfo::Malformed))
    }
}

impl<'a> OptionSummary<'a> {
    /// What the TFO option of a SYN says, the walk's damage included: options cut by the snap
    /// length are `truncated`, never `none`; a walk broken before its end `malformed` (a TFO
    /// option may have been behind the damage).
    pub fn syn_tfo(&self) -> SynTfo {
        match (self.tfo, self.error) {
            (Some((_, Tfo::Request)), _) => SynTfo::CookieRequest,
            (Some((_, Tfo::Cookie(_))), _) => SynTfo::Cookie,
            (Some((_, Tfo::Malformed(_))), _) => SynTfo::Malformed,
            (None, Some(OptionError::Truncated { .. })) => SynTfo::Truncated,
            (None, Some(_)) => SynTfo::Malformed,
            (None, None) => SynTfo::None,
        }
    }

    /// The summary of the options `options` has yet to walk. The same walk as [`OptionIter`]
    /// (the same stops, errors and options: a property test holds the two equal), without
    /// building a [`TcpOption`] for the options the summary does not read: it runs for every
    /// SYN and SYN-ACK, and the general walk cost about 1,100 instructions a segment.
    pub fn of(options: OptionIter<'a>) -> Self {
        let mut summary = OptionSummary::default();
        let OptionIter { captured, declared_len, mut offset, done } = options;
        while !done && offset < declared_len {
            match step(captured, declared_len, offset) {
                Step::EndOfList => {
                    summary.push_kind(KIND_EOL);
                    break;
                }
                Step::Nop => {
                    summary.push_kind(KIND_NOP);
                    offset += 1;
                }
                Step::Option { kind, len } => {
                    summary.push_kind(kind);
                    // Only the options the summary reads are parsed.
                    if matches!(
                        kind,
                        KIND_MSS
                            | KIND_WINDOW_SCALE
                            | KIND_TIMESTAMPS
                            | KIND_FASTOPEN
                            | KIND_EXPERIMENTAL
                            | KIND_MPTCP
                    ) {
                        if let Ok((_, option)) = parse_option(&captured[offset..offset + len]) {
                            summary.note(option);
                        }
                    }
                    offset += len;
                }
                Step::Stop(error) => {
                    summary.error = Some(error);
                    break;
                }
            }
        }
        summary
    }

    fn push_kind(&mut self, kind: u8) {
        if let Some(slot) = self.kinds.get_mut(usize::from(self.kinds_len)) {
            *slot = kind;
            self.kinds_len += 1;
        }
    }

    /// Takes in what one option says (its kind is pushed by the walk).
    fn note(&mut self, option: TcpOption<'a>) {
        if let Some(tfo) = option.tfo() {
            if self.tfo.is_some() {
                self.tfo_duplicate = true;
            } else {
                self.tfo = Some(tfo);
            }
        }
        match option {
            TcpOption::Timestamps { tsval, tsecr } => self.timestamps = Some((tsval, tsecr)),
            TcpOption::Mss(mss) => self.mss = Some(mss),
            TcpOption::WindowScale(shift) => self.wscale = Some(shift),
            // MP_CAPABLE is subtype 0: the high nibble of the option's first data byte.
            TcpOption::Unknown { kind: KIND_MPTCP, data } if data.first().is_some_and(|b| b >> 4 == 0) => {
                self.mp_capable = true
            }
            _ => {}
        }
    }

    /// The TFO option's kind, and its cookie when it carries one.
    pub fn tfo_kind_and_cookie(&self) -> (Option<u8>, Option<&'a [u8]>) {
        match self.tfo {
            Some((kind, Tfo::Cookie(cookie))) => (Some(kind.kind()), Some(cookie)),
            Some((kind, Tfo::Malformed(bytes))) if !bytes.is_empty() => (Some(kind.kind()), Some(bytes)),
            Some((kind, _)) => (Some(kind.kind()), None),
            None => (None, None),
        }
    }

    pub fn truncated(&self) -> bool {
        matches!(self.error, Some(OptionError::Truncated { .. }))
    }

    /// The option kinds in order, up to the first malformed option.
    pub fn kinds(&self) -> &[u8] {
        &self.kinds[..usize::from(self.kinds_len)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(bytes: &[u8]) -> Vec<Result<TcpOption<'_>, OptionError>> {
        OptionIter::new(bytes, bytes.len()).collect()
    }

    #[test]
    fn summary_kinds_in_order_up_to_the_first_broken_option() {
        // MSS, NOP, then an option of length 0: the walk stops there.
        let bytes = [2, 4, 5, 180, 1, 8, 0, 0, 0, 0];
        let summary = OptionSummary::of(OptionIter::new(&bytes, bytes.len()));
        assert_eq!(summary.kinds(), &[2, 1]);
        assert!(matches!(summary.error, Some(OptionError::BadLength { offset: 5, .. })));
        // Forty NOPs fill the option space: all forty kept.
        let nops = [1u8; 40];
        assert_eq!(OptionSummary::of(OptionIter::new(&nops, 40)).kinds(), &nops[..]);
    }

    #[test]
    fn linux_syn_with_cookie_request() {
        // MSS, SACK-permitted, timestamps, NOP, window scale, TFO request (as Linux sends).
        let bytes = [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7, 34, 2, 1, 1];
        let options: Vec<_> = walk(&bytes).into_iter().map(Result::unwrap).collect();
        assert_eq!(
            options,
            vec![
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps { tsval: 1, tsecr: 0 },
                TcpOption::Nop,
                TcpOption::WindowScale(7),
                TcpOption::FastOpen { cookie: &[] },
                TcpOption::Nop,
                TcpOption::Nop,
            ]
        );
        assert_eq!(options[5].tfo(), Some((TfoKind::Rfc7413, Tfo::Request)));
    }

    #[test]
    fn kind_34_lengths() {
        fn tfo(bytes: &[u8]) -> Tfo<'_> {
            walk(bytes)[0].unwrap().tfo().unwrap().1
        }
        assert_eq!(tfo(&[34, 2]), Tfo::Request);
        assert_eq!(tfo(&[34, 4, 0xf9, 0x89]), Tfo::Malformed(&[0xf9, 0x89]));
        assert_eq!(tfo(&[34, 6, 1, 2, 3, 4]), Tfo::Cookie(&[1, 2, 3, 4]));
        assert_eq!(tfo(&[34, 7, 1, 2, 3, 4, 5]), Tfo::Malformed(&[1, 2, 3, 4, 5]));
        let mut long = vec![34, 18];
        long.extend_from_slice(&[9; 16]);
        assert_eq!(tfo(&long), Tfo::Cookie(&[9; 16]));
        let mut too_long = vec![34, 20];
        too_long.extend_from_slice(&[9; 18]);
        assert_eq!(tfo(&too_long), Tfo::Malformed(&too_long[2..]));
        assert_eq!(tfo(&[34, 3, 0]), Tfo::Malformed(&[0]));
    }

    #[test]
    fn kind_254_needs_the_magic() {
        assert_eq!(
            walk(&[254, 4, 0xf9, 0x89])[0].unwrap().tfo(),
            Some((TfoKind::Experimental, Tfo::Request))
        );
        assert_eq!(
            walk(&[254, 6, 0xf9, 0x89, 7, 7])[0].unwrap().tfo(),
            Some((TfoKind::Experimental, Tfo::Cookie(&[7, 7])))
        );
        let other = walk(&[254, 4, 0x12, 0x34])[0].unwrap();
        assert_eq!(other, TcpOption::Unknown { kind: 254, data: &[0x12, 0x34] });
        assert_eq!(other.tfo(), None);
        // Kind 255 (PATHspider's rewritten files) is not TFO either.
        assert_eq!(walk(&[255, 4, 0xf9, 0x89])[0].unwrap().tfo(), None);
        // Too short to hold the magic.
        assert_eq!(walk(&[254, 3, 0xf9])[0].unwrap().tfo(), None);
    }

    #[test]
    fn zero_and_one_lengths_end_the_walk() {
        assert_eq!(
            walk(&[1, 8, 0, 0, 0]),
            vec![Ok(TcpOption::Nop), Err(OptionError::BadLength { offset: 1, kind: 8, len: 0 })]
        );
        assert_eq!(walk(&[34, 1, 1, 1]), vec![Err(OptionError::BadLength { offset: 0, kind: 34, len: 1 })]);
    }

    #[test]
    fn overrun_is_not_truncation() {
        assert_eq!(walk(&[34, 10, 1, 2]), vec![Err(OptionError::Overrun { offset: 0, kind: 34, len: 10 })]);
        assert_eq!(
            walk(&[1, 34]),
            vec![Ok(TcpOption::Nop), Err(OptionError::Overrun { offset: 1, kind: 34, len: 0 })]
        );
    }

    #[test]
    fn snap_length_cut_is_truncation() {
        let bytes = [2, 4, 5, 0xb4, 34, 10, 1, 2, 3, 4, 5, 6, 7, 8];
        for cut in 0..bytes.len() {
            let summary = OptionSummary::of(OptionIter::new(&bytes[..cut], bytes.len()));
            assert!(summary.truncated(), "cut at {cut}: {summary:?}");
            assert_eq!(summary.tfo, None, "a cut option is never read: cut at {cut}");
        }
        let full = OptionSummary::of(OptionIter::new(&bytes, bytes.len()));
        assert_eq!(full.error, None);
        assert_eq!(full.tfo, Some((TfoKind::Rfc7413, Tfo::Cookie(&[1, 2, 3, 4, 5, 6, 7, 8]))));
    }

    #[test]
    fn eol_ends_the_walk_and_padding_is_ignored() {
        assert_eq!(walk(&[1, 0, 34, 2]), vec![Ok(TcpOption::Nop), Ok(TcpOption::EndOfList)]);
    }

    #[test]
    fn duplicate_tfo_options_are_flagged_and_the_first_wins() {
        let summary = OptionSummary::of(OptionIter::new(&[34, 2, 254, 4, 0xf9, 0x89], 6));
        assert_eq!(summary.tfo, Some((TfoKind::Rfc7413, Tfo::Request)));
        assert!(summary.tfo_duplicate);
    }

    #[test]
    fn known_kind_with_wrong_length_is_kept_raw() {
        assert_eq!(walk(&[2, 3, 5])[0], Ok(TcpOption::Unknown { kind: 2, data: &[5] }));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// An option as it goes on the wire, for round trips.
    fn arb_option() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(vec![KIND_NOP]),
            any::<u16>().prop_map(|mss| {
                let b = mss.to_be_bytes();
                vec![KIND_MSS, 4, b[0], b[1]]
            }),
            any::<u8>().prop_map(|ws| vec![KIND_WINDOW_SCALE, 3, ws]),
            Just(vec![KIND_SACK_PERMITTED, 2]),
            (any::<u32>(), any::<u32>()).prop_map(|(a, b)| {
                let mut o = vec![KIND_TIMESTAMPS, 10];
                o.extend_from_slice(&a.to_be_bytes());
                o.extend_from_slice(&b.to_be_bytes());
                o
            }),
            prop::collection::vec(any::<u8>(), 0..=16).prop_map(|cookie| {
                let mut o = vec![KIND_FASTOPEN, cookie.len() as u8 + 2];
                o.extend(cookie);
                o
            }),
            prop::collection::vec(any::<u8>(), 0..=16).prop_map(|cookie| {
                let mut o = vec![KIND_EXPERIMENTAL, cookie.len() as u8 + 4, 0xf9, 0x89];
                o.extend(cookie);
                o
            }),
            (9u8..=253, prop::collection::vec(any::<u8>(), 0..=8)).prop_map(|(kind, data)| {
                let mut o = vec![kind, data.len() as u8 + 2];
                o.extend(data);
                o
            }),
        ]
    }

    /// The summary as the general walk makes it: the reference for [`OptionSummary::of`].
    fn summary_by_walk(options: OptionIter<'_>) -> OptionSummary<'_> {
        let mut summary = OptionSummary::default();
        for option in options {
            match option {
                Ok(option) => {
                    summary.push_kind(option.kind());
                    summary.note(option);
                }
                Err(e) => summary.error = Some(e),
            }
        }
        summary
    }

    /// Real options, broken ones and noise, cut anywhere.
    fn arb_option_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(arb_option(), 0..8).prop_map(|o| o.concat()),
            prop::collection::vec(any::<u8>(), 0..60),
            (prop::collection::vec(arb_option(), 0..6), prop::collection::vec(any::<u8>(), 0..8))
                .prop_map(|(o, noise)| [o.concat(), noise].concat()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn the_summary_equals_the_general_walk(bytes in arb_option_bytes(), cut in 0usize..70, declared in 0usize..70) {
            let captured = &bytes[..cut.min(bytes.len())];
            for declared_len in [declared, bytes.len()] {
                let fast = OptionSummary::of(OptionIter::new(captured, declared_len));
                let reference = summary_by_walk(OptionIter::new(captured, declared_len));
                prop_assert_eq!(fast, reference);
            }
        }
    }

    proptest! {
        #[test]
        fn any_bytes_walk_without_panic_and_end(bytes in prop::collection::vec(any::<u8>(), 0..60), declared in 0usize..60) {
            let walked: Vec<_> = OptionIter::new(&bytes, declared).collect();
            prop_assert!(walked.len() <= declared.max(1));
            // Only the last item may be an error.
            for item in walked.iter().rev().skip(1) {
                prop_assert!(item.is_ok());
            }
        }

        #[test]
        fn serialised_options_parse_back_in_order(options in prop::collection::vec(arb_option(), 0..6)) {
            let wire: Vec<u8> = options.concat();
            let walked: Vec<TcpOption> = OptionIter::new(&wire, wire.len()).map(|o| o.unwrap()).collect();
            prop_assert_eq!(walked.len(), options.len());
            for (option, bytes) in walked.iter().zip(&options) {
                prop_assert_eq!(option.kind(), bytes[0]);
                match option {
                    TcpOption::FastOpen { cookie } => prop_assert_eq!(*cookie, &bytes[2..]),
                    TcpOption::FastOpenExp { cookie } => prop_assert_eq!(*cookie, &bytes[4..]),
                    _ => {}
                }
            }
        }

        #[test]
        fn every_prefix_is_truncated_never_silently_short(options in prop::collection::vec(arb_option(), 1..6)) {
            let wire: Vec<u8> = options.concat();
            let boundaries: Vec<usize> = options.iter().scan(0, |end, o| { *end += o.len(); Some(*end) }).collect();
            for cut in 0..wire.len() {
                let walked: Vec<_> = OptionIter::new(&wire[..cut], wire.len()).collect();
                let whole = boundaries.iter().filter(|b| **b <= cut).count();
                prop_assert_eq!(walked.len(), whole + 1, "cut {}", cut);
                prop_assert_eq!(walked.last().unwrap(), &Err(OptionError::Truncated { offset: boundaries.get(whole.wrapping_sub(1)).copied().filter(|_| whole > 0).unwrap_or(0) }));
            }
        }
    }
}
