//! Listen, whisper and barge (issue 20), the call actor's part: a supervisor's request
//! (`CallCommand::Monitor`, from the API or a feature code) rings the supervisor's phone
//! on a media socket of its own, asking it to answer at once (`Call-Info:
//! answer-after=0`); once it answers, that leg joins the call's mixer
//! (`media::session::mixer`) in the mode asked for. The mode switches from the API
//! (`MonitorMode`) or from the supervisor's keypad (1 listen, 2 whisper, 3 barge); `#` or
//! hanging up ends it.
//!
//! The log has `monitor_started`, `monitor_mode_changed` and `monitor_ended` (with its
//! reason) per supervisor, then `monitor_track_finalized` for the supervisors' track
//! (a stereo file next to the recording, `<protocol>.supervisor.wav`: left, what the
//! supervisors said; right, what the agent heard; it starts when the first supervisor
//! attaches and closes when the last leaves, so a later monitoring of the same call gets
//! `<protocol>.supervisor-2.wav`, and so on).
//!
//! Ends: the supervisor hangs up (`supervisor_hung_up`), asks to stop (`stopped`), the
//! agent the supervisor monitors stops being the caller's (`transferred`: a transfer, an
//! attended transfer's consultation, the survey), or the call ends (`call_ended`).
//! Checked by the actor after every input (`monitor_check`), so no path is missed.
//!
//! Who may monitor whom is the API's and the feature code's business (scope, roles);
//! the actor checks only what the call knows: an agent in talk, a known phone, room.

use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::sip::{StatusCode, Uri};
use rsipstack::transport::SipAddr;
use tracing::{info, warn};

use super::CallActor;
use crate::call::machine::LegId;
use crate::events::{EventKind, MonitorMode};
use crate::floor::calls::CommandError;
use crate::media::session::{MAX_SUPERVISORS, MediaCommand};
use crate::sdp;
use crate::sip::legs::{FinalResponse, contact_uri, info_digit, respond_sdp, route_target};
use crate::sip::request;

/// One supervisor's monitoring of the call.
#[derive(Debug)]
struct Supervising {
    key: u32,
    supervisor: String,
    phone: String,
    mode: MonitorMode,
    /// The supervisor's phones still ringing.
    ringing: Vec<LegId>,
    /// The phone that answered.
    answered: Option<LegId>,
    /// A phone that dialled the monitoring code: its call is the leg, owned by the
    /// feature code's task, told here that the monitoring ended (so it hangs up).
    dialled: Option<tokio::sync::oneshot::Sender<String>>,
}

/// The monitoring of one call: its supervisors and the agent they monitor. Kept for the
/// call's life once a supervisor came, so a later monitoring gets a track of its own.
#[derive(Debug)]
pub(super) struct Monitoring {
    /// The agent in talk when the first supervisor came; another one (or none) ends it.
    agent: String,
    supervisors: Vec<Supervising>,
    next_key: u32,
    /// A supervisors' track is open (the mixer runs).
    track_open: bool,
    /// Tracks opened so far: the first is `<protocol>.supervisor.wav`, the next
    /// `<protocol>.supervisor-2.wav`, …
    tracks: u32,
}

impl CallActor {
    /// Starts `supervisor`'s monitoring from `phone` in `mode`.
    pub(super) async fn start_monitor(
        &mut self,
        supervisor: String,
        phone: String,
        mode: MonitorMode,
    ) -> Result<(), CommandError> {
        let agent = self.may_join(&supervisor, &phone)?;
        if self.ex.registrar.contacts(&phone).is_empty() {
            return Err(CommandError::Invalid(format!(
                "phone {phone} is not registered"
            )));
        }
        let socket = self.ex.ports.bind().map_err(|e| {
            warn!(protocol = %self.protocol, error = %e, "no RTP port for a supervisor");
            CommandError::Invalid("no media port free".into())
        })?;
        let local = socket
            .local_addr()
            .map_err(|_| CommandError::Invalid("no media port free".into()))?;
        let (key, track) = self.supervisor_slot(&agent);
        self.media
            .send(MediaCommand::SupervisorLeg {
                key,
                mode,
                socket,
                seed: rand::random(),
                track,
            })
            .await;
        let ringing = self.ring_supervisor(&phone, &agent, local);
        if ringing.is_empty() {
            self.media
                .send(MediaCommand::SupervisorEnd { key, reply: None })
                .await;
            self.track_closed_if_empty();
            return Err(CommandError::Invalid(format!(
                "phone {phone} is not registered"
            )));
        }
        info!(protocol = %self.protocol, %supervisor, %phone, mode = mode.as_str(), "monitoring: ringing the supervisor");
        if let Some(m) = self.monitoring.as_deref_mut() {
            m.supervisors.push(Supervising {
                key,
                supervisor,
                phone,
                mode,
                ringing,
                answered: None,
                dialled: None,
            });
        }
        Ok(())
    }

