//! `tfoscope lab`: the whole mission end to end on one machine. Network namespaces (client,
//! router, server), our own TFO origins and transparent proxy, a middlebox per scenario on the
//! router, `collect` in the client namespace, `analyze` on what it captured, and a table of
//! expected against found verdicts.

pub mod serve;
