//! Table rows back into the analyzer's records: a connections row into the [`ConnRow`] its
//! verdicts need, a files row into the vantage's file facts and collector records, a hops row
//! into a [`HopRow`]. The inverse of `table`; a value the contract does not allow is an error
//! that names the column, never a guess.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;

use super::DatasetError;
use crate::arrival::{reoriginated, ArrivalSource, PathFacts, SynChange};
use crate::attempt::FetchKind;
use crate::locate::{HopRow, Reply};
use crate::record::{AttemptLink, DataAcked, Features, Outcome, SynAckAnswers, SynAckTfo, SynTfo};
use crate::summary::{ConnRow, FirstSyn, SynAckRow};

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

    fn error(&self, column: &str, problem: impl std::fmt::Display) -> DatasetError {
        DatasetError::Column {
            path: self.path.to_owned(),
            column: column.to_string(),
            problem: problem.to_string(),
        }
    }

    fn series(&self, name: &str) -> Result<&'a Series, DatasetError> {
        Ok(self.df.column(name).map_err(|_| self.error(name, "missing"))?.as_materialized_series())
    }

    pub fn numbers<T: PolarsNumericType>(&self, name: &str) -> Result<Vec<Option<T::Native>>, DatasetError> {
        let s = self.series(name)?;
        let ca = s.unpack::<T>().map_err(|_| self.error(name, format!("of type {}", s.dtype())))?;
        Ok(ca.iter().collect())
    }

    pub fn times(&self, name: &str) -> Result<Vec<Option<i64>>, DatasetError> {
        let s = self.series(name)?;
        match s.dtype() {
            DataType::Datetime(TimeUnit::Nanoseconds, _) => {}
            other => return Err(self.error(name, format!("of type {other}, not nanosecond times"))),
        }
        let ca = s.datetime().map_err(|e| self.error(name, e))?;
        Ok(ca.physical().iter().collect())
    }

    pub fn strings(&self, name: &str) -> Result<Vec<Option<&'a str>>, DatasetError> {
        let s = self.series(name)?;
        Ok(s.str().map_err(|_| self.error(name, format!("of type {}", s.dtype())))?.iter().collect())
    }

    pub fn flags(&self, name: &str) -> Result<Vec<Option<bool>>, DatasetError> {
        let s = self.series(name)?;
        Ok(s.bool().map_err(|_| self.error(name, format!("of type {}", s.dtype())))?.iter().collect())
    }

    pub fn u8_lists(&self, name: &str) -> Result<Vec<Option<Vec<u8>>>, DatasetError> {
        self.lists(name, |s| Ok(s.u8()?.iter().flatten().collect()))
    }

    /// Feature sets (`syn_features`, ...): all null in tables written before they were kept
    /// (connections version 3, left out of the read), whose fetches asked for TFO alone.
    pub fn feature_lists(&self, name: &str) -> Result<Vec<Option<Features>>, DatasetError> {
        if self.df.column(name).is_err() {
            return Ok(vec![None; self.height()]);
        }
        self.string_lists(name)?
            .into_iter()
            .map(|row| {
                row.map(|names| {
                    Features::parse_list(&names.join(","))
                        .map_err(|bad| self.error(name, format!("holds {bad:?}, no feature")))
                })
                .transpose()
            })
            .collect()
    }

    pub fn string_lists(&self, name: &str) -> Result<Vec<Option<Vec<String>>>, DatasetError> {
        self.lists(name, |s| Ok(s.str()?.iter().flatten().map(str::to_string).collect()))
    }

    pub fn u64_lists(&self, name: &str) -> Result<Vec<Option<Vec<u64>>>, DatasetError> {
        self.lists(name, |s| Ok(s.u64()?.iter().flatten().collect()))
    }

    fn lists<T>(
        &self,
        name: &str,
        item: impl Fn(&Series) -> PolarsResult<Vec<T>>,
    ) -> Result<Vec<Option<Vec<T>>>, DatasetError> {
        let s = self.series(name)?;
        let lists = s.list().map_err(|_| self.error(name, format!("of type {}", s.dtype())))?;
        lists
            .series_iter()
            .map(|row| row.map(|items| item(&items)).transpose().map_err(|e| self.error(name, e)))
            .collect()
    }

    /// A string column of one of an enumeration's words.
    pub fn words<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<Option<T>>, DatasetError> {
        self.strings(name)?
            .into_iter()
            .map(|v| {
                v.map(|text| parse(text).ok_or_else(|| self.error(name, format!("unknown value {text:?}"))))
                    .transpose()
            })
            .collect()
    }

    /// Addresses repeat (one client, a few thousand servers): each text parsed once a row group.
    pub fn ips(&self, name: &str) -> Result<Vec<Option<IpAddr>>, DatasetError> {
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
fn required<T>(value: Option<T>, columns: &Columns<'_>, name: &str) -> Result<T, DatasetError> {
    value.ok_or_else(|| columns.error(name, "null where the table always has a value"))
}

/// The connections table's columns the verdicts read.
pub const CONNECTION_COLUMNS: &[&str] = &[
    "vantage",
    "client_ip",
    "server_ip",
    "server_port",
    "first_syn_time",
    "first_syn_frame",
    "syn_tfo",
    "syn_data_len",
    "syn_features",
    "syn_cookie",
    "synack_cookie",
    "synack_frame",
    "synack_time",
    "synack_answers",
    "synack_tfo",
    "synack_tfo_kind",
    "synack_ttl",
    "synack_mss",
    "synack_options",
    "synack_data_len",
    "synack_features",
    "second_synack_frame",
    "second_synack_time",
    "second_synack_answers",
    "second_synack_tfo",
    "second_synack_tfo_kind",
    "second_synack_ttl",
    "second_synack_mss",
    "second_synack_options",
    "second_synack_data_len",
    "second_synack_features",
    "synack_conflict",
    "syn_data_acked",
    "reset_frame",
    "icmp_frame",
    "icmp_mtu",
    "refusal_answers_first_syn",
    "outcome",
    "attempt",
    "attempt_features",
    "attempt_source",
    "app_result",
    "url",
    "host",
    "round",
    "http_status",
    "response_size",
    "cert_sha256",
    "cert_error",
    "cached_syn_drops",
    "category",
    "echo",
    "server_view",
    "server_capture",
    "server_frame",
    "compared_syn_frame",
    "compared_syn_tfo",
    "compared_syn_data_len",
    "syn_changes",
    "option_arrived",
    "data_arrived",
    "origin_tfo",
    "request_changes",
    "served_cert_sha256",
];

/// What every row of a connections row group says of the vantage's own addresses, and of the
/// target it belongs to: the cheap first look of a bucketed `judge`.
pub const CONNECTION_KEY_COLUMNS: &[&str] =
    &["vantage", "client_ip", "server_ip", "server_port", "attempt_source"];

/// One row's vantage, client, target and whether the collector's records name it.
pub struct ConnKey<'a> {
    pub vantage: &'a str,
    pub client: IpAddr,
    pub server: IpAddr,
    pub server_port: u16,
    pub recorded: bool,
}

