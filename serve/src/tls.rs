//! The HTTPS origin's certificate: the operator's (PEM files) or a self-signed one made at
//! start, and its SHA-256, which every echo names so a client can tell an interceptor's.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tfoscope_wire::echo::hex;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading certificates from {0}: {1}")]
    Cert(String, String),
    #[error("reading the private key from {0}: {1}")]
    Key(String, String),
    #[error("{0}: no certificate in the file")]
    NoCert(String),
    #[error("making a self-signed certificate: {0}")]
    SelfSigned(String),
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

pub struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// SHA-256 of the leaf certificate's DER, lowercase hex.
    pub cert_sha256: String,
}

/// The certificate and key from PEM files, or (both None) a self-signed certificate for
/// `names`.
pub fn load(cert: Option<&Path>, key: Option<&Path>, names: &[String]) -> Result<Tls, TlsError> {
    let (chain, key) = match (cert, key) {
        (Some(cert), Some(key)) => {
            let shown = |p: &Path| p.display().to_string();
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| TlsError::Cert(shown(cert), e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TlsError::Cert(shown(cert), e.to_string()))?;
            if chain.is_empty() {
                return Err(TlsError::NoCert(shown(cert)));
            }
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key(shown(key), e.to_string()))?;
            (chain, key)
        }
        _ => {
            let certified = rcgen::generate_simple_self_signed(names.to_vec())
                .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
            let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
            (vec![certified.cert.der().clone()], key)
        }
    };
    let cert_sha256 = hex(ring::digest::digest(&ring::digest::SHA256, &chain[0]).as_ref());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)), cert_sha256 })
}
