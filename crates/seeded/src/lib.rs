//! seeded: the harness's seeded random streams. Every draw a result depends on — generated
//! data and re-splits, the batch order, adapter initialisation and column selection, dropout
//! masks — comes from here, on one core: SplitMix64's increment and output mix (Steele, Lea
//! & Flood 2014) and FNV-1a of a stream's name. A stream is always named `(seed, name)`.
//!
//! Two engines share that core, because the results recorded so far depend on the exact draws
//! of each:
//! - [`SplitMix64`]: one word of state, for data (generation, splits, batch order);
//! - [`Rng`]: xoshiro256** seeded through SplitMix64, whose four words are saved with an
//!   adapter's state so that a resumed run draws what an uninterrupted one would have.
//!
//! Counter-based uses (the dropout kernel's per-element masks) call [`mix64`] directly.
//!
//! It must not depend on anything but serde: every crate that draws numbers can use it.

mod splitmix;
mod xoshiro;

pub use splitmix::SplitMix64;
pub use xoshiro::Rng;

/// SplitMix64's increment, the golden-ratio constant 2⁶⁴/φ.
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective 64-bit mix.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One SplitMix64 draw: advance `state` by [`GOLDEN_GAMMA`] and mix it.
#[inline(always)]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(GOLDEN_GAMMA);
    mix64(*state)
}

/// FNV-1a (64-bit) of a stream name.
pub fn fnv1a(name: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    h
}
