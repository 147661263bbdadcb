//! The tests that need root: network namespaces of their own, raw sockets, the kernel's TFO
//! and netfilter boxes, `tfoscope lab`. One binary; every test takes the namespace lock first,
//! so they run one at a time whatever the test threads. Without root they say so loudly and
//! skip; in CI (CI=true) that is a failure.

mod common;

#[path = "namespaces/capture_filter.rs"]
mod capture_filter;
#[path = "namespaces/collect_faults.rs"]
mod collect_faults;
#[path = "namespaces/collect_features.rs"]
mod collect_features;
#[path = "namespaces/collect_lab.rs"]
mod collect_lab;
#[path = "namespaces/lab_captures.rs"]
mod lab_captures;
#[path = "namespaces/lab_cmd.rs"]
mod lab_cmd;
#[path = "namespaces/serve_cli.rs"]
mod serve_cli;
#[path = "namespaces/server_capture.rs"]
mod server_capture;
#[path = "namespaces/tcp_metrics.rs"]
mod tcp_metrics;
