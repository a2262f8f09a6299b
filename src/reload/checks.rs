//! The checks start-up, a reload and `atende check-config` share: every problem, beyond
//! `Config::check`, that stops a config from running with its prompts and flows. Each is
//! named at once, one a line, so an operator fixes them in one pass.

use std::sync::Arc;

use crate::config::Config;
use crate::ivr::FlowSet;
use crate::media::prompt::PromptLibrary;

/// One problem found, as an operator reads it.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("prompts: {0}")]
    Prompts(#[from] crate::media::prompt::PromptError),
    #[error("service {service:?} names prompt {prompt:?}, which is not in the prompt library")]
    MissingPrompt { service: String, prompt: String },
    #[error(
        "queue {queue:?} sends calls to IVR node {node:?}, which the flows do not have (use \"flow\" or \"flow/node\")"
    )]
    QueueIvrTarget { queue: String, node: String },
    #[error("IVR flows: {0}")]
    Flows(#[from] crate::ivr::CheckErrors),
}

/// Every problem, beyond `Config::check`, that stops `config` from running with these
/// prompts and flows: prompts the services and callback queues name, queues' IVR targets,
/// queues the flows name. Start-up, a reload and `atende check-config` run this same list;
/// the restart-only comparison stays in reload, as it needs a running server.
pub fn problems(
    config: &Config,
    prompts: &PromptLibrary,
    flows: Option<&Arc<FlowSet>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    problems.extend(
        missing_prompts(config, prompts)
            .iter()
            .map(|e| e.to_string()),
    );
    if let Some(set) = flows {
        if let Err(e) = check_queue_ivr_targets(config, set) {
            problems.push(e.to_string());
        }
        let known = config.queues.iter().map(|q| q.id.as_str());
        if let Err(e) = crate::ivr::check_queue_names(set, known) {
            problems.push(e.to_string());
        }
    }
    problems
}

/// `problems` offline, for `atende check-config`: reads the config's prompt library and
/// flows from disk (as a start would) and opens nothing else — no database, no sockets.
pub fn problems_offline(config: &Config) -> Vec<String> {
    let prompts = match PromptLibrary::load_dir(&config.prompts.dir) {
        Ok(p) => p,
        Err(e) => return vec![Problem::from(e).to_string()],
    };
    let flows = match &config.ivr {
        Some(ivr) => match FlowSet::load_dir(&ivr.dir, Some(&config.prompts.dir)) {
            Ok(set) => Some(Arc::new(set)),
            Err(e) => {
                let mut v = problems(config, &prompts, None);
                v.push(Problem::from(e).to_string());
                return v;
            }
        },
        None => None,
    };
    problems(config, &prompts, flows.as_ref())
}

/// Every prompt a service, a callback queue or a survey names that the library does not
/// have.
fn missing_prompts(config: &Config, prompts: &PromptLibrary) -> Vec<Problem> {
    let mut missing = Vec::new();
    for (name, svc) in &config.services {
        for prompt in svc.welcome_prompt.iter().chain([&svc.hold_music]) {
            if prompts.get(prompt).is_none() {
                missing.push(Problem::MissingPrompt {
                    service: name.clone(),
                    prompt: prompt.clone(),
                });
            }
        }
    }
    // A queue offering callbacks needs the request dialog's and the agent cues' prompts.
    for q in config.queues.iter().filter(|q| q.callback.key.is_some()) {
        for prompt in callback_prompts() {
            if prompts.get(&prompt).is_none() {
                missing.push(Problem::MissingPrompt {
                    service: format!("queue {} (callbacks)", q.id),
                    prompt,
                });
            }
        }
    }
    for (name, survey) in &config.surveys {
        for prompt in survey.prompts() {
            if prompts.get(prompt).is_none() {
                missing.push(Problem::MissingPrompt {
                    service: format!("survey {name}"),
                    prompt: prompt.to_owned(),
                });
            }
        }
    }
    missing
}

/// A queue that hands calls back to the IVR must name a flow (or node) that exists.
fn check_queue_ivr_targets(config: &Config, set: &Arc<FlowSet>) -> Result<(), Problem> {
    for q in &config.queues {
        for d in q.destinations() {
            if let crate::acd::Destination::Ivr { node } = d
                && crate::ivr::Interpreter::resume_at(set.clone(), node, Default::default())
                    .is_none()
            {
                return Err(Problem::QueueIvrTarget {
                    queue: q.id.to_string(),
                    node: node.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Every prompt a queue's callbacks play: the request dialog, the digits it reads back,
/// the agent's cues. A queue with a callback key refuses to start without them.
pub fn callback_prompts() -> Vec<String> {
    crate::call::callback_request::PROMPTS
        .iter()
        .map(|p| p.to_string())
        .chain(crate::ivr::say::digits("0123456789"))
        .chain([
            crate::call::callback::Cue::Starting.prompt().to_owned(),
            crate::call::callback::Cue::Unreachable.prompt().to_owned(),
        ])
        .collect()
}
