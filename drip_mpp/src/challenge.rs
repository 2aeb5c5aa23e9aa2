//! The `Payment` challenge (`WWW-Authenticate`) and its stateless id.
//!
//! The id is `base64url(HMAC-SHA256(key, realm|method|intent|request|expires|digest|opaque))`
//! over the parameters as sent (absent ones are empty slots), so a server
//! recognises its own challenge when a credential echoes it back without
//! storing it, and any change to a bound parameter makes the id wrong.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::problem::ProblemKind;
use crate::request::{RequestError, SessionRequest};
use crate::{base64url, rfc3339, INTENT, METHOD, SCHEME};

type HmacSha256 = Hmac<Sha256>;

/// A `Payment` challenge, as issued or as echoed in a credential. The
/// fields are the auth-params, exactly as they travel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// `id`: the HMAC of the other parameters.
    pub id: String,
    /// `realm`: the protection space.
    pub realm: String,
    /// `method`: `xrpl`.
    pub method: String,
    /// `intent`: `session`.
    pub intent: String,
    /// `request`: base64url of the JCS [`SessionRequest`].
    pub request: String,
    /// `expires`: RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `description`: display only, not bound by the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `digest`: RFC 9530 body digest (never issued here, but bound if echoed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `opaque`: server state (never issued here, but bound if echoed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opaque: Option<String>,
}

/// Why a challenge could not be issued, or an echoed one is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// Issuing: the realm or description is empty or has characters other
    /// than printable ASCII (CR, LF, controls, non-ASCII).
    #[error("challenge {0} must be printable ASCII")]
    InvalidParam(&'static str),
    /// Not for method `xrpl`, intent `session`.
    #[error("challenge is not for method xrpl, intent session")]
    Unsupported,
    /// The id is not the HMAC of the parameters: not issued here, issued
    /// under a retired key, or altered.
    #[error("challenge id is unknown or the challenge was altered")]
    Forged,
    /// Genuine, but `expires` is missing or not RFC 3339.
    #[error("challenge is malformed: {0}")]
    Malformed(&'static str),
    /// Genuine, but its `expires` has passed.
    #[error("challenge has expired")]
    Expired,
}

impl ChallengeError {
    /// The problem type to answer with.
    pub fn problem_kind(self) -> ProblemKind {
        match self {
            ChallengeError::Unsupported => ProblemKind::MethodUnsupported,
            ChallengeError::Expired => ProblemKind::PaymentExpired,
            ChallengeError::InvalidParam(_) => ProblemKind::PaymentRequired,
            ChallengeError::Forged | ChallengeError::Malformed(_) => ProblemKind::InvalidChallenge,
        }
    }
}

/// The longest `WWW-Authenticate` value read.
pub const MAX_HEADER_LEN: usize = 32_768;

/// A token or a quoted-string (`\` escapes the next character), and what
/// follows it.
fn param_value(s: &str) -> Option<(String, &str)> {
    let Some(quoted) = s.strip_prefix('"') else {
        let end = s
            .find(|c: char| c == ',' || c.is_ascii_whitespace())
            .unwrap_or(s.len());
        let (token, rest) = s.split_at(end);
        return (!token.is_empty()).then(|| (token.to_owned(), rest));
    };
    let mut out = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, quoted.get(i.saturating_add(1)..)?)),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

