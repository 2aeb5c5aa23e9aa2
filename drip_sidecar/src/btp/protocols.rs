//! The asymmetric plugin's sub-protocols: `info`, `last_claim`, `channel`
//! with its ownership proof, `fund_channel`, `ilp` (in Messages) and
//! `claim` (in Transfers).

use std::sync::Arc;

use drip_core::time::ripple_to_system;
use drip_core::{Hash256, PublicKey};
use drip_ilp::asym::{self, protocol, ClaimJson};
use drip_ilp::btp::{self, find, ProtocolData};
use serde_json::json;

use super::failure::{bound, Failure};
use super::{outgoing, packets, Login, Server};
use crate::engine::{ilp, OutgoingState, Reason};

type Reply = Result<Vec<ProtocolData>, Failure>;

/// A Message: `last_claim` and `info` answer at once; otherwise `channel`,
/// then `fund_channel`, then `ilp`, in the original's order. Until the
/// socket is bound to its account (its `channel` binds it), only `info`,
/// `channel` and IL-DCP are answered.
pub(super) async fn message(server: &Arc<Server>, login: &Login, pd: Vec<ProtocolData>) -> Reply {
    let account = login.account.as_str();
    if find(&pd, protocol::LAST_CLAIM).is_some() {
        bound(login)?;
        return last_claim(server, account).await;
    }
    if find(&pd, protocol::INFO).is_some() {
        return info(server, login).await;
    }
    let mut reply = Vec::new();
    if let Some(channel) = find(&pd, protocol::CHANNEL) {
        let proof = find(&pd, protocol::CHANNEL_SIGNATURE).map(|p| p.data.as_slice());
        self::channel(server, login, &channel.data, proof).await?;
    }
    if let Some(address) = find(&pd, protocol::FUND_CHANNEL) {
        bound(login)?;
        let id = outgoing::fund_channel(server, account, &address.data).await?;
        reply.push(ProtocolData::new(
            protocol::FUND_CHANNEL,
            btp::OCTET_STREAM,
            id.0.to_vec(),
        ));
    }
    if let Some(ilp) = find(&pd, protocol::ILP) {
        let answer = packets::from_client(server, login, &ilp.data).await?;
        reply.push(ProtocolData::new(protocol::ILP, btp::OCTET_STREAM, answer));
    }
    Ok(reply)
}

/// A Transfer: its `claim` is checked and kept before the answer.
pub(super) async fn transfer(server: &Server, login: &Login, pd: Vec<ProtocolData>) -> Reply {
    bound(login)?;
    let Some(claim) = find(&pd, protocol::CLAIM) else {
        return Ok(vec![]);
    };
    let claim: ClaimJson = serde_json::from_slice(&claim.data)
        .map_err(|e| Failure::invalid_fields(format!("claim: {e}")))?;
    let amount: u64 = claim
        .amount
        .parse()
        .map_err(|_| Failure::invalid_fields("claim amount is not a base-unit integer"))?;
    let drops = asym::base_to_drops(amount, server.config.asset_scale)
        .map_err(|e| Failure::invalid_fields(format!("claim amount: {e}")))?;
    let signature = hex::decode(&claim.signature)
        .map_err(|_| Failure::invalid_fields("claim signature is not hex"))?;
    let drops = i64::try_from(drops.get())
        .map_err(|_| Failure::invalid_fields("claim amount out of range"))?;
    if drops == 0 {
        return Err(Failure::invalid_fields("a claim pays at least one drop"));
    }
    let reason = server
        .claims
        .keep(&login.account, drops, signature)
        .await
        .map_err(Failure::internal)?;
    match reason {
        // Kept; or no higher than the best: ignored, as the original does.
        None | Some(Reason::NotAboveBest) => Ok(vec![]),
        Some(Reason::Malformed) => Err(Failure::invalid_fields("claim signature is malformed")),
        Some(r) => Err(Failure::not_accepted(format!("claim refused: {r}"))),
    }
}

struct Account {
    channel: Option<Hash256>,
    channel_amount: i64,
    best: i64,
    signature: Option<Vec<u8>>,
    ledger_balance: i64,
}

async fn account(server: &Server, account: &str) -> Result<Account, Failure> {
    let client = server.pool.get().await.map_err(Failure::internal)?;
    let a = ilp::ilp_account(&client, account)
        .await
        .map_err(Failure::internal)?;
    Ok(Account {
        channel: a
            .channel_id
            .and_then(|c| <[u8; 32]>::try_from(c).ok())
            .map(Hash256),
        channel_amount: a.channel_amount.unwrap_or(0),
        best: a.best_claim.unwrap_or(0),
        signature: a.best_signature,
        ledger_balance: a.ledger_balance.unwrap_or(0),
    })
}

