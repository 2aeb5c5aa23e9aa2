//! secp256k1 ECDSA verification on k256's group arithmetic, multiplying the
//! way libsecp256k1 does. k256's own verification builds w-NAF tables of the
//! generator on every call and splits both scalars with the endomorphism;
//! here `u1·G` reads static tables of odd multiples of G and 2^128·G (built
//! once per process, key-independent), only `u2·P` is split by the GLV
//! endomorphism, and the four 128-bit streams share one chain of doublings.
//!
//! Variable time: verification handles public data only (key, message,
//! signature), as k256's `verify_prehash` does.

// Scalar and point arithmetic is modular and cannot overflow; the integer
// arithmetic and indexes are bounded by the w-NAF (digit positions below
// 129, table indexes below 2^(w−2)), as the tests check.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use k256::elliptic_curve::bigint::U256;
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::point::AffineCoordinates as _;
use k256::elliptic_curve::scalar::{FromUintUnchecked, IsHigh as _};
use k256::elliptic_curve::BatchNormalize as _;
use k256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};
use std::sync::OnceLock;

/// w-NAF width for the generator streams: 64 odd multiples per table.
const G_WIDTH: u32 = 8;
const G_TABLE: usize = 1 << (G_WIDTH - 2);
/// w-NAF width for the key streams: 8 odd multiples, built per call.
const P_WIDTH: u32 = 5;
const P_TABLE: usize = 1 << (P_WIDTH - 2);

/// Digits of a w-NAF of a number below 2^128: one more than its bits.
const DIGITS: usize = 129;

/// The GLV constants of libsecp256k1 (`scalar_impl.h`): λ is the scalar with
/// λ·(x, y) = (β·x, y); g1, g2 are 2^384·b2/n and 2^384·(−b1)/n, rounded,
/// for the lattice basis (a1, b1), (a2, b2) of {(x, y) : x + y·λ ≡ 0 mod n}.
const MINUS_LAMBDA: U256 =
    U256::from_be_hex("ac9c52b33fa3cf1f5ad9e3fd77ed9ba4a880b9fc8ec739c2e0cfc810b51283cf");
const MINUS_B1: U256 =
    U256::from_be_hex("00000000000000000000000000000000e4437ed6010e88286f547fa90abfe4c3");
const MINUS_B2: U256 =
    U256::from_be_hex("fffffffffffffffffffffffffffffffe8a280ac50774346dd765cda83db1562c");
const G1: U256 =
    U256::from_be_hex("3086d221a7d46bcde86c90e49284eb153daa8a1471e8ca7fe893209a45dbb031");
const G2: U256 =
    U256::from_be_hex("e4437ed6010e88286f547fa90abfe4c4221208ac9df506c61571b4ae8ac47f71");

/// Whether `(r, s)` is `key`'s ECDSA signature of the 32-byte `digest`.
/// `r` and `s` are nonzero (a parsed signature's are).
pub(crate) fn verify_prehash(key: &AffinePoint, digest: &[u8; 32], r: &Scalar, s: &Scalar) -> bool {
    let z = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(*digest));
    let Some(s_inv) = Option::<Scalar>::from(s.invert_vartime()) else {
        return false;
    };
    let point = mul_add_generator(&ProjectivePoint::from(*key), &(r * &s_inv), &(z * s_inv));
    if point == ProjectivePoint::IDENTITY {
        return false;
    }
    let x = point.to_affine().x();
    <Scalar as Reduce<FieldBytes>>::reduce(&x) == *r
}

/// `k·p + g·G`.
fn mul_add_generator(p: &ProjectivePoint, k: &Scalar, g: &Scalar) -> ProjectivePoint {
    let (k1, k2) = split_lambda(k);
    let (k1, neg1) = small_magnitude(k1);
    let (k2, neg2) = small_magnitude(k2);
    // k·p = k1·p + k2·λp; the tables carry the halves' signs.
    let base = if neg1 { -*p } else { *p };
    let p_odd = odd_multiples::<P_TABLE>(base);
    let lambda_odd = p_odd.map(|q| {
        let q = q.endomorphism();
        if neg1 != neg2 {
            -q
        } else {
            q
        }
    });
    let (g_hi, g_lo) = halves(&g.to_bytes().into());
    let tables = generator_tables();

    let mut digits = [[0i32; DIGITS]; 4];
    let top = [
        wnaf(k1, P_WIDTH, &mut digits[0]),
        wnaf(k2, P_WIDTH, &mut digits[1]),
        wnaf(g_lo, G_WIDTH, &mut digits[2]),
        wnaf(g_hi, G_WIDTH, &mut digits[3]),
    ]
    .into_iter()
    .max()
    .unwrap_or(0);

    let mut acc = ProjectivePoint::IDENTITY;
    for i in (0..top).rev() {
        if i + 1 < top {
            acc = acc.double();
        }
        add_digit(&mut acc, &p_odd, digits[0][i]);
        add_digit(&mut acc, &lambda_odd, digits[1][i]);
        add_digit(&mut acc, &tables.g, digits[2][i]);
        add_digit(&mut acc, &tables.g128, digits[3][i]);
    }
    acc
}

