//! Table rows back into the analyzer's records: a connections row into the [`ConnRow`] its
//! verdicts need, a files row into the vantage's file facts and collector records, a hops row
//! into a [`HopRow`]. The inverse of `table`; a value the contract does not allow is an error
//! that names the column, never a guess.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;

use super::DatasetError;
use crate::arrival::{reoriginated, ArrivalKind, ArrivalSource, PathFacts, SynChange};
use crate::attempt::FetchKind;
use crate::locate::{HopRow, Reply};
use crate::record::{AttemptLink, DataAcked, Feature, Features, Outcome, SynAckAnswers, SynAckTfo, SynTfo};
use crate::summary::{ConnRow, FirstSyn, SynAckRow};
use crate::table::conn_col::ConnCol;
use crate::table::other_cols::{FileCol, HopCol};
use polars_arrow::array::{Array, PrimitiveArray, Utf8ViewArray};

/// One row group's columns, typed, with the part's path for errors.
pub(crate) struct Columns<'a> {
    df: &'a DataFrame,
    path: &'a Path,
}

impl<'a> Columns<'a> {
    pub fn new(df: &'a DataFrame, path: &'a Path) -> Self {
        Columns { df, path }
    }

    pub fn height(&self) -> usize {
        self.df.height()
    }

    fn error(&self, column: impl AsRef<str>, problem: impl std::fmt::Display) -> DatasetError {
        DatasetError::Column {
            path: self.path.to_owned(),
            column: column.as_ref().to_string(),
            problem: problem.to_string(),
        }
    }

