//! Who is calling: a bearer token (`authorization: Bearer …`) or a client
//! certificate from the configured CA. Unauthenticated calls are refused;
//! each method checks [`Caller`]: the merchant's methods
//! ([`merchant_only`]) and the payer's ([`payer_of`]), which a payer
//! authorises with its own session's drip token.

use tonic::{Request, Status};

/// The authenticated caller, stored in each request's extensions.
#[derive(Clone, PartialEq, Eq)]
pub enum Caller {
    /// The merchant's web server: every method.
    Merchant,
    /// A wallet-facing proxy holding the app token: the payer's methods,
    /// for any session.
    App,
    /// A bearer that is neither token: a payer's drip token, good for the
    /// payer's methods of that one session (the database decides whether
    /// such a session exists).
    Payer(String),
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A drip token is a credential: never logged.
        f.write_str(match self {
            Caller::Merchant => "Merchant",
            Caller::App => "App",
            Caller::Payer(_) => "Payer",
        })
    }
}

/// The interceptor's settings.
#[derive(Clone)]
pub struct Auth {
    merchant_token: String,
    app_token: Option<String>,
    client_certs_are_merchants: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("app_token", &self.app_token.is_some())
            .field(
                "client_certs_are_merchants",
                &self.client_certs_are_merchants,
            )
            .finish_non_exhaustive()
    }
}