/// `acc += d·T` for an odd digit `d` (or none for 0), with `table[i]` the
/// multiple 2i + 1 of T.
fn add_digit<P>(acc: &mut ProjectivePoint, table: &[P], d: i32)
where
    ProjectivePoint: for<'a> std::ops::AddAssign<&'a P> + for<'a> std::ops::SubAssign<&'a P>,
{
    let i = (d.unsigned_abs() / 2) as usize;
    match d {
        0 => {}
        1.. => *acc += &table[i],
        _ => *acc -= &table[i],
    }
}

/// Odd multiples of G and of 2^128·G, affine for cheaper additions.
struct GeneratorTables {
    g: [AffinePoint; G_TABLE],
    g128: [AffinePoint; G_TABLE],
}

fn generator_tables() -> &'static GeneratorTables {
    static TABLES: OnceLock<Box<GeneratorTables>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let g = ProjectivePoint::GENERATOR;
        let g128 = (0..128).fold(g, |p, _| p.double());
        Box::new(GeneratorTables {
            g: ProjectivePoint::batch_normalize(&odd_multiples::<G_TABLE>(g)),
            g128: ProjectivePoint::batch_normalize(&odd_multiples::<G_TABLE>(g128)),
        })
    })
}

/// `[p, 3p, 5p, …]`.
fn odd_multiples<const N: usize>(p: ProjectivePoint) -> [ProjectivePoint; N] {
    let twice = p.double();
    let mut table = [p; N];
    for i in 1..N {
        table[i] = table[i - 1] + twice;
    }
    table
}

/// `(k1, k2)` with `k1 + k2·λ ≡ k (mod n)`, both within ±2^128
/// (libsecp256k1's `scalar_split_lambda`).
fn split_lambda(k: &Scalar) -> (Scalar, Scalar) {
    let limbs = U256::from(k);
    let scalar = <Scalar as FromUintUnchecked>::from_uint_unchecked;
    let c1 = Scalar::from(mul_shift_384(&limbs, &G1));
    let c2 = Scalar::from(mul_shift_384(&limbs, &G2));
    let k2 = c1 * scalar(MINUS_B1) + c2 * scalar(MINUS_B2);
    let k1 = k + k2 * scalar(MINUS_LAMBDA);
    (k1, k2)
}

/// `round(a·b / 2^384)` for `a` below n and `b` one of g1, g2 (both below
/// 0.9·2^256), which is below 2^128: the rounding cannot overflow.
fn mul_shift_384(a: &U256, b: &U256) -> u128 {
    let (_, hi) = a.widening_mul(b);
    // Bits 384..512 of the product are hi's top half; bit 383 rounds.
    let (top, below) = halves(&hi.to_be_bytes().into());
    top + (below >> 127)
}

/// The high and low 128 bits of a big-endian 256-bit number.
fn halves(bytes: &[u8; 32]) -> (u128, u128) {
    let (hi, lo) = bytes.split_at(16);
    let word = |b: &[u8]| u128::from_be_bytes(b.try_into().unwrap_or_default());
    (word(hi), word(lo))
}

/// `|k|` and whether `k` is negative, for a scalar within ±2^128 (as
/// `split_lambda`'s halves are; libsecp256k1 and k256 prove the bound).
fn small_magnitude(k: Scalar) -> (u128, bool) {
    let negative = bool::from(k.is_high());
    let k = if negative { -k } else { k };
    let (high, low) = halves(&k.to_bytes().into());
    debug_assert_eq!(high, 0, "GLV half above 2^128");
    (low, negative)
}