    fn series(&self, name: impl AsRef<str>) -> Result<&'a Series, DatasetError> {
        let name = name.as_ref();
        Ok(self.df.column(name).map_err(|_| self.error(name, "missing"))?.as_materialized_series())
    }

    pub fn numbers<T: PolarsNumericType>(
        &self,
        name: impl AsRef<str>,
    ) -> Result<Vec<Option<T::Native>>, DatasetError> {
        let name = name.as_ref();
        let s = self.series(name)?;
        let ca = s.unpack::<T>().map_err(|_| self.error(name, format!("of type {}", s.dtype())))?;
        Ok(ca.iter().collect())
    }

    pub fn times(&self, name: impl AsRef<str>) -> Result<Vec<Option<i64>>, DatasetError> {
        let name = name.as_ref();
        let s = self.series(name)?;
        match s.dtype() {
            DataType::Datetime(TimeUnit::Nanoseconds, _) => {}
            other => return Err(self.error(name, format!("of type {other}, not nanosecond times"))),
        }
        let ca = s.datetime().map_err(|e| self.error(name, e))?;
        Ok(ca.physical().iter().collect())
    }

    pub fn strings(&self, name: impl AsRef<str>) -> Result<Vec<Option<&'a str>>, DatasetError> {
        let name = name.as_ref();
        let s = self.series(name)?;
        Ok(s.str().map_err(|_| self.error(name, format!("of type {}", s.dtype())))?.iter().collect())
    }

    pub fn flags(&self, name: impl AsRef<str>) -> Result<Vec<Option<bool>>, DatasetError> {
        let name = name.as_ref();
        let s = self.series(name)?;
        Ok(s.bool().map_err(|_| self.error(name, format!("of type {}", s.dtype())))?.iter().collect())
    }

    pub fn u8_lists(&self, name: impl AsRef<str>) -> Result<Vec<Option<Vec<u8>>>, DatasetError> {
        self.lists(name, |values: &PrimitiveArray<u8>, j| values.value(j), Vec::new, Vec::push)
    }

    /// Feature sets (`syn_features`, ...): all null in tables written before they were kept
    /// (connections version 3, left out of the read), whose fetches asked for TFO alone.
    pub fn feature_lists(&self, name: impl AsRef<str>) -> Result<Vec<Option<Features>>, DatasetError> {
        let name = name.as_ref();
        if self.df.column(name).is_err() {
            return Ok(vec![None; self.height()]);
        }
        let sets = self.lists(
            name,
            |values: &Utf8ViewArray, j| values.value(j),
            || Ok(Features::NONE),
            |set: &mut Result<Features, &'a str>, word| match (*set, word.trim()) {
                (Ok(_), "") | (Err(_), _) => {}
                (Ok(features), word) => *set = Feature::parse(word).map(|f| features.with(f)).ok_or(word),
            },
        )?;
        sets.into_iter()
            .map(|row| row.transpose().map_err(|bad| self.error(name, format!("holds {bad:?}, no feature"))))
            .collect()
    }

    pub fn string_lists(&self, name: impl AsRef<str>) -> Result<Vec<Option<Vec<String>>>, DatasetError> {
        self.lists(name, |values: &Utf8ViewArray, j| values.value(j).to_string(), Vec::new, Vec::push)
    }

    pub fn u64_lists(&self, name: impl AsRef<str>) -> Result<Vec<Option<Vec<u64>>>, DatasetError> {
        self.lists(name, |values: &PrimitiveArray<u64>, j| values.value(j), Vec::new, Vec::push)
    }

    /// A list column, each row's items (null items left out) folded into one value: straight
    /// from the Arrow arrays, since a Series made for every row cost most of judge's time.
    fn lists<A: Array, I, T>(
        &self,
        name: impl AsRef<str>,
        item: impl Fn(&'a A, usize) -> I,
        empty: impl Fn() -> T,
        add: impl Fn(&mut T, I),
    ) -> Result<Vec<Option<T>>, DatasetError> {
        let name = name.as_ref();
        let s = self.series(name)?;
        let wrong_type = || self.error(name, format!("of type {}", s.dtype()));
        let lists = s.list().map_err(|_| wrong_type())?;
        let mut rows = Vec::with_capacity(s.len());
        for chunk in lists.downcast_iter() {
            let values = chunk.values().as_any().downcast_ref::<A>().ok_or_else(wrong_type)?;
            for i in 0..chunk.len() {
                if !chunk.is_valid(i) {
                    rows.push(None);
                    continue;
                }
                let (start, end) = chunk.offsets().start_end(i);
                let mut row = empty();
                for j in (start..end).filter(|&j| values.is_valid(j)) {
                    add(&mut row, item(values, j));
                }
                rows.push(Some(row));
            }
        }
        Ok(rows)
    }

    /// A string column of one of an enumeration's words.
    pub fn words<T>(
        &self,
        name: impl AsRef<str>,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<Option<T>>, DatasetError> {
        let name = name.as_ref();
        self.strings(name)?
            .into_iter()
            .map(|v| {
                v.map(|text| parse(text).ok_or_else(|| self.error(name, format!("unknown value {text:?}"))))
                    .transpose()
            })
            .collect()
    }

    /// Addresses repeat (one client, a few thousand servers): each text parsed once a row group.
    pub fn ips(&self, name: impl AsRef<str>) -> Result<Vec<Option<IpAddr>>, DatasetError> {
        let name = name.as_ref();
        let mut parsed: std::collections::HashMap<&str, Option<IpAddr>, foldhash::fast::RandomState> =
            Default::default();
        self.strings(name)?
            .into_iter()
            .map(|v| {
                v.map(|text| {
                    let ip = *parsed.entry(text).or_insert_with(|| text.parse().ok());
                    ip.ok_or_else(|| self.error(name, format!("not an address: {text:?}")))
                })
                .transpose()
            })
            .collect()
    }
}

/// A value the contract says is never null.
fn required<T>(value: Option<T>, columns: &Columns<'_>, name: impl AsRef<str>) -> Result<T, DatasetError> {
    value.ok_or_else(|| columns.error(name.as_ref(), "null where the table always has a value"))
}

/// The connections table's columns the verdicts read.
pub const CONNECTION_COLUMNS: &[ConnCol] = &[
    ConnCol::Vantage,
    ConnCol::ClientIp,
    ConnCol::ServerIp,
    ConnCol::ServerPort,
    ConnCol::FirstSynTime,
    ConnCol::FirstSynFrame,
    ConnCol::SynTfo,
    ConnCol::SynDataLen,
    ConnCol::SynFeatures,
    ConnCol::SynCookie,
    ConnCol::SynackCookie,
    ConnCol::SynackFrame,
    ConnCol::SynackTime,
    ConnCol::SynackAnswers,
    ConnCol::SynackTfo,
    ConnCol::SynackTfoKind,
    ConnCol::SynackTtl,
    ConnCol::SynackMss,
    ConnCol::SynackOptions,
    ConnCol::SynackDataLen,
    ConnCol::SynackFeatures,
    ConnCol::SecondSynackFrame,
    ConnCol::SecondSynackTime,
    ConnCol::SecondSynackAnswers,
    ConnCol::SecondSynackTfo,
    ConnCol::SecondSynackTfoKind,
    ConnCol::SecondSynackTtl,
    ConnCol::SecondSynackMss,
    ConnCol::SecondSynackOptions,
    ConnCol::SecondSynackDataLen,
    ConnCol::SecondSynackFeatures,
    ConnCol::SynackConflict,
    ConnCol::SynDataAcked,
    ConnCol::ResetFrame,
    ConnCol::IcmpFrame,
    ConnCol::IcmpMtu,
    ConnCol::RefusalAnswersFirstSyn,
    ConnCol::Outcome,
    ConnCol::Attempt,
    ConnCol::AttemptFeatures,
    ConnCol::AttemptSource,
    ConnCol::AppResult,
    ConnCol::Url,
    ConnCol::Host,
    ConnCol::Round,
    ConnCol::HttpStatus,
    ConnCol::ResponseSize,
    ConnCol::CertSha256,
    ConnCol::CertError,
    ConnCol::CachedSynDrops,
    ConnCol::Category,
    ConnCol::Echo,
    ConnCol::ServerView,
    ConnCol::ServerCapture,
    ConnCol::ServerFrame,
    ConnCol::ComparedSynFrame,
    ConnCol::ComparedSynTfo,
    ConnCol::ComparedSynDataLen,
    ConnCol::SynChanges,
    ConnCol::OptionArrived,
    ConnCol::DataArrived,
    ConnCol::OriginTfo,
    ConnCol::RequestChanges,
    ConnCol::ServedCertSha256,
];

/// What every row of a connections row group says of the vantage's own addresses, and of the
/// target it belongs to: the cheap first look of a bucketed `judge`.
pub const CONNECTION_KEY_COLUMNS: &[ConnCol] =
    &[ConnCol::Vantage, ConnCol::ClientIp, ConnCol::ServerIp, ConnCol::ServerPort, ConnCol::AttemptSource];

/// One row's vantage, client, target and whether the collector's records name it.
pub struct ConnKey<'a> {
    pub vantage: &'a str,
    pub client: IpAddr,
    pub server: IpAddr,
    pub server_port: u16,
    pub recorded: bool,
}

