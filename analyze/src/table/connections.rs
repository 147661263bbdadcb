//! The connections table's columns, built as Arrow arrays straight from the records.

use polars::prelude::*;

use super::conn_col::ConnCol;
use super::TableError;
use crate::arrival::{
    reoriginated, sent_counterpart, syn_changes, ArrivalKind, ArrivalSource, PathFacts, SynChange, SynSeen,
};
use crate::attempt::FetchKind;
use crate::echo::hex_into;
use crate::record::{Connection, SynTfo, SynTransmission};

pub const CONNECTIONS_SCHEMA: &str = include_str!("../../../schemas/connections.json");

/// The attempt the collector intended, or failing a record, what the first SYN implies.
pub fn inferred_attempt(conn: &Connection) -> Option<FetchKind> {
    match conn.first_syn().tfo {
        SynTfo::CookieRequest => Some(FetchKind::TfoCookieRequest),
        SynTfo::Cookie => Some(FetchKind::TfoData),
        SynTfo::None => Some(FetchKind::Plain),
        SynTfo::Malformed | SynTfo::Truncated => None,
    }
}

/// Arrow arrays of the classic types (the Parquet layout's: large_string, large_list), built
/// straight from the records. Polars' own strings are views, which the Parquet layout would
/// convert back, value by value.
mod arrays {
    use polars::prelude::{ArrayRef, PolarsResult};
    use polars_arrow::array::{BooleanArray, ListArray, MutableUtf8Array, PrimitiveArray, Utf8Array};
    use polars_arrow::bitmap::Bitmap;
    use polars_arrow::datatypes::{ArrowDataType, Field, TimeUnit};
    use polars_arrow::offset::OffsetsBuffer;
    use polars_arrow::types::NativeType;

    pub fn values<T: NativeType>(values: impl Iterator<Item = T>) -> ArrayRef {
        Box::new(PrimitiveArray::from_vec(values.collect()))
    }

    pub fn options<T: NativeType>(values: impl Iterator<Item = Option<T>>) -> ArrayRef {
        Box::new(values.collect::<PrimitiveArray<T>>())
    }

    pub fn flags(values: impl Iterator<Item = bool>) -> ArrayRef {
        Box::new(BooleanArray::from_slice(values.collect::<Vec<bool>>()))
    }

    pub fn optional_flags(values: impl Iterator<Item = Option<bool>>) -> ArrayRef {
        Box::new(BooleanArray::from(values.collect::<Vec<Option<bool>>>()))
    }

    pub fn utc_ns(values: impl Iterator<Item = i64>) -> ArrayRef {
        let dtype = ArrowDataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        Box::new(PrimitiveArray::from_vec(values.collect()).to(dtype))
    }

    pub fn optional_utc_ns(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
        let dtype = ArrowDataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        Box::new(values.collect::<PrimitiveArray<i64>>().to(dtype))
    }

