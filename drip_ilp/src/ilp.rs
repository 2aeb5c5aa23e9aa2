//! ILPv4 packets (RFC 0027): Prepare, Fulfill and Reject, their error codes,
//! addresses and the 17-digit UTC timestamps, as the JavaScript
//! `ilp-packet` writes them.

use std::fmt;
use std::str::FromStr;

use drip_core::calendar::{civil_from_days, days_from_civil};
use sha2::{Digest, Sha256};

use crate::oer::{put_length, put_var_octets, DecodeError, Reader};

/// An ILP address (RFC 0015): an allocation scheme and dot-separated
/// segments of `[A-Za-z0-9_~-]`, at most 1023 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(String);

const SCHEMES: [&str; 9] = [
    "g", "private", "example", "peer", "self", "test", "test1", "test2", "test3",
];

impl Address {
    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This address with `segment` appended.
    pub fn child(&self, segment: &str) -> Result<Address, DecodeError> {
        format!("{}.{segment}", self.0).parse()
    }

    /// Whether `self` is `prefix` or below it.
    pub fn starts_with(&self, prefix: &Address) -> bool {
        self.0 == prefix.0
            || (self.0.starts_with(&prefix.0)
                && self.0.as_bytes().get(prefix.0.len()) == Some(&b'.'))
    }
}

