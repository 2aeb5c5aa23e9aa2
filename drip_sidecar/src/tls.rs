//! The gRPC port's certificate: the configured PEM files, or a self-signed
//! one made on first start and kept (never regenerated on restart, so
//! clients that pinned it keep working).

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Why the certificate could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a PEM file failed.
    #[error("{path}: {why}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        why: String,
    },
    /// Making the self-signed certificate failed.
    #[error("self-signed certificate: {0}")]
    Generate(String),
}

/// PEM certificate chain and key.
#[derive(Clone)]
pub struct Identity {
    /// Certificate chain, PEM.
    pub cert: String,
    /// Private key, PEM.
    pub key: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| TlsError::Io {
        path: path.to_owned(),
        why: e.to_string(),
    })
}

/// The PEM files at these paths.
pub fn load(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
    Ok(Identity {
        cert: read(cert)?,
        key: read(key)?,
    })
}

/// The self-signed identity kept in `dir`, made there if absent.
pub fn self_signed(dir: &Path) -> Result<Identity, TlsError> {
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert_path.exists() && key_path.exists() {
        return load(&cert_path, &key_path);
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |e: std::io::Error| TlsError::Io {
            path,
            why: e.to_string(),
        }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let made =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    let identity = Identity {
        cert: made.cert.pem(),
        key: made.signing_key.serialize_pem(),
    };
    // The key is written first and private; the certificate last, so a
    // half-made pair is never taken for a whole one.
    write_private(&key_path, &identity.key).map_err(io(&key_path))?;
    std::fs::write(&cert_path, &identity.cert).map_err(io(&cert_path))?;
    tracing::info!(dir = %dir.display(), "made a self-signed TLS certificate (kept for later starts)");
    Ok(identity)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// A TLS acceptor with `identity`, for the BTP listener (wss).
pub fn acceptor(identity: &Identity) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |why: String| TlsError::Generate(why);
    let certs = CertificateDer::pem_slice_iter(identity.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(identity.key.as_bytes())
        .map_err(|e| bad(format!("key: {e}")))?;
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| bad(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("drip-tls-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = self_signed(&dir).unwrap();
        let again = self_signed(&dir).unwrap();
        assert_eq!(first.cert, again.cert, "not regenerated");
        assert!(first.cert.starts_with("-----BEGIN CERTIFICATE-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key readable by its owner only");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
