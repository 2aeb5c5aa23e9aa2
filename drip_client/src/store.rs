//! The wallet's file: its account seed, the user's mandate, the server key
//! pinned per site, and per session the channel, its key and the best claim
//! signed. Every change is written atomically (a temporary file, fsync,
//! rename, fsync of the directory) before the wallet acts on it, so a crash
//! at any point leaves either the old state or the new, and a restarted
//! wallet never signs below a claim it already gave out.
//!
//! The file holds secrets: it is created with mode 0600, and one process at a
//! time holds it (an exclusive lock on `FILE.lock`).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use drip_core::proposal::Proposal;
use drip_core::{Drops, Hash256, KeyPair, KeyType, Seed};
use serde::{Deserialize, Serialize};

use crate::mandate::{Mandate, Window};

const VERSION: u32 = 1;

/// What went wrong with the wallet file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading, writing or locking failed.
    #[error("wallet file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process holds the wallet.
    #[error("wallet file {0} is in use by another drip process")]
    Busy(PathBuf),
    /// The file is not a wallet this version reads.
    #[error("wallet file {path}: {what}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// `wallet new` over an existing wallet.
    #[error("wallet file {0} exists; refusing to overwrite it")]
    Exists(PathBuf),
}

/// The file's contents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalletFile {
    /// Format version.
    pub version: u32,
    /// The payer account's seed (`s…` or `sEd…`).
    pub seed: String,
    /// The user's limits.
    #[serde(default)]
    pub mandate: Mandate,
    /// Per site (domain): the server key it signs proposals with, pinned on
    /// first use.
    #[serde(default)]
    pub sites: BTreeMap<String, Site>,
    /// Per drip token.
    #[serde(default)]
    pub sessions: BTreeMap<String, SessionRecord>,
}

/// A site the wallet has paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// The server's proposal key, hex.
    pub server_key: String,
}

/// A transaction submitted and not yet known to be final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTx {
    /// Its hash.
    pub hash: Hash256,
    /// It can never validate after this ledger.
    pub last_ledger_sequence: u32,
}

/// A claim the wallet signed and may have given out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedClaim {
    /// Cumulative drops.
    pub amount: Drops,
    /// Hex.
    pub signature: String,
}

/// One session the wallet pays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The site (domain) the session belongs to.
    pub site: String,
    /// The session's channel key: fresh per session.
    pub channel_seed: String,
    /// The initial proposal, as verified.
    pub proposal: Proposal,
    /// The channel create, once signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<PendingTx>,
    /// The channel, once its create validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<Hash256>,
    /// Whether the server accepted the agreement.
    #[serde(default)]
    pub agreed: bool,
    /// A refresh fund in flight: its proposal and transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fund: Option<(String, PendingTx)>,
    /// The highest claim signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best: Option<SignedClaim>,
    /// The running polling interval, for the per-interval limit.
    #[serde(default)]
    pub window: Window,
    /// The session ended and its channel closed.
    #[serde(default)]
    pub closed: bool,
}

impl SessionRecord {
    /// The best claim's amount (0 before the first).
    pub fn best_amount(&self) -> Drops {
        self.best.as_ref().map_or(Drops::ZERO, |c| c.amount)
    }

    /// The channel key.
    pub fn channel_key(&self) -> Result<KeyPair, String> {
        let seed: Seed = self.channel_seed.parse().map_err(|e| format!("{e}"))?;
        seed.key_pair().map_err(|e| format!("{e}"))
    }
}

/// A wallet file, held (locked) by this process.
#[derive(Debug)]
pub struct Wallet {
    path: PathBuf,
    file: WalletFile,
    _lock: File,
}

/// A fresh seed of `key_type` from the operating system's random source.
pub fn random_seed(key_type: KeyType) -> Result<Seed, std::io::Error> {
    let mut entropy = [0u8; 16];
    getrandom::getrandom(&mut entropy).map_err(std::io::Error::other)?;
    Ok(Seed::from_entropy(entropy, key_type))
}