pub(crate) fn connection_keys<'a>(c: &Columns<'a>) -> Result<Vec<ConnKey<'a>>, DatasetError> {
    let vantage = c.strings(ConnCol::Vantage)?;
    let client = c.ips(ConnCol::ClientIp)?;
    let server = c.ips(ConnCol::ServerIp)?;
    let port = c.numbers::<UInt16Type>(ConnCol::ServerPort)?;
    let source = c.strings(ConnCol::AttemptSource)?;
    (0..c.height())
        .map(|i| {
            Ok(ConnKey {
                vantage: required(vantage[i], c, ConnCol::Vantage)?,
                client: required(client[i], c, ConnCol::ClientIp)?,
                server: required(server[i], c, ConnCol::ServerIp)?,
                server_port: required(port[i], c, ConnCol::ServerPort)?,
                recorded: source[i] == Some("record"),
            })
        })
        .collect()
}

/// The SYN-ACK columns under one prefix (`synack_`, `second_synack_`).
/// The columns of one SYN-ACK (the one gone on with, or the one with another ISN).
struct SynAckNames {
    frame: ConnCol,
    time: ConnCol,
    answers: ConnCol,
    tfo: ConnCol,
    tfo_kind: ConnCol,
    ttl: ConnCol,
    mss: ConnCol,
    options: ConnCol,
    data_len: ConnCol,
    features: ConnCol,
}

const SYNACK: SynAckNames = SynAckNames {
    frame: ConnCol::SynackFrame,
    time: ConnCol::SynackTime,
    answers: ConnCol::SynackAnswers,
    tfo: ConnCol::SynackTfo,
    tfo_kind: ConnCol::SynackTfoKind,
    ttl: ConnCol::SynackTtl,
    mss: ConnCol::SynackMss,
    options: ConnCol::SynackOptions,
    data_len: ConnCol::SynackDataLen,
    features: ConnCol::SynackFeatures,
};

const SECOND_SYNACK: SynAckNames = SynAckNames {
    frame: ConnCol::SecondSynackFrame,
    time: ConnCol::SecondSynackTime,
    answers: ConnCol::SecondSynackAnswers,
    tfo: ConnCol::SecondSynackTfo,
    tfo_kind: ConnCol::SecondSynackTfoKind,
    ttl: ConnCol::SecondSynackTtl,
    mss: ConnCol::SecondSynackMss,
    options: ConnCol::SecondSynackOptions,
    data_len: ConnCol::SecondSynackDataLen,
    features: ConnCol::SecondSynackFeatures,
};