/// Compare without an early exit, so timing says nothing about the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Auth {
    /// Tokens for both callers; with `client_certs_are_merchants`, a
    /// verified client certificate is a merchant too.
    pub fn new(
        merchant_token: String,
        app_token: Option<String>,
        client_certs_are_merchants: bool,
    ) -> Auth {
        Auth {
            merchant_token,
            app_token,
            client_certs_are_merchants,
        }
    }

    /// The caller, or UNAUTHENTICATED.
    pub fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        if let Some(value) = request.metadata().get("authorization") {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer <token>`"))?;
            if same(token.as_bytes(), self.merchant_token.as_bytes()) {
                return Ok(Caller::Merchant);
            }
            if let Some(app) = &self.app_token {
                if same(token.as_bytes(), app.as_bytes()) {
                    return Ok(Caller::App);
                }
            }
            // Only what could be a drip token (160 bits, hex) goes on to the
            // database, which decides whether it names a session.
            if token.len() != 40 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Status::unauthenticated("unknown token"));
            }
            return Ok(Caller::Payer(token.to_owned()));
        }
        // The TLS layer verified the certificate against the client CA.
        if self.client_certs_are_merchants && request.peer_certs().is_some_and(|c| !c.is_empty()) {
            return Ok(Caller::Merchant);
        }
        Err(Status::unauthenticated(
            "credentials required: a bearer token or a client certificate",
        ))
    }

    /// The tonic interceptor: authenticate and record the caller.
    pub fn intercept(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let caller = self.caller(&request)?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// Refuse a merchant-only call from anyone else.
pub fn merchant_only<T>(request: &Request<T>) -> Result<(), Status> {
    match request.extensions().get::<Caller>() {
        Some(Caller::Merchant) => Ok(()),
        // Only the two tokens name a caller here.
        Some(Caller::Payer(_)) => Err(Status::unauthenticated("unknown token")),
        _ => Err(Status::permission_denied(
            "merchant only: use the merchant's credentials",
        )),
    }
}

/// Refuse a payer's call on `drip_token`'s session from a payer holding
/// another session's token.
pub fn payer_of<T>(request: &Request<T>, drip_token: &str) -> Result<(), Status> {
    match request.extensions().get::<Caller>() {
        Some(Caller::Merchant | Caller::App) => Ok(()),
        Some(Caller::Payer(own)) if same(own.as_bytes(), drip_token.as_bytes()) => Ok(()),
        Some(Caller::Payer(_)) => Err(Status::permission_denied(
            "a drip token authorises calls on its own session only",
        )),
        None => Err(Status::unauthenticated("credentials required")),
    }
}

/// An agreement names its session's drip token unless the merchant makes
/// it: its proposal id is public once the channel's memo is on the ledger,
/// so the id alone authorises nothing.
pub fn agreement_of<T>(request: &Request<T>, drip_token: &str) -> Result<(), Status> {
    let merchant = matches!(request.extensions().get::<Caller>(), Some(Caller::Merchant));
    if drip_token.is_empty() && !merchant {
        return Err(Status::invalid_argument(
            "drip_token: required (the session's drip token)",
        ));
    }
    payer_of(request, drip_token)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with(header: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(h) = header {
            r.metadata_mut().insert("authorization", h.parse().unwrap());
        }
        r
    }

    #[test]
    fn tokens_decide_the_caller() {
        let auth = Auth::new(
            "merchant-0123456789".into(),
            Some("app-0123456789abcd".into()),
            false,
        );
        assert_eq!(
            auth.caller(&with(Some("Bearer merchant-0123456789")))
                .unwrap(),
            Caller::Merchant
        );
        assert_eq!(
            auth.caller(&with(Some("Bearer app-0123456789abcd")))
                .unwrap(),
            Caller::App
        );
        let drip_token = "00ff".repeat(10);
        assert_eq!(
            auth.caller(&with(Some(&format!("Bearer {drip_token}"))))
                .unwrap(),
            Caller::Payer(drip_token)
        );
        for bad in [
            None,
            Some("Bearer "),
            Some("merchant-0123456789"),
            Some("Bearer merchant-012345678"),
            Some("Bearer 00ff"),
            Some("Bearer 00ff00ff00ff00ff00ff00ff00ff00ff00ff00fg"),
        ] {
            let e = auth.caller(&with(bad)).unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "{bad:?}");
        }
    }

    #[test]
    fn merchant_only_refuses_the_app() {
        let auth = Auth::new(
            "merchant-0123456789".into(),
            Some("app-0123456789abcd".into()),
            false,
        );
        let app = auth
            .intercept(with(Some("Bearer app-0123456789abcd")))
            .unwrap();
        assert_eq!(
            merchant_only(&app).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        let merchant = auth
            .intercept(with(Some("Bearer merchant-0123456789")))
            .unwrap();
        assert!(merchant_only(&merchant).is_ok());
    }

    #[test]
    fn a_drip_token_reaches_its_own_session_only() {
        let auth = Auth::new(
            "merchant-0123456789".into(),
            Some("app-0123456789abcd".into()),
            false,
        );
        let (mine, theirs) = ("aa".repeat(20), "ab".repeat(20));
        let payer = auth
            .intercept(with(Some(&format!("Bearer {mine}"))))
            .unwrap();
        assert!(payer_of(&payer, &mine).is_ok());
        for other in [theirs.as_str(), ""] {
            assert_eq!(
                payer_of(&payer, other).unwrap_err().code(),
                tonic::Code::PermissionDenied
            );
        }
        // A merely unknown bearer is no merchant.
        assert_eq!(
            merchant_only(&payer).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        for token in ["Bearer merchant-0123456789", "Bearer app-0123456789abcd"] {
            let r = auth.intercept(with(Some(token))).unwrap();
            assert!(payer_of(&r, "any").is_ok(), "{token}");
        }
        // Only the merchant may agree without naming the session.
        let app = auth
            .intercept(with(Some("Bearer app-0123456789abcd")))
            .unwrap();
        let merchant = auth
            .intercept(with(Some("Bearer merchant-0123456789")))
            .unwrap();
        assert!(agreement_of(&merchant, "").is_ok());
        for r in [&app, &payer] {
            assert_eq!(
                agreement_of(r, "").unwrap_err().code(),
                tonic::Code::InvalidArgument
            );
        }
        assert!(agreement_of(&app, &theirs).is_ok());
        assert!(agreement_of(&payer, &mine).is_ok());
    }
}
