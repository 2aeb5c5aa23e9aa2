//! The wallet's way in: a session's deep link `drip://DOMAIN/TOKEN`, or the
//! bare drip token.

use std::fmt;
use std::str::FromStr;

/// A session to pay: its drip token, and the site it belongs to when the
/// deep link named one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The site's domain (`None` for a bare token).
    pub domain: Option<String>,
    /// The session's bearer token.
    pub token: String,
}

/// Why a deep link or token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Another scheme than `drip://`.
    #[error("not a drip link: expected drip://DOMAIN/TOKEN or a drip token")]
    Scheme,
    /// An empty or malformed domain.
    #[error("bad domain in the drip link")]
    Domain,
    /// An empty or malformed token.
    #[error("bad drip token: expected 16 to 128 letters, digits, '-' or '_'")]
    Token,
}

const SCHEME: &str = "drip://";

fn token_ok(t: &str) -> bool {
    (16..=128).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn domain_ok(d: &str) -> bool {
    (1..=253).contains(&d.len())
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

impl FromStr for Target {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Target, UriError> {
        let s = s.trim();
        let Some(rest) = s
            .get(..SCHEME.len())
            .filter(|p| p.eq_ignore_ascii_case(SCHEME))
            .map(|_| &s[SCHEME.len()..])
        else {
            if s.contains(':') || s.contains('/') {
                return Err(UriError::Scheme);
            }
            return token_ok(s)
                .then(|| Target {
                    domain: None,
                    token: s.to_owned(),
                })
                .ok_or(UriError::Token);
        };
        let (domain, token) = rest.split_once('/').ok_or(UriError::Token)?;
        if !domain_ok(domain) {
            return Err(UriError::Domain);
        }
        if !token_ok(token) {
            return Err(UriError::Token);
        }
        Ok(Target {
            domain: Some(domain.to_ascii_lowercase()),
            token: token.to_owned(),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.domain {
            Some(d) => write!(f, "{SCHEME}{d}/{}", self.token),
            None => f.write_str(&self.token),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOKEN: &str = "k3J9xQ2mV8rT5wZ1nB6cY4hL0pD7fG2s";

    #[test]
    fn links_and_bare_tokens() {
        let t: Target = format!("drip://Shop.example:8443/{TOKEN}").parse().unwrap();
        assert_eq!(t.domain.as_deref(), Some("shop.example:8443"));
        assert_eq!(t.token, TOKEN);
        assert_eq!(t.to_string(), format!("drip://shop.example:8443/{TOKEN}"));
        let bare: Target = TOKEN.parse().unwrap();
        assert_eq!((bare.domain, bare.token.as_str()), (None, TOKEN));
    }

    #[test]
    fn refuses_what_is_not_a_link() {
        for (s, e) in [
            (format!("https://shop/{TOKEN}"), UriError::Scheme),
            (format!("drip:///{TOKEN}"), UriError::Domain),
            (format!("drip://shop/{TOKEN}/x"), UriError::Token),
            ("drip://shop".to_owned(), UriError::Token),
            ("drip://shop/short".to_owned(), UriError::Token),
            ("short".to_owned(), UriError::Token),
            (format!("drip://sh op/{TOKEN}"), UriError::Domain),
        ] {
            assert_eq!(s.parse::<Target>(), Err(e), "{s}");
        }
    }

    proptest! {
        #[test]
        fn garbage_is_an_error_or_round_trips(s in "\\PC{0,80}") {
            if let Ok(t) = s.parse::<Target>() {
                prop_assert_eq!(t.to_string().parse::<Target>(), Ok(t));
            }
        }
    }
}