    /// Attaches the call of a supervisor's phone that dialled the monitoring code
    /// (`sip::monitor_code`): it is answered already, so it joins the mixer at once.
    pub(super) async fn attach_dialled(
        &mut self,
        supervisor: String,
        phone: String,
        mode: MonitorMode,
        leg: crate::floor::calls::DialledLeg,
    ) -> Result<(), CommandError> {
        let agent = self.may_join(&supervisor, &phone)?;
        let Some(parts) = leg.take() else {
            return Err(CommandError::Invalid(
                "the phone's call was handed over".into(),
            ));
        };
        let (key, track) = self.supervisor_slot(&agent);
        self.media
            .send(MediaCommand::SupervisorLeg {
                key,
                mode,
                socket: parts.socket,
                seed: rand::random(),
                track,
            })
            .await;
        self.media
            .send(MediaCommand::SupervisorRemote {
                key,
                addr: parts.remote,
                negotiated: parts.negotiated,
            })
            .await;
        info!(protocol = %self.protocol, %supervisor, %phone, mode = mode.as_str(), "monitoring started from the phone's code");
        let shown = self.shown(mode);
        self.log.record(EventKind::MonitorStarted {
            supervisor: supervisor.clone(),
            phone: phone.clone(),
            mode,
            shown,
        });
        if let Some(m) = self.monitoring.as_deref_mut() {
            m.supervisors.push(Supervising {
                key,
                supervisor,
                phone,
                mode,
                ringing: Vec::new(),
                answered: None,
                dialled: Some(parts.ended),
            });
        }
        Ok(())
    }

    /// What the call itself requires of a new supervisor; the agent monitored.
    fn may_join(&self, supervisor: &str, phone: &str) -> Result<String, CommandError> {
        let Some(agent) = self.machine.bridged_agent().map(str::to_owned) else {
            return Err(CommandError::NotInTalk);
        };
        if self.consult.is_some() {
            return Err(CommandError::Invalid("a transfer is under way".into()));
        }
        if phone == agent {
            return Err(CommandError::Invalid(
                "the supervisor's phone is the agent's".into(),
            ));
        }
        if let Some(m) = self.monitoring.as_deref() {
            if m.supervisors.iter().any(|s| s.supervisor == supervisor) {
                return Err(CommandError::Invalid(format!(
                    "{supervisor} already monitors this call"
                )));
            }
            if m.supervisors.len() >= MAX_SUPERVISORS {
                return Err(CommandError::Invalid(format!(
                    "the call has {MAX_SUPERVISORS} supervisors already"
                )));
            }
        }
        Ok(agent)
    }

    /// A key for a new supervisor, and the supervisors' track if none is open yet.
    fn supervisor_slot(
        &mut self,
        agent: &str,
    ) -> (u32, Option<crate::media::recording::RecordingHandle>) {
        let m = self.monitoring.get_or_insert_with(|| {
            Box::new(Monitoring {
                agent: agent.to_owned(),
                supervisors: Vec::new(),
                next_key: 1,
                track_open: false,
                tracks: 0,
            })
        });
        if m.supervisors.is_empty() {
            m.agent = agent.to_owned();
        }
        let key = m.next_key;
        m.next_key += 1;
        let track = (!m.track_open).then(|| {
            m.track_open = true;
            m.tracks += 1;
            let recording = self.ex.recording_path(&self.protocol);
            self.ex.recordings.open(&track_path(&recording, m.tracks))
        });
        (key, track)
    }