struct SynAckColumns {
    /// The time, answers, tfo, ttl and data_len columns, for errors.
    names: [ConnCol; 5],
    frame: Vec<Option<u64>>,
    time: Vec<Option<i64>>,
    answers: Vec<Option<SynAckAnswers>>,
    tfo: Vec<Option<SynAckTfo>>,
    tfo_kind: Vec<Option<u8>>,
    ttl: Vec<Option<u8>>,
    mss: Vec<Option<u16>>,
    options: Vec<Option<Vec<u8>>>,
    data_len: Vec<Option<u32>>,
    features: Vec<Option<Features>>,
}

impl SynAckColumns {
    fn read(c: &Columns<'_>, n: &SynAckNames) -> Result<Self, DatasetError> {
        Ok(SynAckColumns {
            names: [n.time, n.answers, n.tfo, n.ttl, n.data_len],
            frame: c.numbers::<UInt64Type>(n.frame)?,
            time: c.times(n.time)?,
            answers: c.words(n.answers, SynAckAnswers::parse)?,
            tfo: c.words(n.tfo, SynAckTfo::parse)?,
            tfo_kind: c.numbers::<UInt8Type>(n.tfo_kind)?,
            ttl: c.numbers::<UInt8Type>(n.ttl)?,
            mss: c.numbers::<UInt16Type>(n.mss)?,
            options: c.u8_lists(n.options)?,
            data_len: c.numbers::<UInt32Type>(n.data_len)?,
            features: c.feature_lists(n.features)?,
        })
    }

    fn row(&self, i: usize, c: &Columns<'_>) -> Result<Option<SynAckRow>, DatasetError> {
        let Some(frame) = self.frame[i] else { return Ok(None) };
        let [time, answers, tfo, ttl, data_len] = &self.names;
        Ok(Some(SynAckRow {
            frame,
            time_ns: required(self.time[i], c, time)?,
            answers: required(self.answers[i], c, answers)?,
            tfo: required(self.tfo[i], c, tfo)?,
            tfo_kind: self.tfo_kind[i],
            ttl: required(self.ttl[i], c, ttl)?,
            mss: self.mss[i],
            data_len: required(self.data_len[i], c, data_len)?,
            option_kinds: self.options[i].clone().unwrap_or_default(),
            features: self.features[i].unwrap_or_default(),
        }))
    }
}

