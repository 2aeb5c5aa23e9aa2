//! secp256k1 ECDSA verification the way libsecp256k1 does it, on k256's
//! field arithmetic: Jacobian coordinates with variable-time formulas (a
//! verification handles public data only), static tables of odd multiples
//! of the generator, the GLV endomorphism for the key's scalar, and the
//! result's x compared without an inversion.
//!
//! The key's side is [`KeyTables`]: odd multiples of P and of 2^64·P in
//! affine coordinates. With them every scalar is cut into 64-bit streams
//! that share one chain of 64 doublings. Building the tables costs about
//! what the halved chain saves, so a caller that verifies many claims with
//! one key keeps them ([`KeyTables::to_bytes`]); one that does not builds
//! them per call.

// Field and scalar arithmetic is modular and cannot overflow; the integer
// arithmetic and indexes are bounded by the w-NAF (digit positions below
// 65, table indexes below 2^(w−2)), as the tests check.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use k256::elliptic_curve::bigint::U256;
use k256::elliptic_curve::hazmat::FieldArithmetic;
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::point::AffineCoordinates as _;
use k256::elliptic_curve::scalar::{FromUintUnchecked, IsHigh as _};
use k256::{AffinePoint, FieldBytes, Scalar, Secp256k1};
use std::sync::OnceLock;

/// k256's field element. Its reduction is lazy: every value has a
/// magnitude, the multiple of p it may reach; `mul` and `square` take at
/// most 8 and return 1, `+` adds them, `negate(m)` takes at most m and
/// returns m + 1, `normalize_weak` returns 1. Debug builds check them, so
/// the tests check this file's.
type Fe = <Secp256k1 as FieldArithmetic>::FieldElement;

/// w-NAF width for the generator streams: 64 odd multiples per table.
const G_WIDTH: u32 = 8;
const G_TABLE: usize = 1 << (G_WIDTH - 2);
/// w-NAF width for the key streams: 8 odd multiples per table.
const P_WIDTH: u32 = 5;
const P_TABLE: usize = 1 << (P_WIDTH - 2);

/// Digits of a w-NAF of a 64-bit number: one more than its bits.
const DIGITS: usize = 65;

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
/// β: the cube root of unity in the field that goes with λ.
const BETA: U256 =
    U256::from_be_hex("7ae96a2b657c07106e64479eac3434e99cf0497512f58995c1396c28719501ee");
/// The group order n and the field modulus p.
const ORDER: U256 =
    U256::from_be_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
const MODULUS: U256 =
    U256::from_be_hex("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f");
/// p − n: an r below it has a second x candidate, r + n.
const MODULUS_MINUS_ORDER: U256 = MODULUS.wrapping_sub(&ORDER);

/// First byte of [`KeyTables::to_bytes`]: the layout's version.
const TABLES_VERSION: u8 = 1;
/// Length of [`KeyTables::to_bytes`]: the version, then 2 tables of
/// `P_TABLE` points as x ‖ y, 32 bytes big-endian each.
pub(crate) const TABLES_LEN: usize = 1 + 2 * P_TABLE * 64;

/// A finite point in affine coordinates, magnitudes at most 2.
#[derive(Clone, Copy, Debug)]
struct Affine {
    x: Fe,
    y: Fe,
}

impl Affine {
    fn from_k256(p: &AffinePoint) -> Option<Self> {
        Some(Affine {
            x: Option::from(Fe::from_bytes(&p.x()))?,
            y: Option::from(Fe::from_bytes(&p.y()))?,
        })
    }

    /// `−self` if `negative`.
    fn signed(&self, negative: bool) -> Self {
        if negative {
            Affine {
                x: self.x,
                y: self.y.negate(1),
            }
        } else {
            *self
        }
    }
}

/// A point in Jacobian coordinates: (X/Z², Y/Z³), magnitudes 1.
#[derive(Clone, Copy, Debug)]
struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
    infinity: bool,
}

impl Jacobian {
    const INFINITY: Self = Jacobian {
        x: Fe::ZERO,
        y: Fe::ONE,
        z: Fe::ZERO,
        infinity: true,
    };