    /// Rings every registered contact of `phone`, offering media at `local`.
    fn ring_supervisor(
        &mut self,
        phone: &str,
        agent: &str,
        local: std::net::SocketAddr,
    ) -> Vec<LegId> {
        let mut legs = Vec::new();
        for binding in self.ex.registrar.contacts(phone) {
            let Ok(callee) = Uri::try_from(binding.contact.as_str()) else {
                continue;
            };
            // The supervisor's phone shows whom it monitors, never the citizen's number.
            let caller = contact_uri(&self.ex, &format!("monitor-{agent}"));
            let destination = SipAddr::from(route_target(&binding));
            let auto = vec![request::raw_header(
                "Call-Info",
                "<sip:atende>;answer-after=0",
            )];
            match self.place_leg_with(caller, callee, destination, local, auto) {
                Ok(leg) => legs.push(leg),
                Err(e) => warn!(error = %e, %phone, "cannot ring a supervisor's phone"),
            }
        }
        legs
    }

    /// Switches `supervisor`'s mode (`via`: `api` or `keypad`).
    pub(super) async fn switch_monitor(
        &mut self,
        supervisor: &str,
        mode: MonitorMode,
        via: &str,
    ) -> Result<(), CommandError> {
        let Some(s) = self.monitoring.as_deref_mut().and_then(|m| {
            m.supervisors
                .iter_mut()
                .find(|s| s.supervisor == supervisor)
        }) else {
            return Err(CommandError::Invalid(format!(
                "{supervisor} does not monitor this call"
            )));
        };
        if s.mode == mode {
            return Ok(());
        }
        s.mode = mode;
        let (key, answered) = (s.key, s.answered.is_some() || s.dialled.is_some());
        self.media
            .send(MediaCommand::SupervisorMode { key, mode })
            .await;
        info!(protocol = %self.protocol, %supervisor, mode = mode.as_str(), via, "monitoring: mode switched");
        // Before the phone answered the new mode is simply the one it starts in.
        if answered {
            self.log.record(EventKind::MonitorModeChanged {
                supervisor: supervisor.to_owned(),
                mode,
                via: via.to_owned(),
                shown: self.shown(mode),
            });
        }
        Ok(())
    }

    /// A digit from supervisor `key`'s phone (its RTP events, or SIP INFO on a rung leg).
    pub(super) async fn monitor_digit(&mut self, key: u32, digit: char) {
        let Some(supervisor) = self
            .monitoring
            .as_deref()
            .and_then(|m| m.supervisors.iter().find(|s| s.key == key))
            .map(|s| s.supervisor.clone())
        else {
            return;
        };
        let _ = self.monitor_key(&supervisor, digit).await;
    }

    /// A key from `supervisor`'s phone, however it came (RTP event or SIP INFO): 1, 2, 3
    /// switch mode, `#` ends the monitoring, others are ignored. Logged `via=keypad`.
    pub(super) async fn monitor_key(
        &mut self,
        supervisor: &str,
        digit: char,
    ) -> Result<(), CommandError> {
        if let Some(mode) = MonitorMode::from_digit(digit) {
            self.switch_monitor(supervisor, mode, "keypad").await
        } else if digit == '#' {
            if self.end_monitor(supervisor, "stopped").await {
                Ok(())
            } else {
                Err(CommandError::Invalid(format!(
                    "{supervisor} does not monitor this call"
                )))
            }
        } else {
            Ok(())
        }
    }