/// Printable ASCII (space to `~`): safe inside a quoted-string.
fn is_printable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// A quoted-string: `"` and `\` escaped; anything but printable ASCII is
/// dropped, so a header never carries CR, LF or controls whatever the
/// fields hold.
fn quote(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars().filter(|c| matches!(c, ' '..='~')) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The keyed HMAC state: the 32-byte key is zero-padded to the 64-byte
/// block, which is what HMAC does with a short key (RFC 2104).
fn keyed(key: &[u8; 32]) -> HmacSha256 {
    let mut block = [0u8; 64];
    for (b, k) in block.iter_mut().zip(key) {
        *b = *k;
    }
    <HmacSha256 as KeyInit>::new(&block.into())
}

impl Challenge {
    /// Issue a challenge for `request` in `realm`, valid until
    /// `expires_unix` (unix seconds), with an optional display
    /// `description` (an empty one is left out).
    pub fn issue(
        key: &[u8; 32],
        realm: &str,
        request: &SessionRequest,
        expires_unix: i64,
        description: Option<&str>,
    ) -> Result<Challenge, ChallengeError> {
        if realm.is_empty() || !is_printable(realm) {
            return Err(ChallengeError::InvalidParam("realm"));
        }
        let description = description.filter(|d| !d.is_empty());
        if description.is_some_and(|d| !is_printable(d)) {
            return Err(ChallengeError::InvalidParam("description"));
        }
        let mut challenge = Challenge {
            id: String::new(),
            realm: realm.to_owned(),
            method: METHOD.to_owned(),
            intent: INTENT.to_owned(),
            request: request.to_base64url(),
            expires: Some(rfc3339::format(expires_unix)),
            description: description.map(str::to_owned),
            digest: None,
            opaque: None,
        };
        challenge.id = base64url::encode(&challenge.mac(key).finalize().into_bytes());
        Ok(challenge)
    }

    /// The HMAC over the seven bound slots.
    fn mac(&self, key: &[u8; 32]) -> HmacSha256 {
        let mut mac = keyed(key);
        let slots = [
            self.realm.as_str(),
            &self.method,
            &self.intent,
            &self.request,
            self.expires.as_deref().unwrap_or_default(),
            self.digest.as_deref().unwrap_or_default(),
            self.opaque.as_deref().unwrap_or_default(),
        ];
        for (i, slot) in slots.iter().enumerate() {
            if i > 0 {
                mac.update(b"|");
            }
            mac.update(slot.as_bytes());
        }
        mac
    }

    /// Whether `id` is the HMAC of the other parameters under `key`
    /// (constant-time).
    fn id_matches(&self, key: &[u8; 32]) -> bool {
        match base64url::decode(&self.id) {
            Ok(id) => self.mac(key).verify_slice(&id).is_ok(),
            Err(_) => false,
        }
    }

    /// The `WWW-Authenticate` value:
    /// `Payment id="…", realm="…", method="xrpl", intent="session", request="…", expires="…"`
    /// (then `description`, quoted with `\"` and `\\`).
    pub fn header_value(&self) -> String {
        let mut out = String::with_capacity(self.request.len().saturating_add(200));
        out.push_str(SCHEME);
        out.push(' ');
        let required = [
            ("id", &self.id),
            ("realm", &self.realm),
            ("method", &self.method),
            ("intent", &self.intent),
            ("request", &self.request),
        ];
        let optional = [
            ("digest", &self.digest),
            ("expires", &self.expires),
            ("description", &self.description),
            ("opaque", &self.opaque),
        ];
        let params = required.into_iter().map(|(n, v)| (n, v.as_str())).chain(
            optional
                .into_iter()
                .filter_map(|(n, v)| v.as_deref().map(|v| (n, v))),
        );
        for (i, (name, value)) in params.enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            quote(&mut out, name, value);
        }
        out
    }

    /// Check a challenge echoed in a credential: it is for `xrpl`/`session`,
    /// its id is the HMAC of its parameters under `key`, and it has not
    /// expired at `now_unix` (it is valid strictly before `expires`).
    pub fn verify(&self, key: &[u8; 32], now_unix: i64) -> Result<(), ChallengeError> {
        self.verify_any(std::slice::from_ref(key), now_unix)
    }

    /// [`verify`](Self::verify) under any of `keys` (the current key and
    /// those retired less than a challenge lifetime ago).
    pub fn verify_any(&self, keys: &[[u8; 32]], now_unix: i64) -> Result<(), ChallengeError> {
        if self.method != METHOD || self.intent != INTENT {
            return Err(ChallengeError::Unsupported);
        }
        if !keys.iter().any(|key| self.id_matches(key)) {
            return Err(ChallengeError::Forged);
        }
        let expires = self
            .expires
            .as_deref()
            .ok_or(ChallengeError::Malformed("expires is missing"))?;
        let expires = rfc3339::parse(expires)
            .map_err(|_| ChallengeError::Malformed("expires is not an RFC 3339 date-time"))?;
        if now_unix >= expires {
            return Err(ChallengeError::Expired);
        }
        Ok(())
    }

    /// The first `Payment` challenge of a `WWW-Authenticate` value, as a
    /// payer reads it: auth-params as tokens or quoted-strings, other
    /// schemes' challenges skipped, duplicate or unknown-but-malformed
    /// params refused. The result is checked by nobody but its issuer: the
    /// payer only reads its terms ([`Challenge::session_request`]).
    pub fn from_header(value: &str) -> Result<Challenge, ChallengeError> {
        let bad = ChallengeError::Malformed;
        if value.len() > MAX_HEADER_LEN {
            return Err(bad("header is too long"));
        }
        let mut params = std::collections::BTreeMap::<String, String>::new();
        let mut rest = value.trim_start();
        let mut in_payment = false;
        while !rest.is_empty() {
            // A token: a scheme (followed by a space or the end) or a
            // param name (followed by `=`).
            let end = rest
                .find(|c: char| c == '=' || c == ',' || c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            let (token, after) = rest.split_at(end);
            let after = after.trim_start();
            if let Some(v) = after.strip_prefix('=') {
                let (value, next) =
                    param_value(v.trim_start()).ok_or(bad("an auth-param is malformed"))?;
                if in_payment && params.insert(token.to_ascii_lowercase(), value).is_some() {
                    return Err(bad("an auth-param is repeated"));
                }
                rest = next.trim_start();
            } else if token.is_empty() {
                rest = after.strip_prefix(',').unwrap_or(after).trim_start();
                continue;
            } else {
                if in_payment {
                    break;
                }
                in_payment = token.eq_ignore_ascii_case(SCHEME);
                rest = after;
                continue;
            }
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        }
        if !in_payment {
            return Err(bad("no Payment challenge"));
        }
        let mut take = |k: &str| params.remove(k);
        let id = take("id")
            .filter(|v| !v.is_empty())
            .ok_or(bad("id is missing"))?;
        Ok(Challenge {
            id,
            realm: take("realm").ok_or(bad("realm is missing"))?,
            method: take("method").ok_or(bad("method is missing"))?,
            intent: take("intent").ok_or(bad("intent is missing"))?,
            request: take("request").ok_or(bad("request is missing"))?,
            expires: take("expires"),
            description: take("description"),
            digest: take("digest"),
            opaque: take("opaque"),
        })
    }

    /// The echoed `request`, read back.
    pub fn session_request(&self) -> Result<SessionRequest, RequestError> {
        SessionRequest::from_base64url(&self.request)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::request::Network;

    const KEY: [u8; 32] = [7; 32];
    const NOW: i64 = 1_765_000_000;

    fn request() -> SessionRequest {
        SessionRequest {
            amount: 1000,
            channel_id: None,
            recipient: "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh".parse().unwrap(),
            description: None,
            cumulative_amount: Some(0),
            network: Some(Network::Devnet),
        }
    }

    fn issued() -> Challenge {
        Challenge::issue(&KEY, "api.example.com", &request(), NOW + 120, None).unwrap()
    }

    #[test]
    fn id_is_the_hmac_of_the_seven_slots() {
        let c = issued();
        let input = format!(
            "api.example.com|xrpl|session|{}|{}||",
            c.request,
            rfc3339::format(NOW + 120)
        );
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&KEY).unwrap();
        mac.update(input.as_bytes());
        assert_eq!(c.id, base64url::encode(&mac.finalize().into_bytes()));
        assert_eq!(c.id.len(), 43);
        assert_eq!(c.session_request(), Ok(request()));
    }

    #[test]
    fn renders_the_header() {
        let c = Challenge::issue(
            &KEY,
            "api.example.com",
            &request(),
            0,
            Some(r#"say "hi" \o/"#),
        )
        .unwrap();
        assert_eq!(
            c.header_value(),
            format!(
                r#"Payment id="{}", realm="api.example.com", method="xrpl", intent="session", request="{}", expires="1970-01-01T00:00:00Z", description="say \"hi\" \\o/""#,
                c.id, c.request
            )
        );
        let no_description = Challenge::issue(&KEY, "r", &request(), 0, Some("")).unwrap();
        assert!(no_description
            .header_value()
            .ends_with(r#"expires="1970-01-01T00:00:00Z""#));
        let mut hostile = no_description;
        hostile.realm = "a\r\nSet-Cookie: x=1".into();
        assert!(hostile
            .header_value()
            .contains(r#"realm="aSet-Cookie: x=1""#));
    }

    #[test]
    fn refuses_unsafe_realms_and_descriptions() {
        for realm in ["", "a\r\nb", "a\nb", "tab\there", "é", "\u{7f}"] {
            assert_eq!(
                Challenge::issue(&KEY, realm, &request(), NOW, None),
                Err(ChallengeError::InvalidParam("realm"))
            );
        }
        for d in ["x\r\ny", "\u{0}", "café"] {
            assert_eq!(
                Challenge::issue(&KEY, "r", &request(), NOW, Some(d)),
                Err(ChallengeError::InvalidParam("description"))
            );
        }
    }

    #[test]
    fn an_echo_verifies_until_it_expires() {
        let c = issued();
        assert_eq!(c.verify(&KEY, NOW), Ok(()));
        assert_eq!(c.verify(&KEY, NOW + 119), Ok(()));
        assert_eq!(c.verify(&KEY, NOW + 120), Err(ChallengeError::Expired));
        assert_eq!(c.verify(&KEY, NOW + 10_000), Err(ChallengeError::Expired));
        // Description is display only.
        let mut shown = c.clone();
        shown.description = Some("anything".into());
        assert_eq!(shown.verify(&KEY, NOW), Ok(()));
    }

    #[test]
    fn any_change_to_a_bound_field_is_forged() {
        let c = issued();
        let other = Challenge::issue(
            &KEY,
            "api.example.com",
            &SessionRequest {
                amount: 1,
                ..request()
            },
            NOW + 120,
            None,
        )
        .unwrap();
        let changes: [fn(&mut Challenge); 9] = [
            |c| c.realm.push('x'),
            |c| c.request = c.request.replace('e', "f"),
            |c| c.expires = Some(rfc3339::format(NOW + 121)),
            |c| c.expires = Some("2999-01-01T00:00:00+00:00".into()),
            |c| c.expires = None,
            |c| c.digest = Some("sha-256=:x:".into()),
            |c| c.opaque = Some("e30".into()),
            |c| {
                c.id.pop();
            },
            |c| c.id = "A".repeat(43),
        ];
        for change in changes {
            let mut forged = c.clone();
            change(&mut forged);
            assert_eq!(
                forged.verify(&KEY, NOW),
                Err(ChallengeError::Forged),
                "{forged:?}"
            );
        }
        let mut swapped = c.clone();
        swapped.request = other.request;
        assert_eq!(swapped.verify(&KEY, NOW), Err(ChallengeError::Forged));
        assert_eq!(c.verify(&[8; 32], NOW), Err(ChallengeError::Forged));
        assert_eq!(c.verify_any(&[[8; 32], KEY], NOW), Ok(()));
        assert_eq!(c.verify_any(&[], NOW), Err(ChallengeError::Forged));
    }

    #[test]
    fn wrong_method_or_intent_is_unsupported() {
        let mut c = issued();
        c.intent = "charge".into();
        assert_eq!(c.verify(&KEY, NOW), Err(ChallengeError::Unsupported));
        let mut c = issued();
        c.method = "XRPL".into();
        assert_eq!(c.verify(&KEY, NOW), Err(ChallengeError::Unsupported));
    }

    #[test]
    fn a_genuine_challenge_without_a_readable_expiry_is_malformed() {
        let mut c = issued();
        c.expires = None;
        c.id = base64url::encode(&c.mac(&KEY).finalize().into_bytes());
        assert_eq!(
            c.verify(&KEY, NOW),
            Err(ChallengeError::Malformed("expires is missing"))
        );
        c.expires = Some("tomorrow".into());
        c.id = base64url::encode(&c.mac(&KEY).finalize().into_bytes());
        assert!(matches!(
            c.verify(&KEY, NOW),
            Err(ChallengeError::Malformed(_))
        ));
        // An offset form is read too.
        c.expires = Some("2025-12-06T06:48:20+01:00".into());
        c.id = base64url::encode(&c.mac(&KEY).finalize().into_bytes());
        assert_eq!(c.verify(&KEY, 1_764_999_999), Ok(()));
        assert_eq!(c.verify(&KEY, 1_765_000_100), Err(ChallengeError::Expired));
    }

    #[test]
    fn a_payer_reads_back_the_challenge_it_was_sent() {
        let mut c =
            Challenge::issue(&KEY, "api", &request(), NOW + 60, Some("a \"quoted\" path")).unwrap();
        assert_eq!(Challenge::from_header(&c.header_value()).unwrap(), c);
        let other = format!("Bearer realm=\"x\", error=invalid, {}", c.header_value());
        assert_eq!(
            Challenge::from_header(&other).unwrap(),
            c,
            "another scheme first"
        );
        c.description = None;
        let tokens = format!(
            "payment id={}, realm=api, method=xrpl, intent=session, request={}, expires=\"{}\"",
            c.id,
            c.request,
            c.expires.clone().unwrap()
        );
        assert_eq!(
            Challenge::from_header(&tokens).unwrap(),
            c,
            "tokens, any case"
        );
        c.verify(&KEY, NOW).unwrap();
    }

    #[test]
    fn a_challenge_header_without_payment_or_its_params_is_refused() {
        for bad in [
            "",
            "Bearer realm=x",
            "Payment",
            "Payment realm=\"x\"",
            "Payment id=\"a\", id=\"b\", realm=r, method=xrpl, intent=session, request=e",
            "Payment id=\"unterminated",
        ] {
            assert!(Challenge::from_header(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_challenge_header_is_read_without_panic(s in ".{0,300}") {
            let _ = Challenge::from_header(&s);
        }
    }
}
