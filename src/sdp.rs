//! SDP offer/answer for one audio stream (RFC 3264), on top of rtc-sdp's parser.
//!
//! Owns: reading the remote audio description (address, payload formats, telephone-event,
//! direction), choosing a codec by our preference, and writing our offers and answers.
//! Limits: the first audio m-line is used and answered; no SRTP, no ICE. Opus (RFC 7587)
//! is carried narrowband: we ask for 8 kHz audio (`maxplaybackrate`) because every other
//! leg and the recording are 8 kHz; telephone-event is read at 8000 Hz only.

use std::fmt::Write as _;
use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use rtc_sdp::description::session::SessionDescription;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("SDP does not parse: {0}")]
    Syntax(String),
    #[error("SDP has no audio stream")]
    NoAudio,
    #[error("SDP audio stream has no usable connection address")]
    NoAddress,
    #[error("no codec in common (offered payload types: {offered})")]
    NoCommonCodec { offered: String },
}

/// Audio codecs atende can carry and record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcma,
    Pcmu,
    /// Opus (agent softphones), transcoded to and from G.711 in the media path.
    Opus,
}

impl Codec {
    /// The payload type we offer it with: static for G.711, a common dynamic one for Opus.
    pub fn default_pt(self) -> u8 {
        match self {
            Codec::Pcma => 8,
            Codec::Pcmu => 0,
            Codec::Opus => 111,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcma => "PCMA",
            Codec::Pcmu => "PCMU",
            Codec::Opus => "opus",
        }
    }
    /// RTP clock rate: Opus always signals 48 kHz, whatever the audio bandwidth.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcma | Codec::Pcmu => 8000,
            Codec::Opus => 48000,
        }
    }
    pub fn from_name(name: &str) -> Option<Codec> {
        match name.to_ascii_uppercase().as_str() {
            "PCMA" => Some(Codec::Pcma),
            "PCMU" => Some(Codec::Pcmu),
            "OPUS" => Some(Codec::Opus),
            _ => None,
        }
    }
    fn rtpmap(self) -> &'static str {
        match self {
            Codec::Pcma => "PCMA/8000",
            Codec::Pcmu => "PCMU/8000",
            Codec::Opus => "opus/48000/2",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
    /// The direction we answer with (RFC 3264 §6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
    /// True when the remote party put the call on hold.
    pub fn is_hold(self) -> bool {
        matches!(self, Direction::SendOnly | Direction::Inactive)
    }
}

/// What the remote side described for its audio.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteAudio {
    /// Where to send RTP (before symmetric-RTP latching corrects it).
    pub rtp_addr: SocketAddr,
    /// Offered payload types in order, with the codec when we know it.
    pub formats: Vec<(u8, Option<Codec>)>,
    pub telephone_event_pt: Option<u8>,
    pub direction: Direction,
}

/// The outcome of negotiation for one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub pt: u8,
    pub telephone_event_pt: Option<u8>,
}

pub fn parse(body: &[u8]) -> Result<RemoteAudio, SdpError> {
    let sd = SessionDescription::unmarshal(&mut Cursor::new(body))
        .map_err(|e| SdpError::Syntax(e.to_string()))?;
    let media = sd
        .media_descriptions
        .iter()
        .find(|m| m.media_name.media == "audio" && m.media_name.port.value > 0)
        .ok_or(SdpError::NoAudio)?;
    let conn = media
        .connection_information
        .as_ref()
        .or(sd.connection_information.as_ref())
        .and_then(|c| c.address.as_ref())
        .ok_or(SdpError::NoAddress)?;
    let ip: IpAddr = conn.address.parse().map_err(|_| SdpError::NoAddress)?;
    let port = u16::try_from(media.media_name.port.value).map_err(|_| SdpError::NoAddress)?;

    let mut formats = Vec::new();
    let mut telephone_event_pt = None;
    for f in &media.media_name.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        let rtpmap = media
            .attributes
            .iter()
            .filter(|a| a.key == "rtpmap")
            .filter_map(|a| a.value.as_deref())
            .find_map(|v| {
                let (p, enc) = v.split_once(' ')?;
                (p.trim().parse::<u8>().ok()? == pt).then(|| enc.trim().to_owned())
            });
        let codec = match rtpmap {
            Some(enc) => {
                let mut parts = enc.split('/');
                let name = parts.next().unwrap_or("");
                let rate = parts.next().unwrap_or("8000");
                if name.eq_ignore_ascii_case("telephone-event") && rate == "8000" {
                    telephone_event_pt.get_or_insert(pt);
                    continue;
                }
                Codec::from_name(name)
                    .filter(|c| rate.parse::<u32>().is_ok_and(|r| r == c.clock_rate()))
            }
            None => match pt {
                0 => Some(Codec::Pcmu),
                8 => Some(Codec::Pcma),
                _ => None,
            },
        };
        formats.push((pt, codec));
    }
    let attr = |k: &str| media.has_attribute(k) || sd.attributes.iter().any(|a| a.key == k);
    let direction = if attr("inactive") {
        Direction::Inactive
    } else if attr("sendonly") {
        Direction::SendOnly
    } else if attr("recvonly") {
        Direction::RecvOnly
    } else {
        Direction::SendRecv
    };
    // RFC 3264 §8.4: a zero address means hold, old-style.
    let direction = if ip.is_unspecified() && direction == Direction::SendRecv {
        Direction::SendOnly
    } else {
        direction
    };
    Ok(RemoteAudio {
        rtp_addr: SocketAddr::new(ip, port),
        formats,
        telephone_event_pt,
        direction,
    })
}

