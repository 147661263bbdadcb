//! Real interceptors as deployed, run on the lab's router for a scenario: Squid in intercept
//! mode (a transparent HTTP proxy that adds Via) and sslsplit (a TLS interceptor that forges
//! certificates with its own CA). Both are Debian packages; a lab without them says so.

use std::path::{Path, PathBuf};

use crate::LabError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interceptor {
    /// Squid, `http_port 3128 intercept`, behind `REDIRECT --to-ports 3128`.
    Squid,
    /// sslsplit in `https` mode on port 8443, behind `REDIRECT --to-ports 8443`.
    Sslsplit,
}

pub const SQUID_PORT: u16 = 3128;
pub const SSLSPLIT_PORT: u16 = 8443;

impl Interceptor {
    pub fn program(self) -> &'static str {
        match self {
            Interceptor::Squid => "squid",
            Interceptor::Sslsplit => "sslsplit",
        }
    }

    pub fn port(self) -> u16 {
        match self {
            Interceptor::Squid => SQUID_PORT,
            Interceptor::Sslsplit => SSLSPLIT_PORT,
        }
    }

    /// Where the program is, if installed.
    pub fn installed(self) -> Option<PathBuf> {
        ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
            .iter()
            .map(|dir| Path::new(dir).join(self.program()))
            .find(|p| p.is_file())
    }

    /// Writes the program's configuration (and CA) under `dir`; the command line to run it in
    /// the foreground.
    pub fn prepare(self, program: &Path, dir: &Path) -> Result<Vec<String>, LabError> {
        let io = |e| LabError::Io(dir.display().to_string(), e);
        std::fs::create_dir_all(dir).map_err(io)?;
        let program = program.display().to_string();
        match self {
            Interceptor::Squid => {
                // Squid drops to its own user: its log directory must be writable by it.
                set_mode(dir, 0o777).map_err(io)?;
                let conf = dir.join("squid.conf");
                let text = format!(
                    "http_port {SQUID_PORT} intercept\n\
                     http_port 3127\n\
                     http_access allow all\n\
                     cache deny all\n\
                     access_log none\n\
                     cache_log {log}\n\
                     pid_filename none\n\
                     coredump_dir {dir}\n\
                     shutdown_lifetime 0 seconds\n\
                     # Never the host's resolver: an address inside the lab that answers nothing.\n\
                     dns_nameservers 192.0.2.254\n",
                    log = dir.join("cache.log").display(),
                    dir = dir.display(),
                );
                std::fs::write(&conf, text).map_err(io)?;
                Ok(vec![program, "-N".into(), "-f".into(), conf.display().to_string()])
            }
            Interceptor::Sslsplit => {
                let ca = dir.join("ca.pem");
                std::fs::write(&ca, lab_ca()?).map_err(io)?;
                let ca = ca.display().to_string();
                Ok(vec![
                    program,
                    "-k".into(),
                    ca.clone(),
                    "-c".into(),
                    ca,
                    "https".into(),
                    "0.0.0.0".into(),
                    SSLSPLIT_PORT.to_string(),
                ])
            }
        }
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// A CA certificate and its key, PEM, for sslsplit to forge certificates with.
fn lab_ca() -> Result<String, LabError> {
    let fail =
        |e: rcgen::Error| LabError::Command { command: "making the lab CA".into(), detail: e.to_string() };
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "tfoscope lab interceptor CA");
    let cert = params.self_signed(&key).map_err(fail)?;
    Ok(format!("{}{}", cert.pem(), key.serialize_pem()))
}
