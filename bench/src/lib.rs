//! Shared inputs for drip's benchmarks: a valid claim of each key type, made
//! from fixed seeds so every run measures the same work; and [`stats`], the
//! pay benchmarks' statistics.

pub mod stats;

use drip_core::claim::sign_claim;
use drip_core::{ChannelId, Drops, Hash256, KeyType, Seed};

/// A signed claim, as raw bytes (the shape SQL receives).
#[derive(Debug, Clone)]
pub struct RawClaim {
    /// 32-byte channel id.
    pub channel: ChannelId,
    /// Amount in drops.
    pub amount: Drops,
    /// Signature bytes.
    pub signature: Vec<u8>,
    /// 33-byte public key.
    pub public_key: [u8; 33],
}

/// A valid claim for 1,000,000 drops made with `key_type`.
pub fn claim(key_type: KeyType) -> RawClaim {
    let pair = Seed::from_entropy([0x42; 16], key_type)
        .key_pair()
        .unwrap_or_else(|e| unreachable!("fixed seed derives: {e}"));
    let channel = Hash256([0x5D; 32]);
    let amount = Drops::new(1_000_000);
    RawClaim {
        channel,
        amount,
        signature: sign_claim(&pair, &channel, amount),
        public_key: *pair.public_key().as_bytes(),
    }
}

/// A connection to `url` (its driver runs in a task).
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// A database of its own for one benchmark, in the cluster of
/// `DRIP_DATABASE_URL` (a superuser URL), made afresh and dropped by
/// [`BenchDb::drop_database`].
#[derive(Debug)]
pub struct BenchDb {
    /// The benchmark database's URL.
    pub url: String,
    name: String,
    admin: tokio_postgres::Client,
}

impl BenchDb {
    /// Make database `name` (dropping a leftover one first).
    pub async fn create(name: &str) -> anyhow::Result<BenchDb> {
        use anyhow::Context as _;
        let base = std::env::var("DRIP_DATABASE_URL").context("DRIP_DATABASE_URL")?;
        let admin = connect(&base).await?;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let (server, _) = base
            .rsplit_once('/')
            .context("DRIP_DATABASE_URL has no database")?;
        Ok(BenchDb {
            url: format!("{server}/{name}"),
            name: name.to_owned(),
            admin,
        })
    }

    /// Drop the database, whoever is still connected.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        self.admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await?;
        Ok(())
    }
}
