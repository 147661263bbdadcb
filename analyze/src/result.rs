//! What the pipeline takes and gives back for each vantage: the types every stage above
//! `read` may name, defined below all of them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::attempt::{AttemptRecord, RunRecord};
use crate::flow::FlowStats;
use crate::read::{ReadError, ReadReport};
use crate::record::Connection;
use crate::summary::TargetConnections;

/// One vantage = one packet stream, possibly rotated over several files (tcpdump -C/-G).
#[derive(Debug, Clone)]
pub struct VantageSpec {
    pub name: String,
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    pub read: ReadReport,
    /// SYN-ACKs in this file whose SYN was not seen (handshakes begun before the capture).
    pub half_seen_handshakes: u64,
    /// The collector's attempt and run records in this file, as the JSON they were written in.
    pub collector_records: Vec<String>,
    /// Connections of this file whose packets and the kernel's view of them (the collector's
    /// record) disagree: one of the two readings is wrong.
    pub kernel_disagreements: u64,
}

crate::record::string_enum!(
    /// What a vantage is to the analysis: measured, a control (`--control`, a clean path that
    /// sets the expectations) or a capture made at the server (`--server-capture`).
    Role {
        Measured => "measured",
        Control => "control",
        Server => "server",
    }
);

#[allow(clippy::derivable_impls)] // string_enum! makes the type; a default is ours to name.
impl Default for Role {
    fn default() -> Self {
        Role::Measured
    }
}

#[derive(Debug, Clone, Default)]
pub struct VantageReport {
    pub files: Vec<FileReport>,
    pub frames: u64,
    /// Frames of link types we cannot decode, by link type.
    pub skipped_linktypes: BTreeMap<i32, u64>,
    /// Frames that decoded to nothing we use, by reason.
    pub undecoded: BTreeMap<&'static str, u64>,
    pub flow: FlowStats,
    /// Things a reader of the results must know (partial files, kernel drops, ...).
    pub warnings: Vec<String>,
    /// Files of a vantage of several that could not be read at all (not a capture, cannot be
    /// opened): (file, why). The vantage is what the other files hold.
    pub unreadable: Vec<(PathBuf, String)>,
    /// The collector's records, when the capture is one of ours.
    pub attempts: Vec<AttemptRecord>,
    pub runs: Vec<RunRecord>,
    /// The collector's hop-limited probes (`collect --locate`).
    pub probes: Vec<crate::attempt::ProbeRecord>,
}

impl VantageReport {
    /// False when some file could not be read to its end, or at all.
    pub fn complete(&self) -> bool {
        self.unreadable.is_empty() && self.files.iter().all(|f| f.read.stop.is_none())
    }
}

#[derive(Debug)]
pub struct VantageResult {
    pub name: String,
    /// In first-SYN time order; empty when they went to a sink instead.
    pub connections: Vec<Connection>,
    /// What the verdicts need of every connection, by target.
    pub targets: TargetConnections,
    /// The hop-limited probes and their answers (kept whole: a few dozen a target).
    pub hops: Vec<crate::locate::HopRow>,
    pub report: VantageReport,
}

/// Why a vantage could not be analysed. `E`: the error of the sink its connections went to.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError<E: std::error::Error + 'static = std::convert::Infallible> {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Sink(E),
}

/// Takes finished connections a batch at a time, from the threads of several vantages:
/// (vantage name, batch in first-SYN order).
pub type ConnectionSink<'a, E> = dyn Fn(&str, Vec<Connection>) -> Result<(), E> + Sync + 'a;

/// Told how many more bytes of capture files were read, from the threads of several vantages.
pub type Progress<'a> = dyn Fn(u64) + Sync + 'a;
