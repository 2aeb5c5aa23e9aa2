//! The wallet's file: its account seed, the user's mandate, the server key
//! pinned per site, and per session the channel, its key and the best claim
//! signed. Every change is written atomically (a fresh temporary file,
//! fsync, rename, fsync of the directory) before the wallet acts on it, so
//! a crash at any point leaves either the old state or the new, and a
//! restarted wallet never signs below a claim it already gave out.
//!
//! The file holds secrets: every write leaves it mode 0600, one readable by
//! others is refused, a symlink, FIFO or device in its place (or the
//! lock's) is refused rather than followed or waited on, one process at a
//! time holds it (an exclusive lock on `FILE.lock`), and the holder removes
//! the temporary copies a crashed writer left.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use drip_core::proposal::Proposal;
use drip_core::{Drops, Hash256, KeyPair, KeyType, Seed};
use rustix::fs::{Mode, OFlags};
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
    /// The file's mode lets others read (or write) the seed.
    #[error(
        "wallet file {path} has mode {mode:03o}, open to other users; \
         run `chmod 600 {path}` (and move the account's XRP if others could read it)"
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
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
    /// Per origin (`https://host:port`): the channel its HTTP 402 routes
    /// are paid on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub http_channels: BTreeMap<String, crate::fetch::HttpChannel>,
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
    /// Unix seconds when the wallet asked the server to agree (the first
    /// time, or again after a definite no): the session cannot have become
    /// active before, so time debt is counted from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_from: Option<i64>,
    /// Refreshes the server took, each funding as much as the create.
    #[serde(default)]
    pub refreshes: u32,
    /// No more refreshes: the server refused one, or offered one the
    /// wallet refused, or a fund failed on the ledger.
    #[serde(default)]
    pub refresh_stopped: bool,
    /// The session ended and its channel closed.
    #[serde(default)]
    pub closed: bool,
}

impl SessionRecord {
    /// The best claim's amount (0 before the first).
    pub fn best_amount(&self) -> Drops {
        self.best.as_ref().map_or(Drops::ZERO, |c| c.amount)
    }

    /// What the channel holds by agreement: the create's funding, and as
    /// much again for each refresh the server took.
    pub fn funded(&self) -> Drops {
        self.proposal
            .channel_funding
            .checked_mul(u64::from(self.refreshes).saturating_add(1))
            .unwrap_or(Drops::MAX)
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
                http_channels: BTreeMap::new(),
            },
            _lock: lock,
        };
        wallet.account()?;
        wallet.save()?;
        Ok(wallet)
    }

    /// Open the wallet at `path`: a regular file, mode 0600 (or stricter).
    pub fn open(path: &Path) -> Result<Wallet, StoreError> {
        let lock = lock(path)?;
        let mut f = open_no_follow(path, OFlags::RDONLY).map_err(|source| io(path, source))?;
        let mode = f
            .metadata()
            .map_err(|source| io(path, source))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(StoreError::Exposed {
                path: path.to_owned(),
                mode,
            });
        }
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|source| io(path, source))?;
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

/// The contents of `path`, a regular file, never read through a symlink.
pub fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_no_follow(path, OFlags::RDONLY)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Open `path` (`flags`, and mode 0600 if created) as a regular file: a
/// symlink at it is refused by the open itself (O_NOFOLLOW, no window for
/// a swap), and O_NONBLOCK keeps a FIFO from stalling the open for ever;
/// whatever is not a regular file is then refused.
fn open_no_follow(path: &Path, flags: OFlags) -> std::io::Result<File> {
    let fd = rustix::fs::open(
        path,
        flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP => symlink(),
        e => e.into(),
    })?;
    let f = File::from(fd);
    if !f.metadata()?.file_type().is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or directory); the wallet reads only files",
        ));
    }
    Ok(f)
}

fn symlink() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "a symbolic link; the wallet follows no links",
    )
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Hold `FILE.lock` exclusively for as long as the returned file lives;
/// holding it, remove what crashed writers left.
fn lock(path: &Path) -> Result<File, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let f = open_no_follow(Path::new(&name), OFlags::WRONLY | OFlags::CREATE)
        .map_err(|source| io(path, source))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Busy(path.to_owned())),
        Err(fs::TryLockError::Error(source)) => return Err(io(path, source)),
    }
    remove_stale_temporaries(path).map_err(|source| io(path, source))?;
    Ok(f)
}

