//! The tests that need no privileges: the CLI on testdata/ and on captures built packet by
//! packet, other tools' captures, judge against analyze, the Python readers. One binary (one
//! link step in a cold build); tests run in parallel, each in its own temporary folder.

mod common;

#[path = "offline/cli_analyze.rs"]
mod cli_analyze;
#[path = "offline/client_shapes.rs"]
mod client_shapes;
#[path = "offline/hostile_captures.rs"]
mod hostile_captures;
#[path = "offline/judge.rs"]
mod judge;
#[path = "offline/locate.rs"]
mod locate;
#[path = "offline/notebook_example.rs"]
mod notebook_example;
#[path = "offline/ooni.rs"]
mod ooni;
#[path = "offline/other_tools.rs"]
mod other_tools;
#[path = "offline/partition.rs"]
mod partition;
#[path = "offline/public_captures.rs"]
mod public_captures;
#[path = "offline/python_dask.rs"]
mod python_dask;
#[path = "offline/tshark_oracle.rs"]
mod tshark_oracle;
#[path = "offline/verdicts.rs"]
mod verdicts;
