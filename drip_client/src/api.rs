//! drip's gRPC API as the wallet and the merchant use it: TLS, a bearer
//! token, a timeout on every call, and bounded retries of the calls that are
//! safe to repeat.

use std::future::Future;
use std::time::Duration;

use drip_proto::drip_client::DripClient;
use drip_proto::*;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::{Code, Request, Status};

/// Where the API is and how to reach it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `https://host:port` (or `http://` for a server without TLS).
    pub url: String,
    /// The CA (or self-signed certificate) to trust, PEM; the system's roots
    /// otherwise.
    pub ca_pem: Option<Vec<u8>>,
    /// The name the certificate must carry, if not the URL's host.
    pub tls_name: Option<String>,
    /// The bearer token.
    pub token: Option<String>,
    /// Each call's limit.
    pub timeout: Duration,
    /// Further attempts after a transient failure.
    pub retries: u32,
}

impl Endpoint {
    /// An endpoint with the default timeout (10 s) and retries (3).
    pub fn new(url: impl Into<String>) -> Endpoint {
        Endpoint {
            url: url.into(),
            ca_pem: None,
            tls_name: None,
            token: None,
            timeout: Duration::from_secs(10),
            retries: 3,
        }
    }
}

/// What went wrong calling the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The endpoint's settings are unusable.
    #[error("drip API at {url}: {reason}")]
    Setup {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{call}: {code:?}: {message}")]
    Status {
        /// The call.
        call: &'static str,
        /// gRPC status code.
        code: Code,
        /// The server's message.
        message: String,
    },
    /// No answer within the timeout, after every retry.
    #[error("{0}: no answer in time")]
    Timeout(&'static str),
}

impl ApiError {
    /// The gRPC status code, if the server answered.
    pub fn code(&self) -> Option<Code> {
        match self {
            ApiError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: Request<()>) -> Result<Request<()>, Status> {
        if let Some(t) = &self.0 {
            r.metadata_mut().insert("authorization", t.clone());
        }
        Ok(r)
    }
}

type Client = DripClient<InterceptedService<Channel, Bearer>>;

/// A connection to drip's API.
#[derive(Debug, Clone)]
pub struct Api {
    client: Client,
    timeout: Duration,
    retries: u32,
}

/// Failures worth another attempt: the call may not have reached the server.
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::DeadlineExceeded | Code::Unknown
    )
}

