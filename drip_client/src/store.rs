//! The wallet's file: its account seed, the user's mandate, the server key
//! pinned per site, and per session the channel, its key and the best claim
//! signed. Every change is written atomically (a fresh temporary file,
//! fsync, rename, fsync of the directory) before the wallet acts on it, so
//! a crash at any point leaves either the old state or the new, and a
//! restarted wallet never signs below a claim it already gave out.
//!
//! The file holds secrets: every write leaves it mode 0600, a symlink in
//! its place (or the lock's) is refused rather than followed, and one
//! process at a time holds it (an exclusive lock on `FILE.lock`).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
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
    /// Unix seconds when the wallet first asked the server to agree: the
    /// session cannot have become active before, so time debt is counted
    /// from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_from: Option<i64>,
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
        let bytes = read_no_follow(path).map_err(|source| io(path, source))?;
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
/// new, never a mix: a temporary file of a fresh name in the same directory
/// (created exclusively, so nothing already there is reused or followed),
/// mode 0600, fsync, rename over `path`, fsync of the directory. A `path`
/// that is a symlink is refused, not replaced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    refuse_symlink(path)?;
    let (tmp, mut f) = create_temporary(path)?;
    let written = (|| {
        // Exactly 0600, whatever the umask or an earlier file was.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        // rename replaces a symlink planted since rather than follow it.
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(directory(path)).and_then(|d| d.sync_all())
}

/// The directory `path` is in.
fn directory(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A new file `.NAME.RANDOM.tmp` beside `path`, mode 0600, created with
/// O_CREAT|O_EXCL: it cannot be a file or symlink that was there before.
fn create_temporary(path: &Path) -> std::io::Result<(PathBuf, File)> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut nonce = [0u8; 8];
    getrandom::getrandom(&mut nonce).map_err(std::io::Error::other)?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{}.tmp", hex::encode(nonce)));
    let tmp = directory(path).join(tmp);
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    Ok((tmp, f))
}

/// An error if `path` is a symlink (a missing `path` is fine).
fn refuse_symlink(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(symlink()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The contents of `path`, never read through a symlink.
pub fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_no_follow(path, OpenOptions::new().read(true))?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Open `path` with `options` without following a symlink at it: std has
/// no O_NOFOLLOW, so the file opened must be the very file (device and
/// inode) that `path` named, as no symlink, just before.
fn open_no_follow(path: &Path, options: &OpenOptions) -> std::io::Result<File> {
    let named = fs::symlink_metadata(path)?;
    if named.file_type().is_symlink() {
        return Err(symlink());
    }
    let f = options.open(path)?;
    let opened = f.metadata()?;
    if (opened.dev(), opened.ino()) != (named.dev(), named.ino()) {
        return Err(symlink());
    }
    Ok(f)
}

fn symlink() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "a symbolic link (or replaced while opened); the wallet follows no links",
    )
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
    let name = PathBuf::from(name);
    let f = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&name)
    {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            open_no_follow(&name, OpenOptions::new().write(true))
        }
        opened => opened,
    }
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
        w.update(|f| f.mandate.per_session = Drops::new(5)).unwrap();
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
        assert_eq!(w.file().mandate.per_session, Drops::new(5));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let _ = fs::remove_dir_all(&d);
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// Whatever an older drip's fixed temporary name (`wallet.tmp`) holds
    /// (a symlink to another file, a world-readable file), a write neither
    /// follows nor reuses it.
    #[test]
    fn a_planted_temporary_file_is_neither_followed_nor_reused() {
        let d = dir("planted");
        let path = d.join("wallet.json");
        let victim = d.join("victim");
        fs::write(&victim, "victim").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("wallet.tmp")).unwrap();
        write_atomic(&path, b"{}").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"victim");
        assert!(!fs::symlink_metadata(&path).unwrap().is_symlink());
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        assert_eq!(mode(&path), 0o600);

        fs::remove_file(d.join("wallet.tmp")).unwrap();
        fs::write(d.join("wallet.tmp"), "old").unwrap();
        fs::set_permissions(d.join("wallet.tmp"), fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"[]").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"[]");
        assert_eq!(mode(&path), 0o600);
        let _ = fs::remove_dir_all(&d);
    }

    /// A wallet file that is a symlink is neither written through (nor
    /// replaced) nor read.
    #[test]
    fn a_symlinked_wallet_is_refused() {
        let d = dir("symlink");
        let real = d.join("real.json");
        let path = d.join("wallet.json");
        drop(Wallet::create(&real, KeyType::Ed25519, None).unwrap());
        let before = fs::read(&real).unwrap();
        std::os::unix::fs::symlink(&real, &path).unwrap();
        assert!(write_atomic(&path, b"{}").is_err());
        assert!(fs::symlink_metadata(&path).unwrap().is_symlink());
        assert_eq!(fs::read(&real).unwrap(), before);
        assert!(matches!(Wallet::open(&path), Err(StoreError::Io { .. })));
        let _ = fs::remove_dir_all(&d);
    }

    /// Every write leaves the file 0600 (even one a user opened up) and no
    /// temporary file behind.
    #[test]
    fn every_write_leaves_the_file_private_and_nothing_else() {
        let d = dir("private");
        let path = d.join("wallet.json");
        let mut w = Wallet::create(&path, KeyType::Ed25519, None).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        w.update(|f| f.mandate.per_session = Drops::new(7)).unwrap();
        assert_eq!(mode(&path), 0o600);
        let mut names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["wallet.json", "wallet.json.lock"]);
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