    fn from_affine(a: &Affine) -> Self {
        Jacobian {
            x: a.x.normalize_weak(),
            y: a.y.normalize_weak(),
            z: Fe::ONE,
            infinity: false,
        }
    }

    /// `2·self` in 3M + 4S: M = 3X², S = 4XY², X' = M² − 2S,
    /// Y' = M(S − X') − 8Y⁴, Z' = 2YZ. secp256k1 has no point of order 2,
    /// so Y is never 0.
    fn double(&self) -> Self {
        if self.infinity {
            return *self;
        }
        let yy = self.y.square();
        let m = self.x.square().mul_single(3);
        let s = self.x.mul(&yy).mul_single(4);
        let x = (m.square() + s.double().negate(8)).normalize_weak();
        let y8 = yy.square().mul_single(8);
        let y = (m.mul(&(s + x.negate(1))) + y8.negate(8)).normalize_weak();
        let z = self.y.mul(&self.z).double().normalize_weak();
        Jacobian {
            x,
            y,
            z,
            infinity: false,
        }
    }

    /// `self + b` for an affine `b` (8M + 3S).
    fn add_affine(&self, b: &Affine) -> Self {
        if self.infinity {
            return Jacobian::from_affine(b);
        }
        let zz = self.z.square();
        let u2 = b.x.mul(&zz);
        let s2 = b.y.mul(&zz).mul(&self.z);
        self.sum(&self.x, &self.y, &u2, &s2, self.z)
    }

    /// `self + b` (12M + 4S).
    fn add(&self, b: &Jacobian) -> Self {
        if self.infinity {
            return *b;
        }
        if b.infinity {
            return *self;
        }
        let (z1z1, z2z2) = (self.z.square(), b.z.square());
        let u1 = self.x.mul(&z2z2);
        let u2 = b.x.mul(&z1z1);
        let s1 = self.y.mul(&z2z2).mul(&b.z);
        let s2 = b.y.mul(&z1z1).mul(&self.z);
        self.sum(&u1, &s1, &u2, &s2, self.z.mul(&b.z))
    }

