//! tfoscope-analyze: offline TCP Fast Open analysis of pcap/pcapng captures.
//!
//! Stages, one module each, data flowing one way:
//! [`read`] (files → frames) → [`decode`] (frames → IP/TCP views) → [`flow`] (packets →
//! [`record::Connection`]s) → [`table`] (records → DataFrames → Parquet/CSV/JSON).
//! No network, no privileges.

#![deny(unsafe_code)]

pub mod attempt;
pub mod decode;
pub mod expect;
pub mod flow;
pub mod read;
pub mod record;
pub mod summary;
pub mod table;
mod vantage;
pub mod verdict;

pub use vantage::{
    analyze_vantage, analyze_vantage_into, analyze_vantage_with, analyze_vantages, analyze_vantages_into,
    analyze_vantages_reporting, analyze_vantages_with, AnalyzeError, ConnectionSink, FileReport, Progress,
    SharedConnectionSink, VantageReport, VantageResult, VantageSpec,
};
