//! G.711 A-law (PCMA, payload type 8) and µ-law (PCMU, payload type 0) at 8 kHz.
//!
//! Pure functions, no allocation: per-sample codecs, slice versions for whole RTP payloads,
//! and direct A-law↔µ-law transcoding for bridging legs that negotiated different laws.
//!
//! The sample codecs delegate to `audio-codec-algorithms`, which is already a dependency:
//! its decoders are 256-entry static table lookups and its encoders compute the segment
//! with `leading_zeros`, all `#[inline(always)]` and allocation-free, so we don't duplicate
//! them. The slice encoders (the per-frame hot path) use tables filled once from the
//! crate's encoders: its A-law encoder only looks at the top 13 bits of a sample and its
//! µ-law encoder at the top 14, so 8 KiB and 16 KiB tables are exact and encode a frame
//! several times faster than the bit arithmetic, which does not vectorize.
//! Transcoding uses 256-entry tables built once from the crate's ITU-T G.711 Table 3/4
//! conversions, which differ from decode→encode on purpose (µ-A-µ round trips are
//! transparent), so bridging never degrades audio more than the standard allows.
//!
//! Slice functions process `min(src.len(), dst.len())` samples; the rest of `dst` is left
//! untouched. Callers size `dst` from the payload.

use std::sync::LazyLock;

use audio_codec_algorithms as codec;

/// The two G.711 laws, as negotiated in SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711 {
    /// PCMA, used by most trunks outside North America and Japan.
    Alaw,
    /// PCMU.
    Ulaw,
}

impl G711 {
    /// Static RTP payload type (RFC 3551): 8 for PCMA, 0 for PCMU.
    pub const fn payload_type(self) -> u8 {
        match self {
            G711::Alaw => 8,
            G711::Ulaw => 0,
        }
    }

    /// The law for a static payload type, if it is one of ours.
    pub const fn from_payload_type(pt: u8) -> Option<G711> {
        match pt {
            8 => Some(G711::Alaw),
            0 => Some(G711::Ulaw),
            _ => None,
        }
    }

    /// SDP encoding name (`a=rtpmap`).
    pub const fn encoding_name(self) -> &'static str {
        match self {
            G711::Alaw => "PCMA",
            G711::Ulaw => "PCMU",
        }
    }

    /// Decodes a payload of this law into linear PCM.
    pub fn decode(self, src: &[u8], dst: &mut [i16]) {
        match self {
            G711::Alaw => decode_alaw(src, dst),
            G711::Ulaw => decode_ulaw(src, dst),
        }
    }

    /// Encodes linear PCM into a payload of this law.
    pub fn encode(self, src: &[i16], dst: &mut [u8]) {
        match self {
            G711::Alaw => encode_alaw(src, dst),
            G711::Ulaw => encode_ulaw(src, dst),
        }
    }
}

/// One A-law byte to a linear sample.
#[inline]
pub fn alaw_decode(b: u8) -> i16 {
    codec::decode_alaw(b)
}

/// One linear sample to an A-law byte.
#[inline]
pub fn alaw_encode(s: i16) -> u8 {
    codec::encode_alaw(s)
}

/// One µ-law byte to a linear sample.
#[inline]
pub fn ulaw_decode(b: u8) -> i16 {
    codec::decode_ulaw(b)
}

/// One linear sample to a µ-law byte.
#[inline]
pub fn ulaw_encode(s: i16) -> u8 {
    codec::encode_ulaw(s)
}

pub fn decode_alaw(src: &[u8], dst: &mut [i16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = codec::decode_alaw(s);
    }
}

pub fn decode_ulaw(src: &[u8], dst: &mut [i16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = codec::decode_ulaw(s);
    }
}

/// A-law code for every sample value `>> 3` (13 bits), indexed as unsigned.
static ALAW_ENCODE: LazyLock<Box<[u8; 1 << 13]>> = LazyLock::new(|| {
    Box::new(std::array::from_fn(|i| {
        codec::encode_alaw(((i as u16) << 3) as i16)
    }))
});
/// µ-law code for every sample value `>> 2` (14 bits), indexed as unsigned.
static ULAW_ENCODE: LazyLock<Box<[u8; 1 << 14]>> = LazyLock::new(|| {
    Box::new(std::array::from_fn(|i| {
        codec::encode_ulaw(((i as u16) << 2) as i16)
    }))
});

pub fn encode_alaw(src: &[i16], dst: &mut [u8]) {
    let table: &[u8; 1 << 13] = &ALAW_ENCODE;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = table[usize::from(s as u16 >> 3)];
    }
}

pub fn encode_ulaw(src: &[i16], dst: &mut [u8]) {
    let table: &[u8; 1 << 14] = &ULAW_ENCODE;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = table[usize::from(s as u16 >> 2)];
    }
}

static ALAW_TO_ULAW: LazyLock<[u8; 256]> =
    LazyLock::new(|| std::array::from_fn(|i| codec::convert_alaw_to_ulaw(i as u8)));
