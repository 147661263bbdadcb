//! tfoscope-collect: the thin active collector (Linux). It performs the fetches with the
//! kernel's own TFO and records what went on the wire; every judgement is `analyze`'s.

pub mod bpf;
pub mod capture;
pub mod ecn_route;
pub mod exclusions;
pub mod failure;
pub mod features;
pub mod fetch;
pub mod kernel;
pub mod locate;
pub mod pcapng;
pub mod run;
pub mod sockopt;
pub mod target_list;
pub mod tcp_metrics;
pub mod tls;
pub use tfoscope_wire::feature;