    /// The sum of `self` and another point, given both over a common
    /// denominator: `u1 = X1·Z2²`, `s1 = Y1·Z2³`, `u2 = X2·Z1²`,
    /// `s2 = Y2·Z1³` and `z = Z1·Z2` (magnitudes 1). With H = u2 − u1 and
    /// R = s2 − s1: X' = R² − H³ − 2·u1·H², Y' = R(u1·H² − X') − s1·H³,
    /// Z' = z·H. H = 0 means the same x: the same point or its negation.
    fn sum(&self, u1: &Fe, s1: &Fe, u2: &Fe, s2: &Fe, z: Fe) -> Self {
        let h = *u2 + u1.negate(1);
        let r = *s2 + s1.negate(1);
        if bool::from(h.normalizes_to_zero()) {
            return if bool::from(r.normalizes_to_zero()) {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = u1.mul(&hh);
        let x = (r.square() + hhh.negate(1) + v.double().negate(2)).normalize_weak();
        let y = (r.mul(&(v + x.negate(1))) + s1.mul(&hhh).negate(1)).normalize_weak();
        Jacobian {
            x,
            y,
            z: z.mul(&h),
            infinity: false,
        }
    }

    /// Whether this point's affine x, reduced mod n, is `r`: X = x·Z² for x
    /// = r or, when r + n is below p, x = r + n (libsecp256k1's
    /// `gej_eq_x_var`), so no inversion.
    fn x_is(&self, r: &Scalar) -> bool {
        if self.infinity {
            return false;
        }
        let zz = self.z.square();
        let r = U256::from(r);
        let wrapped = (r < MODULUS_MINUS_ORDER).then(|| r.wrapping_add(&ORDER));
        [Some(r), wrapped].into_iter().flatten().any(|x| {
            fe_from_uint(&x)
                .is_some_and(|x| bool::from((x.mul(&zz) + self.x.negate(1)).normalizes_to_zero()))
        })
    }
}

fn fe_from_uint(x: &U256) -> Option<Fe> {
    Option::from(Fe::from_bytes(&FieldBytes::from(x.to_be_bytes())))
}

/// `[p, 3p, 5p, …]`.
fn odd_multiples<const N: usize>(p: &Jacobian) -> [Jacobian; N] {
    let twice = p.double();
    let mut table = [*p; N];
    for i in 1..N {
        table[i] = table[i - 1].add(&twice);
    }
    table
}

/// The same points in affine coordinates, with one inversion for all
/// (Montgomery's trick); `None` if one is the point at infinity.
fn to_affine<const N: usize>(points: &[Jacobian; N]) -> Option<[Affine; N]> {
    if points.iter().any(|p| p.infinity) {
        return None;
    }
    // prefix[i] = z0·z1·…·zi
    let mut prefix = [Fe::ONE; N];
    let mut product = Fe::ONE;
    for (p, slot) in points.iter().zip(prefix.iter_mut()) {
        product = product.mul(&p.z);
        *slot = product;
    }
    let mut inverse: Fe = Option::from(product.invert_vartime())?;
    let mut out = [Affine {
        x: Fe::ZERO,
        y: Fe::ZERO,
    }; N];
    for i in (0..N).rev() {
        // inverse = 1/(z0·…·zi) here.
        let z_inv = if i == 0 {
            inverse
        } else {
            inverse.mul(&prefix[i - 1])
        };
        inverse = inverse.mul(&points[i].z);
        let zz_inv = z_inv.square();
        out[i] = Affine {
            x: points[i].x.mul(&zz_inv).normalize(),
            y: points[i].y.mul(&zz_inv.mul(&z_inv)).normalize(),
        };
    }
    Some(out)
}

/// A secp256k1 key's side of a verification: the odd multiples of P and of
/// 2^64·P, affine.
#[derive(Clone, Debug)]
pub(crate) struct KeyTables {
    p: [Affine; P_TABLE],
    p64: [Affine; P_TABLE],
}

impl KeyTables {
    /// The tables of a key (about 250,000 instructions: 66 doublings, 14
    /// additions and an inversion).
    pub(crate) fn new(key: &AffinePoint) -> Option<Self> {
        let p = Jacobian::from_affine(&Affine::from_k256(key)?);
        let p64 = (0..64).fold(p, |q, _| q.double());
        Some(KeyTables {
            p: to_affine(&odd_multiples(&p))?,
            p64: to_affine(&odd_multiples(&p64))?,
        })
    }

    /// [`TABLES_LEN`] bytes: the version byte, then the points of both
    /// tables as x ‖ y.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TABLES_LEN);
        out.push(TABLES_VERSION);
        for point in self.p.iter().chain(&self.p64) {
            out.extend_from_slice(&point.x.to_bytes());
            out.extend_from_slice(&point.y.to_bytes());
        }
        out
    }

    /// Read what [`KeyTables::to_bytes`] wrote for the compressed key
    /// `key`. `None` for another length or version, a coordinate that is not
    /// a field element, or a first point that is not `key`: the bytes come
    /// from a generated column, so those checks catch a mix-up, not forgery.
    pub(crate) fn from_bytes(bytes: &[u8], key: &[u8; 33]) -> Option<Self> {
        let (&version, points) = bytes.split_first()?;
        if version != TABLES_VERSION || points.len() != TABLES_LEN - 1 {
            return None;
        }
        let first_x = points.get(..32)?;
        let y_parity = points.get(63)? & 1;
        if key[0] != 0x02 | y_parity || first_x != &key[1..] {
            return None;
        }
        let mut coordinates = points.chunks_exact(32).map(|c| {
            let bytes: [u8; 32] = c.try_into().ok()?;
            Option::<Fe>::from(Fe::from_bytes(&FieldBytes::from(bytes)))
        });
        let mut table = || -> Option<[Affine; P_TABLE]> {
            let mut t = [Affine {
                x: Fe::ZERO,
                y: Fe::ZERO,
            }; P_TABLE];
            for point in &mut t {
                point.x = coordinates.next()??;
                point.y = coordinates.next()??;
            }
            Some(t)
        };
        Some(KeyTables {
            p: table()?,
            p64: table()?,
        })
    }

    /// Whether `(r, s)` is this key's ECDSA signature of the 32-byte
    /// `digest`. `r` and `s` are nonzero (a parsed signature's are).
    pub(crate) fn verify(&self, digest: &[u8; 32], r: &Scalar, s: &Scalar) -> bool {
        let z = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(*digest));
        let Some(s_inv) = Option::<Scalar>::from(s.invert_vartime()) else {
            return false;
        };
        self.mul_add_generator(&(r * &s_inv), &(z * s_inv))
            .is_some_and(|point| point.x_is(r))
    }

