//! The targets table (one row per verdict) and the files table (one row per capture file).

use polars::prelude::*;

use super::other_cols::FileCol;
use super::target_col::TargetCol;
use super::TableError;
use crate::read::CaptureFormat;
use crate::result::Role;
use crate::verdict::TargetVerdict;

fn str_lists<'a>(name: &str, rows: impl ExactSizeIterator<Item = Vec<&'a str>>) -> Column {
    let mut builder = ListStringChunkedBuilder::new(name.into(), rows.len(), rows.len() * 2);
    for row in rows {
        builder.append_values_iter(row.into_iter());
    }
    builder.finish().into_series().into()
}

/// One row per target and vantage.
pub fn targets_frame(verdicts: &[TargetVerdict]) -> Result<DataFrame, TableError> {
    let col = |name: &str, s: Series| -> Column { s.with_name(name.into()).into() };
    macro_rules! field {
        ($name:expr, $f:expr) => {
            col($name, Series::new("".into(), verdicts.iter().map($f).collect::<Vec<_>>()))
        };
    }
    let ips: Vec<Vec<String>> =
        verdicts.iter().map(|v| v.middlebox_ips.iter().map(|ip| ip.to_string()).collect()).collect();
    let columns = vec![
        field!(TargetCol::Vantage.as_str(), |v: &TargetVerdict| v.vantage.clone()),
        field!(TargetCol::Target.as_str(), |v: &TargetVerdict| v.target.clone()),
        field!(TargetCol::Category.as_str(), |v: &TargetVerdict| v.category.clone()),
        field!(TargetCol::CertError.as_str(), |v: &TargetVerdict| v.cert_error.clone()),
        field!(TargetCol::ServerIp.as_str(), |v: &TargetVerdict| v.server_ip.map(|ip| ip.to_string())),
        field!(TargetCol::ServerPort.as_str(), |v: &TargetVerdict| v.server_port),
        field!(TargetCol::IpVersion.as_str(), |v: &TargetVerdict| v.ip_version()),
        field!(TargetCol::Direction.as_str(), |v: &TargetVerdict| v.direction.as_str()),
        field!(TargetCol::Connections.as_str(), |v: &TargetVerdict| v.connections),
        field!(TargetCol::Rounds.as_str(), |v: &TargetVerdict| v.rounds),
        field!(TargetCol::Connectivity.as_str(), |v: &TargetVerdict| v.connectivity.as_str()),
        field!(TargetCol::Cookie.as_str(), |v: &TargetVerdict| v.cookie.as_str()),
        field!(TargetCol::SynData.as_str(), |v: &TargetVerdict| v.syn_data.as_str()),
        str_lists(
            TargetCol::Signatures.as_str(),
            verdicts.iter().map(|v| v.signatures.iter().map(|s| s.as_str()).collect()),
        ),
        str_lists(
            TargetCol::Untested.as_str(),
            verdicts.iter().map(|v| v.untested.iter().map(|s| s.as_str()).collect()),
        ),
        field!(TargetCol::Middlebox.as_str(), |v: &TargetVerdict| v.middlebox.as_bool()),
        field!(TargetCol::ExpectedTfo.as_str(), |v: &TargetVerdict| v.expected_tfo),
        field!(TargetCol::SynackDiffers.as_str(), |v: &TargetVerdict| v.synack_differs),
        field!(TargetCol::MeasurementValid.as_str(), |v: &TargetVerdict| v.measurement_valid),
        field!(TargetCol::CookieRejected.as_str(), |v: &TargetVerdict| v.cookie_rejected),
        str_lists(
            TargetCol::Evidence.as_str(),
            verdicts.iter().map(|v| v.evidence.iter().map(|b| b.as_str()).collect()),
        ),
        field!(TargetCol::Explanation.as_str(), |v: &TargetVerdict| v.explanation.clone()),
        str_lists(
            TargetCol::Conditions.as_str(),
            verdicts.iter().map(|v| v.conditions.iter().map(|c| c.as_str()).collect()),
        ),
        {
            let words: Vec<Vec<String>> =
                verdicts.iter().map(|v| v.path_changes.iter().map(ToString::to_string).collect()).collect();
            str_lists(
                TargetCol::PathChanges.as_str(),
                words.iter().map(|w| w.iter().map(String::as_str).collect()),
            )
        },
        field!(TargetCol::ArrivalSource.as_str(), |v: &TargetVerdict| v.arrival_source.map(|a| a.as_str())),
        field!(TargetCol::OriginHops.as_str(), |v: &TargetVerdict| v.origin_hops),
        field!(TargetCol::MiddleboxHopMin.as_str(), |v: &TargetVerdict| v.middlebox_hop_min),
        field!(TargetCol::MiddleboxHopMax.as_str(), |v: &TargetVerdict| v.middlebox_hop_max),
        str_lists(
            TargetCol::MiddleboxIps.as_str(),
            ips.iter().map(|ips| ips.iter().map(String::as_str).collect()),
        ),
        str_lists(TargetCol::FeaturesTried.as_str(), verdicts.iter().map(|v| v.features_tried.names())),
        str_lists(
            TargetCol::FeaturesNegotiated.as_str(),
            verdicts.iter().map(|v| v.features_negotiated.names()),
        ),
        str_lists(
            TargetCol::FeatureFailures.as_str(),
            verdicts.iter().map(|v| v.feature_failures.iter().map(String::as_str).collect()),
        ),
    ];
    DataFrame::new(verdicts.len(), columns).map_err(|error| TableError::Build { table: "targets", error })
}

