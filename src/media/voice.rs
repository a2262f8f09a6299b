//! A leg's voice codec: what the party sends us, decoded to 8 kHz PCM, and PCM encoded
//! for the party.
//!
//! G.711 is stateless table work; Opus keeps an encoder and a decoder per leg (created when
//! the leg's SDP is known, never per packet). Opus runs narrowband at 8 kHz — the rate of
//! the other leg and of the recording — so no resampler sits in the path; its RTP clock is
//! still 48 kHz (RFC 7587), six ticks per 8 kHz sample.
//!
//! Limits: no packet-loss concealment (a lost packet is a gap, as for G.711); Opus frames
//! longer than 120 ms are refused by libopus and counted as invalid.

use crate::media::g711;
use crate::sdp::Codec;

/// Most 8 kHz samples one packet decodes to (Opus allows 120 ms).
pub const MAX_PCM: usize = 960;
/// Largest encoded payload we produce (G.711 at 120 ms is the worst case).
pub const MAX_PAYLOAD: usize = MAX_PCM;

/// Opus frame sizes at 8 kHz (2.5 … 60 ms), largest first.
const OPUS_FRAMES: [usize; 6] = [480, 320, 160, 80, 40, 20];

#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error("cannot set up the Opus codec: {0}")]
    Opus(#[from] opus::Error),
}

pub enum Voice {
    Pcma,
    Pcmu,
    Opus(Box<OpusCodec>),
}

pub struct OpusCodec {
    enc: opus::Encoder,
    dec: opus::Decoder,
}

impl std::fmt::Debug for Voice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.codec().name())
    }
}

impl Voice {
    pub fn new(codec: Codec) -> Result<Voice, VoiceError> {
        Ok(match codec {
            Codec::Pcma => Voice::Pcma,
            Codec::Pcmu => Voice::Pcmu,
            Codec::Opus => {
                let mut enc =
                    opus::Encoder::new(8000, opus::Channels::Mono, opus::Application::Voip)?;
                // Speech at telephone bandwidth: low complexity keeps a transcoded call
                // cheap, and in-band FEC lets the softphone recover a lost packet.
                enc.set_complexity(3)?;
                enc.set_bitrate(opus::Bitrate::Bits(16_000))?;
                enc.set_inband_fec(true)?;
                enc.set_packet_loss_perc(5)?;
                let dec = opus::Decoder::new(8000, opus::Channels::Mono)?;
                Voice::Opus(Box::new(OpusCodec { enc, dec }))
            }
        })
    }

    pub fn codec(&self) -> Codec {
        match self {
            Voice::Pcma => Codec::Pcma,
            Voice::Pcmu => Codec::Pcmu,
            Voice::Opus(_) => Codec::Opus,
        }
    }

    /// RTP timestamp ticks per 8 kHz sample.
    pub fn ticks_per_sample(&self) -> u32 {
        self.codec().clock_rate() / 8000
    }

    /// Decodes one packet's payload into `pcm`; returns the samples written, or `None` for
    /// a payload the codec rejects.
    pub fn decode(&mut self, payload: &[u8], pcm: &mut [i16; MAX_PCM]) -> Option<usize> {
        match self {
            Voice::Pcma | Voice::Pcmu => {
                let n = payload.len().min(MAX_PCM);
                if matches!(self, Voice::Pcma) {
                    g711::decode_alaw(&payload[..n], &mut pcm[..n]);
                } else {
                    g711::decode_ulaw(&payload[..n], &mut pcm[..n]);
                }
                Some(n)
            }
            Voice::Opus(o) => o.dec.decode(payload, &mut pcm[..], false).ok(),
        }
    }

    /// How many of `available` samples the next encoded packet should carry: all of them
    /// for G.711, the largest frame Opus accepts otherwise (0 when under 2.5 ms remain).
    pub fn frame_len(&self, available: usize) -> usize {
        match self {
            Voice::Pcma | Voice::Pcmu => available,
            Voice::Opus(_) => OPUS_FRAMES
                .iter()
                .copied()
                .find(|&f| f <= available)
                .unwrap_or(0),
        }
    }

    /// Encodes exactly one packet of `pcm` (its length from `frame_len`); returns the
    /// payload length, or `None` when the encoder refuses.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8; MAX_PAYLOAD]) -> Option<usize> {
        match self {
            Voice::Pcma => {
                g711::encode_alaw(pcm, &mut out[..pcm.len()]);
                Some(pcm.len())
            }
            Voice::Pcmu => {
                g711::encode_ulaw(pcm, &mut out[..pcm.len()]);
                Some(pcm.len())
            }
            Voice::Opus(o) => o.enc.encode(pcm, &mut out[..]).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|i| {
                (8000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16
            })
            .collect()
    }

    fn crossings(pcm: &[i16]) -> usize {
        pcm.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count()
    }

    #[test]
    fn opus_round_trip_keeps_a_tone_at_its_pitch() {
        let mut sender = Voice::new(Codec::Opus).unwrap();
        let mut receiver = Voice::new(Codec::Opus).unwrap();
        let input = tone(440.0, 8000);
        let mut decoded = Vec::new();
        let mut payload = [0u8; MAX_PAYLOAD];
        let mut pcm = [0i16; MAX_PCM];
        for frame in input.chunks(160) {
            assert_eq!(sender.frame_len(frame.len()), 160);
            let n = sender.encode(frame, &mut payload).unwrap();
            assert!(n > 0 && n < 160, "Opus compresses a 20 ms frame: {n} bytes");
            let got = receiver.decode(&payload[..n], &mut pcm).unwrap();
            assert_eq!(got, 160);
            decoded.extend_from_slice(&pcm[..got]);
        }
        // Skip the codec's start-up; a 440 Hz tone crosses zero 880 times a second.
        let tail = &decoded[2000..];
        let per_sec = crossings(tail) as f64 * 8000.0 / tail.len() as f64;
        assert!((860.0..900.0).contains(&per_sec), "pitch kept: {per_sec}");
        let energy: f64 =
            tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64;
        assert!(energy.sqrt() > 2000.0, "not silence: rms {}", energy.sqrt());
    }

    #[test]
    fn odd_g711_packet_sizes_split_into_opus_frames() {
        let v = Voice::new(Codec::Opus).unwrap();
        // A 30 ms G.711 packet: one 20 ms and one 10 ms Opus frame.
        assert_eq!(v.frame_len(240), 160);
        assert_eq!(v.frame_len(80), 80);
        assert_eq!(v.frame_len(10), 0);
        assert_eq!(Voice::new(Codec::Pcma).unwrap().frame_len(240), 240);
        assert_eq!(v.ticks_per_sample(), 6);
    }

    #[test]
    fn garbage_opus_payload_is_refused_not_a_panic() {
        let mut v = Voice::new(Codec::Opus).unwrap();
        let mut pcm = [0i16; MAX_PCM];
        // TOC byte for a 120 ms+ code-3 packet with an impossible frame count.
        assert!(v.decode(&[0xff, 0xff, 0xff], &mut pcm).is_none());
    }

    #[test]
    fn g711_decodes_what_it_encodes() {
        let mut v = Voice::new(Codec::Pcmu).unwrap();
        let input = tone(1000.0, 160);
        let mut payload = [0u8; MAX_PAYLOAD];
        let n = v.encode(&input, &mut payload).unwrap();
        let mut pcm = [0i16; MAX_PCM];
        assert_eq!(v.decode(&payload[..n], &mut pcm), Some(160));
        assert_eq!(crossings(&pcm[..160]), crossings(&input));
    }
}
