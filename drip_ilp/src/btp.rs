//! BTP 2.0 (RFC 0023): the Bilateral Transfer Protocol's frames, as the
//! JavaScript `btp-packet` reads and writes them.
//!
//! A packet is `type u8 ‖ requestId u32 ‖ varOctets(contents)`; Message and
//! Response carry protocol data, Transfer an amount and protocol data, Error
//! a code, name, time, data and protocol data. BTP 1.0's Prepare, Fulfill
//! and Reject (types 3 to 5) are not part of 2.0 and are refused.

use crate::oer::{put_length, put_var_octets, put_var_uint, DecodeError, Reader};

/// `application/octet-stream`.
pub const OCTET_STREAM: u8 = 0;
/// `text/plain; charset=utf-8`.
pub const TEXT: u8 = 1;
/// `application/json`.
pub const JSON: u8 = 2;

/// One named entry of protocol data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolData {
    /// The sub-protocol's name (ASCII).
    pub name: String,
    /// 0 octet-stream, 1 text, 2 JSON (other values are carried as sent).
    pub content_type: u8,
    /// The payload.
    pub data: Vec<u8>,
}

impl ProtocolData {
    /// An entry of `content_type`.
    pub fn new(name: &str, content_type: u8, data: impl Into<Vec<u8>>) -> ProtocolData {
        ProtocolData {
            name: name.to_owned(),
            content_type,
            data: data.into(),
        }
    }
}

/// A BTP Error's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtpError {
    /// Three ASCII characters, e.g. `F00`.
    pub code: String,
    /// e.g. `NotAcceptedError`.
    pub name: String,
    /// Generalized time, `YYYYMMDDHHmmss.fffZ`, as sent.
    pub triggered_at: String,
    /// Details (a message, or JSON `{"message":…}`).
    pub data: Vec<u8>,
    /// Protocol data.
    pub protocol_data: Vec<ProtocolData>,
}

/// What a packet carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// 1: the answer to a Message or Transfer.
    Response(Vec<ProtocolData>),
    /// 2: a request failed.
    Error(BtpError),
    /// 6: a request with protocol data.
    Message(Vec<ProtocolData>),
    /// 7: money (an amount) and protocol data.
    Transfer {
        /// The amount, in the asset's base units.
        amount: u64,
        /// Protocol data (for XRP: the `claim`).
        protocol_data: Vec<ProtocolData>,
    },
}

/// A BTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Pairs a request with its Response or Error.
    pub request_id: u32,
    /// The contents.
    pub body: Body,
}

const RESPONSE: u8 = 1;
const ERROR: u8 = 2;
const MESSAGE: u8 = 6;
const TRANSFER: u8 = 7;

fn put_protocol_data(out: &mut Vec<u8>, entries: &[ProtocolData]) {
    put_var_uint(out, entries.len() as u64);
    for e in entries {
        put_var_octets(out, e.name.as_bytes());
        out.push(e.content_type);
        put_var_octets(out, &e.data);
    }
}

/// The most protocol data entries a packet may carry: the asymmetric
/// plugins send at most 4. Each entry is 3 bytes on the wire but about 56
/// in memory, so without a cap one 64 KiB frame would decode to 1.2 MB.
pub const MAX_PROTOCOL_DATA: usize = 16;

/// The longest protocol name, in bytes (the plugins' longest is 17).
pub const MAX_PROTOCOL_NAME: usize = 64;

fn read_ascii<'a>(r: &mut Reader<'a>, field: &'static str) -> Result<&'a str, DecodeError> {
    let s = r.var_str(field)?;
    if !s.is_ascii() {
        return Err(DecodeError::invalid(field, "not ASCII"));
    }
    Ok(s)
}