/// The width-`w` NAF (`w` ≤ 8) of `k` into `digits` (all zero on entry):
/// each nonzero digit odd and below 2^(w−1) in magnitude, Σ digits[i]·2^i =
/// k (the carry out of the top window is digit 128). Returns one past the
/// highest nonzero digit (libsecp256k1's `ecmult_wnaf`).
fn wnaf(k: u128, w: u32, digits: &mut [i32; DIGITS]) -> usize {
    let (mut bit, mut carry, mut top) = (0u32, 0i32, 0usize);
    while bit < 128 {
        if i32::from((k >> bit) & 1 == 1) == carry {
            bit += 1;
            continue;
        }
        let now = w.min(128 - bit);
        let window = i32::from((k >> bit).to_le_bytes()[0] & (u8::MAX >> (8 - now))) + carry;
        carry = (window >> (w - 1)) & 1;
        digits[bit as usize] = window - (carry << w);
        top = bit as usize + 1;
        bit += now;
    }
    if carry != 0 {
        digits[128] = 1;
        top = 129;
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
    use k256::elliptic_curve::ops::MulByGeneratorVartime as _;
    use proptest::prelude::*;

    fn scalar(bytes: [u8; 32]) -> Scalar {
        <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(bytes))
    }

    fn point(secret: [u8; 32]) -> ProjectivePoint {
        ProjectivePoint::GENERATOR * scalar(secret)
    }

    fn lambda() -> Scalar {
        -<Scalar as FromUintUnchecked>::from_uint_unchecked(MINUS_LAMBDA)
    }

    #[test]
    fn lambda_is_the_endomorphism_eigenvalue() {
        let lambda = lambda();
        let g = ProjectivePoint::GENERATOR;
        assert_eq!(g * lambda, g.endomorphism());
        assert_eq!(point([3; 32]) * lambda, point([3; 32]).endomorphism());
    }

    #[test]
    fn generator_tables_hold_odd_multiples() {
        let tables = generator_tables();
        let g128 = ProjectivePoint::GENERATOR * Scalar::from(1u128 << 127) * Scalar::from(2u64);
        for (i, odd) in [(0, 1u64), (1, 3), (31, 63), (63, 127)] {
            assert_eq!(
                tables.g[i],
                (ProjectivePoint::GENERATOR * Scalar::from(odd)).to_affine()
            );
            assert_eq!(tables.g128[i], (g128 * Scalar::from(odd)).to_affine());
        }
    }

    #[test]
    fn edge_scalars_multiply_like_k256() {
        let p = point([9; 32]);
        let minus_one = -Scalar::ONE;
        let cases = [
            Scalar::ZERO,
            Scalar::ONE,
            minus_one,
            Scalar::from(u128::MAX),
        ];
        for k in cases {
            for g in cases {
                assert_eq!(
                    mul_add_generator(&p, &k, &g),
                    ProjectivePoint::mul_by_generator_and_mul_add_vartime(&g, &k, &p)
                );
            }
        }
        // k·P + g·G = 0 when g = −k·d for P = d·G.
        let d = scalar([9; 32]);
        let k = scalar([5; 32]);
        assert_eq!(
            mul_add_generator(&p, &k, &-(k * d)),
            ProjectivePoint::IDENTITY
        );
    }

    proptest! {
        #[test]
        fn split_lambda_halves_recombine_and_are_small(k in any::<[u8; 32]>()) {
            let k = scalar(k);
            let (k1, k2) = split_lambda(&k);
            prop_assert_eq!(k1 + k2 * lambda(), k);
            for half in [k1, k2] {
                let (magnitude, negative) = small_magnitude(half);
                let value = Scalar::from(magnitude);
                prop_assert_eq!(if negative { -value } else { value }, half);
            }
        }

        #[test]
        fn wnaf_digits_are_odd_small_and_sum_to_the_number(k in any::<u128>(), w in prop::sample::select(vec![P_WIDTH, G_WIDTH])) {
            let mut digits = [0i32; DIGITS];
            let top = wnaf(k, w, &mut digits);
            let mut sum = Scalar::ZERO;
            for (i, &d) in digits.iter().enumerate().rev() {
                sum = sum + sum;
                if d != 0 {
                    prop_assert!(d % 2 != 0 && d.abs() < 1 << (w - 1), "digit {d} at {i}");
                    prop_assert!(i < top);
                    let magnitude = Scalar::from(d.unsigned_abs());
                    sum += if d > 0 { magnitude } else { -magnitude };
                }
            }
            prop_assert_eq!(sum, Scalar::from(k));
            prop_assert!(top == 0 || digits[top - 1] != 0);
        }

        #[test]
        fn mul_add_generator_equals_k256(secret in any::<[u8; 32]>(), k in any::<[u8; 32]>(), g in any::<[u8; 32]>()) {
            let (p, k, g) = (point(secret), scalar(k), scalar(g));
            prop_assert_eq!(
                mul_add_generator(&p, &k, &g),
                ProjectivePoint::mul_by_generator_and_mul_add_vartime(&g, &k, &p)
            );
        }

        #[test]
        fn verification_agrees_with_k256(
            secret in any::<[u8; 32]>(),
            digest in any::<[u8; 32]>(),
            other in any::<[u8; 32]>(),
            tamper in 0usize..4,
        ) {
            let Ok(key) = k256::ecdsa::SigningKey::from_slice(&secret) else {
                return Ok(());
            };
            let sig: k256::ecdsa::Signature = key.sign_prehash(&digest).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let vk = *key.verifying_key();
            let (r, s) = (*sig.r(), *sig.s());
            prop_assert!(verify_prehash(vk.as_affine(), &digest, &r, &s));
            // One part wrong: another digest, r, s or key.
            let (digest, r, s, vk) = match tamper {
                0 => (other, r, s, vk),
                1 => (digest, r + Scalar::ONE, s, vk),
                2 => (digest, r, s + Scalar::ONE, vk),
                _ => (digest, r, s, k256::ecdsa::VerifyingKey::from_affine(point(other).to_affine()).unwrap_or(vk)),
            };
            let expected = k256::ecdsa::Signature::from_scalars(r, s)
                .is_ok_and(|sig| vk.verify_prehash(&digest, &sig).is_ok());
            prop_assert_eq!(verify_prehash(vk.as_affine(), &digest, &r, &s), expected);
        }
    }
}
