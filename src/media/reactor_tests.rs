//! RTP relaying end to end through a real worker: legs on sockets of their own (connected
//! to a peer that sends from its announced address) and on shared ports, told apart by
//! their peers' addresses.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use tokio::sync::mpsc;

use super::ports::RtpPorts;
use super::reactor::{MediaIo, MediaReactor};
use super::session::{Leg, MediaCommand, MediaHandle, MediaSession};
use crate::sdp::{Codec, Negotiated};

const PCMA: Negotiated = Negotiated {
    codec: Codec::Pcma,
    pt: 8,
    telephone_event_pt: None,
};

fn peer() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s
}

fn rtp(ssrc: u32, seq: u16, fill: u8) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(fill, 160));
    p
}

/// A bridged call whose legs' peers are `caller` and `agent`; returns the local address
/// of each leg.
fn bridged_call(
    media: &MediaReactor,
    range: &RtpPorts,
    share: [bool; 2],
    caller: &UdpSocket,
    agent: &UdpSocket,
) -> (
    MediaHandle,
    [SocketAddr; 2],
    mpsc::Receiver<super::session::MediaEvent>,
) {
    let [c, a] = media
        .leg_ports(range, share, caller.local_addr().unwrap())
        .unwrap();
    let locals = [c.local_addr().unwrap(), a.local_addr().unwrap()];
    let (events, rx) = mpsc::channel(8);
    let handle = media.attach(MediaSession::new(
        c,
        a,
        None,
        events,
        media.stats(),
        [1, 2, 3, 4],
    ));
    for (leg, peer) in [(Leg::Caller, caller), (Leg::Agent, agent)] {
        announce(&handle, leg, peer.local_addr().unwrap());
    }
    handle
        .tx
        .send(super::reactor::WorkerMsg::Command(
            handle.id,
            MediaCommand::Bridge,
        ))
        .unwrap();
    (handle, locals, rx)
}

/// Sends `fill` from `from` to `to` until `expect` gets it (a worker applies commands at
/// its next batch); returns what arrived and from where.
fn relayed(
    from: &UdpSocket,
    to: SocketAddr,
    expect: &UdpSocket,
    fill: u8,
) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 1500];
    for seq in 0..20 {
        from.send_to(&rtp(0xabc, seq, fill), to).unwrap();
        if let Ok((n, src)) = expect.recv_from(&mut buf)
            && buf[12..n].iter().all(|b| *b == fill)
        {
            return (buf[..n].to_vec(), src);
        }
    }
    panic!("nothing relayed");
}

/// Every payload byte `s` receives until it has been quiet for `quiet_ms`.
fn heard(s: &UdpSocket, quiet_ms: u64) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_millis(quiet_ms)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let mut bytes = Vec::new();
    while let Ok(n) = s.recv(&mut buf) {
        bytes.extend_from_slice(&buf[12..n]);
    }
    bytes
}

