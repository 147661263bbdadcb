//! The echo origin's answer (`tfoscope serve`, schemas/echo.json): the SYN of the connection
//! as it arrived at the server, the request as received and the certificate served. The
//! origin writes it, the collector keeps it in the fetch's record, the analyzer compares it
//! with the SYN the client sent ([`crate::arrival`]). One decoder for both ends: the saved SYN
//! is read by [`crate::decode`].

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::decode::link::LINKTYPE_RAW;
use crate::decode::{self, DecodeError, OptionSummary, Packet, TCP_SYN};

/// The content type the origin answers with and the collector recognises.
pub const ECHO_CONTENT_TYPE: &str = "application/vnd.tfoscope.echo+json";
/// The document's version (`echo_version`); readers refuse a newer one.
pub const ECHO_VERSION: u32 = 1;
/// Larger answers are not echoes (the collector keeps at most this much).
pub const ECHO_MAX_BYTES: usize = 16 << 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Echo {
    pub echo_version: u32,
    /// The program that answered, `tfoscope VERSION`.
    pub server: String,
    /// The server's clock when it answered, nanoseconds since the Unix epoch.
    pub server_time_ns: i64,
    pub origin: EchoOrigin,
    /// The connection's peer as the server's socket sees it.
    pub peer: String,
    /// The SYN as it arrived (TCP_SAVED_SYN); None when the kernel kept none.
    pub syn: Option<ArrivedSyn>,
    /// Why `syn` is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syn_error: Option<String>,
    /// The kernel accepted data from the SYN (TCP_INFO's TCPI_OPT_SYN_DATA on the server).
    pub syn_data_accepted: Option<bool>,
    pub request: EchoRequest,
    /// For HTTPS: what the origin served.
    pub tls: Option<EchoTls>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EchoOrigin {
    /// `http` or `https`.
    pub scheme: String,
    /// The listening address.
    pub listen: String,
    /// The listener grants cookies and takes SYN data.
    pub tfo: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EchoRequest {
    pub method: String,
    pub target: String,
    pub version: String,
    /// Name and value, in the order and spelling received.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EchoTls {
    /// SHA-256 of the DER certificate served, lowercase hex.
    pub cert_sha256: String,
    pub sni: Option<String>,
}

/// A SYN as it arrived: its headers and what they say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArrivedSyn {
    /// IP and TCP headers, lowercase hex.
    pub headers_hex: String,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    /// TTL or hop limit on arrival.
    pub ttl: u8,
    pub isn: u32,
    pub window: u16,
    /// Option kinds in order, padding included.
    pub options: Vec<u8>,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub tsval: Option<u32>,
    pub tsecr: Option<u32>,
    /// As the connections table's `syn_tfo`: none, cookie_request, cookie, malformed, truncated.
    pub tfo: crate::decode::options::SynTfo,
    pub tfo_kind: Option<u8>,
    /// Lowercase hex.
    pub cookie: Option<String>,
    /// From the IP length: the data the SYN carried (the headers alone are saved).
    pub payload_len: u32,
}

/// Why saved SYN bytes are not a SYN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArrivedSynError {
    #[error("saved SYN does not decode: {0}")]
    Decode(#[from] DecodeError),
    #[error("saved headers are not a TCP SYN")]
    NotSyn,
}

/// Lowercase hex, as every hex column and field of the project writes it.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    hex_into(bytes, &mut out);
    out
}

/// Appends `bytes` in lowercase hex; true, for use in a `formatted` column.
pub fn hex_into(bytes: &[u8], out: &mut String) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    true
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() & 1 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

impl ArrivedSyn {
    /// Decodes the IP and TCP headers the kernel saved (TCP_SAVED_SYN).
    pub fn decode(headers: &[u8]) -> Result<ArrivedSyn, ArrivedSynError> {
        let Packet::Tcp { ip, tcp } = // The saved SYN begins with its IP header.
        decode::decode(pcap_parser::Linktype(LINKTYPE_RAW), headers)? else {
            return Err(ArrivedSynError::NotSyn);
        };
        if !tcp.has(TCP_SYN) {
            return Err(ArrivedSynError::NotSyn);
        }
        let summary = OptionSummary::of(tcp.options());
        let (tfo_kind, cookie) = summary.tfo_kind_and_cookie();
        Ok(ArrivedSyn {
            headers_hex: hex(headers),
            src_ip: ip.src,
            src_port: tcp.src_port,
            dst_ip: ip.dst,
            dst_port: tcp.dst_port,
            ttl: ip.ttl,
            isn: tcp.seq,
            window: tcp.window,
            options: summary.kinds().to_vec(),
            mss: summary.mss,
            wscale: summary.wscale,
            tsval: summary.timestamps.map(|t| t.0),
            tsecr: summary.timestamps.map(|t| t.1),
            tfo: summary.syn_tfo(),
            tfo_kind,
            cookie: cookie.map(hex),
            payload_len: tcp.payload_len,
        })
    }
}

