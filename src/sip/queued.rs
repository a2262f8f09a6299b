//! What a caller waiting in an ACD queue hears: hold music, interrupted by position and
//! estimated-wait announcements and institutional messages, then music again.
//!
//! Owned by the call actor while its call is queued; it only plays (the ACD decides when).

use std::sync::Arc;

use tracing::warn;

use crate::ivr::say;
use crate::media::prompt::PromptLibrary;
use crate::media::session::MediaHandle;

/// Said before the position ("Sua posição na fila é").
pub const POSITION: &str = "pt-BR/fila/sua-posicao";
/// Said when the position is beyond the announcement cap ("mais de").
pub const MORE_THAN: &str = "pt-BR/fila/mais-de";
/// Said before the estimated wait ("O tempo estimado de espera é de").
pub const WAIT: &str = "pt-BR/fila/tempo-estimado";
pub const MINUTE: &str = "pt-BR/words/minuto";
pub const MINUTES: &str = "pt-BR/words/minutos";

/// The prompts of a position / estimated-wait announcement.
pub fn announcement(position: usize, cap: Option<usize>, wait_secs: Option<u64>) -> Vec<String> {
    let mut p = vec![POSITION.to_owned()];
    match cap {
        Some(cap) if position > cap => {
            p.push(MORE_THAN.to_owned());
            p.extend(say::number(cap as u64, false));
        }
        _ => p.extend(say::number(position as u64, false)),
    }
    if let Some(secs) = wait_secs {
        let minutes = secs.div_ceil(60).max(1);
        p.push(WAIT.to_owned());
        p.extend(say::number(minutes, false));
        p.push(if minutes == 1 { MINUTE } else { MINUTES }.to_owned());
    }
    p
}

/// The audio of prompts by name, in order; a missing one is skipped with a warning (the
/// caller hears the rest rather than nothing).
pub fn prompt_parts(names: &[String], prompts: &PromptLibrary) -> Vec<Arc<[i16]>> {
    let mut parts = Vec::with_capacity(names.len());
    for n in names {
        match prompts.get(n) {
            Some(p) => parts.push(p.samples),
            None => warn!(prompt = %n, "queue prompt missing: skipped"),
        }
    }
    parts
}

pub struct Waiting {
    hold_music: String,
    /// An announcement is playing until about then; music resumes after it.
    /// An announcement plays (music comes back at its end).
    announcing: bool,
}

impl Waiting {
    pub fn new(hold_music: String) -> Waiting {
        Waiting {
            hold_music,
            announcing: false,
        }
    }

    pub async fn music(&mut self, media: &MediaHandle, prompts: &PromptLibrary) {
        self.announcing = false;
        if let Some(p) = prompts.get(&self.hold_music) {
            media.play(p.samples.clone(), true).await;
        }
    }

    pub async fn announce(
        &mut self,
        names: &[String],
        media: &MediaHandle,
        prompts: &Arc<PromptLibrary>,
    ) {
        let parts = prompt_parts(names, prompts);
        if parts.iter().all(|p| p.is_empty()) {
            return;
        }
        self.announcing = true;
        media.play_parts(parts, false).await;
    }

    /// A playback ended: after an announcement the music comes back.
    pub async fn prompt_finished(&mut self, media: &MediaHandle, prompts: &PromptLibrary) {
        // Only the latest playback's end reaches here (media ids): the announcement's.
        if std::mem::take(&mut self.announcing) {
            self.music(media, prompts).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_says_position_then_minutes() {
        let p = announcement(3, Some(100), Some(90));
        assert_eq!(p[0], POSITION);
        assert!(p.contains(&"pt-BR/numbers/3".to_owned()));
        assert!(p.contains(&WAIT.to_owned()));
        assert_eq!(p.last().map(String::as_str), Some(MINUTES));
        let p = announcement(150, Some(100), None);
        assert_eq!(p[1], MORE_THAN);
    }
}
