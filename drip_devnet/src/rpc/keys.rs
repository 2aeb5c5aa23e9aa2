//! Methods that sign or check with keys: `channel_authorize` and
//! `channel_verify` (payment-channel claims), `wallet_propose`.

use drip_core::claim::{claim_message, sign_claim};
use drip_core::{Drops, Hash256, KeyType, PublicKey, Seed};
use serde_json::{json, Value as Json};

use super::{Result, RpcError};

fn channel_id_param(params: &Json) -> Result<Hash256> {
    params
        .get("channel_id")
        .and_then(Json::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(RpcError::channel_malformed)
}

fn amount_param(params: &Json) -> Result<Drops> {
    params
        .get("amount")
        .and_then(Json::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(RpcError::channel_amt_malformed)
}

fn seed_param(params: &Json) -> Result<Seed> {
    let key_type = match params.get("key_type") {
        None => None,
        Some(k) => Some(
            k.as_str()
                .and_then(|s| s.parse::<KeyType>().ok())
                .ok_or_else(RpcError::bad_key_type)?,
        ),
    };
    let secret = params
        .get("secret")
        .or_else(|| params.get("seed"))
        .and_then(Json::as_str);
    if let Some(s) = secret {
        let seed: Seed = s.parse().map_err(|_| RpcError::bad_seed())?;
        // An explicit key type overrides the seed's encoding, as rippled does.
        return Ok(match key_type {
            Some(kt) => Seed::from_entropy(*seed.entropy(), kt),
            None => seed,
        });
    }
    if let Some(h) = params.get("seed_hex").and_then(Json::as_str) {
        let mut entropy = [0u8; 16];
        hex::decode_to_slice(h, &mut entropy).map_err(|_| RpcError::bad_seed())?;
        return Ok(Seed::from_entropy(
            entropy,
            key_type.unwrap_or(KeyType::Secp256k1),
        ));
    }
    Err(RpcError::invalid_params("Missing field 'secret'."))
}

pub(super) fn channel_authorize(params: &Json) -> Result<Json> {
    let seed = seed_param(params)?;
    let channel = channel_id_param(params)?;
    let amount = amount_param(params)?;
    let key = seed.key_pair().map_err(|_| RpcError::bad_seed())?;
    Ok(json!({"signature": hex::encode_upper(sign_claim(&key, &channel, amount))}))
}

pub(super) fn channel_verify(params: &Json) -> Result<Json> {
    let key_str = params
        .get("public_key")
        .and_then(Json::as_str)
        .ok_or_else(RpcError::public_malformed)?;
    let key = PublicKey::from_hex(key_str)
        .or_else(|_| PublicKey::from_base58(key_str))
        .map_err(|_| RpcError::public_malformed())?;
    let channel = channel_id_param(params)?;
    let amount = amount_param(params)?;
    let sig = params
        .get("signature")
        .and_then(Json::as_str)
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| RpcError::invalid_params("Invalid field 'signature'."))?;
    let ok = key.verify(&claim_message(&channel, amount), &sig).is_ok();
    Ok(json!({"signature_verified": ok}))
}

pub(super) fn wallet_propose(params: &Json) -> Result<Json> {
    let seed = match seed_param(params) {
        Ok(seed) => seed,
        Err(e) if e.token == "invalidParams" => {
            let kt = match params.get("key_type") {
                None => KeyType::Secp256k1,
                Some(k) => k
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(RpcError::bad_key_type)?,
            };
            let mut entropy = [0u8; 16];
            getrandom::getrandom(&mut entropy).map_err(|_| RpcError::internal())?;
            Seed::from_entropy(entropy, kt)
        }
        Err(e) => return Err(e),
    };
    let key = seed.key_pair().map_err(|_| RpcError::bad_seed())?;
    Ok(json!({
        "account_id": key.account_id().to_address(),
        "key_type": key.key_type().as_str(),
        "master_seed": seed.encode(),
        "master_seed_hex": hex::encode_upper(seed.entropy()),
        "public_key": key.public_key().to_base58(),
        "public_key_hex": key.public_key().to_hex(),
    }))
}
