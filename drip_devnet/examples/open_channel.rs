//! Opens a payment channel on a running devnet over JSON-RPC and signs a
//! claim on it: what `./dev demo` feeds to `drip.verify_claim` in PostgreSQL.
//!
//! cargo run -p drip_devnet --example open_channel -- http://127.0.0.1:5005/
//!
//! Prints progress, then one line `claim CHANNEL DROPS SIGNATURE PUBLIC_KEY`
//! (hex) for scripts.

use anyhow::{bail, Context as _};
use drip_core::claim::sign_claim;
use drip_core::{codec, tx, Drops, KeyPair, KeyType, Seed};
use drip_devnet::ledger::chain::GENESIS_SEED;
use serde_json::{json, Value as Json};

struct Rpc {
    url: String,
    http: reqwest::Client,
}

impl Rpc {
    async fn call(&self, method: &str, params: Json) -> anyhow::Result<Json> {
        let body = json!({"method": method, "params": [params]});
        let r: Json = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        let result = r["result"].clone();
        if result["status"] != "success" {
            bail!("{method} failed: {result}");
        }
        Ok(result)
    }

    /// Autofill Sequence and Fee, sign, submit, close a ledger, and return the
    /// validated transaction.
    async fn submit(&self, key: &KeyPair, mut fields: Json) -> anyhow::Result<Json> {
        let account = key.account_id().to_address();
        let info = self
            .call("account_info", json!({"account": account}))
            .await?;
        let fee = self.call("fee", json!({})).await?;
        let m = fields.as_object_mut().context("fields are an object")?;
        m.insert("Account".into(), json!(account));
        m.insert("Sequence".into(), info["account_data"]["Sequence"].clone());
        m.insert("Fee".into(), fee["drops"]["open_ledger_fee"].clone());
        let mut obj = codec::from_json(&fields)?;
        let signed = tx::sign(&mut obj, key)?;
        let r = self
            .call(
                "submit",
                json!({"tx_blob": hex::encode_upper(&signed.blob)}),
            )
            .await?;
        if r["engine_result"] != "tesSUCCESS" {
            bail!("{} → {}", fields["TransactionType"], r["engine_result"]);
        }
        self.call("ledger_accept", json!({})).await?;
        self.call("tx", json!({"transaction": signed.hash.to_string()}))
            .await
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .context("usage: open_channel RPC_URL")?;
    let rpc = Rpc {
        url,
        http: reqwest::Client::new(),
    };
    let genesis = GENESIS_SEED.parse::<Seed>()?.key_pair()?;
    let mut entropy = [0u8; 16];
    getrandom::getrandom(&mut entropy)?;
    let payer = Seed::from_entropy(entropy, KeyType::Ed25519).key_pair()?;
    getrandom::getrandom(&mut entropy)?;
    let merchant = Seed::from_entropy(entropy, KeyType::Secp256k1).key_pair()?;

    for (who, key, xrp) in [("payer", &payer, 100u64), ("merchant", &merchant, 20)] {
        let amount = Drops::from_xrp(xrp).context("amount")?;
        rpc.submit(
            &genesis,
            json!({"TransactionType": "Payment",
            "Destination": key.account_id().to_address(), "Amount": amount.to_string()}),
        )
        .await?;
        println!("funded the {who} {} with {xrp} XRP", key.account_id());
    }
    let created = rpc
        .submit(
            &payer,
            json!({"TransactionType": "PaymentChannelCreate",
            "Destination": merchant.account_id().to_address(), "Amount": "25000000",
            "SettleDelay": 3600, "PublicKey": payer.public_key().to_hex()}),
        )
        .await?;
    let channel = created["meta"]["AffectedNodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|n| {
            let c = n.get("CreatedNode")?;
            (c["LedgerEntryType"] == "PayChannel").then(|| c["LedgerIndex"].as_str())?
        })
        .context("no PayChannel in the create's metadata")?
        .parse()?;
    println!(
        "opened channel {channel}: 25 XRP, settle delay 1 hour, validated in ledger {}",
        created["ledger_index"]
    );
    let amount = Drops::new(1_250_000);
    let signature = sign_claim(&payer, &channel, amount);
    println!("the payer signed a claim for {amount} drops");
    println!(
        "claim {} {} {} {}",
        hex::encode_upper(channel.as_bytes()),
        amount,
        hex::encode_upper(&signature),
        payer.public_key().to_hex()
    );
    Ok(())
}