/// One capture file as read: whether to the end, and if not where and why it stopped; or why
/// it could not be read at all. The `files` table, so notebooks see partial results too.
#[derive(Debug, Clone, Default)]
pub struct FileRow {
    pub vantage: String,
    pub role: Role,
    pub capture: String,
    pub format: Option<&'static str>,
    pub frames: u64,
    pub bytes: u64,
    pub complete: bool,
    pub stop_offset: Option<u64>,
    pub stop_reason: Option<String>,
    /// The last packet's time: where a file cut off ends.
    pub last_frame_ns: Option<i64>,
    pub kernel_drops: Option<u64>,
    pub skipped_blocks: u64,
    /// SYN-ACKs whose SYN the file does not hold: handshakes it caught midway.
    pub half_seen_handshakes: u64,
    /// Connections whose packets and the collector's kernel view (TCP_INFO) disagree.
    pub kernel_disagreements: u64,
    pub error: Option<String>,
    /// The vantage's warnings (partial files, drops, the connection cap, ...).
    pub warnings: Vec<String>,
    /// The collector's attempt and run records the file carried, as JSON documents
    /// (schemas/attempt.json), in file order: what `judge` needs of them beside the tables.
    pub collector_records: Vec<String>,
}

impl FileRow {
    pub fn of_vantage(result: &crate::result::VantageResult, role: Role) -> Vec<FileRow> {
        result
            .report
            .files
            .iter()
            .map(|f| FileRow {
                vantage: result.name.clone(),
                role,
                capture: f.path.display().to_string(),
                format: f.read.format.map(|format| match format {
                    CaptureFormat::Pcap => "pcap",
                    CaptureFormat::PcapNanosecond => "pcap_ns",
                    CaptureFormat::PcapNg => "pcapng",
                }),
                frames: f.read.frames,
                bytes: f.read.bytes,
                complete: f.read.stop.is_none(),
                stop_offset: f.read.stop.as_ref().map(|s| s.offset),
                stop_reason: f.read.stop.as_ref().map(|s| s.to_string()),
                last_frame_ns: f.read.last_frame_ns,
                kernel_drops: f.read.kernel_drops,
                skipped_blocks: f.read.skipped_blocks,
                half_seen_handshakes: f.half_seen_handshakes,
                kernel_disagreements: f.kernel_disagreements,
                error: None,
                warnings: result.report.warnings.clone(),
                collector_records: f.collector_records.clone(),
            })
            .chain(result.report.unreadable.iter().map(|(path, error)| FileRow {
                vantage: result.name.clone(),
                role,
                capture: path.display().to_string(),
                error: Some(error.clone()),
                warnings: result.report.warnings.clone(),
                ..FileRow::default()
            }))
            .collect()
    }
}

pub fn files_frame(rows: &[FileRow]) -> Result<DataFrame, TableError> {
    let col = |name: &str, s: Series| -> Column { s.with_name(name.into()).into() };
    macro_rules! field {
        ($name:expr, $f:expr) => {
            col($name, Series::new("".into(), rows.iter().map($f).collect::<Vec<_>>()))
        };
    }
    let columns = vec![
        field!(FileCol::Vantage.as_str(), |r: &FileRow| r.vantage.clone()),
        field!(FileCol::Role.as_str(), |r: &FileRow| r.role.as_str()),
        field!(FileCol::Capture.as_str(), |r: &FileRow| r.capture.clone()),
        field!(FileCol::Format.as_str(), |r: &FileRow| r.format),
        field!(FileCol::Frames.as_str(), |r: &FileRow| r.frames),
        field!(FileCol::Bytes.as_str(), |r: &FileRow| r.bytes),
        field!(FileCol::Complete.as_str(), |r: &FileRow| r.complete),
        field!(FileCol::StopOffset.as_str(), |r: &FileRow| r.stop_offset),
        field!(FileCol::StopReason.as_str(), |r: &FileRow| r.stop_reason.clone()),
        field!(FileCol::LastFrameTime.as_str(), |r: &FileRow| r.last_frame_ns)
            .cast(&DataType::Datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC)))
            .map_err(|error| TableError::Build { table: "files", error })?,
        field!(FileCol::KernelDrops.as_str(), |r: &FileRow| r.kernel_drops),
        field!(FileCol::SkippedBlocks.as_str(), |r: &FileRow| r.skipped_blocks),
        field!(FileCol::HalfSeenHandshakes.as_str(), |r: &FileRow| r.half_seen_handshakes),
        field!(FileCol::KernelDisagreements.as_str(), |r: &FileRow| r.kernel_disagreements),
        field!(FileCol::Error.as_str(), |r: &FileRow| r.error.clone()),
        str_lists(
            FileCol::Warnings.as_str(),
            rows.iter().map(|r| r.warnings.iter().map(String::as_str).collect()),
        ),
        str_lists(
            FileCol::CollectorRecords.as_str(),
            rows.iter().map(|r| r.collector_records.iter().map(String::as_str).collect()),
        ),
    ];
    DataFrame::new(rows.len(), columns).map_err(|error| TableError::Build { table: "files", error })
}