    pub fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
        Box::new(Utf8Array::<i64>::from_iter_values(values))
    }

    pub fn optional_strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
        Box::new(values.collect::<Utf8Array<i64>>())
    }

    /// Strings written into one reused buffer by `f`; false for a null.
    pub fn formatted<T>(rows: &[T], mut f: impl FnMut(&T, &mut String) -> bool) -> ArrayRef {
        let mut out = MutableUtf8Array::<i64>::with_capacity(rows.len());
        let mut buf = String::with_capacity(64);
        for row in rows {
            buf.clear();
            out.push(f(row, &mut buf).then_some(buf.as_str()));
        }
        let out: Utf8Array<i64> = out.into();
        Box::new(out)
    }

    pub fn u8_lists<'a>(rows: impl ExactSizeIterator<Item = Option<&'a [u8]>>) -> PolarsResult<ArrayRef> {
        lists(rows, ArrowDataType::UInt8)
    }

    pub fn u64_lists<'a>(rows: impl ExactSizeIterator<Item = Option<&'a [u64]>>) -> PolarsResult<ArrayRef> {
        lists(rows, ArrowDataType::UInt64)
    }

    /// Feature sets as lists of their names, without a string per row.
    pub fn feature_lists(
        rows: impl ExactSizeIterator<Item = Option<crate::record::Features>>,
    ) -> PolarsResult<ArrayRef> {
        str_lists(rows.map(|row| row.map(|features| features.iter().map(|f| f.as_str()))))
    }

    /// Lists of strings (the classic large_list of large_string).
    pub fn string_lists(rows: &[Option<Vec<String>>]) -> PolarsResult<ArrayRef> {
        str_lists(rows.iter().map(|row| row.as_ref().map(|items| items.iter().map(String::as_str))))
    }

    /// Lists of borrowed strings, a null where a row has none.
    fn str_lists<'a, I: Iterator<Item = &'a str>>(
        rows: impl ExactSizeIterator<Item = Option<I>>,
    ) -> PolarsResult<ArrayRef> {
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        let mut validity = Vec::with_capacity(rows.len());
        let mut items = MutableUtf8Array::<i64>::new();
        offsets.push(0i64);
        for row in rows {
            validity.push(row.is_some());
            for item in row.into_iter().flatten() {
                items.push(Some(item));
            }
            offsets.push(items.len() as i64);
        }
        let items: Utf8Array<i64> = items.into();
        let item = Field::new("item".into(), ArrowDataType::LargeUtf8, true);
        let validity = validity.contains(&false).then(|| Bitmap::from_iter(validity));
        Ok(Box::new(ListArray::<i64>::try_new(
            ArrowDataType::LargeList(Box::new(item)),
            OffsetsBuffer::try_from(offsets)?,
            Box::new(items),
            validity,
        )?))
    }

    fn lists<'a, T: NativeType>(
        rows: impl ExactSizeIterator<Item = Option<&'a [T]>>,
        item_type: ArrowDataType,
    ) -> PolarsResult<ArrayRef> {
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        let mut validity = Vec::with_capacity(rows.len());
        let mut items = Vec::with_capacity(rows.len() * 8);
        offsets.push(0i64);
        for row in rows {
            validity.push(row.is_some());
            items.extend_from_slice(row.unwrap_or_default());
            offsets.push(items.len() as i64);
        }
        let item = Field::new("item".into(), item_type, true);
        let validity = validity.contains(&false).then(|| Bitmap::from_iter(validity));
        Ok(Box::new(ListArray::<i64>::try_new(
            ArrowDataType::LargeList(Box::new(item)),
            OffsetsBuffer::try_from(offsets)?,
            Box::new(PrimitiveArray::from_vec(items)),
            validity,
        )?))
    }
}

/// One connection's arrived SYN, the transmission it is, and how they differ.
struct ArrivedRow<'c> {
    sent: &'c SynTransmission,
    seen: &'c SynSeen,
    changes: Vec<SynChange>,
}

impl<'c> ArrivedRow<'c> {
    fn of(c: &'c Connection) -> Option<Self> {
        let seen = c.arrival.as_ref()?.syn.as_ref()?;
        let sent = sent_counterpart(c, seen);
        Some(ArrivedRow { sent, seen, changes: syn_changes(c, sent, seen) })
    }

    /// Routers that decremented the TTL; None for a SYN that is not ours.
    fn path_hops(&self) -> Option<u8> {
        (!reoriginated(&self.changes)).then(|| self.sent.shape.ttl.checked_sub(self.seen.shape.ttl)).flatten()
    }
}

