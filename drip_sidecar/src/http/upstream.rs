//! A paid request passed on to the route's upstream API, and its answer
//! passed back: the payer's credential and hop-by-hop headers stay here.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderName};
use http::{Method, StatusCode, Uri};

/// Headers that belong to one connection, or to drip's payment, not to the
/// upstream exchange.
const NOT_FORWARDED: &[HeaderName] = &[
    header::AUTHORIZATION,
    header::CONNECTION,
    header::HOST,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::CONTENT_LENGTH,
];

fn forwarded(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let name_str = name.as_str();
        if NOT_FORWARDED.contains(name)
            || name_str.eq_ignore_ascii_case("keep-alive")
            || name_str.starts_with("x-mpp-")
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// `upstream` answering `method uri` with `headers` and `body`; 502 when it
/// cannot be reached (the payment stands: the payer's next voucher pays
/// for the next answer, not this one again).
pub(super) async fn forward(
    client: &reqwest::Client,
    upstream: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", upstream.trim_end_matches('/'));
    let sent = client
        .request(method, &url)
        .headers(forwarded(headers))
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(error = %e, "the upstream API did not answer");
            return (StatusCode::BAD_GATEWAY, "the upstream API did not answer").into_response();
        }
    };
    let status = answer.status();
    let headers = forwarded(answer.headers());
    match answer.bytes().await {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "the upstream API's answer broke off");
            (
                StatusCode::BAD_GATEWAY,
                "the upstream API's answer broke off",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn the_credential_and_connection_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Payment abc"),
        );
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        h.insert("x-mpp-paychannel-id", HeaderValue::from_static("AB"));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let out = forwarded(&h);
        assert_eq!(out.len(), 1);
        assert!(out.contains_key(header::ACCEPT));
    }
}
