//! The echo document of one response ([`tfoscope_wire::echo::Echo`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tfoscope_wire::echo::{ArrivedSyn, Echo, EchoOrigin, EchoRequest, EchoTls, ECHO_VERSION};

use crate::request::Head;

/// What one connection brings to each of its responses. The saved SYN stays raw (some 60 to
/// 100 bytes) until a request asks for it: idle connections are most of a busy origin's.
#[derive(Debug, Clone)]
pub struct ConnectionFacts {
    pub origin: Arc<EchoOrigin>,
    pub peer: SocketAddr,
    /// The IP and TCP headers the kernel saved, or why there are none.
    pub syn: Result<Vec<u8>, String>,
    pub syn_data_accepted: Option<bool>,
    pub tls: Option<EchoTls>,
}

impl ConnectionFacts {
    pub fn arrived_syn(&self) -> Result<ArrivedSyn, String> {
        let bytes = self.syn.as_ref().map_err(String::clone)?;
        ArrivedSyn::decode(bytes).map_err(|e| e.to_string())
    }
}

pub fn echo(facts: &ConnectionFacts, head: &Head) -> Echo {
    let syn = facts.arrived_syn();
    Echo {
        echo_version: ECHO_VERSION,
        server: concat!("tfoscope ", env!("CARGO_PKG_VERSION")).to_string(),
        server_time_ns: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64),
        origin: (*facts.origin).clone(),
        peer: facts.peer.to_string(),
        syn_error: syn.as_ref().err().cloned(),
        syn: syn.ok(),
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