/// Decodes the rows of one connections row group for which `keep` holds (of the row's key),
/// handing each to `each` with its vantage.
pub(crate) fn connection_rows(
    c: &Columns<'_>,
    keep: impl Fn(&ConnKey<'_>) -> bool,
    mut each: impl FnMut(&str, ConnRow),
) -> Result<(), DatasetError> {
    let keys = connection_keys(c)?;
    if !keys.iter().any(&keep) {
        return Ok(());
    }
    let first_time = c.times(ConnCol::FirstSynTime)?;
    let first_frame = c.numbers::<UInt64Type>(ConnCol::FirstSynFrame)?;
    let syn_tfo = c.words(ConnCol::SynTfo, SynTfo::parse)?;
    let syn_data_len = c.numbers::<UInt32Type>(ConnCol::SynDataLen)?;
    let syn_features = c.feature_lists(ConnCol::SynFeatures)?;
    let synack = SynAckColumns::read(c, &SYNACK)?;
    let second = SynAckColumns::read(c, &SECOND_SYNACK)?;
    let conflict = c.u64_lists(ConnCol::SynackConflict)?;
    let acked = c.words(ConnCol::SynDataAcked, DataAcked::parse)?;
    let syn_cookie = c.strings(ConnCol::SynCookie)?;
    let synack_cookie = c.strings(ConnCol::SynackCookie)?;
    let reset = c.numbers::<UInt64Type>(ConnCol::ResetFrame)?;
    let icmp = c.numbers::<UInt64Type>(ConnCol::IcmpFrame)?;
    let icmp_mtu = c.numbers::<UInt32Type>(ConnCol::IcmpMtu)?;
    let refusal_first = c.flags(ConnCol::RefusalAnswersFirstSyn)?;
    let outcome = c.words(ConnCol::Outcome, Outcome::parse)?;
    let links = AttemptColumns::read(c)?;
    let paths = PathColumns::read(c)?;
    for (i, key) in keys.iter().enumerate() {
        if !keep(key) {
            continue;
        }
        let attempt = links.row(i, c)?;
        let row = ConnRow {
            client: key.client,
            server: key.server,
            server_port: key.server_port,
            first_syn: FirstSyn {
                frame: required(first_frame[i], c, ConnCol::FirstSynFrame)?,
                time_ns: required(first_time[i], c, ConnCol::FirstSynTime)?,
                tfo: required(syn_tfo[i], c, ConnCol::SynTfo)?,
                data_len: required(syn_data_len[i], c, ConnCol::SynDataLen)?,
                // Tables of version 3 kept no features: the SYN's TFO option tells TFO.
                features: syn_features[i].unwrap_or(match syn_tfo[i] {
                    Some(SynTfo::None) | None => Features::NONE,
                    Some(_) => Features::TFO,
                }),
            },
            synack: synack.row(i, c)?,
            second_synack: second.row(i, c)?,
            synack_conflict: match conflict[i].as_deref() {
                Some(&[a, b]) => Some([a, b]),
                Some([]) | None => None,
                Some(_) => return Err(c.error(ConnCol::SynackConflict, "not two frames")),
            },
            syn_data_acked: acked[i],
            another_cookie: matches!((syn_cookie[i], synack_cookie[i]), (Some(a), Some(b)) if a != b)
                && syn_tfo[i] == Some(SynTfo::Cookie),
            reset_frame: reset[i],
            icmp_frame: icmp[i],
            icmp_mtu: icmp_mtu[i],
            refusal_answers_first_syn: refusal_first[i],
            outcome: required(outcome[i], c, ConnCol::Outcome)?,
            path: paths.row(i, c, attempt.as_deref())?,
            attempt,
        };
        each(key.vantage, row);
    }
    Ok(())
}

/// The collector's record of each row's fetch.
struct AttemptColumns<'a> {
    source: Vec<Option<&'a str>>,
    fetch: Vec<Option<FetchKind>>,
    features: Vec<Option<Features>>,
    app_result: Vec<Option<&'a str>>,
    url: Vec<Option<&'a str>>,
    host: Vec<Option<&'a str>>,
    round: Vec<Option<u32>>,
    status: Vec<Option<u16>>,
    size: Vec<Option<u64>>,
    cert: Vec<Option<&'a str>>,
    cert_error: Vec<Option<&'a str>>,
    cached_syn_drops: Vec<Option<u16>>,
    category: Vec<Option<&'a str>>,
    echo: Vec<Option<bool>>,
}

impl<'a> AttemptColumns<'a> {
    fn read(c: &Columns<'a>) -> Result<Self, DatasetError> {
        Ok(AttemptColumns {
            source: c.strings(ConnCol::AttemptSource)?,
            fetch: c.words(ConnCol::Attempt, FetchKind::parse)?,
            features: c.feature_lists(ConnCol::AttemptFeatures)?,
            app_result: c.strings(ConnCol::AppResult)?,
            url: c.strings(ConnCol::Url)?,
            host: c.strings(ConnCol::Host)?,
            round: c.numbers::<UInt32Type>(ConnCol::Round)?,
            status: c.numbers::<UInt16Type>(ConnCol::HttpStatus)?,
            size: c.numbers::<UInt64Type>(ConnCol::ResponseSize)?,
            cert: c.strings(ConnCol::CertSha256)?,
            cert_error: c.strings(ConnCol::CertError)?,
            cached_syn_drops: c.numbers::<UInt16Type>(ConnCol::CachedSynDrops)?,
            category: c.strings(ConnCol::Category)?,
            echo: c.flags(ConnCol::Echo)?,
        })
    }

    fn row(&self, i: usize, c: &Columns<'_>) -> Result<Option<Arc<AttemptLink>>, DatasetError> {
        if self.source[i] != Some("record") {
            return Ok(None);
        }
        let text = |v: Option<&str>, name| required(v, c, name).map(str::to_string);
        Ok(Some(Arc::new(AttemptLink {
            url: text(self.url[i], ConnCol::Url)?,
            host: text(self.host[i], ConnCol::Host)?,
            fetch: required(self.fetch[i], c, ConnCol::Attempt)?,
            features: self.features[i].unwrap_or(match self.fetch[i] {
                Some(kind) if kind.tfo() => Features::TFO,
                _ => Features::NONE,
            }),
            round: required(self.round[i], c, ConnCol::Round)?,
            app_result: text(self.app_result[i], ConnCol::AppResult)?,
            status: self.status[i],
            size: self.size[i],
            cert_sha256: self.cert[i].map(str::to_string),
            cert_error: self.cert_error[i].map(str::to_string),
            cached_syn_drops: self.cached_syn_drops[i],
            category: self.category[i].map(str::to_string),
            echo: required(self.echo[i], c, ConnCol::Echo)?,
        })))
    }
}