/// Picks the codec for an answer: the offerer's order decides among the ones we accept
/// (RFC 3264 §6.1 lets either rule; following the offer avoids needless transcoding).
pub fn negotiate(remote: &RemoteAudio, ours: &[Codec]) -> Result<Negotiated, SdpError> {
    remote
        .formats
        .iter()
        .find_map(|(pt, c)| c.filter(|c| ours.contains(c)).map(|c| (*pt, c)))
        .map(|(pt, codec)| Negotiated {
            codec,
            pt,
            telephone_event_pt: remote.telephone_event_pt,
        })
        .ok_or_else(|| SdpError::NoCommonCodec {
            offered: remote
                .formats
                .iter()
                .map(|(pt, _)| pt.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        })
}

/// Writes an SDP body. `formats` are (pt, codec) in preference order; `te_pt` adds
/// telephone-event 0-15.
pub fn write(
    session_id: u64,
    version: u64,
    addr: SocketAddr,
    formats: &[(u8, Codec)],
    te_pt: Option<u8>,
    direction: Direction,
) -> String {
    let ip = addr.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "v=0\r\no=atende {session_id} {version} IN {family} {ip}\r\ns=atende\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP",
        addr.port()
    );
    for (pt, _) in formats {
        let _ = write!(s, " {pt}");
    }
    if let Some(te) = te_pt {
        let _ = write!(s, " {te}");
    }
    s.push_str("\r\n");
    for (pt, codec) in formats {
        let _ = write!(s, "a=rtpmap:{pt} {}\r\n", codec.rtpmap());
        if *codec == Codec::Opus {
            // Narrowband is all the other leg and the recording carry; saves the
            // softphone's CPU and bits.
            let _ = write!(
                s,
                "a=fmtp:{pt} maxplaybackrate=8000;sprop-maxcapturerate=8000;useinbandfec=1\r\n"
            );
        }
    }
    if let Some(te) = te_pt {
        let _ = write!(
            s,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
        );
    }
    s.push_str("a=ptime:20\r\n");
    let _ = write!(s, "a={}\r\n", direction.attr());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

    #[test]
    fn reads_a_typical_gateway_offer() {
        let r = parse(SIPP_OFFER.as_bytes()).unwrap();
        assert_eq!(r.rtp_addr, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(r.telephone_event_pt, Some(101));
        assert_eq!(r.direction, Direction::SendRecv);
        let n = negotiate(&r, &[Codec::Pcma, Codec::Pcmu]).unwrap();
        assert_eq!((n.codec, n.pt), (Codec::Pcma, 8));
    }

    #[test]
    fn follows_the_offer_order_among_accepted_codecs() {
        let offer = SIPP_OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 0 8 101");
        let r = parse(offer.as_bytes()).unwrap();
        assert_eq!(
            negotiate(&r, &[Codec::Pcma, Codec::Pcmu]).unwrap().codec,
            Codec::Pcmu
        );
        assert_eq!(negotiate(&r, &[Codec::Pcma]).unwrap().codec, Codec::Pcma);
    }

    #[test]
    fn opus_is_read_at_48_khz_with_its_dynamic_payload_type() {
        let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 96 97 8\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:97 opus/16000\r\na=rtpmap:8 PCMA/8000\r\n";
        let r = parse(offer.as_bytes()).unwrap();
        assert_eq!(
            r.formats,
            vec![(96, Some(Codec::Opus)), (97, None), (8, Some(Codec::Pcma))]
        );
        let n = negotiate(&r, &[Codec::Pcma, Codec::Opus]).unwrap();
        assert_eq!((n.codec, n.pt), (Codec::Opus, 96));
        assert_eq!(negotiate(&r, &[Codec::Pcma]).unwrap().codec, Codec::Pcma);
        let body = write(
            1,
            1,
            "127.0.0.1:20000".parse().unwrap(),
            &[(96, Codec::Opus)],
            None,
            Direction::SendRecv,
        );
        assert!(body.contains("a=rtpmap:96 opus/48000/2\r\n"));
        assert!(body.contains("a=fmtp:96 maxplaybackrate=8000"));
        assert_eq!(
            parse(body.as_bytes()).unwrap().formats,
            vec![(96, Some(Codec::Opus))]
        );
    }

    #[test]
    fn no_common_codec_is_an_error_naming_what_was_offered() {
        let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 18 96\r\na=rtpmap:18 G729/8000\r\na=rtpmap:96 opus/48000/2\r\n";
        let r = parse(offer.as_bytes()).unwrap();
        let e = negotiate(&r, &[Codec::Pcma, Codec::Pcmu]).unwrap_err();
        assert_eq!(
            e,
            SdpError::NoCommonCodec {
                offered: "18 96".into()
            }
        );
    }

    #[test]
    fn hold_directions_are_seen() {
        let r = parse(format!("{SIPP_OFFER}a=sendonly\r\n").as_bytes()).unwrap();
        assert!(r.direction.is_hold());
        assert_eq!(r.direction.answer(), Direction::RecvOnly);
        let old = SIPP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        assert!(parse(old.as_bytes()).unwrap().direction.is_hold());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(b"hello").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(&[0xff, 0xfe, 0x00]).is_err());
        let video_only = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 6000 RTP/AVP 96\r\n";
        assert_eq!(parse(video_only.as_bytes()), Err(SdpError::NoAudio));
    }

    #[test]
    fn written_answer_parses_back() {
        let body = write(
            7,
            1,
            "127.0.0.1:20000".parse().unwrap(),
            &[(8, Codec::Pcma)],
            Some(101),
            Direction::SendRecv,
        );
        let r = parse(body.as_bytes()).unwrap();
        assert_eq!(r.rtp_addr.port(), 20000);
        assert_eq!(r.formats, vec![(8, Some(Codec::Pcma))]);
        assert_eq!(r.telephone_event_pt, Some(101));
    }
}
