//! TLS for the API listener: a `tokio_rustls::TlsAcceptor` from a PEM certificate chain and key.
//!
//! Uses rustls 0.23 with the aws-lc-rs provider already in the dependency tree (explicitly, so no
//! process-wide default provider has to be installed and no second provider is linked). TLS 1.2
//! and 1.3, no client authentication, ALPN `http/1.1` (the API is HTTP/1 only). Errors name the
//! file and say what is wrong with it; a key that does not belong to the certificate is refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why a TLS acceptor could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read.
    #[error("TLS file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not the PEM expected.
    #[error("TLS file {path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the certificate/key pair.
    #[error("TLS certificate {cert} with key {key}: {message}")]
    Config {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// rustls's reason.
        message: String,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Certificates of the PEM file `path` (leaf first).
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            message: format!("invalid PEM certificate: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            message: "no CERTIFICATE block found".into(),
        });
    }
    Ok(certs)
}

/// The private key (PKCS#8, PKCS#1 or SEC1) of the PEM file `path`.
fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
        path: path.to_path_buf(),
        message: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY block found (PKCS#8, RSA or EC)".into()
            }
            other => format!("invalid PEM private key: {other}"),
        },
    })
}

/// A TLS acceptor serving the chain in `cert_pem` with the key in `key_pem`.
pub fn tls_acceptor(cert_pem: &Path, key_pem: &Path) -> Result<TlsAcceptor, TlsError> {
    let certs = load_certs(cert_pem)?;
    let key = load_key(key_pem)?;
    let config_err = |message: String| TlsError::Config {
        cert: cert_pem.to_path_buf(),
        key: key_pem.to_path_buf(),
        message,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| config_err(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