/// The connections table's columns, one row per connection, in the order given: the output
/// contract (schemas/connections.json), built as the Arrow arrays the Parquet file stores.
pub fn connection_columns(vantages: &[(&str, &[Connection])]) -> PolarsResult<Vec<(&'static str, ArrayRef)>> {
    use arrays::*;
    let rows: Vec<(&str, &Connection)> =
        vantages.iter().flat_map(|(v, conns)| conns.iter().map(move |c| (*v, c))).collect();
    let conns = || rows.iter().map(|(_, c)| *c);
    let synacks = || conns().map(|c| c.synack.as_ref());
    // Two SYN-ACKs answering one SYN transmission: their frames, in capture order.
    let conflicts: Vec<Option<[u64; 2]>> = conns()
        .map(|c| match (c.synack_conflict, &c.synack, &c.other_synack) {
            (true, Some(a), Some(b)) => Some([a.frame.min(b.frame), a.frame.max(b.frame)]),
            _ => None,
        })
        .collect();
    // Addresses repeat (one client, a few servers): each is formatted once per batch.
    let ips = |f: &dyn Fn(&Connection) -> std::net::IpAddr| -> ArrayRef {
        let mut seen: std::collections::HashMap<std::net::IpAddr, String, foldhash::fast::RandomState> =
            Default::default();
        formatted(&rows, |(_, c), buf| {
            let ip = f(c);
            buf.push_str(seen.entry(ip).or_insert_with(|| ip.to_string()));
            true
        })
    };
    let hex = |f: &dyn Fn(&Connection) -> Option<&[u8]>| -> ArrayRef {
        formatted(&rows, |(_, c), buf| f(c).is_some_and(|b| hex_into(b, buf)))
    };
    // What arrived at the server, against the transmission it is, and the facts the verdicts
    // take from it (`judge` reads them back).
    let paths: Vec<Option<PathFacts>> = conns().map(PathFacts::of).collect();
    let path = || paths.iter().map(Option::as_ref);
    let server_frames = || {
        path().map(|p| match p.map(|p| &p.source) {
            Some(ArrivalSource::ServerCapture { capture, frame }) => Some((capture.as_ref(), *frame)),
            _ => None,
        })
    };
    let links = || conns().map(|c| c.attempt.as_deref());
    let seconds = || conns().map(|c| c.other_synack.as_deref());
    let refusals = || conns().map(|c| c.reset.as_ref().or(c.icmp.as_ref()));
    let arrived: Vec<Option<ArrivedRow<'_>>> = conns().map(ArrivedRow::of).collect();
    let seen = || arrived.iter().map(|a| a.as_ref().map(|a| a.seen));
    let changes: Vec<Option<Vec<String>>> = arrived
        .iter()
        .map(|a| a.as_ref().map(|a| a.changes.iter().map(|c| c.to_string()).collect()))
        .collect();
    let columns: Vec<(ConnCol, ArrayRef)> = vec![
        (ConnCol::Capture, strings(conns().map(|c| &*c.capture))),
        (ConnCol::Vantage, strings(rows.iter().map(|(v, _)| *v))),
        (ConnCol::IpVersion, values(conns().map(|c| c.ip_version()))),
        (ConnCol::ClientIp, ips(&|c| c.client.ip())),
        (ConnCol::ServerIp, ips(&|c| c.server.ip())),
        (ConnCol::ClientPort, values(conns().map(|c| c.client.port()))),
        (ConnCol::ServerPort, values(conns().map(|c| c.server.port()))),
        (ConnCol::ClientIsn, values(conns().map(|c| c.isn))),
        (ConnCol::FirstSynTime, utc_ns(conns().map(|c| c.first_syn().time_ns))),
        (ConnCol::FirstSynFrame, values(conns().map(|c| c.first_syn().frame))),
        (ConnCol::SynCount, values(conns().map(|c| c.syn_count))),
        (ConnCol::SynTfo, strings(conns().map(|c| c.first_syn().tfo.as_str()))),
        (ConnCol::SynTfoKind, options(conns().map(|c| c.syn_tfo_kind))),
        (ConnCol::SynTfoDuplicate, flags(conns().map(|c| c.syn_tfo_duplicate))),
        (ConnCol::SynCookie, hex(&|c| c.syn_cookie.as_deref())),
        (ConnCol::SynDataLen, values(conns().map(|c| c.first_syn().data_len))),
        (ConnCol::SynFeatures, feature_lists(conns().map(|c| Some(c.first_syn().features)))?),
        (ConnCol::SynOptionsError, optional_strings(conns().map(|c| c.syn_options_error.as_deref()))),
        (ConnCol::RetransmittedSynFrame, options(conns().map(|c| c.syns.get(1).map(|s| s.frame)))),
        (ConnCol::SynackFrame, options(synacks().map(|s| s.map(|s| s.frame)))),
        (ConnCol::SynackAnswers, optional_strings(synacks().map(|s| s.map(|s| s.answers.as_str())))),
        (ConnCol::SynackTfo, optional_strings(synacks().map(|s| s.map(|s| s.tfo.as_str())))),
        (ConnCol::SynackTfoKind, options(synacks().map(|s| s.and_then(|s| s.tfo_kind)))),
        (ConnCol::SynackCookie, hex(&|c| c.synack.as_ref().and_then(|s| s.cookie.as_deref()))),
        (ConnCol::SynDataAcked, optional_strings(conns().map(|c| c.syn_data_acked.map(|a| a.as_str())))),
        (ConnCol::SynDataResent, flags(conns().map(|c| c.syn_data_resent))),
        (ConnCol::SynackTtl, options(synacks().map(|s| s.map(|s| s.ttl)))),
        (ConnCol::SynackWindow, options(synacks().map(|s| s.map(|s| s.window)))),
        (ConnCol::SynackMss, options(synacks().map(|s| s.and_then(|s| s.mss)))),
        (ConnCol::SynackOptions, u8_lists(synacks().map(|s| s.map(|s| s.option_kinds.as_slice())))?),
        (ConnCol::SynackDataLen, options(synacks().map(|s| s.map(|s| s.data_len)))),
        (ConnCol::SynackFeatures, feature_lists(synacks().map(|s| s.map(|s| s.features)))?),
        (ConnCol::SecondSynackFrame, options(conns().map(|c| c.other_synack.as_ref().map(|s| s.frame)))),
        (
            ConnCol::SynackConflict,
            u64_lists(conflicts.iter().map(|c| c.as_ref().map(|frames| frames.as_slice())))?,
        ),
        (ConnCol::ResetFrame, options(conns().map(|c| c.reset.map(|r| r.frame)))),
        (ConnCol::IcmpFrame, options(conns().map(|c| c.icmp.map(|r| r.frame)))),
        (ConnCol::IcmpType, options(conns().map(|c| c.icmp.and_then(|r| r.icmp).map(|(t, _)| t)))),
        (ConnCol::IcmpCode, options(conns().map(|c| c.icmp.and_then(|r| r.icmp).map(|(_, code)| code)))),
        (ConnCol::IcmpMtu, options(conns().map(|c| c.icmp.and_then(|r| r.mtu)))),
        (ConnCol::IcmpSender, {
            let texts: Vec<Option<String>> = conns()
                .map(|c| {
                    let reply =
                        c.icmp_reply.as_deref().filter(|r| Some(r.frame) == c.icmp.map(|i| i.frame))?;
                    Some(reply.responder.to_string())
                })
                .collect();
            optional_strings(texts.iter().map(|t| t.as_deref()))
        }),
        (ConnCol::Outcome, strings(conns().map(|c| c.outcome.as_str()))),
        (ConnCol::ConnectMs, options(conns().map(|c| c.connect_ms()))),
        (
            ConnCol::Attempt,
            optional_strings(conns().map(|c| match &c.attempt {
                Some(a) => Some(a.fetch.as_str()),
                None => inferred_attempt(c).map(FetchKind::as_str),
            })),
        ),
        (ConnCol::AttemptFeatures, feature_lists(conns().map(|c| c.attempt.as_ref().map(|a| a.features)))?),
        (
            ConnCol::AttemptSource,
            optional_strings(conns().map(|c| match &c.attempt {
                Some(_) => Some("record"),
                None => inferred_attempt(c).map(|_| "inferred"),
            })),
        ),
        (
            ConnCol::AppResult,
            optional_strings(conns().map(|c| c.attempt.as_ref().map(|a| a.app_result.as_str()))),
        ),
        (ConnCol::ArrivedClientIp, {
            let texts: Vec<Option<String>> = seen().map(|s| s.map(|s| s.client.ip().to_string())).collect();
            optional_strings(texts.iter().map(|t| t.as_deref()))
        }),
        (ConnCol::ArrivedClientPort, options(seen().map(|s| s.map(|s| s.client.port())))),
        (
            ConnCol::ArrivedIsnSame,
            optional_flags(conns().zip(seen()).map(|(c, s)| s.map(|s| s.isn == c.isn))),
        ),
        (
            ConnCol::SentTtl,
            values(
                conns()
                    .zip(&arrived)
                    .map(|(c, a)| a.as_ref().map_or(c.first_syn().shape.ttl, |a| a.sent.shape.ttl)),
            ),
        ),
        (ConnCol::ArrivedTtl, options(seen().map(|s| s.map(|s| s.shape.ttl)))),
        (ConnCol::PathHops, options(arrived.iter().map(|a| a.as_ref().and_then(ArrivedRow::path_hops)))),
        (ConnCol::ArrivedOptions, u8_lists(seen().map(|s| s.map(|s| s.shape.option_kinds())))?),
        (ConnCol::ArrivedTfo, optional_strings(seen().map(|s| s.map(|s| s.tfo.as_str())))),
        (
            ConnCol::ArrivedCookie,
            formatted(&arrived, |a, buf| {
                a.as_ref().and_then(|a| a.seen.cookie.as_deref()).is_some_and(|b| hex_into(b, buf))
            }),
        ),
        (ConnCol::ArrivedSynDataLen, options(seen().map(|s| s.map(|s| s.data_len)))),
        (ConnCol::ArrivedMss, options(seen().map(|s| s.and_then(|s| s.shape.mss)))),
        (ConnCol::ArrivedWindow, options(seen().map(|s| s.map(|s| s.shape.window)))),
        (ConnCol::SynChanges, string_lists(&changes)?),
        (
            ConnCol::ArrivalSource,
            optional_strings(conns().map(|c| {
                c.arrival.as_ref().filter(|a| a.syn.is_some()).map(|a| ArrivalKind::of(&a.source).as_str())
            })),
        ),
        // The collector's record of the fetch (null without one).
        (ConnCol::Url, optional_strings(links().map(|a| a.map(|a| a.url.as_str())))),
        (ConnCol::Host, optional_strings(links().map(|a| a.map(|a| a.host.as_str())))),
        (ConnCol::Round, options(links().map(|a| a.map(|a| a.round)))),
        (ConnCol::HttpStatus, options(links().map(|a| a.and_then(|a| a.status)))),
        (ConnCol::ResponseSize, options(links().map(|a| a.and_then(|a| a.size)))),
        (ConnCol::CertSha256, optional_strings(links().map(|a| a.and_then(|a| a.cert_sha256.as_deref())))),
        (ConnCol::CertError, optional_strings(links().map(|a| a.and_then(|a| a.cert_error.as_deref())))),
        (ConnCol::CachedSynDrops, options(links().map(|a| a.and_then(|a| a.cached_syn_drops)))),
        (ConnCol::Category, optional_strings(links().map(|a| a.and_then(|a| a.category.as_deref())))),
        (ConnCol::Echo, optional_flags(links().map(|a| a.map(|a| a.echo)))),
        // The SYN-ACKs' times, and the second SYN-ACK whole: it may be the one that answered
        // the first SYN.
        (ConnCol::SynackTime, optional_utc_ns(synacks().map(|s| s.map(|s| s.time_ns)))),
        (ConnCol::SecondSynackTime, optional_utc_ns(seconds().map(|s| s.map(|s| s.time_ns)))),
        (ConnCol::SecondSynackAnswers, optional_strings(seconds().map(|s| s.map(|s| s.answers.as_str())))),
        (ConnCol::SecondSynackTfo, optional_strings(seconds().map(|s| s.map(|s| s.tfo.as_str())))),
        (ConnCol::SecondSynackTfoKind, options(seconds().map(|s| s.and_then(|s| s.tfo_kind)))),
        (ConnCol::SecondSynackTtl, options(seconds().map(|s| s.map(|s| s.ttl)))),
        (ConnCol::SecondSynackMss, options(seconds().map(|s| s.and_then(|s| s.mss)))),
        (ConnCol::SecondSynackOptions, u8_lists(seconds().map(|s| s.map(|s| s.option_kinds.as_slice())))?),
        (ConnCol::SecondSynackDataLen, options(seconds().map(|s| s.map(|s| s.data_len)))),
        (ConnCol::SecondSynackFeatures, feature_lists(seconds().map(|s| s.map(|s| s.features)))?),
        (ConnCol::RefusalAnswersFirstSyn, optional_flags(refusals().map(|r| r.map(|r| r.answers_first_syn)))),
        // What the server's view shows, judged (null without one).
        (ConnCol::ServerView, optional_strings(path().map(|p| p.map(|p| p.source_kind().as_str())))),
        (ConnCol::ServerCapture, optional_strings(server_frames().map(|s| s.map(|(capture, _)| capture)))),
        (ConnCol::ServerFrame, options(server_frames().map(|s| s.map(|(_, frame)| frame)))),
        (ConnCol::ComparedSynFrame, options(path().map(|p| p.map(|p| p.sent_frame)))),
        (ConnCol::ComparedSynTfo, optional_flags(path().map(|p| p.map(|p| p.sent_tfo)))),
        (ConnCol::ComparedSynDataLen, options(path().map(|p| p.map(|p| p.sent_data_len)))),
        (ConnCol::OptionArrived, optional_flags(path().map(|p| p.and_then(|p| p.option_arrived)))),
        (ConnCol::DataArrived, optional_flags(path().map(|p| p.and_then(|p| p.data_arrived)))),
        (ConnCol::OriginTfo, optional_flags(path().map(|p| p.and_then(|p| p.origin_tfo)))),
        (ConnCol::RequestChanges, {
            let rows: Vec<Option<Vec<String>>> =
                path().map(|p| p.map(|p| p.request_changes.clone())).collect();
            string_lists(&rows)?
        }),
        (
            ConnCol::ServedCertSha256,
            optional_strings(conns().map(|c| c.arrival.as_deref().and_then(|a| a.served_cert.as_deref()))),
        ),
    ];
    // Every column, in the table's order: the list is the order.
    debug_assert!(columns.iter().map(|(c, _)| *c).eq(ConnCol::ALL.iter().copied()));
    Ok(columns.into_iter().map(|(c, a)| (c.as_str(), a)).collect())
}

/// One row per connection, in (vantage, first SYN time) order.
pub fn connections_frame(vantages: &[(&str, &[Connection])]) -> Result<DataFrame, TableError> {
    let build = |error| TableError::Build { table: "connections", error };
    let rows = vantages.iter().map(|(_, c)| c.len()).sum();
    let columns = connection_columns(vantages)
        .map_err(build)?
        .into_iter()
        .map(|(name, array)| Ok(Series::from_arrow(name.into(), array)?.into()))
        .collect::<PolarsResult<Vec<Column>>>()
        .map_err(build)?;
    DataFrame::new(rows, columns).map_err(build)
}