impl FromStr for Address {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<Address, DecodeError> {
        let bad = |why: &str| DecodeError::invalid("address", why.to_owned());
        if s.is_empty() || s.len() > 1023 {
            return Err(bad("must be 1 to 1023 bytes"));
        }
        let mut parts = s.split('.');
        let scheme = parts.next().unwrap_or_default();
        if !SCHEMES.contains(&scheme) && scheme != "local" {
            return Err(bad("unknown allocation scheme"));
        }
        let mut segments = 0;
        for p in parts {
            if p.is_empty()
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'~' | b'-'))
            {
                return Err(bad("segments are [A-Za-z0-9_~-]+"));
            }
            segments += 1;
        }
        if segments == 0 {
            return Err(bad("needs at least one segment after the scheme"));
        }
        Ok(Address(s.to_owned()))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A UTC time to the millisecond, written `YYYYMMDDHHmmssfff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub unix_ms: i64,
}

impl Timestamp {
    /// The time at `unix_ms`.
    pub fn from_unix_ms(unix_ms: i64) -> Timestamp {
        Timestamp { unix_ms }
    }

    /// Now, by the system clock.
    pub fn now() -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp { unix_ms: ms }
    }

    /// The 17 digits (years 0 to 9999).
    pub fn to_digits(self) -> Result<String, DecodeError> {
        let days = self.unix_ms.div_euclid(86_400_000);
        let ms = self.unix_ms.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            return Err(DecodeError::invalid("timestamp", "year outside 0..=9999"));
        }
        Ok(format!(
            "{y:04}{m:02}{d:02}{:02}{:02}{:02}{:03}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        ))
    }

    /// Read the 17 digits.
    pub fn from_digits(s: &[u8]) -> Result<Timestamp, DecodeError> {
        let bad = |why: &str| DecodeError::invalid("timestamp", why.to_owned());
        if s.len() != 17 || !s.iter().all(u8::is_ascii_digit) {
            return Err(bad("must be 17 digits YYYYMMDDHHmmssfff"));
        }
        let n = |a: usize, b: usize| {
            s[a..b]
                .iter()
                .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0'))
        };
        let (y, mo, d, h, mi, se, ms) = (
            n(0, 4),
            n(4, 6),
            n(6, 8),
            n(8, 10),
            n(10, 12),
            n(12, 14),
            n(14, 17),
        );
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        let ok_day = usize::try_from(mo - 1)
            .ok()
            .and_then(|i| month_days.get(i))
            .is_some_and(|max| (1..=*max).contains(&d));
        // Leap seconds (60) are not representable: refuse them.
        if !ok_day || h > 23 || mi > 59 || se > 59 {
            return Err(bad("not a calendar time"));
        }
        let days = days_from_civil(y, mo, d);
        Ok(Timestamp {
            unix_ms: days * 86_400_000 + h * 3_600_000 + mi * 60_000 + se * 1000 + ms,
        })
    }
}

/// An ILP error code: three characters, class F (final), T (temporary) or
/// R (relative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub [u8; 3]);

impl ErrorCode {
    /// F00 Bad Request.
    pub const F00_BAD_REQUEST: ErrorCode = ErrorCode(*b"F00");
    /// F01 Invalid Packet.
    pub const F01_INVALID_PACKET: ErrorCode = ErrorCode(*b"F01");
    /// F02 Unreachable.
    pub const F02_UNREACHABLE: ErrorCode = ErrorCode(*b"F02");
    /// F03 Invalid Amount.
    pub const F03_INVALID_AMOUNT: ErrorCode = ErrorCode(*b"F03");
    /// F05 Wrong Condition.
    pub const F05_WRONG_CONDITION: ErrorCode = ErrorCode(*b"F05");
    /// F06 Unexpected Payment.
    pub const F06_UNEXPECTED_PAYMENT: ErrorCode = ErrorCode(*b"F06");
    /// F08 Amount Too Large.
    pub const F08_AMOUNT_TOO_LARGE: ErrorCode = ErrorCode(*b"F08");
    /// T00 Internal Error.
    pub const T00_INTERNAL_ERROR: ErrorCode = ErrorCode(*b"T00");
    /// T04 Insufficient Liquidity.
    pub const T04_INSUFFICIENT_LIQUIDITY: ErrorCode = ErrorCode(*b"T04");
    /// R00 Transfer Timed Out.
    pub const R00_TRANSFER_TIMED_OUT: ErrorCode = ErrorCode(*b"R00");

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

/// An ILP Prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    /// In the sender's asset's base units.
    pub amount: u64,
    /// After this, the packet must be rejected.
    pub expires_at: Timestamp,
    /// SHA-256 of the fulfillment that executes it.
    pub execution_condition: [u8; 32],
    /// Where it goes.
    pub destination: Address,
    /// End-to-end data.
    pub data: Vec<u8>,
}

/// An ILP Fulfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfill {
    /// The preimage of the Prepare's condition.
    pub fulfillment: [u8; 32],
    /// End-to-end data.
    pub data: Vec<u8>,
}

/// An ILP Reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Why.
    pub code: ErrorCode,
    /// Who rejected it (an address or prefix, as sent; not checked).
    pub triggered_by: String,
    /// For people.
    pub message: String,
    /// Machine-readable details.
    pub data: Vec<u8>,
}

/// One of the three ILPv4 packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Type 12.
    Prepare(Prepare),
    /// Type 13.
    Fulfill(Fulfill),
    /// Type 14.
    Reject(Reject),
}

/// The most end-to-end data a packet carries (ILPv4's `data` is an
/// `OCTET STRING (SIZE(0..32767))`): more is an invalid packet.
pub const MAX_DATA_LEN: usize = 32_767;

/// A packet's `data` field, within [`MAX_DATA_LEN`].
fn data(c: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    let data = c.var_octets("data")?;
    if data.len() > MAX_DATA_LEN {
        return Err(DecodeError::invalid(
            "data",
            format!("{} bytes, at most {MAX_DATA_LEN}", data.len()),
        ));
    }
    Ok(data.to_vec())
}

const PREPARE: u8 = 12;
const FULFILL: u8 = 13;
const REJECT: u8 = 14;

impl Fulfill {
    /// Whether this fulfills `prepare`: SHA-256(fulfillment) = condition.
    pub fn fulfills(&self, prepare: &Prepare) -> bool {
        <[u8; 32]>::from(Sha256::digest(self.fulfillment)) == prepare.execution_condition
    }
}

impl Packet {
    /// The packet's bytes. Fails only for a timestamp outside years 0-9999.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        let mut c = Vec::new();
        let kind = match self {
            Packet::Prepare(p) => {
                c.extend_from_slice(&p.amount.to_be_bytes());
                c.extend_from_slice(p.expires_at.to_digits()?.as_bytes());
                c.extend_from_slice(&p.execution_condition);
                put_var_octets(&mut c, p.destination.as_str().as_bytes());
                put_var_octets(&mut c, &p.data);
                PREPARE
            }
            Packet::Fulfill(f) => {
                c.extend_from_slice(&f.fulfillment);
                put_var_octets(&mut c, &f.data);
                FULFILL
            }
            Packet::Reject(r) => {
                c.extend_from_slice(&r.code.0);
                put_var_octets(&mut c, r.triggered_by.as_bytes());
                put_var_octets(&mut c, r.message.as_bytes());
                put_var_octets(&mut c, &r.data);
                REJECT
            }
        };
        let mut out = Vec::with_capacity(c.len() + 4);
        out.push(kind);
        put_length(&mut out, c.len());
        out.extend_from_slice(&c);
        Ok(out)
    }

    /// Read a packet; the whole input must be one packet.
    pub fn decode(bytes: &[u8]) -> Result<Packet, DecodeError> {
        let mut r = Reader::new(bytes);
        let kind = r.u8("type")?;
        let mut c = Reader::new(r.var_octets("contents")?);
        r.finish()?;
        let packet = match kind {
            PREPARE => Packet::Prepare(Prepare {
                amount: c.u64("amount")?,
                expires_at: Timestamp::from_digits(c.bytes(17, "expiresAt")?)?,
                execution_condition: c.array("executionCondition")?,
                destination: c.var_str("destination")?.parse()?,
                data: data(&mut c)?,
            }),
            FULFILL => Packet::Fulfill(Fulfill {
                fulfillment: c.array("fulfillment")?,
                data: data(&mut c)?,
            }),
            REJECT => {
                let code = c.array::<3>("code")?;
                if !code.iter().all(u8::is_ascii_alphanumeric) {
                    return Err(DecodeError::invalid("code", "not three letters or digits"));
                }
                let triggered_by = c.var_str("triggeredBy")?;
                if !triggered_by.is_ascii() {
                    return Err(DecodeError::invalid("triggeredBy", "not ASCII"));
                }
                Packet::Reject(Reject {
                    code: ErrorCode(code),
                    triggered_by: triggered_by.to_owned(),
                    message: c.var_str("message")?.to_owned(),
                    data: data(&mut c)?,
                })
            }
            other => {
                return Err(DecodeError::invalid(
                    "type",
                    format!("not an ILPv4 packet type: {other}"),
                ))
            }
        };
        c.finish()?;
        Ok(packet)
    }
}

/// The F08 Reject's data: the amount received and the maximum, as two
/// big-endian u64s (ilp-packet's `AmountTooLargeError`).
pub fn amount_too_large_data(received: u64, maximum: u64) -> Vec<u8> {
    [received.to_be_bytes(), maximum.to_be_bytes()].concat()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn timestamps() {
        let t = Timestamp::from_digits(b"20171207183455123").unwrap();
        assert_eq!(t.unix_ms, 1_512_671_695_123);
        assert_eq!(t.to_digits().unwrap(), "20171207183455123");
        assert_eq!(
            Timestamp::from_unix_ms(0).to_digits().unwrap(),
            "19700101000000000"
        );
        for bad in [
            &b"2017120718345512"[..],
            b"2017120718345512x",
            b"20170230000000000",
            b"20171207246000000",
            b"20171207235960000",
            b"20171300000000000",
        ] {
            assert!(
                Timestamp::from_digits(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            Timestamp::from_digits(b"20000229235959999")
                .unwrap()
                .to_digits()
                .unwrap(),
            "20000229235959999"
        );
    }

    #[test]
    fn addresses() {
        for ok in [
            "g.us.bank",
            "test.x",
            "private.a-b_c~d",
            "peer.config",
            "local.a",
        ] {
            assert_eq!(ok.parse::<Address>().unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "g",
            "g.",
            "g..a",
            "x.y",
            "g.a b",
            "g.é",
            &format!("g.{}", "a".repeat(1022)),
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
        let a: Address = "g.server.client".parse().unwrap();
        assert!(a.starts_with(&"g.server".parse().unwrap()));
        assert!(!a.starts_with(&"g.serv".parse().unwrap()));
    }

    #[test]
    fn a_fulfillment_matches_its_condition() {
        let fulfillment = [7u8; 32];
        let prepare = Prepare {
            amount: 1,
            expires_at: Timestamp::from_unix_ms(0),
            execution_condition: Sha256::digest(fulfillment).into(),
            destination: "g.a".parse().unwrap(),
            data: vec![],
        };
        assert!(Fulfill {
            fulfillment,
            data: vec![]
        }
        .fulfills(&prepare));
        assert!(!Fulfill {
            fulfillment: [8; 32],
            data: vec![]
        }
        .fulfills(&prepare));
    }

    #[test]
    fn data_is_at_most_32767_bytes() {
        for (len, ok) in [(MAX_DATA_LEN, true), (MAX_DATA_LEN + 1, false)] {
            let packets = [
                Packet::Prepare(Prepare {
                    amount: 1,
                    expires_at: Timestamp::from_unix_ms(0),
                    execution_condition: [0; 32],
                    destination: "g.a".parse().unwrap(),
                    data: vec![7; len],
                }),
                Packet::Fulfill(Fulfill {
                    fulfillment: [0; 32],
                    data: vec![7; len],
                }),
                Packet::Reject(Reject {
                    code: ErrorCode::F01_INVALID_PACKET,
                    triggered_by: "g.a".into(),
                    message: String::new(),
                    data: vec![7; len],
                }),
            ];
            for p in packets {
                let decoded = Packet::decode(&p.encode().unwrap());
                assert_eq!(decoded.is_ok(), ok, "{len} bytes: {decoded:?}");
            }
        }
    }

    fn packet() -> impl Strategy<Value = Packet> {
        prop_oneof![
            (
                any::<u64>(),
                0i64..253_402_300_799_999,
                any::<[u8; 32]>(),
                "g(\\.[a-z0-9_~-]{1,10}){1,4}",
                proptest::collection::vec(any::<u8>(), 0..300)
            )
                .prop_map(|(amount, ms, c, d, data)| Packet::Prepare(Prepare {
                    amount,
                    expires_at: Timestamp::from_unix_ms(ms),
                    execution_condition: c,
                    destination: d.parse().unwrap(),
                    data
                })),
            (
                any::<[u8; 32]>(),
                proptest::collection::vec(any::<u8>(), 0..300)
            )
                .prop_map(|(fulfillment, data)| Packet::Fulfill(Fulfill { fulfillment, data })),
            (
                "[FTR][0-9]{2}",
                "[a-z.]{0,20}",
                "\\PC{0,40}",
                proptest::collection::vec(any::<u8>(), 0..100)
            )
                .prop_map(|(code, triggered_by, message, data)| Packet::Reject(
                    Reject {
                        code: ErrorCode(code.as_bytes().try_into().unwrap()),
                        triggered_by,
                        message,
                        data
                    }
                )),
        ]
    }

    proptest! {
        #[test]
        fn packets_round_trip(p in packet()) {
            prop_assert_eq!(Packet::decode(&p.encode().unwrap()), Ok(p));
        }

        #[test]
        fn garbage_is_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Packet::decode(&bytes) {
                prop_assert_eq!(Packet::decode(&p.encode().unwrap()), Ok(p));
            }
        }

        #[test]
        fn a_damaged_packet_never_panics(p in packet(), at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
            let mut bytes = p.encode().unwrap();
            let i = at % bytes.len();
            bytes[i] = byte;
            let _ = Packet::decode(&bytes);
            bytes.truncate(cut % bytes.len());
            prop_assert!(Packet::decode(&bytes).is_err());
        }

        #[test]
        fn timestamps_round_trip(ms in 0i64..253_402_300_799_999) {
            let t = Timestamp::from_unix_ms(ms);
            prop_assert_eq!(Timestamp::from_digits(t.to_digits().unwrap().as_bytes()), Ok(t));
        }
    }
}
