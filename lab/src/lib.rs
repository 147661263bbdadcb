//! `tfoscope lab`: the whole mission end to end on one machine. Network namespaces (client,
//! router, server), our own TFO origins and transparent proxy, a middlebox per scenario on the
//! router, `collect` in the client namespace, `analyze` on what it captured, and a table of
//! expected against found verdicts.

pub mod doctor;
pub mod feature_scenarios;
pub mod interceptor;
pub mod netns;
pub mod run;
pub mod scenario;
pub mod scenarios;
pub mod serve;
pub mod tfo_scenarios;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("the lab prefix {0:?} must be 1 to 10 letters or digits (interface names are PREFIX-xy)")]
    Prefix(String),
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("analyzing {0}: {1}")]
    Analyze(String, String),
}