fn read_protocol_data(r: &mut Reader<'_>) -> Result<Vec<ProtocolData>, DecodeError> {
    // Checked before it sizes an allocation.
    let n = usize::try_from(r.var_uint("protocolData count")?)
        .ok()
        .filter(|n| *n <= MAX_PROTOCOL_DATA)
        .ok_or(DecodeError::Limit {
            field: "protocolData count",
            max: MAX_PROTOCOL_DATA,
        })?;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let name = read_ascii(r, "protocolName")?;
        if name.len() > MAX_PROTOCOL_NAME {
            return Err(DecodeError::Limit {
                field: "protocolName",
                max: MAX_PROTOCOL_NAME,
            });
        }
        let name = name.to_owned();
        let content_type = r.u8("contentType")?;
        let data = r.var_octets("data")?.to_vec();
        entries.push(ProtocolData {
            name,
            content_type,
            data,
        });
    }
    Ok(entries)
}

impl Packet {
    /// The packet's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut contents = Vec::new();
        let kind = match &self.body {
            Body::Response(pd) => {
                put_protocol_data(&mut contents, pd);
                RESPONSE
            }
            Body::Message(pd) => {
                put_protocol_data(&mut contents, pd);
                MESSAGE
            }
            Body::Transfer {
                amount,
                protocol_data,
            } => {
                contents.extend_from_slice(&amount.to_be_bytes());
                put_protocol_data(&mut contents, protocol_data);
                TRANSFER
            }
            Body::Error(e) => {
                // The code is exactly three bytes on the wire.
                let mut code = [b' '; 3];
                for (c, b) in code.iter_mut().zip(e.code.bytes()) {
                    *c = b;
                }
                contents.extend_from_slice(&code);
                put_var_octets(&mut contents, e.name.as_bytes());
                put_var_octets(&mut contents, e.triggered_at.as_bytes());
                put_var_octets(&mut contents, &e.data);
                put_protocol_data(&mut contents, &e.protocol_data);
                ERROR
            }
        };
        let mut out = Vec::with_capacity(contents.len() + 9);
        out.push(kind);
        out.extend_from_slice(&self.request_id.to_be_bytes());
        put_length(&mut out, contents.len());
        out.extend_from_slice(&contents);
        out
    }

    /// Read a packet; the whole input must be one packet.
    pub fn decode(bytes: &[u8]) -> Result<Packet, DecodeError> {
        let mut r = Reader::new(bytes);
        let kind = r.u8("type")?;
        let request_id = r.u32("requestId")?;
        let mut c = Reader::new(r.var_octets("contents")?);
        r.finish()?;
        let body = match kind {
            RESPONSE => Body::Response(read_protocol_data(&mut c)?),
            MESSAGE => Body::Message(read_protocol_data(&mut c)?),
            TRANSFER => Body::Transfer {
                amount: c.u64("amount")?,
                protocol_data: read_protocol_data(&mut c)?,
            },
            ERROR => {
                let code = c.bytes(3, "code")?;
                let code = std::str::from_utf8(code)
                    .ok()
                    .filter(|s| s.is_ascii())
                    .ok_or_else(|| DecodeError::invalid("code", "not ASCII"))?
                    .to_owned();
                Body::Error(BtpError {
                    code,
                    name: read_ascii(&mut c, "name")?.to_owned(),
                    triggered_at: read_ascii(&mut c, "triggeredAt")?.to_owned(),
                    data: c.var_octets("data")?.to_vec(),
                    protocol_data: read_protocol_data(&mut c)?,
                })
            }
            3..=5 => {
                return Err(DecodeError::invalid(
                    "type",
                    "BTP 1.0 packet types are not part of BTP 2.0",
                ))
            }
            other => {
                return Err(DecodeError::invalid(
                    "type",
                    format!("unknown packet type {other}"),
                ))
            }
        };
        c.finish()?;
        Ok(Packet { request_id, body })
    }

    /// The protocol data, whatever the type.
    pub fn protocol_data(&self) -> &[ProtocolData] {
        match &self.body {
            Body::Response(pd) | Body::Message(pd) => pd,
            Body::Transfer { protocol_data, .. } => protocol_data,
            Body::Error(e) => &e.protocol_data,
        }
    }
}