/// Remove the temporary files `write_atomic` made for `path` and never
/// renamed (the writer died): each is a whole copy of the file, seed
/// included. Only names it makes (`.NAME.` 16 hex digits `.tmp`) are
/// touched, and only under the lock, when no writer of this wallet is
/// between creating one and renaming it.
fn remove_stale_temporaries(path: &Path) -> std::io::Result<()> {
    let Some(name) = path.file_name() else {
        return Ok(());
    };
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    for entry in fs::read_dir(directory(path))? {
        let entry = entry?;
        let stale = entry
            .file_name()
            .as_bytes()
            .strip_prefix(prefix.as_bytes())
            .and_then(|rest| rest.strip_suffix(b".tmp"))
            .is_some_and(|nonce| nonce.len() == 16 && nonce.iter().all(u8::is_ascii_hexdigit));
        if stale {
            match fs::remove_file(entry.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
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
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            assert!(matches!(
                Wallet::open(&path),
                Err(StoreError::Corrupt { .. })
            ));
        }
        let _ = fs::remove_dir_all(&d);
    }

    /// `f` on its own thread: its result, or a failure after 5 s (an open
    /// that blocks for ever).
    fn within_5s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(5))
            .expect("the open blocked")
    }

    fn mkfifo(path: &Path) {
        rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::from_raw_mode(0o600)).unwrap();
    }

    /// A FIFO (or a directory) where the wallet or its lock should be is
    /// refused at once: opening a FIFO nobody writes to would wait for ever.
    #[test]
    fn a_fifo_in_place_of_the_wallet_or_its_lock_is_refused_at_once() {
        let d = dir("fifo");
        let path = d.join("wallet.json");
        mkfifo(&path);
        let p = path.clone();
        let opened = within_5s(move || Wallet::open(&p));
        assert!(matches!(&opened, Err(StoreError::Io { .. })), "{opened:?}");
        fs::remove_file(&path).unwrap();

        drop(Wallet::create(&path, KeyType::Ed25519, None).unwrap());
        mkfifo(&d.join("wallet.json.lock.tmp"));
        fs::rename(d.join("wallet.json.lock.tmp"), d.join("wallet.json.lock")).unwrap();
        let p = path.clone();
        let opened = within_5s(move || Wallet::open(&p));
        assert!(matches!(&opened, Err(StoreError::Io { .. })), "{opened:?}");
        fs::remove_file(d.join("wallet.json.lock")).unwrap();

        let other = d.join("dir.json");
        fs::create_dir(&other).unwrap();
        assert!(matches!(Wallet::open(&other), Err(StoreError::Io { .. })));
        let _ = fs::remove_dir_all(&d);
    }

    /// A wallet file others may read is refused, saying how to fix it.
    #[test]
    fn a_wallet_open_to_others_is_refused() {
        let d = dir("exposed");
        let path = d.join("wallet.json");
        drop(Wallet::create(&path, KeyType::Ed25519, None).unwrap());
        for mode in [0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let e = Wallet::open(&path).unwrap_err();
            assert!(matches!(e, StoreError::Exposed { mode: m, .. } if m == mode));
            assert!(e.to_string().contains("chmod 600"), "{e}");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(Wallet::open(&path).is_ok(), "stricter than 0600 is fine");
        let _ = fs::remove_dir_all(&d);
    }

    /// The temporary copies a writer killed before its rename left (each
    /// holds the seed) are removed by the next process to hold the wallet;
    /// not while another holds it, and nothing that is not one of them.
    #[test]
    fn a_crashed_writers_temporary_files_are_removed_on_open() {
        let d = dir("stale");
        let path = d.join("wallet.json");
        let held = Wallet::create(&path, KeyType::Ed25519, None).unwrap();
        let victim = d.join("victim");
        fs::write(&victim, "victim").unwrap();
        let stale = [
            ".wallet.json.0123456789abcdef.tmp",
            ".wallet.json.fedcba9876543210.tmp",
        ];
        fs::write(d.join(stale[0]), fs::read(&path).unwrap()).unwrap();
        std::os::unix::fs::symlink(&victim, d.join(stale[1])).unwrap();
        let kept = [
            ".wallet.json.notes.tmp",
            ".other.json.0123456789abcdef.tmp",
            "wallet.json.0123456789abcdef.tmp",
        ];
        for k in kept {
            fs::write(d.join(k), "").unwrap();
        }
        assert!(matches!(Wallet::open(&path), Err(StoreError::Busy(_))));
        assert!(
            fs::symlink_metadata(d.join(stale[0])).is_ok(),
            "not while held"
        );
        drop(held);
        drop(Wallet::open(&path).unwrap());
        let mut names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut expected = vec!["victim", "wallet.json", "wallet.json.lock"];
        expected.extend(kept);
        expected.sort();
        assert_eq!(names, expected);
        assert_eq!(fs::read(&victim).unwrap(), b"victim");
        let _ = fs::remove_dir_all(&d);
    }
}
