//! The slice of OER (ITU-T X.696, as Interledger uses it in RFC 0030) that
//! BTP and ILP packets are made of: fixed-size integers, length-prefixed
//! octet strings, and variable-size unsigned integers.
//!
//! A length determinant is one byte below 128, else `0x80 | n` followed by
//! an n-byte big-endian length. Decoding never allocates more than the
//! input holds: a length is checked against the bytes left before anything
//! is read or copied.

/// Why bytes are not a valid packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a field.
    #[error("truncated: {field} needs {needed} more bytes, {left} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        left: usize,
    },
    /// A length determinant longer than any input could be.
    #[error("{0}: length of length out of range")]
    LengthOfLength(&'static str),
    /// A variable-size integer that does not fit 64 bits, or is empty.
    #[error("{0}: variable-length integer out of range")]
    VarUint(&'static str),
    /// A field holds a value the format does not allow.
    #[error("{field}: {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        why: String,
    },
    /// Bytes after the end of the packet.
    #[error("{0} trailing bytes after the packet")]
    Trailing(usize),
    /// More of something than a reader takes: the wire allows it, but
    /// decoding it would cost far more memory than its bytes.
    #[error("{field}: more than {max}")]
    Limit {
        /// The field.
        field: &'static str,
        /// The most allowed.
        max: usize,
    },
}

impl DecodeError {
    /// An invalid field.
    pub fn invalid(field: &'static str, why: impl Into<String>) -> DecodeError {
        DecodeError::Invalid {
            field,
            why: why.into(),
        }
    }
}

/// Reads OER fields from a byte slice, front to back.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Fail unless everything was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated {
                field,
                needed: n,
                left: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// A fixed-size byte array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, field)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    /// A big-endian u32.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// A big-endian u64.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A length determinant.
    pub fn length(&mut self, field: &'static str) -> Result<usize, DecodeError> {
        let first = self.u8(field)?;
        if first & 0x80 == 0 {
            return Ok(usize::from(first));
        }
        let n = usize::from(first & 0x7f);
        // More than 8 length bytes cannot address any real input.
        if n == 0 || n > 8 {
            return Err(DecodeError::LengthOfLength(field));
        }
        let bytes = self.bytes(n, field)?;
        let len = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        // Canonical only, as oer-utils reads it: the long form for 128 and
        // up, in its fewest bytes.
        if len < 0x80 || bytes[0] == 0 {
            return Err(DecodeError::invalid(field, "length not in canonical form"));
        }
        usize::try_from(len).map_err(|_| DecodeError::LengthOfLength(field))
    }

    /// A length-prefixed octet string (borrowed from the input).
    pub fn var_octets(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.length(field)?;
        self.bytes(n, field)
    }

    /// A length-prefixed UTF-8 string.
    pub fn var_str(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.var_octets(field)?)
            .map_err(|_| DecodeError::invalid(field, "not UTF-8"))
    }

    /// A variable-size unsigned integer (at most 64 bits).
    pub fn var_uint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let bytes = self.var_octets(field)?;
        if bytes.is_empty() || bytes.len() > 8 {
            return Err(DecodeError::VarUint(field));
        }
        Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }
}

/// Append a length determinant.
pub fn put_length(out: &mut Vec<u8>, len: usize) {
    if let Ok(short @ 0..0x80) = u8::try_from(len) {
        out.push(short);
        return;
    }
    let bytes = u64::try_from(len).unwrap_or(u64::MAX).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    // 1 to 8 bytes of length: the count fits the low 7 bits.
    out.push(0x80 | u8::try_from(8 - skip).unwrap_or(8));
    out.extend_from_slice(&bytes[skip..]);
}

/// Append a length-prefixed octet string.
pub fn put_var_octets(out: &mut Vec<u8>, data: &[u8]) {
    put_length(out, data.len());
    out.extend_from_slice(data);
}

/// Append a variable-size unsigned integer in its fewest bytes (at least one).
pub fn put_var_uint(out: &mut Vec<u8>, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    put_var_octets(out, &bytes[skip..]);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn length_determinants() {
        for (len, enc) in [
            (0usize, vec![0u8]),
            (127, vec![0x7f]),
            (128, vec![0x81, 0x80]),
            (255, vec![0x81, 0xff]),
            (256, vec![0x82, 0x01, 0x00]),
            (65_536, vec![0x83, 0x01, 0x00, 0x00]),
        ] {
            let mut out = Vec::new();
            put_length(&mut out, len);
            assert_eq!(out, enc, "{len}");
            assert_eq!(Reader::new(&enc).length("len"), Ok(len));
        }
        assert_eq!(
            Reader::new(&[0x80]).length("x"),
            Err(DecodeError::LengthOfLength("x"))
        );
        assert_eq!(
            Reader::new(&[0x89]).length("x"),
            Err(DecodeError::LengthOfLength("x"))
        );
        // A huge declared length fails on the missing bytes, allocating nothing.
        let huge = [0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            Reader::new(&huge).var_octets("x"),
            Err(DecodeError::Truncated { .. }) | Err(DecodeError::LengthOfLength(_))
        ));
    }

    #[test]
    fn var_uints() {
        for (v, enc) in [
            (0u64, vec![1u8, 0]),
            (1, vec![1, 1]),
            (256, vec![2, 1, 0]),
            (u64::MAX, [vec![8], vec![0xff; 8]].concat()),
        ] {
            let mut out = Vec::new();
            put_var_uint(&mut out, v);
            assert_eq!(out, enc);
            assert_eq!(Reader::new(&enc).var_uint("v"), Ok(v));
        }
        assert_eq!(
            Reader::new(&[0]).var_uint("v"),
            Err(DecodeError::VarUint("v"))
        );
        assert_eq!(
            Reader::new(&[9; 10]).var_uint("v"),
            Err(DecodeError::VarUint("v"))
        );
    }

    proptest! {
        #[test]
        fn octets_round_trip(data in proptest::collection::vec(any::<u8>(), 0..70_000usize)) {
            let mut out = Vec::new();
            put_var_octets(&mut out, &data);
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.var_octets("d").unwrap(), &data[..]);
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&data);
            let _ = r.var_octets("a").and_then(|_| r.var_uint("b")).and_then(|_| r.u64("c"));
        }
    }
}