/// What the server's view showed of each row's connection.
struct PathColumns<'a> {
    view: Vec<Option<&'a str>>,
    capture: Vec<Option<&'a str>>,
    frame: Vec<Option<u64>>,
    sent_frame: Vec<Option<u64>>,
    sent_tfo: Vec<Option<bool>>,
    sent_data_len: Vec<Option<u32>>,
    changes: Vec<Option<Vec<String>>>,
    option_arrived: Vec<Option<bool>>,
    data_arrived: Vec<Option<bool>>,
    origin_tfo: Vec<Option<bool>>,
    request_changes: Vec<Option<Vec<String>>>,
    served_cert: Vec<Option<&'a str>>,
}

impl<'a> PathColumns<'a> {
    fn read(c: &Columns<'a>) -> Result<Self, DatasetError> {
        Ok(PathColumns {
            view: c.strings(ConnCol::ServerView)?,
            capture: c.strings(ConnCol::ServerCapture)?,
            frame: c.numbers::<UInt64Type>(ConnCol::ServerFrame)?,
            sent_frame: c.numbers::<UInt64Type>(ConnCol::ComparedSynFrame)?,
            sent_tfo: c.flags(ConnCol::ComparedSynTfo)?,
            sent_data_len: c.numbers::<UInt32Type>(ConnCol::ComparedSynDataLen)?,
            changes: c.string_lists(ConnCol::SynChanges)?,
            option_arrived: c.flags(ConnCol::OptionArrived)?,
            data_arrived: c.flags(ConnCol::DataArrived)?,
            origin_tfo: c.flags(ConnCol::OriginTfo)?,
            request_changes: c.string_lists(ConnCol::RequestChanges)?,
            served_cert: c.strings(ConnCol::ServedCertSha256)?,
        })
    }

    fn row(
        &self,
        i: usize,
        c: &Columns<'_>,
        attempt: Option<&AttemptLink>,
    ) -> Result<Option<PathFacts>, DatasetError> {
        let source = match self.view[i].map(|v| (v, ArrivalKind::parse(v))) {
            None => return Ok(None),
            Some((_, Some(ArrivalKind::Echo))) => ArrivalSource::Echo,
            Some((_, Some(ArrivalKind::ServerCapture))) => ArrivalSource::ServerCapture {
                capture: Arc::from(required(self.capture[i], c, ConnCol::ServerCapture)?),
                frame: required(self.frame[i], c, ConnCol::ServerFrame)?,
            },
            Some((other, None)) => {
                return Err(c.error(ConnCol::ServerView, format!("unknown value {other:?}")))
            }
        };
        let changes: Vec<SynChange> = self.changes[i]
            .iter()
            .flatten()
            .map(|w| {
                SynChange::parse(w)
                    .ok_or_else(|| c.error(ConnCol::SynChanges, format!("unknown change {w:?}")))
            })
            .collect::<Result<_, _>>()?;
        let client_cert = attempt.and_then(|a| a.cert_sha256.as_deref());
        let cert_mismatch = match (client_cert, self.served_cert[i]) {
            (Some(client), Some(served)) if !client.eq_ignore_ascii_case(served) => {
                Some((client.to_string(), served.to_string()))
            }
            _ => None,
        };
        Ok(Some(PathFacts {
            source,
            sent_frame: required(self.sent_frame[i], c, ConnCol::ComparedSynFrame)?,
            sent_tfo: required(self.sent_tfo[i], c, ConnCol::ComparedSynTfo)?,
            sent_data_len: required(self.sent_data_len[i], c, ConnCol::ComparedSynDataLen)?,
            reoriginated: reoriginated(&changes),
            changes,
            option_arrived: self.option_arrived[i],
            data_arrived: self.data_arrived[i],
            origin_tfo: self.origin_tfo[i],
            request_changes: self.request_changes[i].clone().unwrap_or_default(),
            cert_mismatch,
        }))
    }
}