    /// `k·P + g·G`; `None` only if the generator tables could not be built.
    fn mul_add_generator(&self, k: &Scalar, g: &Scalar) -> Option<Jacobian> {
        let generator = generator_tables()?;
        let (k1, k2) = split_lambda(k);
        let (k1, neg1) = small_magnitude(k1);
        let (k2, neg2) = small_magnitude(k2);
        // k·P = k1·P + k2·λP, λ(x, y) = (βx, y).
        let lambda = |t: &[Affine; P_TABLE]| {
            t.map(|a| Affine {
                x: a.x.mul(&generator.beta),
                y: a.y,
            })
        };
        let (lambda_p, lambda_p64) = (lambda(&self.p), lambda(&self.p64));
        let g = g.to_bytes();
        let g_limb = |i: usize| {
            let mut limb = [0u8; 8];
            limb.copy_from_slice(&g[24 - 8 * i..32 - 8 * i]);
            u64::from_be_bytes(limb)
        };
        let ((k1_hi, k1_lo), (k2_hi, k2_lo)) = (split_64(k1), split_64(k2));
        let streams: [(&[Affine], u64, bool, u32); 8] = [
            (&self.p, k1_lo, neg1, P_WIDTH),
            (&self.p64, k1_hi, neg1, P_WIDTH),
            (&lambda_p, k2_lo, neg2, P_WIDTH),
            (&lambda_p64, k2_hi, neg2, P_WIDTH),
            (&generator.g[0], g_limb(0), false, G_WIDTH),
            (&generator.g[1], g_limb(1), false, G_WIDTH),
            (&generator.g[2], g_limb(2), false, G_WIDTH),
            (&generator.g[3], g_limb(3), false, G_WIDTH),
        ];
        let mut digits = [[0i32; DIGITS]; 8];
        let mut top = 0;
        for ((_, k, _, w), digits) in streams.iter().zip(&mut digits) {
            top = top.max(wnaf(*k, *w, digits));
        }
        let mut acc = Jacobian::INFINITY;
        for i in (0..top).rev() {
            acc = acc.double();
            for ((table, _, negative, _), digits) in streams.iter().zip(&digits) {
                let d = digits[i];
                if d != 0 {
                    let point = table[(d.unsigned_abs() / 2) as usize];
                    acc = acc.add_affine(&point.signed((d < 0) != *negative));
                }
            }
        }
        Some(acc)
    }
}

/// Odd multiples of G, 2^64·G, 2^128·G and 2^192·G, affine, and β.
#[derive(Debug)]
struct GeneratorTables {
    g: [[Affine; G_TABLE]; 4],
    beta: Fe,
}

/// Built once per process (about 1.5 million instructions).
fn generator_tables() -> Option<&'static GeneratorTables> {
    static TABLES: OnceLock<Option<Box<GeneratorTables>>> = OnceLock::new();
    TABLES
        .get_or_init(|| {
            let mut base = Jacobian::from_affine(&Affine::from_k256(&AffinePoint::GENERATOR)?);
            let mut g = [[Affine {
                x: Fe::ZERO,
                y: Fe::ZERO,
            }; G_TABLE]; 4];
            for table in &mut g {
                *table = to_affine(&odd_multiples(&base))?;
                base = (0..64).fold(base, |q, _| q.double());
            }
            Some(Box::new(GeneratorTables {
                g,
                beta: fe_from_uint(&BETA)?,
            }))
        })
        .as_deref()
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

