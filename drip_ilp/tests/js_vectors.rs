//! drip_ilp's codecs against packets the JavaScript libraries wrote
//! (`tests/fixtures/js.json`, from `scripts/vectors/generate-ilp.mjs`):
//! each is encoded byte for byte from its fields and decoded back to them
//! (but for one with more protocol data than the decoder takes).

#![allow(clippy::unwrap_used, clippy::panic)]

use drip_ilp::asym;
use drip_ilp::btp::{self, BtpError, ProtocolData};
use drip_ilp::ildcp::{self, Config};
use drip_ilp::ilp::{self, ErrorCode, Fulfill, Prepare, Reject, Timestamp};
use drip_ilp::oer::DecodeError;
use serde_json::Value as Json;

fn fixtures() -> Json {
    serde_json::from_str(include_str!("fixtures/js.json")).unwrap()
}

fn bytes(v: &Json) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// `2017-12-23T01:21:40.549Z` as a Timestamp.
fn iso(s: &str) -> Timestamp {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    Timestamp::from_digits(digits.as_bytes()).unwrap()
}

fn protocol_data(v: &Json) -> Vec<ProtocolData> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| ProtocolData {
            name: e["name"].as_str().unwrap().to_owned(),
            content_type: u8::try_from(e["content_type"].as_u64().unwrap()).unwrap(),
            data: bytes(&e["data"]),
        })
        .collect()
}

#[test]
fn btp_packets_match_btp_packet() {
    let f = fixtures();
    let vectors = f["btp"].as_array().unwrap();
    assert!(vectors.len() >= 12);
    for v in vectors {
        let wire = bytes(&v["hex"]);
        let pd = protocol_data(&v["protocol_data"]);
        let decoded = btp::Packet::decode(&wire);
        let body = match v["kind"].as_str().unwrap() {
            "message" => btp::Body::Message(pd),
            "response" => btp::Body::Response(pd),
            "transfer" => btp::Body::Transfer {
                amount: v["amount"].as_str().unwrap().parse().unwrap(),
                protocol_data: pd,
            },
            "error" => {
                let Ok(btp::Packet {
                    body: btp::Body::Error(got),
                    ..
                }) = &decoded
                else {
                    panic!("{v}")
                };
                // The time as btp-packet writes it: YYYYMMDDHHmmss.fffZ.
                assert_eq!(got.triggered_at.len(), 19, "{}", got.triggered_at);
                btp::Body::Error(BtpError {
                    code: v["code"].as_str().unwrap().to_owned(),
                    name: v["name"].as_str().unwrap().to_owned(),
                    triggered_at: got.triggered_at.clone(),
                    data: bytes(&v["data"]),
                    protocol_data: pd,
                })
            }
            other => panic!("{other}"),
        };
        let packet = btp::Packet {
            request_id: u32::try_from(v["request_id"].as_u64().unwrap()).unwrap(),
            body,
        };
        assert_eq!(hex::encode(packet.encode()), v["hex"].as_str().unwrap());
        if packet.protocol_data().len() > btp::MAX_PROTOCOL_DATA {
            // btp-packet's 130 entries (a count past one byte): written
            // alike, but more than the decoder takes.
            assert_eq!(
                decoded,
                Err(DecodeError::Limit {
                    field: "protocolData count",
                    max: btp::MAX_PROTOCOL_DATA
                })
            );
        } else {
            assert_eq!(decoded, Ok(packet));
        }
    }
}

#[test]
fn ilp_packets_match_ilp_packet() {
    let f = fixtures();
    for v in f["ilp"].as_array().unwrap() {
        let packet = match v["kind"].as_str().unwrap() {
            "prepare" => ilp::Packet::Prepare(Prepare {
                amount: v["amount"].as_str().unwrap().parse().unwrap(),
                expires_at: iso(v["expires_at"].as_str().unwrap()),
                execution_condition: bytes(&v["condition"]).try_into().unwrap(),
                destination: v["destination"].as_str().unwrap().parse().unwrap(),
                data: bytes(&v["data"]),
            }),
            "fulfill" => ilp::Packet::Fulfill(Fulfill {
                fulfillment: bytes(&v["fulfillment"]).try_into().unwrap(),
                data: bytes(&v["data"]),
            }),
            "reject" => ilp::Packet::Reject(Reject {
                code: ErrorCode(v["code"].as_str().unwrap().as_bytes().try_into().unwrap()),
                triggered_by: v["triggered_by"].as_str().unwrap().to_owned(),
                message: v["message"].as_str().unwrap().to_owned(),
                data: bytes(&v["data"]),
            }),
            other => panic!("{other}"),
        };
        assert_eq!(
            hex::encode(packet.encode().unwrap()),
            v["hex"].as_str().unwrap()
        );
        assert_eq!(ilp::Packet::decode(&bytes(&v["hex"])).unwrap(), packet);
    }
}

#[test]
fn ildcp_matches_ilp_protocol_ildcp() {
    let f = fixtures();
    for v in f["ildcp"].as_array().unwrap() {
        let config = Config {
            client_address: v["client_address"].as_str().unwrap().parse().unwrap(),
            asset_scale: u8::try_from(v["asset_scale"].as_u64().unwrap()).unwrap(),
            asset_code: v["asset_code"].as_str().unwrap().to_owned(),
        };
        let wire = ilp::Packet::Fulfill(config.response()).encode().unwrap();
        assert_eq!(hex::encode(&wire), v["hex"].as_str().unwrap());
        let ilp::Packet::Fulfill(back) = ilp::Packet::decode(&wire).unwrap() else {
            panic!()
        };
        assert_eq!(Config::from_response(&back).unwrap(), config);
    }
    let r = &f["ildcp_request"];
    let request = ildcp::request(iso(r["expires_at"].as_str().unwrap())).unwrap();
    assert_eq!(
        hex::encode(ilp::Packet::Prepare(request).encode().unwrap()),
        r["hex"].as_str().unwrap()
    );
}

#[test]
fn asym_derivations_match_node() {
    let f = fixtures();
    let a = &f["asym"];
    let s = |v: &Json, k: &str| v[k].as_str().unwrap().to_owned();
    for v in a["account_names"].as_array().unwrap() {
        assert_eq!(asym::account_name(&s(v, "token")), s(v, "name"));
    }
    for v in a["server_channel_secrets"].as_array().unwrap() {
        let secret = asym::server_channel_secret(&s(v, "secret"), &s(v, "account"));
        assert_eq!(hex::encode(secret), s(v, "hex"));
    }
    for v in a["client_channel_secrets"].as_array().unwrap() {
        let secret = asym::client_channel_secret(&s(v, "secret"), &s(v, "server_address"));
        assert_eq!(hex::encode(secret), s(v, "hex"));
    }
    for v in a["default_tokens"].as_array().unwrap() {
        let token = asym::default_client_token(&s(v, "host"), &s(v, "username"), &s(v, "secret"));
        assert_eq!(token, s(v, "token"));
    }
    let addresses = a["base64"].as_array().unwrap();
    assert!(addresses.len() >= 9);
    for v in addresses {
        let address = s(v, "address");
        assert_eq!(
            hex::encode(asym::node_base64_decode(&address)),
            s(v, "hex"),
            "{address} as Node {} reads it",
            a["node"]
        );
    }
}