/// Why a body is not an echo this reader understands.
#[derive(Debug, thiserror::Error)]
pub enum EchoError {
    #[error("echo of {0} bytes is over the {ECHO_MAX_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("echo version {0} is newer than this reader's {ECHO_VERSION}")]
    Version(u32),
    #[error("not an echo document: {0}")]
    Json(#[from] serde_json::Error),
}

impl Echo {
    pub fn from_json(body: &[u8]) -> Result<Echo, EchoError> {
        if body.len() > ECHO_MAX_BYTES {
            return Err(EchoError::TooLarge(body.len()));
        }
        // The version first: a newer document may not parse as this one.
        #[derive(Deserialize)]
        struct Version {
            echo_version: u32,
        }
        let Version { echo_version } = serde_json::from_slice(body)?;
        if echo_version > ECHO_VERSION {
            return Err(EchoError::Version(echo_version));
        }
        Ok(serde_json::from_slice(body)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Linux TFO SYN to 198.51.100.1:80 with a cookie and 73 bytes of data, headers only
    /// (the IP length still counts the data), as TCP_SAVED_SYN gives it.
    pub(crate) fn saved_syn_v4() -> Vec<u8> {
        let options: [u8; 32] = [
            2, 4, 5, 180, // MSS 1460
            4, 2, // SACK permitted
            8, 10, 0, 0, 0, 7, 0, 0, 0, 0, // timestamps 7, 0
            1, 3, 3, 7, // NOP, window scale 7
            34, 10, 1, 2, 3, 4, 5, 6, 7, 8, // cookie
            1, 1, // padding
        ];
        let tcp_len = 20 + options.len();
        let total = 20 + tcp_len + 73;
        let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 63, 6, 0, 0];
        p.extend_from_slice(&[192, 0, 2, 2, 198, 51, 100, 1]);
        p.extend_from_slice(&40000u16.to_be_bytes());
        p.extend_from_slice(&80u16.to_be_bytes());
        p.extend_from_slice(&123456u32.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        p.push(((tcp_len / 4) << 4) as u8);
        p.push(0x02);
        p.extend_from_slice(&64240u16.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.extend_from_slice(&options);
        p
    }

    #[test]
    fn a_saved_tfo_syn_decodes_with_its_data_length_from_the_ip_header() {
        let syn = ArrivedSyn::decode(&saved_syn_v4()).unwrap();
        assert_eq!((syn.src_ip.to_string(), syn.src_port, syn.dst_port), ("192.0.2.2".into(), 40000, 80));
        assert_eq!((syn.ttl, syn.isn, syn.window), (63, 123456, 64240));
        assert_eq!(syn.options, vec![2, 4, 8, 1, 3, 34, 1, 1]);
        assert_eq!((syn.mss, syn.wscale, syn.tsval, syn.tsecr), (Some(1460), Some(7), Some(7), Some(0)));
        assert_eq!((syn.tfo.as_str(), syn.tfo_kind), ("cookie", Some(34)));
        assert_eq!(syn.cookie.as_deref(), Some("0102030405060708"));
        assert_eq!(syn.payload_len, 73);
        assert_eq!(unhex(&syn.headers_hex).unwrap(), saved_syn_v4());
    }

    #[test]
    fn the_tfo_reading_travels_as_its_word_and_an_unknown_word_is_kept_as_malformed() {
        let syn = ArrivedSyn::decode(&saved_syn_v4()).unwrap();
        let json = serde_json::to_string(&syn).unwrap();
        assert!(json.contains(r#""tfo":"cookie""#), "{json}");
        assert_eq!(serde_json::from_str::<ArrivedSyn>(&json).unwrap(), syn);
        let later = json.replace(r#""tfo":"cookie""#, r#""tfo":"cookie_v2""#);
        let read: ArrivedSyn = serde_json::from_str(&later).unwrap();
        assert_eq!(read, ArrivedSyn { tfo: crate::decode::options::SynTfo::Malformed, ..syn });
    }

    #[test]
    fn what_is_no_syn_is_an_error_not_a_panic() {
        let mut not_syn = saved_syn_v4();
        not_syn[33] = 0x10;
        assert_eq!(ArrivedSyn::decode(&not_syn), Err(ArrivedSynError::NotSyn));
        for cut in 0..40 {
            assert!(ArrivedSyn::decode(&saved_syn_v4()[..cut]).is_err(), "{cut}");
        }
    }

    proptest::proptest! {
        /// The saved SYN comes from the kernel, the echo document from the network: neither
        /// panics the reader, whatever the bytes.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = ArrivedSyn::decode(&bytes);
            let _ = Echo::from_json(&bytes);
        }
    }

    #[test]
    fn newer_versions_and_oversized_bodies_are_refused() {
        assert!(matches!(Echo::from_json(br#"{"echo_version": 2}"#), Err(EchoError::Version(2))));
        assert!(matches!(Echo::from_json(&vec![b' '; ECHO_MAX_BYTES + 1]), Err(EchoError::TooLarge(_))));
        assert!(matches!(Echo::from_json(b"{}"), Err(EchoError::Json(_))));
    }
}