    /// Ends `supervisor`'s monitoring with `reason`: their leg is hung up (or cancelled).
    pub(super) async fn end_monitor(&mut self, supervisor: &str, reason: &str) -> bool {
        let Some(m) = self.monitoring.as_deref_mut() else {
            return false;
        };
        let Some(i) = m
            .supervisors
            .iter()
            .position(|s| s.supervisor == supervisor)
        else {
            return false;
        };
        let mut s = m.supervisors.remove(i);
        // A dialled phone's task closes its end when the phone hung up, then asks to stop.
        let reason = match s.dialled.take() {
            Some(ended) if ended.is_closed() => "supervisor_hung_up",
            Some(ended) => {
                let _ = ended.send(reason.to_owned());
                reason
            }
            None => reason,
        };
        for leg in s.ringing.iter().copied().chain(s.answered) {
            let Some(l) = self.legs.get(&leg) else {
                continue;
            };
            let d = l.dialog.clone();
            let ringing = Some(leg) != s.answered;
            self.ex.lifecycle.spawn(async move {
                let _ = if ringing {
                    d.cancel().await
                } else {
                    d.bye().await
                };
            });
        }
        info!(protocol = %self.protocol, %supervisor, reason, "monitoring ended");
        self.log.record(EventKind::MonitorEnded {
            supervisor: supervisor.to_owned(),
            reason: reason.to_owned(),
        });
        let last = self
            .monitoring
            .as_deref()
            .is_some_and(|m| m.supervisors.is_empty());
        let (reply, receipt) = tokio::sync::oneshot::channel();
        self.media
            .send(MediaCommand::SupervisorEnd {
                key: s.key,
                reply: last.then_some(reply),
            })
            .await;
        if last {
            self.track_closed_if_empty();
            let log = self.log.clone();
            self.ex.lifecycle.spawn(async move {
                if let Ok(Some(r)) = receipt.await {
                    finalize_track(log, r).await;
                }
            });
        }
        true
    }

    /// Every monitoring ends with `reason`.
    pub(super) async fn end_monitors(&mut self, reason: &str) {
        let names: Vec<String> = self
            .monitoring
            .as_deref()
            .map(|m| m.supervisors.iter().map(|s| s.supervisor.clone()).collect())
            .unwrap_or_default();
        for n in names {
            self.end_monitor(&n, reason).await;
        }
    }

    /// After each input: monitoring ends once the monitored agent no longer talks to
    /// the caller (a transfer of any kind, the survey) or the call ended.
    pub(super) async fn monitor_check(&mut self) {
        let Some(m) = self
            .monitoring
            .as_deref()
            .filter(|m| !m.supervisors.is_empty())
        else {
            return;
        };
        if self.machine.is_ended() {
            self.end_monitors("call_ended").await;
        } else if self.machine.bridged_agent() != Some(m.agent.as_str()) || self.consult.is_some() {
            self.end_monitors("transferred").await;
        }
    }

    /// Whether the agent's desktop is told of `mode` (listen only with `[cti] show_listen`).
    fn shown(&self, mode: MonitorMode) -> bool {
        mode != MonitorMode::Listen || self.ex.config().cti.show_listen
    }

    /// The media closes the track with its last supervisor.
    fn track_closed_if_empty(&mut self) {
        if let Some(m) = self
            .monitoring
            .as_deref_mut()
            .filter(|m| m.supervisors.is_empty())
        {
            m.track_open = false;
        }
    }

    /// Whether `leg` is a supervisor's.
    pub(super) fn is_monitor_leg(&self, leg: LegId) -> bool {
        self.monitor_of(leg).is_some()
    }

    fn monitor_of(&self, leg: LegId) -> Option<&Supervising> {
        self.monitoring
            .as_deref()?
            .supervisors
            .iter()
            .find(|s| s.ringing.contains(&leg) || s.answered == Some(leg))
    }