/// The files table's columns `judge` reads.
pub const FILE_COLUMNS: &[FileCol] = &[
    FileCol::Vantage,
    FileCol::Role,
    FileCol::Capture,
    FileCol::Complete,
    FileCol::LastFrameTime,
    FileCol::KernelDrops,
    FileCol::Error,
    FileCol::CollectorRecords,
];

/// One files row as `judge` needs it.
pub struct FileFacts {
    pub vantage: String,
    pub role: crate::result::Role,
    pub capture: String,
    /// Read to its end; if not, where it was cut (its last packet's time).
    pub complete: bool,
    pub last_frame_ns: Option<i64>,
    pub kernel_drops: Option<u64>,
    /// Why the file could not be read at all.
    pub error: Option<String>,
    pub collector_records: Vec<String>,
}

pub(crate) fn file_rows(c: &Columns<'_>) -> Result<Vec<FileFacts>, DatasetError> {
    let vantage = c.strings(FileCol::Vantage.as_str())?;
    let role = c.words(FileCol::Role.as_str(), crate::result::Role::parse)?;
    let capture = c.strings(FileCol::Capture.as_str())?;
    let drops = c.numbers::<UInt64Type>(FileCol::KernelDrops.as_str())?;
    let complete = c.flags(FileCol::Complete.as_str())?;
    let last_frame = c.times(FileCol::LastFrameTime.as_str())?;
    let records = c.string_lists(FileCol::CollectorRecords.as_str())?;
    let error = c.strings(FileCol::Error.as_str())?;
    (0..c.height())
        .map(|i| {
            Ok(FileFacts {
                vantage: required(vantage[i], c, FileCol::Vantage.as_str())?.to_string(),
                role: required(role[i], c, FileCol::Role.as_str())?,
                capture: required(capture[i], c, FileCol::Capture.as_str())?.to_string(),
                complete: complete[i].unwrap_or(true),
                last_frame_ns: last_frame[i],
                kernel_drops: drops[i],
                error: error[i].map(str::to_string),
                collector_records: records[i].clone().unwrap_or_default(),
            })
        })
        .collect()
}

/// The hops table's columns, all of them read back (`ip_version` follows from the address).
pub fn hop_columns() -> impl Iterator<Item = HopCol> {
    HopCol::ALL.iter().copied().filter(|c| *c != HopCol::IpVersion)
}