fn calls_sharing_a_port_each_hear_only_their_own_peer(io: MediaIo) {
    let media = reactor(1, io);
    let range = ports(io, 43000, 43100);
    let (c1, a1, c2, a2) = (peer(), peer(), peer(), peer());
    let (_h1, l1, _e1) = bridged_call(&media, &range, [true, true], &c1, &a1);
    let (_h2, l2, _e2) = bridged_call(&media, &range, [true, true], &c2, &a2);
    assert!(
        l1 == [l1[0]; 2] && l2 == l1,
        "four legs on one port: {l1:?} {l2:?}"
    );

    let (pkt, src) = relayed(&c1, l1[0], &a1, 0x11);
    assert_eq!(
        src, l1[1],
        "the agent hears it from the port it was offered"
    );
    assert_eq!(pkt.len(), 172);
    assert_eq!(relayed(&a1, l1[1], &c1, 0x22).1, l1[0]);
    assert_eq!(relayed(&c2, l2[0], &a2, 0x33).1, l2[1]);
    assert_eq!(relayed(&a2, l2[1], &c2, 0x44).1, l2[0]);

    // No cross-talk: nothing of call 2 reached call 1's peers.
    for s in [&c1, &a1] {
        assert!(heard(s, 50).iter().all(|b| *b == 0x11 || *b == 0x22));
    }

    // A source no leg expects (every leg has heard from its peer) is dropped and counted.
    let stranger = peer();
    let strays = media
        .stats()
        .packets_stray
        .load(std::sync::atomic::Ordering::Relaxed);
    stranger.send_to(&rtp(9, 1, 0x55), l1[0]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let now = media
        .stats()
        .packets_stray
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(now, strays + 1);
    for s in [&a1, &c1, &a2, &c2] {
        assert!(!heard(s, 20).contains(&0x55), "a stray packet was relayed");
    }
    media.shutdown();
}

fn a_peer_sending_from_another_port_than_announced_is_latched(io: MediaIo) {
    let media = reactor(1, io);
    let range = ports(io, 43200, 43300);
    let (caller_sdp, agent) = (peer(), peer());
    let (_h, l, _e) = bridged_call(&media, &range, [true, true], &caller_sdp, &agent);
    // The agent's phone is heard first (on loopback both peers share a host, and a
    // packet that two waiting legs could own is never guessed at).
    assert_eq!(relayed(&agent, l[1], &caller_sdp, 0x70).1, l[0]);
    // The gateway announced one port and sends from another (same host).
    let caller_real = peer();
    assert_eq!(relayed(&caller_real, l[0], &agent, 0x66).1, l[1]);
    // Replies go where its media really comes from.
    assert_eq!(relayed(&agent, l[1], &caller_real, 0x77).1, l[0]);
    media.shutdown();
}

fn an_own_port_and_a_shared_one_in_one_call(io: MediaIo) {
    let media = reactor(2, io);
    let range = ports(io, 43400, 43500);
    let (caller, agent) = (peer(), peer());
    let (_h, l, _e) = bridged_call(&media, &range, [true, false], &caller, &agent);
    assert_ne!(l[0], l[1]);
    assert_eq!(relayed(&caller, l[0], &agent, 0x12).1, l[1]);
    assert_eq!(relayed(&agent, l[1], &caller, 0x21).1, l[0]);
    media.shutdown();
}

fn two_calls_from_one_announced_address_are_seated_on_different_ports(io: MediaIo) {
    // sipp announces one RTP address for all its calls; so might a small gateway.
    let media = reactor(1, io);
    let range = ports(io, 43600, 43700);
    let (gateway, a1, a2) = (peer(), peer(), peer());
    let (_h1, l1, _e1) = bridged_call(&media, &range, [true, true], &gateway, &a1);
    let (_h2, l2, _e2) = bridged_call(&media, &range, [true, true], &gateway, &a2);
    assert_ne!(l1[0], l2[0]);
    assert_eq!(relayed(&gateway, l1[0], &a1, 0x31).1, l1[1]);
    assert_eq!(relayed(&gateway, l2[0], &a2, 0x32).1, l2[1]);
    assert!(
        heard(&a1, 50).iter().all(|b| *b == 0x31),
        "call 1's agent heard call 2's caller"
    );
    media.shutdown();
}

fn packets_two_legs_on_a_port_could_own_reach_neither_call(io: MediaIo) {
    // Two legs' peers name one address learnt after seating (an answer, a re-INVITE):
    // its packets cannot be told apart, so neither call may hear them.
    let media = reactor(1, io);
    let range = ports(io, 43800, 43900);
    let (c1, c2, phone) = (peer(), peer(), peer());
    let (_h1, l1, _e1) = bridged_call(&media, &range, [true, true], &c1, &phone);
    let (_h2, l2, _e2) = bridged_call(&media, &range, [true, true], &c2, &phone);
    assert_eq!(l1[1], l2[1], "both agent legs on one port");
    // Callers still reach the phone (once each call's commands are applied).
    relayed(&c1, l1[0], &phone, 0x41);
    relayed(&c2, l2[0], &phone, 0x42);
    let stats = media.stats();
    let before = stats
        .packets_stray
        .load(std::sync::atomic::Ordering::Relaxed);
    for seq in 0..5 {
        phone.send_to(&rtp(0xdef, seq, 0x43), l1[1]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    for s in [&c1, &c2] {
        assert!(
            !heard(s, 20).contains(&0x43),
            "a caller heard the other call's agent"
        );
    }
    let after = stats
        .packets_stray
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after, before + 5);
    media.shutdown();
}

fn announce(handle: &MediaHandle, leg: Leg, addr: SocketAddr) {
    let cmd = MediaCommand::Remote {
        leg,
        addr,
        negotiated: PCMA,
    };
    handle
        .tx
        .send(super::reactor::WorkerMsg::Command(handle.id, cmd))
        .unwrap();
}

fn an_own_port_heard_from_its_announced_peer_takes_no_other_source(io: MediaIo) {
    let media = reactor(1, io);
    let range = ports(io, 44000, 44100);
    let (caller, agent) = (peer(), peer());
    let (_h, l, _e) = bridged_call(&media, &range, [false, false], &caller, &agent);
    assert_eq!(relayed(&caller, l[0], &agent, 0x13).1, l[1]);
    assert_eq!(relayed(&agent, l[1], &caller, 0x31).1, l[0]);
    // Someone else sends to the caller's port (RTP injection, a stale peer): the call
    // goes on as before and nobody hears the intruder.
    let intruder = peer();
    for seq in 0..5 {
        intruder.send_to(&rtp(9, seq, 0x66), l[0]).unwrap();
    }
    assert_eq!(relayed(&caller, l[0], &agent, 0x14).1, l[1]);
    assert!(
        !heard(&agent, 50).contains(&0x66),
        "injected audio was relayed"
    );
    // Replies still go to the caller, not to the intruder.
    assert_eq!(relayed(&agent, l[1], &caller, 0x32).1, l[0]);
    assert!(heard(&intruder, 30).is_empty());
    media.shutdown();
}

fn a_peer_announcing_a_new_address_is_heard_there(io: MediaIo) {
    let media = reactor(1, io);
    let range = ports(io, 44200, 44300);
    let (caller, agent) = (peer(), peer());
    let (h, l, _e) = bridged_call(&media, &range, [false, false], &caller, &agent);
    assert_eq!(relayed(&caller, l[0], &agent, 0x15).1, l[1]);
    // A re-INVITE moves the caller's media elsewhere.
    let moved = peer();
    announce(&h, Leg::Caller, moved.local_addr().unwrap());
    assert_eq!(relayed(&moved, l[0], &agent, 0x16).1, l[1]);
    assert_eq!(relayed(&agent, l[1], &moved, 0x33).1, l[0]);
    // An old-style hold (zero address) is not a move.
    announce(&h, Leg::Caller, "0.0.0.0:4000".parse().unwrap());
    assert_eq!(relayed(&moved, l[0], &agent, 0x17).1, l[1]);
    media.shutdown();
}

fn a_peer_behind_nat_is_followed_on_an_own_port(io: MediaIo) {
    let media = reactor(1, io);
    let range = ports(io, 44400, 44500);
    let (announced, agent) = (peer(), peer());
    let (_h, l, _e) = bridged_call(&media, &range, [false, false], &announced, &agent);
    // Its SDP names a private address; its media comes from the NAT's.
    let natted = peer();
    assert_eq!(relayed(&natted, l[0], &agent, 0x18).1, l[1]);
    assert_eq!(relayed(&agent, l[1], &natted, 0x34).1, l[0]);
    assert!(heard(&announced, 30).is_empty());
    media.shutdown();
}

fn a_finished_call_frees_its_ports(io: MediaIo) {
    let media = reactor(1, io);
    let range = ports(io, 44600, 44700);
    let (caller, agent) = (peer(), peer());
    let (h, l, _e) = bridged_call(&media, &range, [false, false], &caller, &agent);
    assert_eq!(relayed(&caller, l[0], &agent, 0x19).1, l[1]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(h.finish());
    // The worker let go of both sockets (on io_uring: receive cancelled, file slot
    // cleared), so the ports can be bound again.
    for local in l {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while UdpSocket::bind(local).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "{local} still held after the call ended"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // And the worker goes on serving new calls.
    let (c2, a2) = (peer(), peer());
    let (_h2, l2, _e2) = bridged_call(&media, &range, [false, false], &c2, &a2);
    assert_eq!(relayed(&c2, l2[0], &a2, 0x1a).1, l2[1]);
    media.shutdown();
}

/// Digits sent to the caller while the agent talks: RFC 4733 packets on the caller's
/// one stream (same SSRC, sequence numbers going on) between the relayed audio, which
/// keeps flowing; each digit once, in order, with later timestamps.
fn digits_reach_the_caller_alongside_the_relayed_audio(io: MediaIo) {
    let media = reactor(1, io);
    let range = ports(io, 45000, 45100);
    let (caller, agent) = (peer(), peer());
    let (handle, locals, _events) = bridged_call(&media, &range, [false, false], &caller, &agent);
    let with_events = Negotiated {
        telephone_event_pt: Some(101),
        ..PCMA
    };
    let send = |cmd| {
        handle
            .tx
            .send(super::reactor::WorkerMsg::Command(handle.id, cmd))
            .unwrap()
    };
    send(MediaCommand::Remote {
        leg: Leg::Caller,
        addr: caller.local_addr().unwrap(),
        negotiated: with_events,
    });
    relayed(&agent, locals[1], &caller, 0x33);
    send(MediaCommand::Dtmf {
        leg: Leg::Caller,
        digits: "1#1".into(),
    });
    caller
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let (mut audio, mut events, mut ssrcs, mut seqs) = (0, Vec::new(), Vec::new(), Vec::new());
    let mut buf = [0u8; 1500];
    for seq in 100..175u16 {
        agent.send_to(&rtp(0xabc, seq, 0x33), locals[1]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        while let Ok(n) = caller.recv(&mut buf) {
            ssrcs.push(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]));
            seqs.push(u16::from_be_bytes([buf[2], buf[3]]));
            match buf[1] & 0x7f {
                8 => audio += 1,
                101 if n >= 16 => {
                    let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                    // End packets (E bit): one press each, repeated three times.
                    if buf[13] & 0x80 != 0 && !events.contains(&(ts, buf[12])) {
                        events.push((ts, buf[12]));
                    }
                }
                _ => {}
            }
        }
    }
    let digits: Vec<u8> = events.iter().map(|e| e.1).collect();
    assert_eq!(digits, vec![1, 11, 1], "{events:?}");
    assert!(events.windows(2).all(|w| w[1].0 > w[0].0), "{events:?}");
    assert!(
        audio > 40,
        "the relayed audio kept flowing: {audio} packets"
    );
    ssrcs.dedup();
    assert_eq!(ssrcs.len(), 1, "one stream towards the caller");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "sequence numbers go on without gaps"
    );
    media.shutdown();
}

/// A reactor on `io`, checked to really run there (this machine's kernel has io_uring).
/// What `s` hears most often (a DC level, decoded) over the packets waiting for it.
fn level(s: &UdpSocket) -> Option<i16> {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1500];
    let mut seen = std::collections::HashMap::<i16, usize>::new();
    while let Ok(n) = s.recv(&mut buf) {
        if n > 12 {
            *seen.entry(super::g711::alaw_decode(buf[12])).or_default() += 1;
        }
    }
    s.set_nonblocking(false).unwrap();
    seen.into_iter().max_by_key(|(_, n)| *n).map(|(v, _)| v)
}

/// Two supervisors on one call through a real worker: each party gets the sum of what
/// the table gives it (constant levels make the sums readable), and a switch of mode
/// changes the sums at once.
fn two_supervisors_each_hear_what_the_table_says(io: MediaIo) {
    use crate::media::monitor::MonitorMode;
    let media = reactor(1, io);
    let range = ports(io, 45200, 45300);
    let (caller, agent, s1, s2) = (peer(), peer(), peer(), peer());
    let (handle, locals, _events) = bridged_call(&media, &range, [false, false], &caller, &agent);
    let send = |cmd| {
        handle
            .tx
            .send(super::reactor::WorkerMsg::Command(handle.id, cmd))
            .unwrap()
    };
    let mut sup_locals = Vec::new();
    for (key, (peer, mode)) in [(&s1, MonitorMode::Barge), (&s2, MonitorMode::Listen)]
        .into_iter()
        .enumerate()
    {
        let socket = range.bind().unwrap();
        sup_locals.push(socket.local_addr().unwrap());
        let key = key as u32 + 1;
        send(MediaCommand::SupervisorLeg {
            key,
            mode,
            socket,
            seed: [7, 8],
            track: None,
        });
        send(MediaCommand::SupervisorRemote {
            key,
            addr: peer.local_addr().unwrap(),
            negotiated: PCMA,
        });
    }
    let code = super::g711::alaw_encode;
    // caller 1000, agent 2000, supervisor 1 4000, supervisor 2 8000 (A-law rounds them).
    let talkers = [
        (&caller, locals[0], code(1000)),
        (&agent, locals[1], code(2000)),
        (&s1, sup_locals[0], code(4000)),
        (&s2, sup_locals[1], code(8000)),
    ];
    let talk = |ms: u64| {
        for seq in 0..(ms / 20) as u16 {
            for (s, to, fill) in &talkers {
                s.send_to(&rtp(0xabc, seq, *fill), to).unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let near = |got: Option<i16>, want: i32, who: &str| {
        let got = i32::from(got.unwrap_or_else(|| panic!("{who} heard nothing")));
        assert!(
            (got - want).abs() <= want / 10,
            "{who}: heard {got}, the table says {want}"
        );
    };
    talk(400);
    for s in [&caller, &agent, &s1, &s2] {
        level(s);
    }
    talk(600);
    // Supervisor 1 barges, supervisor 2 listens.
    near(level(&caller), 2000 + 4000, "caller");
    near(level(&agent), 1000 + 4000, "agent");
    near(level(&s1), 1000 + 2000, "barging supervisor");
    near(level(&s2), 1000 + 2000, "listening supervisor");
    send(MediaCommand::SupervisorMode {
        key: 2,
        mode: MonitorMode::Barge,
    });
    talk(200);
    for s in [&caller, &agent, &s1, &s2] {
        level(s);
    }
    talk(600);
    // Both barge: one conference; each supervisor hears the other.
    near(level(&caller), 2000 + 4000 + 8000, "caller");
    near(level(&s1), 1000 + 2000 + 8000, "supervisor 1");
    near(level(&s2), 1000 + 2000 + 4000, "supervisor 2");
}

fn reactor(threads: usize, io: MediaIo) -> MediaReactor {
    let media = MediaReactor::start_with(threads, Duration::from_millis(2), io).unwrap();
    let want = if io == MediaIo::Uring {
        threads as u64
    } else {
        0
    };
    let stats = media.stats();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while stats
        .workers_io_uring
        .load(std::sync::atomic::Ordering::Relaxed)
        != want
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        stats
            .workers_io_uring
            .load(std::sync::atomic::Ordering::Relaxed),
        want,
        "workers on io_uring"
    );
    media
}

/// A test's port range; the epoll run of a test uses another one, as both run at once.
fn ports(io: MediaIo, from: u16, to: u16) -> RtpPorts {
    let shift = if io == MediaIo::Uring { 0 } else { 5000 };
    RtpPorts::new("127.0.0.1".parse().unwrap(), from + shift, to + shift)
}

/// Each case above, on both IO paths.
macro_rules! on_both_io_paths {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                use super::MediaIo;
                #[test]
                fn io_uring() {
                    super::$case(MediaIo::Uring);
                }
                #[test]
                fn epoll() {
                    super::$case(MediaIo::Epoll);
                }
            }
        )*
    };
}

on_both_io_paths!(
    a_finished_call_frees_its_ports,
    digits_reach_the_caller_alongside_the_relayed_audio,
    calls_sharing_a_port_each_hear_only_their_own_peer,
    a_peer_sending_from_another_port_than_announced_is_latched,
    an_own_port_and_a_shared_one_in_one_call,
    two_calls_from_one_announced_address_are_seated_on_different_ports,
    packets_two_legs_on_a_port_could_own_reach_neither_call,
    an_own_port_heard_from_its_announced_peer_takes_no_other_source,
    a_peer_announcing_a_new_address_is_heard_there,
    a_peer_behind_nat_is_followed_on_an_own_port,
    two_supervisors_each_hear_what_the_table_says,
);