/// The entry named `name`, if any.
pub fn find<'a>(entries: &'a [ProtocolData], name: &str) -> Option<&'a ProtocolData> {
    entries.iter().find(|e| e.name == name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry() -> impl Strategy<Value = ProtocolData> {
        (
            "[a-z_]{0,20}",
            0u8..3,
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(name, content_type, data)| ProtocolData {
                name,
                content_type,
                data,
            })
    }

    fn pd() -> impl Strategy<Value = Vec<ProtocolData>> {
        proptest::collection::vec(entry(), 0..5)
    }

    fn body() -> impl Strategy<Value = Body> {
        prop_oneof![
            pd().prop_map(Body::Response),
            pd().prop_map(Body::Message),
            (any::<u64>(), pd()).prop_map(|(amount, protocol_data)| Body::Transfer {
                amount,
                protocol_data
            }),
            (
                "[A-Z][0-9]{2}",
                "[A-Za-z]{0,30}",
                "[0-9]{14}\\.[0-9]{3}Z",
                proptest::collection::vec(any::<u8>(), 0..200),
                pd()
            )
                .prop_map(|(code, name, triggered_at, data, protocol_data)| {
                    Body::Error(BtpError {
                        code,
                        name,
                        triggered_at,
                        data,
                        protocol_data,
                    })
                }),
        ]
    }

    proptest! {
        #[test]
        fn packets_round_trip(request_id in any::<u32>(), body in body()) {
            let p = Packet { request_id, body };
            prop_assert_eq!(Packet::decode(&p.encode()), Ok(p));
        }

        #[test]
        fn garbage_is_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Packet::decode(&bytes) {
                prop_assert_eq!(Packet::decode(&p.encode()), Ok(p));
            }
        }

        #[test]
        fn a_damaged_packet_never_panics(
            request_id in any::<u32>(), body in body(), at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()
        ) {
            let mut bytes = Packet { request_id, body }.encode();
            let i = at % bytes.len();
            bytes[i] = byte;
            let _ = Packet::decode(&bytes);
            bytes.truncate(cut % bytes.len());
            prop_assert!(Packet::decode(&bytes).is_err());
        }
    }

    #[test]
    fn old_and_unknown_types_are_refused() {
        for t in [0u8, 3, 4, 5, 8, 255] {
            let bytes = [t, 0, 0, 0, 1, 1, 0];
            assert!(matches!(
                Packet::decode(&bytes),
                Err(DecodeError::Invalid { field: "type", .. })
            ));
        }
    }

    #[test]
    fn a_lying_count_allocates_nothing() {
        // A Message claiming 2^64-1 protocol data entries in 10 bytes.
        let bytes = [
            6, 0, 0, 0, 1, 10, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
        ];
        assert!(Packet::decode(&bytes).is_err());
    }

    #[test]
    fn protocol_data_is_capped_in_count_and_name_length() {
        let message = |entries: Vec<ProtocolData>| {
            Packet {
                request_id: 1,
                body: Body::Message(entries),
            }
            .encode()
        };
        let empty = |name: &str| ProtocolData::new(name, OCTET_STREAM, vec![]);
        let most = vec![empty("x"); MAX_PROTOCOL_DATA];
        assert!(Packet::decode(&message(most.clone())).is_ok());
        let one_more = [most, vec![empty("x")]].concat();
        assert_eq!(
            Packet::decode(&message(one_more)),
            Err(DecodeError::Limit {
                field: "protocolData count",
                max: MAX_PROTOCOL_DATA
            })
        );
        // A 64 KiB frame of 3-byte entries, as an attacker would send it.
        let flood = vec![empty(""); 21_000];
        assert!(matches!(
            Packet::decode(&message(flood)),
            Err(DecodeError::Limit { .. })
        ));
        let longest = "n".repeat(MAX_PROTOCOL_NAME);
        assert!(Packet::decode(&message(vec![empty(&longest)])).is_ok());
        assert_eq!(
            Packet::decode(&message(vec![empty(&format!("{longest}n"))])),
            Err(DecodeError::Limit {
                field: "protocolName",
                max: MAX_PROTOCOL_NAME
            })
        );
    }
}