impl Wallet {
    /// Make a new wallet at `path` with a fresh account of `key_type`, or
    /// with `seed`.
    pub fn create(
        path: &Path,
        key_type: KeyType,
        seed: Option<Seed>,
    ) -> Result<Wallet, StoreError> {
        let lock = lock(path)?;
        if path.exists() {
            return Err(StoreError::Exists(path.to_owned()));
        }
        let seed = match seed {
            Some(s) => s,
            None => random_seed(key_type).map_err(|source| io(path, source))?,
        };
        let wallet = Wallet {
            path: path.to_owned(),
            file: WalletFile {
                version: VERSION,
                seed: seed.encode(),
                mandate: Mandate::default(),
                sites: BTreeMap::new(),
                sessions: BTreeMap::new(),
            },
            _lock: lock,
        };
        wallet.account()?;
        wallet.save()?;
        Ok(wallet)
    }

    /// Open the wallet at `path`.
    pub fn open(path: &Path) -> Result<Wallet, StoreError> {
        let lock = lock(path)?;
        let bytes = fs::read(path).map_err(|source| io(path, source))?;
        let file: WalletFile = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: path.to_owned(),
            what: e.to_string(),
        })?;
        if file.version != VERSION {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                what: format!("version {} (this drip reads {VERSION})", file.version),
            });
        }
        let wallet = Wallet {
            path: path.to_owned(),
            file,
            _lock: lock,
        };
        wallet.account()?;
        Ok(wallet)
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The contents.
    pub fn file(&self) -> &WalletFile {
        &self.file
    }

    /// The payer account's keys.
    pub fn account(&self) -> Result<KeyPair, StoreError> {
        self.file
            .seed
            .parse::<Seed>()
            .ok()
            .and_then(|s| s.key_pair().ok())
            .ok_or_else(|| StoreError::Corrupt {
                path: self.path.clone(),
                what: "the account seed is malformed".into(),
            })
    }

    /// Change the contents and write them durably before returning.
    pub fn update<T>(
        &mut self,
        change: impl FnOnce(&mut WalletFile) -> T,
    ) -> Result<T, StoreError> {
        let mut next = self.file.clone();
        let out = change(&mut next);
        let old = std::mem::replace(&mut self.file, next);
        if let Err(e) = self.save() {
            self.file = old;
            return Err(e);
        }
        Ok(out)
    }

    fn save(&self) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(&self.file).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            what: e.to_string(),
        })?;
        write_atomic(&self.path, &bytes).map_err(|source| io(&self.path, source))
    }
}

/// Write `bytes` to `path` so that a crash leaves the old contents or the
/// new, never a mix: a private temporary file, fsync, rename, fsync of the
/// directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    // The rename is durable once the directory is.
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    File::open(dir.unwrap_or(Path::new("."))).and_then(|d| d.sync_all())
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Hold `FILE.lock` exclusively for as long as the returned file lives.
fn lock(path: &Path) -> Result<File, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&name)
        .map_err(|source| io(path, source))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Busy(path.to_owned())),
        Err(fs::TryLockError::Error(source)) => Err(io(path, source)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("drip-wallet-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_wallet_survives_reopening_and_is_private() {
        let d = dir("reopen");
        let path = d.join("wallet.json");
        let mut w = Wallet::create(&path, KeyType::Ed25519, None).unwrap();
        let account = w.account().unwrap().account_id();
        w.update(|f| f.mandate.per_session = Some(Drops::new(5)))
            .unwrap();
        assert!(matches!(Wallet::open(&path), Err(StoreError::Busy(_))));
        assert!(matches!(
            Wallet::create(&path, KeyType::Ed25519, None),
            Err(StoreError::Busy(_))
        ));
        drop(w);
        assert!(matches!(
            Wallet::create(&path, KeyType::Ed25519, None),
            Err(StoreError::Exists(_))
        ));
        let w = Wallet::open(&path).unwrap();
        assert_eq!(w.account().unwrap().account_id(), account);
        assert_eq!(w.file().mandate.per_session, Some(Drops::new(5)));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_bad_file_is_a_clear_error() {
        let d = dir("bad");
        let path = d.join("wallet.json");
        for bad in [
            &b"not json"[..],
            br#"{"version": 9, "seed": "x"}"#,
            br#"{"version": 1, "seed": "snoPBrXtMeMyMHUVTgbuqAfg1SUTc"}"#,
        ] {
            fs::write(&path, bad).unwrap();
            assert!(matches!(
                Wallet::open(&path),
                Err(StoreError::Corrupt { .. })
            ));
        }
        let _ = fs::remove_dir_all(&d);
    }
}
