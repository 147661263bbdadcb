//! The echo document of one response ([`tfoscope_analyze::echo::Echo`]).

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use tfoscope_analyze::echo::{ArrivedSyn, Echo, EchoOrigin, EchoRequest, EchoTls, ECHO_VERSION};

use crate::request::Head;

/// What one connection brings to each of its responses.
#[derive(Debug, Clone)]
pub struct ConnectionFacts {
    pub origin: EchoOrigin,
    pub peer: SocketAddr,
    pub syn: Result<ArrivedSyn, String>,
    pub syn_data_accepted: Option<bool>,
    pub tls: Option<EchoTls>,
}

pub fn echo(facts: &ConnectionFacts, head: &Head) -> Echo {
    Echo {
        echo_version: ECHO_VERSION,
        server: concat!("tfoscope ", env!("CARGO_PKG_VERSION")).to_string(),
        server_time_ns: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64),
        origin: facts.origin.clone(),
        peer: facts.peer.to_string(),
        syn: facts.syn.as_ref().ok().cloned(),
        syn_error: facts.syn.as_ref().err().cloned(),
        syn_data_accepted: facts.syn_data_accepted,
        request: EchoRequest {
            method: head.method.clone(),
            target: head.target.clone(),
            version: head.version.clone(),
            headers: head.headers.clone(),
        },
        tls: facts.tls.clone(),
    }
}