/// The high and low 64 bits of `k`.
fn split_64(k: u128) -> (u64, u64) {
    let bytes = k.to_be_bytes();
    let word = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or_default());
    (word(&bytes[..8]), word(&bytes[8..]))
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
/// k (the carry out of the top window is digit 64). Returns one past the
/// highest nonzero digit (libsecp256k1's `ecmult_wnaf`).
fn wnaf(k: u64, w: u32, digits: &mut [i32; DIGITS]) -> usize {
    let (mut bit, mut carry, mut top) = (0u32, 0i32, 0usize);
    while bit < 64 {
        if i32::from((k >> bit) & 1 == 1) == carry {
            bit += 1;
            continue;
        }
        let now = w.min(64 - bit);
        let window = i32::from((k >> bit).to_le_bytes()[0] & (u8::MAX >> (8 - now))) + carry;
        carry = (window >> (w - 1)) & 1;
        digits[bit as usize] = window - (carry << w);
        top = bit as usize + 1;
        bit += now;
    }
    if carry != 0 {
        digits[64] = 1;
        top = 65;
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
    use k256::elliptic_curve::ops::MulByGeneratorVartime as _;
    use k256::elliptic_curve::sec1::{FromSec1Point as _, ToSec1Point as _};
    use k256::ProjectivePoint;
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

    /// A k256 point in drip's Jacobian coordinates, with Z = `z` (not 0).
    fn jacobian(p: &ProjectivePoint, z: &Scalar) -> Jacobian {
        let Some(a) = Affine::from_k256(&p.to_affine()) else {
            return Jacobian::INFINITY;
        };
        let z = fe_from_uint(&U256::from(z)).unwrap();
        let zz = z.square();
        Jacobian {
            x: a.x.mul(&zz),
            y: a.y.mul(&zz.mul(&z)),
            z,
            infinity: false,
        }
    }

    /// A Jacobian point as k256's, through its affine coordinates.
    fn k256_point(p: &Jacobian) -> ProjectivePoint {
        if p.infinity {
            return ProjectivePoint::IDENTITY;
        }
        let [a] = to_affine(&[*p]).unwrap();
        k256_affine(&a)
    }

    fn k256_affine(a: &Affine) -> ProjectivePoint {
        let mut sec1 = [4u8; 65];
        sec1[1..33].copy_from_slice(&a.x.to_bytes());
        sec1[33..].copy_from_slice(&a.y.normalize().to_bytes());
        let point = k256::Sec1Point::from_bytes(sec1).unwrap();
        ProjectivePoint::from(AffinePoint::from_sec1_point(&point).unwrap())
    }

    /// Whether `(r, s)` is `key`'s signature of `digest`, with the key's
    /// tables built for this one call (as `PublicKey::verify` does).
    fn verify_prehash(key: &AffinePoint, digest: &[u8; 32], r: &Scalar, s: &Scalar) -> bool {
        KeyTables::new(key).is_some_and(|t| t.verify(digest, r, s))
    }

    fn tables(p: &ProjectivePoint) -> KeyTables {
        KeyTables::new(&p.to_affine()).unwrap()
    }

    #[test]
    fn lambda_is_the_endomorphism_eigenvalue_and_beta_its_field_twin() {
        let lambda = lambda();
        for p in [ProjectivePoint::GENERATOR, point([3; 32])] {
            assert_eq!(p * lambda, p.endomorphism());
            let a = Affine::from_k256(&p.to_affine()).unwrap();
            let beta = generator_tables().unwrap().beta;
            let twin = Affine {
                x: a.x.mul(&beta),
                y: a.y,
            };
            assert_eq!(k256_affine(&twin), p * lambda);
        }
    }

    #[test]
    fn generator_tables_hold_odd_multiples() {
        let tables = generator_tables().unwrap();
        let two_64 = Scalar::from(1u128 << 64);
        let mut base = ProjectivePoint::GENERATOR;
        for table in &tables.g {
            for (i, odd) in [(0, 1u64), (1, 3), (31, 63), (63, 127)] {
                assert_eq!(k256_affine(&table[i]), base * Scalar::from(odd));
            }
            base *= two_64;
        }
    }

    #[test]
    fn key_tables_hold_odd_multiples_and_survive_their_bytes() {
        let p = point([9; 32]);
        let t = tables(&p);
        let p64 = p * Scalar::from(1u128 << 64);
        for i in 0..P_TABLE {
            let odd = Scalar::from(2 * i as u64 + 1);
            assert_eq!(k256_affine(&t.p[i]), p * odd);
            assert_eq!(k256_affine(&t.p64[i]), p64 * odd);
        }
        let bytes = t.to_bytes();
        assert_eq!(bytes.len(), TABLES_LEN);
        let key: [u8; 33] = p
            .to_affine()
            .to_sec1_point(true)
            .as_bytes()
            .try_into()
            .unwrap();
        let back = KeyTables::from_bytes(&bytes, &key).unwrap();
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn key_tables_refuse_bytes_of_another_shape_or_key() {
        let p = point([9; 32]);
        let bytes = tables(&p).to_bytes();
        let key: [u8; 33] = p
            .to_affine()
            .to_sec1_point(true)
            .as_bytes()
            .try_into()
            .unwrap();
        assert!(KeyTables::from_bytes(&bytes, &key).is_some());
        let mut other_parity = key;
        other_parity[0] ^= 1;
        let other_key: [u8; 33] = point([8; 32])
            .to_affine()
            .to_sec1_point(true)
            .as_bytes()
            .try_into()
            .unwrap();
        let mut version = bytes.clone();
        version[0] = 2;
        let mut not_a_field_element = bytes.clone();
        not_a_field_element[65..97].fill(0xff);
        for (bytes, key, why) in [
            (&bytes[..TABLES_LEN - 1], key, "short"),
            (&[bytes.as_slice(), &[0]].concat()[..], key, "long"),
            (&[][..], key, "empty"),
            (&version[..], key, "version"),
            (&not_a_field_element[..], key, "coordinate above p"),
            (&bytes[..], other_parity, "the key's negation"),
            (&bytes[..], other_key, "another key"),
        ] {
            assert!(KeyTables::from_bytes(bytes, &key).is_none(), "{why}");
        }
    }

    #[test]
    fn special_sums_are_right() {
        let p = point([5; 32]);
        let (j, j2) = (
            jacobian(&p, &Scalar::from(7u64)),
            jacobian(&p, &Scalar::from(11u64)),
        );
        let a = Affine::from_k256(&p.to_affine()).unwrap();
        assert_eq!(k256_point(&j.add(&j2)), p.double(), "P + P doubles");
        assert_eq!(
            k256_point(&j.add_affine(&a)),
            p.double(),
            "P + P doubles (mixed)"
        );
        assert!(j.add(&jacobian(&-p, &Scalar::from(3u64))).infinity, "P − P");
        assert!(j.add_affine(&a.signed(true)).infinity, "P − P (mixed)");
        assert_eq!(k256_point(&Jacobian::INFINITY.add(&j)), p);
        assert_eq!(k256_point(&j.add(&Jacobian::INFINITY)), p);
        assert_eq!(k256_point(&Jacobian::INFINITY.add_affine(&a)), p);
        assert!(Jacobian::INFINITY.double().infinity);
    }

    #[test]
    fn x_is_compares_mod_n_both_candidates() {
        // x_is reads only X and Z: X = c·Z² stands for an affine x of c.
        let z = fe_from_uint(&U256::from_u64(0x1234_5678)).unwrap();
        let at = |c: U256| Jacobian {
            x: fe_from_uint(&c).unwrap().mul(&z.square()),
            y: Fe::ONE,
            z,
            infinity: false,
        };
        let r = U256::from_u64(5);
        let r_scalar = Scalar::from(5u64);
        assert!(at(r).x_is(&r_scalar));
        assert!(at(r.wrapping_add(&ORDER)).x_is(&r_scalar), "x = r + n");
        assert!(!at(U256::from_u64(6)).x_is(&r_scalar));
        assert!(!Jacobian::INFINITY.x_is(&r_scalar));
        // r = p − n: r + n = p is no field element, x = r still counts.
        let big = MODULUS_MINUS_ORDER;
        let big_scalar = <Scalar as FromUintUnchecked>::from_uint_unchecked(big);
        assert!(at(big).x_is(&big_scalar));
    }

    #[test]
    fn edge_scalars_multiply_like_k256() {
        let p = point([9; 32]);
        let t = tables(&p);
        let minus_one = -Scalar::ONE;
        let cases = [
            Scalar::ZERO,
            Scalar::ONE,
            minus_one,
            Scalar::from(u64::MAX),
            Scalar::from(u128::MAX),
        ];
        for k in cases {
            for g in cases {
                assert_eq!(
                    k256_point(&t.mul_add_generator(&k, &g).unwrap()),
                    ProjectivePoint::mul_by_generator_and_mul_add_vartime(&g, &k, &p)
                );
            }
        }
        // k·P + g·G = 0 when g = −k·d for P = d·G.
        let d = scalar([9; 32]);
        let k = scalar([5; 32]);
        assert!(t.mul_add_generator(&k, &-(k * d)).unwrap().infinity);
    }

    proptest! {
        #[test]
        fn formulas_agree_with_k256(a in any::<[u8; 32]>(), b in any::<[u8; 32]>(), z1 in any::<[u8; 32]>(), z2 in any::<[u8; 32]>()) {
            let (p, q) = (point(a), point(b));
            let (z1, z2) = (scalar(z1), scalar(z2));
            prop_assume!(z1 != Scalar::ZERO && z2 != Scalar::ZERO);
            let (jp, jq) = (jacobian(&p, &z1), jacobian(&q, &z2));
            let aq = Affine::from_k256(&q.to_affine()).unwrap();
            prop_assert_eq!(k256_point(&jp.double()), p.double());
            prop_assert_eq!(k256_point(&jp.add(&jq)), p + q);
            prop_assert_eq!(k256_point(&jp.add_affine(&aq)), p + q);
            prop_assert_eq!(k256_point(&jp.add_affine(&aq.signed(true))), p - q);
        }

        #[test]
        fn split_lambda_halves_recombine_and_are_small(k in any::<[u8; 32]>()) {
            let k = scalar(k);
            let (k1, k2) = split_lambda(&k);
            prop_assert_eq!(k1 + k2 * lambda(), k);
            for half in [k1, k2] {
                let (magnitude, negative) = small_magnitude(half);
                let value = Scalar::from(magnitude);
                prop_assert_eq!(if negative { -value } else { value }, half);
                let (hi, lo) = split_64(magnitude);
                prop_assert_eq!(Scalar::from(hi) * Scalar::from(1u128 << 64) + Scalar::from(lo), value);
            }
        }

        #[test]
        fn wnaf_digits_are_odd_small_and_sum_to_the_number(k in any::<u64>(), w in prop::sample::select(vec![P_WIDTH, G_WIDTH])) {
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
            prop_assume!(p != ProjectivePoint::IDENTITY);
            prop_assert_eq!(
                k256_point(&tables(&p).mul_add_generator(&k, &g).unwrap()),
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
            // The same through tables that went through their bytes.
            let compressed: [u8; 33] = vk.to_sec1_point(true).as_bytes().try_into().map_err(|_| TestCaseError::fail("33 bytes"))?;
            let stored = KeyTables::new(vk.as_affine()).map(|t| t.to_bytes()).unwrap_or_default();
            let read = KeyTables::from_bytes(&stored, &compressed);
            prop_assert_eq!(read.is_some_and(|t| t.verify(&digest, &r, &s)), expected);
        }
    }
}