pub(crate) fn connection_keys<'a>(c: &Columns<'a>) -> Result<Vec<ConnKey<'a>>, DatasetError> {
    let vantage = c.strings("vantage")?;
    let client = c.ips("client_ip")?;
    let server = c.ips("server_ip")?;
    let port = c.numbers::<UInt16Type>("server_port")?;
    let source = c.strings("attempt_source")?;
    (0..c.height())
        .map(|i| {
            Ok(ConnKey {
                vantage: required(vantage[i], c, "vantage")?,
                client: required(client[i], c, "client_ip")?,
                server: required(server[i], c, "server_ip")?,
                server_port: required(port[i], c, "server_port")?,
                recorded: source[i] == Some("record"),
            })
        })
        .collect()
}

/// The SYN-ACK columns under one prefix (`synack_`, `second_synack_`).
struct SynAckColumns {
    /// The names of the time, answers, tfo, ttl and data_len columns, for errors.
    names: [String; 5],
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
    fn read(c: &Columns<'_>, prefix: &str) -> Result<Self, DatasetError> {
        let name = |field: &str| format!("{prefix}{field}");
        Ok(SynAckColumns {
            names: ["time", "answers", "tfo", "ttl", "data_len"].map(name),
            frame: c.numbers::<UInt64Type>(&name("frame"))?,
            time: c.times(&name("time"))?,
            answers: c.words(&name("answers"), SynAckAnswers::parse)?,
            tfo: c.words(&name("tfo"), SynAckTfo::parse)?,
            tfo_kind: c.numbers::<UInt8Type>(&name("tfo_kind"))?,
            ttl: c.numbers::<UInt8Type>(&name("ttl"))?,
            mss: c.numbers::<UInt16Type>(&name("mss"))?,
            options: c.u8_lists(&name("options"))?,
            data_len: c.numbers::<UInt32Type>(&name("data_len"))?,
            features: c.feature_lists(&name("features"))?,
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
    let first_time = c.times("first_syn_time")?;
    let first_frame = c.numbers::<UInt64Type>("first_syn_frame")?;
    let syn_tfo = c.words("syn_tfo", SynTfo::parse)?;
    let syn_data_len = c.numbers::<UInt32Type>("syn_data_len")?;
    let syn_features = c.feature_lists("syn_features")?;
    let synack = SynAckColumns::read(c, "synack_")?;
    let second = SynAckColumns::read(c, "second_synack_")?;
    let conflict = c.u64_lists("synack_conflict")?;
    let acked = c.words("syn_data_acked", DataAcked::parse)?;
    let syn_cookie = c.strings("syn_cookie")?;
    let synack_cookie = c.strings("synack_cookie")?;
    let reset = c.numbers::<UInt64Type>("reset_frame")?;
    let icmp = c.numbers::<UInt64Type>("icmp_frame")?;
    let icmp_mtu = c.numbers::<UInt32Type>("icmp_mtu")?;
    let refusal_first = c.flags("refusal_answers_first_syn")?;
    let outcome = c.words("outcome", Outcome::parse)?;
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
                frame: required(first_frame[i], c, "first_syn_frame")?,
                time_ns: required(first_time[i], c, "first_syn_time")?,
                tfo: required(syn_tfo[i], c, "syn_tfo")?,
                data_len: required(syn_data_len[i], c, "syn_data_len")?,
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
                Some(_) => return Err(c.error("synack_conflict", "not two frames")),
            },
            syn_data_acked: acked[i],
            another_cookie: matches!((syn_cookie[i], synack_cookie[i]), (Some(a), Some(b)) if a != b)
                && syn_tfo[i] == Some(SynTfo::Cookie),
            reset_frame: reset[i],
            icmp_frame: icmp[i],
            icmp_mtu: icmp_mtu[i],
            refusal_answers_first_syn: refusal_first[i],
            outcome: required(outcome[i], c, "outcome")?,
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
            source: c.strings("attempt_source")?,
            fetch: c.words("attempt", FetchKind::parse)?,
            features: c.feature_lists("attempt_features")?,
            app_result: c.strings("app_result")?,
            url: c.strings("url")?,
            host: c.strings("host")?,
            round: c.numbers::<UInt32Type>("round")?,
            status: c.numbers::<UInt16Type>("http_status")?,
            size: c.numbers::<UInt64Type>("response_size")?,
            cert: c.strings("cert_sha256")?,
            cert_error: c.strings("cert_error")?,
            cached_syn_drops: c.numbers::<UInt16Type>("cached_syn_drops")?,
            category: c.strings("category")?,
            echo: c.flags("echo")?,
        })
    }

    fn row(&self, i: usize, c: &Columns<'_>) -> Result<Option<Arc<AttemptLink>>, DatasetError> {
        if self.source[i] != Some("record") {
            return Ok(None);
        }
        let text = |v: Option<&str>, name| required(v, c, name).map(str::to_string);
        Ok(Some(Arc::new(AttemptLink {
            url: text(self.url[i], "url")?,
            host: text(self.host[i], "host")?,
            fetch: required(self.fetch[i], c, "attempt")?,
            features: self.features[i].unwrap_or(match self.fetch[i] {
                Some(kind) if kind.tfo() => Features::TFO,
                _ => Features::NONE,
            }),
            round: required(self.round[i], c, "round")?,
            app_result: text(self.app_result[i], "app_result")?,
            status: self.status[i],
            size: self.size[i],
            cert_sha256: self.cert[i].map(str::to_string),
            cert_error: self.cert_error[i].map(str::to_string),
            cached_syn_drops: self.cached_syn_drops[i],
            category: self.category[i].map(str::to_string),
            echo: required(self.echo[i], c, "echo")?,
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
            view: c.strings("server_view")?,
            capture: c.strings("server_capture")?,
            frame: c.numbers::<UInt64Type>("server_frame")?,
            sent_frame: c.numbers::<UInt64Type>("compared_syn_frame")?,
            sent_tfo: c.flags("compared_syn_tfo")?,
            sent_data_len: c.numbers::<UInt32Type>("compared_syn_data_len")?,
            changes: c.string_lists("syn_changes")?,
            option_arrived: c.flags("option_arrived")?,
            data_arrived: c.flags("data_arrived")?,
            origin_tfo: c.flags("origin_tfo")?,
            request_changes: c.string_lists("request_changes")?,
            served_cert: c.strings("served_cert_sha256")?,
        })
    }

    fn row(
        &self,
        i: usize,
        c: &Columns<'_>,
        attempt: Option<&AttemptLink>,
    ) -> Result<Option<PathFacts>, DatasetError> {
        let source = match self.view[i] {
            None => return Ok(None),
            Some("echo") => ArrivalSource::Echo,
            Some("server_capture") => ArrivalSource::ServerCapture {
                capture: Arc::from(required(self.capture[i], c, "server_capture")?),
                frame: required(self.frame[i], c, "server_frame")?,
            },
            Some(other) => return Err(c.error("server_view", format!("unknown value {other:?}"))),
        };
        let changes: Vec<SynChange> = self.changes[i]
            .iter()
            .flatten()
            .map(|w| {
                SynChange::parse(w).ok_or_else(|| c.error("syn_changes", format!("unknown change {w:?}")))
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
            sent_frame: required(self.sent_frame[i], c, "compared_syn_frame")?,
            sent_tfo: required(self.sent_tfo[i], c, "compared_syn_tfo")?,
            sent_data_len: required(self.sent_data_len[i], c, "compared_syn_data_len")?,
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
pub const FILE_COLUMNS: &[&str] = &[
    "vantage",
    "role",
    "capture",
    "complete",
    "last_frame_time",
    "kernel_drops",
    "error",
    "collector_records",
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
    let vantage = c.strings("vantage")?;
    let role = c.words("role", crate::result::Role::parse)?;
    let capture = c.strings("capture")?;
    let drops = c.numbers::<UInt64Type>("kernel_drops")?;
    let complete = c.flags("complete")?;
    let last_frame = c.times("last_frame_time")?;
    let records = c.string_lists("collector_records")?;
    let error = c.strings("error")?;
    (0..c.height())
        .map(|i| {
            Ok(FileFacts {
                vantage: required(vantage[i], c, "vantage")?.to_string(),
                role: required(role[i], c, "role")?,
                capture: required(capture[i], c, "capture")?.to_string(),
                complete: complete[i].unwrap_or(true),
                last_frame_ns: last_frame[i],
                kernel_drops: drops[i],
                error: error[i].map(str::to_string),
                collector_records: records[i].clone().unwrap_or_default(),
            })
        })
        .collect()
}

/// The hops table's columns, all of them read back.
pub const HOP_COLUMNS: &[&str] = &[
    "vantage",
    "capture",
    "target",
    "server_ip",
    "server_port",
    "probe_port",
    "probe",
    "probe_features",
    "hop_limit",
    "probe_frame",
    "reply_frame",
    "responder_ip",
    "reply",
    "reply_ttl",
    "responder_hops",
    "rtt_ms",
    "quote_len",
    "quote_has_options",
    "quote_changes",
];

pub(crate) fn hop_rows(c: &Columns<'_>) -> Result<Vec<(String, HopRow)>, DatasetError> {
    let vantage = c.strings("vantage")?;
    let capture = c.strings("capture")?;
    let target = c.strings("target")?;
    let server_ip = c.ips("server_ip")?;
    let server_port = c.numbers::<UInt16Type>("server_port")?;
    let probe_port = c.numbers::<UInt16Type>("probe_port")?;
    let probe = c.words("probe", FetchKind::parse)?;
    let probe_features = c.feature_lists("probe_features")?;
    let hop_limit = c.numbers::<UInt8Type>("hop_limit")?;
    let probe_frame = c.numbers::<UInt64Type>("probe_frame")?;
    let reply_frame = c.numbers::<UInt64Type>("reply_frame")?;
    let responder = c.ips("responder_ip")?;
    let reply = c.words("reply", Reply::parse)?;
    let reply_ttl = c.numbers::<UInt8Type>("reply_ttl")?;
    let responder_hops = c.numbers::<UInt8Type>("responder_hops")?;
    let rtt = c.numbers::<Float64Type>("rtt_ms")?;
    let quote_len = c.numbers::<UInt16Type>("quote_len")?;
    let quote_has_options = c.flags("quote_has_options")?;
    let quote_changes = c.string_lists("quote_changes")?;
    (0..c.height())
        .map(|i| {
            Ok((
                required(vantage[i], c, "vantage")?.to_string(),
                HopRow {
                    capture: Arc::from(required(capture[i], c, "capture")?),
                    target: required(target[i], c, "target")?.to_string(),
                    server_ip: required(server_ip[i], c, "server_ip")?,
                    server_port: required(server_port[i], c, "server_port")?,
                    probe_port: required(probe_port[i], c, "probe_port")?,
                    probe: required(probe[i], c, "probe")?,
                    // Hops tables of version 1 kept none: TFO's probes only.
                    features: probe_features[i].unwrap_or_default(),
                    hop_limit: required(hop_limit[i], c, "hop_limit")?,
                    probe_frame: required(probe_frame[i], c, "probe_frame")?,
                    reply: required(reply[i], c, "reply")?,
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
