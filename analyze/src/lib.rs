//! tfoscope-analyze: offline TCP Fast Open analysis of pcap/pcapng captures.
//!
//! Stages, one module each, data flowing one way:
//! [`read`] (files → frames) → [`decode`] (frames → IP/TCP views) → [`flow`] (packets →
//! [`record::Connection`]s) → [`summary`] (what the verdicts need of each) → [`verdict`] (rules
//! → one verdict per target, against [`expect`]ations) → [`table`] (records → Arrow arrays →
//! Parquet/CSV/JSON). [`pipeline::analyze`] is the one entry point; [`result`] holds the types
//! it takes and returns. No network, no privileges.

#![deny(unsafe_code)]

pub mod arrival;
pub use tfoscope_wire::{attempt, decode, echo};
pub mod dataset;
pub mod expect;
pub mod flow;
#[doc(hidden)]
pub mod fuzzing;
pub mod judge;
pub mod locate;
pub mod pipeline;
pub mod read;
pub mod record;
pub mod report;
pub mod result;
pub mod server_view;
pub mod sink;
pub mod summary;
pub mod table;
pub mod timings;
mod vantage;
pub mod verdict;

pub use pipeline::{analyze, Analysis, AnalyzeOptions, Connections, Inputs};
pub use result::{
    AnalyzeError, ConnectionSink, FileReport, Progress, VantageReport, VantageResult, VantageSpec,
};
