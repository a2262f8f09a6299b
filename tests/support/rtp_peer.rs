//! A phone's media played by the test itself: a UDP socket on loopback that, once atende
//! sends it anything, streams an A-law tone back to where that came from (symmetric RTP,
//! as phones do) and keeps every A-law payload it heard with its arrival time, so a test
//! can tell who heard whom, when. Used with `tests/sipp/agent_media.xml` (the phone's
//! signalling, announcing this port). Bounded: the thread stops when the peer is dropped.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type Heard = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

pub struct RtpPeer {
    pub port: u16,
    heard: Heard,
    /// Keys to press (RFC 4733 events, payload type 101), sent in place of the next voice
    /// frame.
    keys: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RtpPeer {
    /// Starts a peer that answers with a `freq` Hz tone.
    pub fn start(freq: u32) -> RtpPeer {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("RTP peer binds");
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .expect("read timeout");
        let port = sock.local_addr().expect("local address").port();
        let heard: Heard = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let keys: Arc<Mutex<Vec<u8>>> = Arc::default();
        let (h, s, k) = (heard.clone(), stop.clone(), keys.clone());
        let thread = std::thread::spawn(move || run(sock, freq, h, s, k));
        RtpPeer {
            port,
            heard,
            keys,
            stop,
            thread: Some(thread),
        }
    }

    /// The audio heard between `from` and `to` (arrival times), decoded.
    pub fn heard_between(&self, from: Instant, to: Instant) -> Vec<i16> {
        let heard = self.heard.lock().unwrap();
        heard
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .flat_map(|(_, p)| p.iter().map(|b| atende::media::g711::alaw_decode(*b)))
            .collect()
    }

    /// Presses `digit` (0-9) on the phone: one RFC 4733 event (payload type 101, end bit
    /// set, sent three times as RFC 4733 asks for an end) in place of the next voice frame.
    #[allow(dead_code)]
    pub fn press(&self, digit: u8) {
        self.keys.lock().unwrap().push(digit);
    }

    /// Seconds of audio heard so far.
    pub fn heard_secs(&self) -> f64 {
        let heard = self.heard.lock().unwrap();
        heard.iter().map(|(_, p)| p.len()).sum::<usize>() as f64 / 8000.0
    }
}

impl Drop for RtpPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(sock: UdpSocket, freq: u32, heard: Heard, stop: Arc<AtomicBool>, keys: Arc<Mutex<Vec<u8>>>) {
    let mut peer: Option<SocketAddr> = None;
    let mut buf = [0u8; 1500];
    let (mut seq, mut ts, ssrc) = (1u16, 0u32, 0x5eed_0000 | freq);
    let mut phase = 0u64;
    let mut next_send = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            // A-law voice only (payload type 8); events and others are not audio.
            if n > 12 && buf[1] & 0x7f == 8 {
                heard
                    .lock()
                    .unwrap()
                    .push((Instant::now(), buf[12..n].to_vec()));
            }
            if peer.is_none() {
                next_send = Instant::now();
            }
            peer = Some(from);
        }
        let (Some(to), true) = (peer, Instant::now() >= next_send) else {
            continue;
        };
        next_send += Duration::from_millis(20);
        let key = keys.lock().unwrap().pop();
        if let Some(event) = key {
            for _ in 0..3 {
                let mut packet = vec![0x80, 0x80 | 101];
                packet.extend_from_slice(&seq.to_be_bytes());
                packet.extend_from_slice(&ts.to_be_bytes());
                packet.extend_from_slice(&ssrc.to_be_bytes());
                packet.extend_from_slice(&[event, 0x80 | 10, 0x03, 0x20]);
                let _ = sock.send_to(&packet, to);
                seq = seq.wrapping_add(1);
            }
            ts = ts.wrapping_add(160);
            continue;
        }
        let mut packet = vec![0x80, 8];
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&ts.to_be_bytes());
        packet.extend_from_slice(&ssrc.to_be_bytes());
        for _ in 0..160 {
            let t = phase as f64 / 8000.0;
            let v = (t * freq as f64 * 2.0 * std::f64::consts::PI).sin() * 8000.0;
            packet.push(atende::media::g711::alaw_encode(v as i16));
            phase += 1;
        }
        let _ = sock.send_to(&packet, to);
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
    }
}