    /// A supervisor leg's final answer: the first phone to answer joins the mixer.
    pub(super) async fn monitor_outcome(&mut self, leg: LegId, result: FinalResponse) {
        let answer = match result {
            Ok((status, body)) if status.code() / 100 == 2 => body
                .as_deref()
                .and_then(|b| sdp::parse(b).ok())
                .and_then(|r| {
                    sdp::negotiate(&r, &self.ex.codecs)
                        .ok()
                        .map(|n| (r.rtp_addr, n))
                }),
            _ => None,
        };
        let Some(s) = self
            .monitoring
            .as_deref_mut()
            .and_then(|m| m.supervisors.iter_mut().find(|s| s.ringing.contains(&leg)))
        else {
            return;
        };
        s.ringing.retain(|l| *l != leg);
        match answer {
            Some((addr, negotiated)) if s.answered.is_none() => {
                s.answered = Some(leg);
                let (key, supervisor, phone, mode) =
                    (s.key, s.supervisor.clone(), s.phone.clone(), s.mode);
                for other in std::mem::take(&mut s.ringing) {
                    if let Some(l) = self.legs.get(&other) {
                        let d = l.dialog.clone();
                        self.ex.lifecycle.spawn(async move {
                            let _ = d.cancel().await;
                        });
                    }
                }
                self.media
                    .send(MediaCommand::SupervisorRemote {
                        key,
                        addr,
                        negotiated,
                    })
                    .await;
                info!(protocol = %self.protocol, %supervisor, mode = mode.as_str(), "monitoring started");
                let shown = self.shown(mode);
                self.log.record(EventKind::MonitorStarted {
                    supervisor,
                    phone,
                    mode,
                    shown,
                });
            }
            _ => {
                if let Some(l) = self.legs.get(&leg).filter(|_| answer.is_some()) {
                    let d = l.dialog.clone();
                    self.ex.lifecycle.spawn(async move {
                        let _ = d.bye().await;
                    });
                }
                if s.ringing.is_empty() && s.answered.is_none() {
                    let supervisor = s.supervisor.clone();
                    self.end_monitor(&supervisor, "not_answered").await;
                }
            }
        }
    }

    /// An in-dialog event of a supervisor's leg (never the agent's business).
    pub(super) async fn on_monitor_state(&mut self, leg: LegId, st: DialogState) {
        match st {
            DialogState::Terminated(_, TerminatedReason::UasBye) => self.monitor_hung_up(leg).await,
            DialogState::Info(_, req, handle) => {
                let key = self.monitor_of(leg).map(|s| s.key);
                let _ = handle.reply(StatusCode::OK).await;
                if let (Some(digit), Some(key)) = (info_digit(&req.body), key) {
                    self.monitor_digit(key, digit).await;
                }
            }
            DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            // A supervisor's phone moving its media is not supported: refused, the
            // monitoring goes on where it was.
            DialogState::Updated(_, _, handle) => respond_sdp(handle, None).await,
            _ => {}
        }
    }

    /// A supervisor's phone hung up.
    pub(super) async fn monitor_hung_up(&mut self, leg: LegId) {
        let Some(supervisor) = self
            .monitor_of(leg)
            .filter(|s| s.answered == Some(leg))
            .map(|s| s.supervisor.clone())
        else {
            return;
        };
        // Its dialog is over: nothing to hang up.
        if let Some(s) = self.monitoring.as_deref_mut().and_then(|m| {
            m.supervisors
                .iter_mut()
                .find(|s| s.supervisor == supervisor)
        }) {
            s.answered = None;
        }
        self.end_monitor(&supervisor, "supervisor_hung_up").await;
    }
}

/// The call's `n`-th supervisors' track (from 1), the call recorded at `recording`: next
/// to it, named after it (`<protocol>.supervisor.wav`, then `<protocol>.supervisor-2.wav`).
pub fn track_path(recording: &std::path::Path, n: u32) -> std::path::PathBuf {
    let stem = recording
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match n {
        0 | 1 => format!("{stem}.supervisor.wav"),
        n => format!("{stem}.supervisor-{n}.wav"),
    };
    recording.with_file_name(name)
}

/// Waits for the writer to close the supervisors' track, then lists it in the call's log.
async fn finalize_track(
    log: crate::floor::call_log::CallLog,
    r: crate::media::recording::RecordingReceipt,
) {
    match r.await {
        Ok(summary) => log.record(EventKind::MonitorTrackFinalized {
            path: summary.path.display().to_string(),
            duration_ms: summary.duration_ms as i64,
            sha256: summary.sha256_hex,
        }),
        Err(e) => warn!(protocol = %log.protocol, error = %e, "the supervisors' track failed"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tracks_are_named_after_the_recording() {
        let rec = std::path::Path::new("/rec/2026/12/07/20261207-000001.wav");
        assert_eq!(
            super::track_path(rec, 1),
            std::path::Path::new("/rec/2026/12/07/20261207-000001.supervisor.wav")
        );
        assert_eq!(
            super::track_path(rec, 2),
            std::path::Path::new("/rec/2026/12/07/20261207-000001.supervisor-2.wav")
        );
    }
}
