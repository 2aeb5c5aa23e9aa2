//! The rules the JavaScript `ilp-plugin-xrp-asym-server` 1.8.1 and
//! `-client` 1.6.0 agree on, as pure functions: account names, key and
//! token derivations, the channel-ownership proof (with Node's lenient
//! base64 reading of the ILP address), the claim JSON, and the rounding of
//! base units to drops.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use drip_core::{Drops, Hash256};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// BTP sub-protocol names.
pub mod protocol {
    /// Channel details, before and after channels exist.
    pub const INFO: &str = "info";
    /// The client's channel id (32 bytes), with `channel_signature`.
    pub const CHANNEL: &str = "channel";
    /// The ownership proof for `channel`.
    pub const CHANNEL_SIGNATURE: &str = "channel_signature";
    /// Ask the server to open a channel back to the client.
    pub const FUND_CHANNEL: &str = "fund_channel";
    /// The best claim the server holds.
    pub const LAST_CLAIM: &str = "last_claim";
    /// A claim, in a Transfer.
    pub const CLAIM: &str = "claim";
    /// An ILPv4 packet.
    pub const ILP: &str = "ilp";
    /// BTP authentication.
    pub const AUTH: &str = "auth";
    /// The token of `auth`.
    pub const AUTH_TOKEN: &str = "auth_token";
    /// The user name of `auth` (the JS client sends '').
    pub const AUTH_USERNAME: &str = "auth_username";
}

/// The smallest incoming channel the server answers `fund_channel` for, and
/// the settle delay both sides require (seconds).
pub const MIN_SETTLE_DELAY: u32 = 3600;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 with `key` (the JS plugins key with the secret's text).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().into()
        }
        // HMAC takes keys of every length.
        Err(_) => unreachable!("HMAC refused a key"),
    }
}

/// A server account's name: `base64url(sha256(auth_token))`, unpadded (43
/// characters).
pub fn account_name(auth_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(auth_token.as_bytes()))
}

/// The Ed25519 secret of the server's channel to `account`:
/// `HMAC(server_secret, "ilp-plugin-multi-xrp-paychan-channel-keys" ‖ account)`.
pub fn server_channel_secret(server_secret: &str, account: &str) -> [u8; 32] {
    hmac_sha256(
        server_secret.as_bytes(),
        format!("ilp-plugin-multi-xrp-paychan-channel-keys{account}").as_bytes(),
    )
}

/// The Ed25519 secret of the client's channel key:
/// `HMAC(xrp_secret, "ilp-plugin-xrp-stateless" ‖ server_address)`.
pub fn client_channel_secret(xrp_secret: &str, server_address: &str) -> [u8; 32] {
    hmac_sha256(
        xrp_secret.as_bytes(),
        format!("ilp-plugin-xrp-stateless{server_address}").as_bytes(),
    )
}

/// The client's token when its server URL carries none: hex of
/// `HMAC(HMAC("parent_btp_uri", host ‖ username), xrp_secret)`, where `host`
/// includes the port.
pub fn default_client_token(host: &str, username: &str, xrp_secret: &str) -> String {
    let key = hmac_sha256(b"parent_btp_uri", format!("{host}{username}").as_bytes());
    hex::encode(hmac_sha256(&key, xrp_secret.as_bytes()))
}

/// Node's legacy `Buffer.from(s, 'base64')`: both alphabets (`+/` and
/// `-_`), characters outside them skipped, stop at the first `=`; a final
/// group of 2 characters gives 1 byte, of 3 gives 2, of 1 nothing.
pub fn node_base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 2);
    let mut acc = 0u32;
    let mut n = 0u8;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&acc.to_be_bytes()[1..]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4).to_be_bytes()[3]),
        3 => out.extend_from_slice(&(acc >> 2).to_be_bytes()[2..]),
        _ => {}
    }
    out
}

/// The message a client signs to prove it owns a channel:
/// `"channel_signature" ‖ channel id ‖ base64-decoded(full ILP address)`,
/// the address read the way Node reads base64.
pub fn ownership_message(channel: &Hash256, ilp_address: &str) -> Vec<u8> {
    [
        b"channel_signature".as_slice(),
        &channel.0,
        &node_base64_decode(ilp_address),
    ]
    .concat()
}