static ULAW_TO_ALAW: LazyLock<[u8; 256]> =
    LazyLock::new(|| std::array::from_fn(|i| codec::convert_ulaw_to_alaw(i as u8)));

/// Transcodes an A-law payload to µ-law without going through linear PCM.
pub fn alaw_to_ulaw(src: &[u8], dst: &mut [u8]) {
    let table: &[u8; 256] = &ALAW_TO_ULAW;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = table[usize::from(s)];
    }
}

/// Transcodes a µ-law payload to A-law without going through linear PCM.
pub fn ulaw_to_alaw(src: &[u8], dst: &mut [u8]) {
    let table: &[u8; 256] = &ULAW_TO_ALAW;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = table[usize::from(s)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_encoders_match_the_reference_for_every_sample_value() {
        let all: Vec<i16> = (i16::MIN..=i16::MAX).collect();
        let mut a = vec![0u8; all.len()];
        let mut u = vec![0u8; all.len()];
        encode_alaw(&all, &mut a);
        encode_ulaw(&all, &mut u);
        for (i, &s) in all.iter().enumerate() {
            assert_eq!(a[i], codec::encode_alaw(s), "A-law {s}");
            assert_eq!(u[i], codec::encode_ulaw(s), "µ-law {s}");
        }
    }

    #[test]
    fn silence_and_full_scale_match_the_recommendation() {
        // µ-law 0xFF is +0 and 0x80 the largest positive value (G.711 Table 2).
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        // A-law 0xD5 is the smallest positive step, 0xAA the largest (Table 1, even bits
        // inverted).
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for b in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(b)), b, "A-law code {b:#04x}");
            // µ-law has two zeros (0x7F is -0); it re-encodes as +0.
            let expected = if b == 0x7F { 0xFF } else { b };
            assert_eq!(ulaw_encode(ulaw_decode(b)), expected, "µ-law code {b:#04x}");
        }
    }

    #[test]
    fn encoding_error_stays_within_half_a_step() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let a = i32::from(alaw_decode(alaw_encode(s)));
            let u = i32::from(ulaw_decode(ulaw_encode(s)));
            let s = i32::from(s);
            // Largest segment step: 1024 (A-law), 1024 (µ-law) — plus µ-law clipping at
            // ±32124 and the A-law half-step bias.
            assert!((a - s).abs() <= 512 + 8, "A-law {s} -> {a}");
            assert!((u - s).abs() <= 644 + 4, "µ-law {s} -> {u}");
        }
    }

    #[test]
    fn slices_match_the_scalar_codecs_and_respect_the_shorter_side() {
        let pcm: Vec<i16> = (0..160)
            .map(|i| ((i * 409) % 65536 - 32768) as i16)
            .collect();
        let mut a = [0u8; 160];
        let mut u = [0u8; 160];
        encode_alaw(&pcm, &mut a);
        encode_ulaw(&pcm, &mut u);
        for i in 0..160 {
            assert_eq!(a[i], alaw_encode(pcm[i]));
            assert_eq!(u[i], ulaw_encode(pcm[i]));
        }
        let mut back = [7i16; 200];
        decode_alaw(&a, &mut back);
        assert_eq!(back[159], alaw_decode(a[159]));
        assert_eq!(back[160], 7, "samples past the source are untouched");
        let mut short = [0i16; 10];
        decode_ulaw(&u, &mut short);
        assert_eq!(short[9], ulaw_decode(u[9]));
    }

    #[test]
    fn transcoding_follows_g711_tables_and_keeps_the_level() {
        let src: Vec<u8> = (0..=255).collect();
        let mut u = [0u8; 256];
        let mut a = [0u8; 256];
        alaw_to_ulaw(&src, &mut u);
        ulaw_to_alaw(&src, &mut a);
        for b in 0..=255u8 {
            let i = usize::from(b);
            assert_eq!(u[i], codec::convert_alaw_to_ulaw(b));
            assert_eq!(a[i], codec::convert_ulaw_to_alaw(b));
            let lin = i32::from(alaw_decode(b));
            let via = i32::from(ulaw_decode(u[i]));
            assert!(
                (lin - via).abs() <= lin.abs() / 8 + 16,
                "{b}: {lin} vs {via}"
            );
        }
        // µ-law → A-law → µ-law keeps the value (the tables' transparency property).
        let mut back = [0u8; 256];
        alaw_to_ulaw(&a, &mut back);
        for b in 0..=255u8 {
            let (x, y) = (ulaw_decode(b), ulaw_decode(back[usize::from(b)]));
            assert!((i32::from(x) - i32::from(y)).abs() <= i32::from(x).abs() / 16 + 8);
        }
    }

    #[test]
    fn payload_types_are_the_static_ones() {
        assert_eq!(G711::Alaw.payload_type(), 8);
        assert_eq!(G711::Ulaw.payload_type(), 0);
        assert_eq!(G711::from_payload_type(8), Some(G711::Alaw));
        assert_eq!(G711::from_payload_type(18), None);
        let mut out = [0u8; 2];
        G711::Ulaw.encode(&[0, 0], &mut out);
        assert_eq!(out, [0xFF, 0xFF]);
    }
}