fn json_reply(name: &str, v: &serde_json::Value) -> Vec<ProtocolData> {
    vec![ProtocolData::new(name, btp::JSON, v.to_string())]
}

fn base_units(server: &Server, drops: i64) -> Result<String, Failure> {
    let drops = drip_core::Drops::new(u64::try_from(drops).map_err(Failure::internal)?);
    asym::drops_to_base(drops, server.config.asset_scale)
        .map(|b| b.to_string())
        .map_err(Failure::internal)
}

/// The server's address and the client's; its channels only once the
/// socket is bound to the account.
async fn info(server: &Server, login: &Login) -> Reply {
    let account = login.account.as_str();
    let mut info = json!({
        "address": server.wallet,
        "account": server.client_address(account),
        "currencyScale": server.config.asset_scale,
    });
    if !login.bound() {
        return Ok(json_reply(protocol::INFO, &info));
    }
    let a = self::account(server, account).await?;
    if let Some(c) = a.channel {
        info["channel"] = c.to_string().into();
        info["channelAmount"] = base_units(server, a.channel_amount)?.into();
    }
    if let Some(outgoing::Outgoing {
        channel: Some(c),
        state: Some(OutgoingState::Open),
        ..
    }) = outgoing::outgoing(server, account).await?
    {
        info["clientChannel"] = c.to_string().into();
    }
    Ok(json_reply(protocol::INFO, &info))
}

async fn last_claim(server: &Server, account: &str) -> Reply {
    let a = self::account(server, account).await?;
    // The ledger paid more than drip's best claim: only the amount.
    let claim = match a.signature {
        Some(sig) if a.best >= a.ledger_balance => json!({
            "amount": base_units(server, a.best)?,
            "signature": hex::encode(sig),
        }),
        _ => json!({ "amount": base_units(server, a.ledger_balance.max(a.best))? }),
    };
    Ok(json_reply(protocol::LAST_CLAIM, &claim))
}

/// Register (or, for the account's own channel, reload) the client's
/// incoming channel: a new one needs the ownership proof, signed by the
/// channel's key over its id and the client's ILP address. A new account
/// is bound to its token here, with the channel it proved, or not at all;
/// once it is, the socket may act as it.
async fn channel(
    server: &Server,
    login: &Login,
    id: &[u8],
    proof: Option<&[u8]>,
) -> Result<(), Failure> {
    let account = login.account.as_str();
    let id: [u8; 32] = id
        .try_into()
        .map_err(|_| Failure::invalid_fields("channel: 32 bytes expected"))?;
    let id = Hash256(id);
    let known = self::account(server, account).await?.channel == Some(id);
    let entry = server
        .ledger
        .channel(&id)
        .await
        .map_err(Failure::internal)?
        .ok_or_else(|| {
            Failure::not_accepted(format!("channel {id} is not on the validated ledger"))
        })?;
    if !known {
        let proof =
            proof.ok_or_else(|| Failure::invalid_fields("channel_signature is required"))?;
        let key = PublicKey::from_slice(&entry.public_key)
            .map_err(|_| Failure::not_accepted("the channel's key is malformed"))?;
        let message = asym::ownership_message(&id, &server.client_address(account));
        key.verify(&message, proof)
            .map_err(|_| Failure::not_accepted("invalid channel_signature"))?;
    }
    let amount = i64::try_from(entry.amount.get()).map_err(Failure::internal)?;
    let balance = i64::try_from(entry.balance.get()).map_err(Failure::internal)?;
    let settle = i32::try_from(entry.settle_delay).unwrap_or(i32::MAX);
    let min_settle = i32::try_from(server.config.min_settle_delay).unwrap_or(i32::MAX);
    let mut client = server.pool.get().await.map_err(Failure::internal)?;
    // One transaction: an account bound here and a channel then refused
    // leave no row.
    let tx = client.transaction().await.map_err(Failure::internal)?;
    let bound = ilp::ilp_connect(&tx, account, &login.token_hash)
        .await
        .map_err(Failure::internal)?
        .account
        .is_some();
    if !bound {
        return Err(Failure::not_accepted("invalid auth_token"));
    }
    let incoming = ilp::IncomingChannel {
        channel_id: &id.0,
        source: &entry.account.to_address(),
        public_key: &entry.public_key,
        amount,
        settle_delay: settle,
        destination: &entry.destination.to_address(),
        expiration: entry.expiration.map(ripple_to_system),
        cancel_after: entry.cancel_after.map(ripple_to_system),
        ledger_balance: balance,
    };
    let denial = ilp::ilp_open_channel(&tx, account, &incoming, min_settle)
        .await
        .map_err(Failure::internal)?;
    if let Some(d) = denial {
        return Err(Failure::not_accepted(format!("channel refused: {d}")));
    }
    tx.commit().await.map_err(Failure::internal)?;
    server.bind(login);
    Ok(())
}