/// A claim as the plugins send it in a `claim` Transfer: the cumulative
/// amount in base units (a decimal string) and the signature in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimJson {
    /// Cumulative, in the asset's base units.
    pub amount: String,
    /// Hex (the client writes upper case, the server lower).
    pub signature: String,
}

/// Why an amount cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The asset scale is beyond what u64 amounts can use.
    #[error("asset scale {0} is not supported (0 to 19)")]
    Scale(u8),
    /// The converted amount does not fit.
    #[error("amount overflows")]
    Overflow,
}

fn pow10(exp: u8) -> Result<u64, AmountError> {
    10u64
        .checked_pow(u32::from(exp))
        .ok_or(AmountError::Scale(exp))
}

/// Base units at `scale` to drops, rounding up (`xrpToDrops(baseToXrp(x))`
/// in the plugins: a fraction of a drop costs a whole one).
pub fn base_to_drops(amount: u64, scale: u8) -> Result<Drops, AmountError> {
    if scale > 19 {
        return Err(AmountError::Scale(scale));
    }
    if scale <= 6 {
        return amount
            .checked_mul(pow10(6 - scale)?)
            .map(Drops::new)
            .ok_or(AmountError::Overflow);
    }
    let unit = pow10(scale - 6)?;
    Ok(Drops::new(amount.div_ceil(unit)))
}

/// Drops to base units at `scale`.
pub fn drops_to_base(drops: Drops, scale: u8) -> Result<u64, AmountError> {
    if scale > 19 {
        return Err(AmountError::Scale(scale));
    }
    if scale >= 6 {
        return drops
            .get()
            .checked_mul(pow10(scale - 6)?)
            .ok_or(AmountError::Overflow);
    }
    Ok(drops.get() / pow10(6 - scale)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn account_names_are_43_characters() {
        let n = account_name("secret-token");
        assert_eq!(n.len(), 43);
        assert!(!n.contains(['+', '/', '=']));
    }

    #[test]
    fn rounding_as_the_plugins_do() {
        // The server's tests: scale 9, 990 then 100 more → 2 drops; scale 2.
        assert_eq!(base_to_drops(1090, 9), Ok(Drops::new(2)));
        assert_eq!(base_to_drops(1090, 2), Ok(Drops::new(10_900_000)));
        assert_eq!(base_to_drops(5, 6), Ok(Drops::new(5)));
        assert_eq!(base_to_drops(0, 9), Ok(Drops::new(0)));
        assert_eq!(base_to_drops(u64::MAX, 0), Err(AmountError::Overflow));
        assert_eq!(base_to_drops(1, 20), Err(AmountError::Scale(20)));
        assert_eq!(drops_to_base(Drops::new(2), 9), Ok(2000));
        assert_eq!(drops_to_base(Drops::new(10_900_000), 2), Ok(1090));
    }

    #[test]
    fn node_base64() {
        assert_eq!(node_base64_decode("aGVsbG8="), b"hello");
        assert_eq!(node_base64_decode("aGVsbG8"), b"hello");
        assert_eq!(node_base64_decode("aGV.sb~G8"), b"hello");
        assert_eq!(node_base64_decode("ab-_"), node_base64_decode("ab+/"));
        assert_eq!(node_base64_decode("aGVs=bG8"), b"hel");
        assert_eq!(node_base64_decode("a"), b"");
    }

    proptest! {
        #[test]
        fn base64_of_standard_input_decodes_as_the_standard_does(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
            prop_assert_eq!(node_base64_decode(&STANDARD.encode(&data)), data.clone());
            prop_assert_eq!(node_base64_decode(&URL_SAFE_NO_PAD.encode(&data)), data);
        }

        #[test]
        fn whole_drops_round_trip(drops in 0u64..=100_000_000_000_000_000, scale in 0u8..=9) {
            let base = drops_to_base(Drops::new(drops), scale);
            if let Ok(base) = base {
                if scale >= 6 {
                    prop_assert_eq!(base_to_drops(base, scale), Ok(Drops::new(drops)));
                }
            }
        }
    }
}