impl Api {
    /// Set up the connection (it connects on first use, and reconnects).
    pub fn new(e: &Endpoint) -> Result<Api, ApiError> {
        let setup = |reason: String| ApiError::Setup {
            url: e.url.clone(),
            reason,
        };
        let mut channel = Channel::from_shared(e.url.clone())
            .map_err(|err| setup(err.to_string()))?
            .connect_timeout(e.timeout)
            .timeout(e.timeout);
        if e.url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_enabled_roots();
            if let Some(ca) = &e.ca_pem {
                tls = tls.ca_certificate(Certificate::from_pem(ca));
            }
            if let Some(name) = &e.tls_name {
                tls = tls.domain_name(name.clone());
            }
            channel = channel
                .tls_config(tls)
                .map_err(|err| setup(err.to_string()))?;
        }
        let bearer = match &e.token {
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| setup("the token has characters a header cannot carry".into()))?,
            ),
            None => None,
        };
        Ok(Api {
            client: DripClient::with_interceptor(channel.connect_lazy(), Bearer(bearer)),
            timeout: e.timeout,
            retries: e.retries,
        })
    }

    /// Call with the timeout, retrying transient failures up to `retries`
    /// times with a doubling pause.
    async fn call<R, T, F, Fut>(
        &self,
        name: &'static str,
        retries: u32,
        request: R,
        f: F,
    ) -> Result<T, ApiError>
    where
        R: Clone,
        F: Fn(Client, R) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let mut pause = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            let failure =
                match tokio::time::timeout(self.timeout, f(self.client.clone(), request.clone()))
                    .await
                {
                    Ok(Ok(r)) => return Ok(r.into_inner()),
                    Ok(Err(s)) if !transient(s.code()) || attempt >= retries => {
                        return Err(ApiError::Status {
                            call: name,
                            code: s.code(),
                            message: s.message().to_owned(),
                        })
                    }
                    Err(_) if attempt >= retries => return Err(ApiError::Timeout(name)),
                    Ok(Err(s)) => s.message().to_owned(),
                    Err(_) => "timed out".to_owned(),
                };
            tracing::debug!(call = name, attempt, failure, "retrying");
            attempt += 1;
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// A session for the web server's `session_id` (idempotent).
    pub async fn create_session(
        &self,
        session_id: &str,
    ) -> Result<CreateSessionResponse, ApiError> {
        let r = CreateSessionRequest {
            session_id: session_id.into(),
        };
        self.call("CreateSession", self.retries, r, |mut c, r| async move {
            c.create_session(r).await
        })
        .await
    }

    /// The session of the web server's `session_id`.
    pub async fn get_session(&self, session_id: &str) -> Result<Session, ApiError> {
        let r = GetSessionRequest {
            session_id: session_id.into(),
        };
        self.call("GetSession", self.retries, r, |mut c, r| async move {
            c.get_session(r).await
        })
        .await
    }

    /// End the session (merchant only).
    pub async fn destroy_session(
        &self,
        session_id: &str,
    ) -> Result<DestroySessionResponse, ApiError> {
        let r = DestroySessionRequest {
            session_id: session_id.into(),
        };
        self.call("DestroySession", self.retries, r, |mut c, r| async move {
            c.destroy_session(r).await
        })
        .await
    }

    /// Record a purchase (merchant only). Never retried: a repeat would
    /// charge twice.
    pub async fn add_unit_debt(
        &self,
        token: &str,
        amount: u64,
    ) -> Result<AddUnitDebtResponse, ApiError> {
        let r = AddUnitDebtRequest {
            drip_token: token.into(),
            amount,
        };
        self.call("AddUnitDebt", 0, r, |mut c, r| async move {
            c.add_unit_debt(r).await
        })
        .await
    }

    /// The signed proposal for a channel.
    pub async fn inquire(&self, token: &str) -> Result<Proposal, ApiError> {
        let r = InquireRequest {
            drip_token: token.into(),
        };
        self.call("Inquire", self.retries, r, |mut c, r| async move {
            c.inquire(r).await
        })
        .await
    }

    /// The signed proposal for funding the channel further.
    pub async fn refresh_inquire(&self, token: &str) -> Result<Proposal, ApiError> {
        let r = InquireRequest {
            drip_token: token.into(),
        };
        self.call("RefreshInquire", self.retries, r, |mut c, r| async move {
            c.refresh_inquire(r).await
        })
        .await
    }

    /// The channel create for a proposal; waits up to `wait` for the ledger
    /// check.
    pub async fn submit_agreement(
        &self,
        r: AgreementRequest,
    ) -> Result<AgreementResponse, ApiError> {
        self.waiting(&r)
            .call("SubmitAgreement", self.retries, r, |mut c, r| async move {
                c.submit_agreement(r).await
            })
            .await
    }

    /// The channel fund for a refresh proposal; waits like
    /// [`Api::submit_agreement`].
    pub async fn submit_refresh(&self, r: AgreementRequest) -> Result<AgreementResponse, ApiError> {
        self.waiting(&r)
            .call("SubmitRefresh", self.retries, r, |mut c, r| async move {
                c.submit_refresh(r).await
            })
            .await
    }

    /// This API with a timeout long enough for the server's wait.
    fn waiting(&self, r: &AgreementRequest) -> Api {
        let mut api = self.clone();
        api.timeout += Duration::from_secs(u64::from(r.wait_seconds));
        api
    }

    /// What is due and paid.
    pub async fn amount_due(&self, token: &str) -> Result<AmountDueResponse, ApiError> {
        let r = AmountDueRequest {
            drip_token: token.into(),
        };
        self.call("AmountDue", self.retries, r, |mut c, r| async move {
            c.amount_due(r).await
        })
        .await
    }

    /// A claim. Safe to repeat: the same claim again is refused as not above
    /// the best, which the caller reads from `paid`.
    pub async fn pay(
        &self,
        token: &str,
        amount: u64,
        signature: &str,
    ) -> Result<PayResponse, ApiError> {
        let r = PayRequest {
            drip_token: token.into(),
            amount,
            signature: signature.into(),
        };
        self.call(
            "Pay",
            self.retries,
            r,
            |mut c, r| async move { c.pay(r).await },
        )
        .await
    }
}