pub(crate) fn hop_rows(c: &Columns<'_>) -> Result<Vec<(String, HopRow)>, DatasetError> {
    let vantage = c.strings(HopCol::Vantage.as_str())?;
    let capture = c.strings(HopCol::Capture.as_str())?;
    let target = c.strings(HopCol::Target.as_str())?;
    let server_ip = c.ips(HopCol::ServerIp.as_str())?;
    let server_port = c.numbers::<UInt16Type>(HopCol::ServerPort.as_str())?;
    let probe_port = c.numbers::<UInt16Type>(HopCol::ProbePort.as_str())?;
    let probe = c.words(HopCol::Probe.as_str(), FetchKind::parse)?;
    let probe_features = c.feature_lists(HopCol::ProbeFeatures.as_str())?;
    let hop_limit = c.numbers::<UInt8Type>(HopCol::HopLimit.as_str())?;
    let probe_frame = c.numbers::<UInt64Type>(HopCol::ProbeFrame.as_str())?;
    let reply_frame = c.numbers::<UInt64Type>(HopCol::ReplyFrame.as_str())?;
    let responder = c.ips(HopCol::ResponderIp.as_str())?;
    let reply = c.words(HopCol::Reply.as_str(), Reply::parse)?;
    let reply_ttl = c.numbers::<UInt8Type>(HopCol::ReplyTtl.as_str())?;
    let responder_hops = c.numbers::<UInt8Type>(HopCol::ResponderHops.as_str())?;
    let rtt = c.numbers::<Float64Type>(HopCol::RttMs.as_str())?;
    let quote_len = c.numbers::<UInt16Type>(HopCol::QuoteLen.as_str())?;
    let quote_has_options = c.flags(HopCol::QuoteHasOptions.as_str())?;
    let quote_changes = c.string_lists(HopCol::QuoteChanges.as_str())?;
    (0..c.height())
        .map(|i| {
            Ok((
                required(vantage[i], c, HopCol::Vantage.as_str())?.to_string(),
                HopRow {
                    capture: Arc::from(required(capture[i], c, HopCol::Capture.as_str())?),
                    target: required(target[i], c, HopCol::Target.as_str())?.to_string(),
                    server_ip: required(server_ip[i], c, HopCol::ServerIp.as_str())?,
                    server_port: required(server_port[i], c, HopCol::ServerPort.as_str())?,
                    probe_port: required(probe_port[i], c, HopCol::ProbePort.as_str())?,
                    probe: required(probe[i], c, HopCol::Probe.as_str())?,
                    // Hops tables of version 1 kept none: TFO's probes only.
                    features: probe_features[i].unwrap_or_default(),
                    hop_limit: required(hop_limit[i], c, HopCol::HopLimit.as_str())?,
                    probe_frame: required(probe_frame[i], c, HopCol::ProbeFrame.as_str())?,
                    reply: required(reply[i], c, HopCol::Reply.as_str())?,
                    reply_frame: reply_frame[i],
                    responder_ip: responder[i],
                    reply_ttl: reply_ttl[i],
                    responder_hops: responder_hops[i],
                    rtt_ms: rtt[i],
                    quote_len: quote_len[i],
                    quote_has_options: quote_has_options[i],
                    quote_changes: quote_changes[i].clone(),
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_column(name: &str, rows: Vec<Option<Series>>) -> Column {
        let lists: ListChunked = rows.into_iter().collect();
        lists.with_name(name.into()).into_series().into()
    }

    fn u8s(items: &[Option<u8>]) -> Option<Series> {
        Some(Series::new("".into(), items))
    }

    fn words(items: &[Option<&str>]) -> Option<Series> {
        Some(Series::new("".into(), items))
    }

    fn frame(options: Vec<Option<Series>>, features: Vec<Option<Series>>) -> DataFrame {
        let height = options.len();
        DataFrame::new(height, vec![list_column("options", options), list_column("features", features)])
            .unwrap()
    }

    /// Null rows stay null, empty lists empty, null items are left out, blank words skipped, and
    /// a column of several chunks (row groups stacked) reads as one.
    #[test]
    fn list_columns_read_straight_from_the_arrays() {
        let mut df = frame(
            vec![u8s(&[Some(2), None, Some(34)]), None],
            vec![words(&[Some("tfo"), None, Some(" ecn ")]), None],
        );
        df.vstack_mut(&frame(
            vec![u8s(&[]), u8s(&[Some(8)])],
            vec![words(&[]), words(&[Some("mptcp"), Some("")])],
        ))
        .unwrap();
        assert!(df.column("options").unwrap().as_materialized_series().n_chunks() > 1, "two chunks");
        let c = Columns::new(&df, Path::new("part.parquet"));
        assert_eq!(
            c.u8_lists("options").unwrap(),
            vec![Some(vec![2, 34]), None, Some(vec![]), Some(vec![8])]
        );
        assert_eq!(
            c.feature_lists("features").unwrap(),
            vec![
                Some(Features::TFO.with(Feature::Ecn)),
                None,
                Some(Features::NONE),
                Some(Features::NONE.with(Feature::Mptcp))
            ]
        );
        assert_eq!(
            c.string_lists("features").unwrap(),
            vec![
                Some(vec!["tfo".to_string(), " ecn ".to_string()]),
                None,
                Some(vec![]),
                Some(vec!["mptcp".to_string(), String::new()])
            ]
        );
        // A feature column of an older table, left out of the read: null, so its reader decides.
        assert_eq!(c.feature_lists("syn_features").unwrap(), vec![None; 4]);
    }

    #[test]
    fn a_list_of_the_wrong_kind_or_an_unknown_word_is_an_error_naming_the_column() {
        let df = frame(
            vec![u8s(&[Some(2)]), u8s(&[Some(3)])],
            vec![words(&[Some("tfo")]), words(&[Some("tfo"), Some("quic"), Some("bogus")])],
        );
        let c = Columns::new(&df, Path::new("part.parquet"));
        let error = c.feature_lists("features").unwrap_err().to_string();
        assert!(error.contains("part.parquet: column features: holds \"quic\", no feature"), "{error}");
        let error = c.u8_lists("features").unwrap_err().to_string();
        assert!(error.contains("column features: of type list[str]"), "{error}");
        let error = c.string_lists("options").unwrap_err().to_string();
        assert!(error.contains("column options: of type list[u8]"), "{error}");
        let error = c.u64_lists("missing").unwrap_err().to_string();
        assert!(error.contains("column missing: missing"), "{error}");
    }
}
