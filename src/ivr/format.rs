//! The flow file format, exactly as IT staff write it in `ivr-flows/*.yaml`.
//!
//! One flow per file, named after the file (`principal.yaml` is flow `principal`), plus one
//! optional `entry.yaml` that says which flow answers which dialled number (DID) or calling
//! number (A-number). These types only describe the text: `flowset` compiles them (resolving
//! names into indices, compiling schedules) and `check` judges them. The JSON Schema that
//! editors use for completion is derived from these same types (`atende ivr schema`).
//!
//! Nodes are internally tagged (`type: menu`): the friendliest shape to write. The price is
//! that serde buffers each node, so a YAML error inside a node points at the node's first
//! line rather than at the bad field; the message still names the field.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::schedule::ScheduleSpec;

/// Default wait for the first key after a menu or collect prompt ends.
pub const DEFAULT_FIRST_DIGIT_TIMEOUT: f64 = 5.0;
/// Default wait between two keys of the same entry.
pub const DEFAULT_INTER_DIGIT_TIMEOUT: f64 = 3.0;
/// Default wait for an answer from the institute's systems.
pub const DEFAULT_HTTP_TIMEOUT: f64 = 3.0;
/// Default number of extra attempts after a timeout or an invalid entry.
pub const DEFAULT_RETRIES: u32 = 2;
/// Time zone of the `branch` time conditions when a flow does not name one.
pub const DEFAULT_TIMEZONE: &str = "America/Sao_Paulo";

/// One IVR flow (one YAML file).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "atende IVR flow")]
pub struct FlowFile {
    /// Free text for the people who maintain the flow.
    #[serde(default)]
    pub description: Option<String>,
    /// The node where a call entering this flow begins.
    pub start: String,
    /// IANA time zone for `branch` time conditions and `say` dates (default America/Sao_Paulo).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Opening-hours calendars used by `schedule` nodes, by name. Calendars defined in
    /// `entry.yaml` are visible in every flow; a flow's own take precedence.
    #[serde(default)]
    pub schedules: BTreeMap<String, ScheduleSpec>,
    /// The nodes, by name. Names are what `next`, options and targets refer to.
    #[schemars(with = "BTreeMap<String, NodeSpec>")]
    pub nodes: BTreeMap<String, Spanned<NodeSpec>>,
}

/// `entry.yaml`: which flow answers a call.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "atende IVR entry rules")]
pub struct EntryFile {
    /// The flow for calls no rule matches (default `principal`).
    #[serde(default)]
    pub default_flow: Option<String>,
    /// Queue that receives calls whose flow fails at run time (default `geral`): a caller
    /// must reach a human even when a flow is broken.
    #[serde(default)]
    pub fallback_queue: Option<String>,
    /// Calendars shared by every flow.
    #[serde(default)]
    pub schedules: BTreeMap<String, ScheduleSpec>,
    /// Tried in order; the first rule that matches picks the flow.
    #[serde(default)]
    #[schemars(with = "Vec<RouteSpec>")]
    pub routes: Vec<Spanned<RouteSpec>>,
}

/// One entry rule. Every condition given must hold; a rule with none always matches.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// A label for logs and statistics.
    pub name: String,
    /// Dialled numbers (DID / B-number) this rule answers.
    #[serde(default)]
    pub did: Vec<String>,
    /// Calling-number (A-number) prefixes this rule answers.
    #[serde(default)]
    pub ani_prefix: Vec<String>,
    /// The flow that answers.
    pub flow: String,
    /// Added to the priority of every queue the call reaches (preferential service).
    #[serde(default)]
    pub priority_boost: i32,
    /// Variables set before the flow starts.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// One node of a flow.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum NodeSpec {
    /// Play prompts, then go on.
    Play {
        /// Prompt names, e.g. `pt-BR/welcome` (the file `prompts/pt-BR/welcome.wav`).
        prompts: Vec<String>,
        /// Whether a key skips the prompts (the key then counts for the next menu).
        #[serde(default)]
        barge_in: bool,
        next: String,
    },
    /// Offer options by key.
    Menu {
        prompts: Vec<String>,
        /// Key(s) → node. Quote `"*"`, `"#"` and keys with more than one digit.
        #[schemars(with = "BTreeMap<String, String>")]
        options: BTreeMap<Dtmf, String>,
        /// Seconds to wait for the first key once the prompt ends.
        #[serde(default = "default_first_digit")]
        first_digit_timeout: f64,
        /// Seconds to wait for the next key of a multi-key option.
        #[serde(default = "default_inter_digit")]
        inter_digit_timeout: f64,
        /// Extra attempts after a timeout or an invalid key.
        #[serde(default = "default_retries")]
        retries: u32,
        /// Played before the menu again after an invalid key.
        #[serde(default)]
        invalid_prompts: Vec<String>,
        /// Played before the menu again after silence.
        #[serde(default)]
        timeout_prompts: Vec<String>,
        /// Where to go after the last failed attempt (best: a queue).
        on_failure: String,
        /// Why this menu has no option 0 to a human (required when it has none).
        #[serde(default)]
        human_exemption: Option<String>,
    },
    /// Collect a number typed on the keypad into a variable.
    Collect {
        prompts: Vec<String>,
        /// Variable that receives the digits.
        variable: String,
        #[serde(default = "default_min_digits")]
        min_digits: u32,
        max_digits: u32,
        /// Key that ends the entry early (default `#`; `none` for no terminator).
        #[serde(default)]
        #[schemars(with = "Option<String>")]
        terminator: Option<Dtmf>,
        #[serde(default)]
        validate: Validation,
        #[serde(default = "default_first_digit")]
        first_digit_timeout: f64,
        #[serde(default = "default_inter_digit")]
        inter_digit_timeout: f64,
        #[serde(default = "default_retries")]
        retries: u32,
        #[serde(default)]
        invalid_prompts: Vec<String>,
        #[serde(default)]
        timeout_prompts: Vec<String>,
        /// Read the digits back and ask: 1 to confirm, 2 to type again.
        #[serde(default)]
        confirm: Option<ConfirmSpec>,
        next: String,
        on_failure: String,
    },
    /// Say a number, digits, a date, a time or the call's protocol number in pt-BR.
    Say {
        what: SayKind,
        /// Text with `${variable}`s. Dates `YYYY-MM-DD`, times `HH:MM`; empty date or time
        /// means now. Not used for `protocol`.
        #[serde(default)]
        value: Option<String>,
        #[serde(default)]
        before: Vec<String>,
        #[serde(default)]
        after: Vec<String>,
        #[serde(default)]
        barge_in: bool,
        next: String,
    },
    /// Set variables (values are templates with `${variable}`s).
    Set {
        values: BTreeMap<String, String>,
        next: String,
    },
    /// Go to the first case whose condition holds, else to `default`.
    Branch {
        cases: Vec<CaseSpec>,
        default: String,
    },
    /// Route by opening hours.
    Schedule {
        /// Name of a calendar in `schedules`.
        schedule: String,
        open: String,
        closed: String,
        /// Where to go on holidays (default: `closed`).
        #[serde(default)]
        holiday: Option<String>,
    },
    /// Ask the institute's systems; map JSON fields into variables.
    Http {
        #[serde(default)]
        method: HttpMethod,
        /// URL template, e.g. `http://consulta.local/processos?cpf=${cpf}`.
        url: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// Body template (sent as JSON for POST).
        #[serde(default)]
        body: Option<String>,
        /// Seconds before giving up and taking `on_error`.
        #[serde(default = "default_http_timeout")]
        timeout: f64,
        /// Variable → JSON pointer into the response (`/situacao`, `/processo/numero`).
        #[serde(default)]
        fields: BTreeMap<String, String>,
        next: String,
        /// Taken on a connection error, a timeout, a non-2xx status or a missing field.
        on_error: String,
    },
    /// Hand the call to an ACD queue.
    Queue {
        queue: String,
        #[serde(default)]
        priority: i32,
        #[serde(default)]
        skills: Vec<String>,
        /// Variables shown on the agent's screen (default: all of them).
        #[serde(default)]
        screen_pop: Option<Vec<String>>,
    },
    /// Transfer to an external number or an extension (exactly one).
    Transfer {
        #[serde(default)]
        number: Option<String>,
        #[serde(default)]
        extension: Option<String>,
    },
    /// End the call: the IVR served it.
    Hangup {},
    /// Continue at another node of this flow (`target`) or at the start of another flow
    /// (`flow`), without coming back.
    Goto {
        #[serde(default)]
        target: Option<String>,
        #[serde(default)]
        flow: Option<String>,
    },
    /// Run another flow as a sub-flow; when it reaches `return`, continue at `next`.
    Call { flow: String, next: String },
    /// End this sub-flow and continue after the `call` that started it.
    Return {},
}

/// One `branch` case.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    pub when: ConditionSpec,
    pub next: String,
}

/// Every test given must hold. `var` names the subject of the value tests; built-in
/// variables: `ani` (calling number), `did` (dialled number), `protocol`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    #[serde(default)]
    pub var: Option<String>,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub not_equals: Option<String>,
    #[serde(default)]
    pub one_of: Option<Vec<String>>,
    #[serde(default)]
    pub starts_with: Option<String>,
    /// `true`: the variable has a non-empty value; `false`: it has none.
    #[serde(default)]
    pub is_set: Option<bool>,
    /// Days of the week, in the flow's time zone.
    #[serde(default)]
    pub weekdays: Option<Vec<Weekday>>,
    /// Local time range `HH:MM-HH:MM` (end excluded), in the flow's time zone.
    #[serde(default)]
    pub between: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Validation {
    /// Only the length limits.
    #[default]
    None,
    /// A Brazilian CPF: 11 digits with both check digits right.
    Cpf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SayKind {
    Number,
    Digits,
    Date,
    Time,
    Protocol,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Post,
}

/// The read-back of a `collect`: `before`, the digits, then `after` (which should say
/// "press 1 to confirm, 2 to type again").
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmSpec {
    #[serde(default)]
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// Keypad keys as written in YAML: `1:` arrives as an integer, `"#":` as a string; both
/// are keys. Unquoted multi-digit keys lose leading zeros (YAML reads `01` as 1), hence
/// the advice to quote them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Dtmf(pub String);

impl Dtmf {
    /// Whether every character is a keypad key.
    pub fn is_valid(&self) -> bool {
        !self.0.is_empty() && self.0.chars().all(is_dtmf)
    }
}

pub fn is_dtmf(c: char) -> bool {
    c.is_ascii_digit() || c == '*' || c == '#'
}

impl fmt::Display for Dtmf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Dtmf {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl serde::de::Visitor<'_> for Keys {
            type Value = Dtmf;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("keypad keys (0-9, * or #)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dtmf, E> {
                Ok(Dtmf(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dtmf, E> {
                Ok(Dtmf(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dtmf, E> {
                Ok(Dtmf(v.to_string()))
            }
        }
        d.deserialize_any(Keys)
    }
}

fn default_first_digit() -> f64 {
    DEFAULT_FIRST_DIGIT_TIMEOUT
}
fn default_inter_digit() -> f64 {
    DEFAULT_INTER_DIGIT_TIMEOUT
}
fn default_retries() -> u32 {
    DEFAULT_RETRIES
}
fn default_min_digits() -> u32 {
    1
}
fn default_http_timeout() -> f64 {
    DEFAULT_HTTP_TIMEOUT
}

impl NodeSpec {
    /// The `type:` word, for messages and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            NodeSpec::Play { .. } => "play",
            NodeSpec::Menu { .. } => "menu",
            NodeSpec::Collect { .. } => "collect",
            NodeSpec::Say { .. } => "say",
            NodeSpec::Set { .. } => "set",
            NodeSpec::Branch { .. } => "branch",
            NodeSpec::Schedule { .. } => "schedule",
            NodeSpec::Http { .. } => "http",
            NodeSpec::Queue { .. } => "queue",
            NodeSpec::Transfer { .. } => "transfer",
            NodeSpec::Hangup {} => "hangup",
            NodeSpec::Goto { .. } => "goto",
            NodeSpec::Call { .. } => "call",
            NodeSpec::Return {} => "return",
        }
    }
}

/// The JSON Schema of a flow file, pretty-printed (what `atende ivr schema` prints and
/// `ivr-flows/flow.schema.json` holds).
pub fn flow_schema_json() -> String {
    let schema = schemars::schema_for!(FlowFile);
    // Serializing a schema (a JSON value) cannot fail.
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

/// The JSON Schema of `entry.yaml`.
pub fn entry_schema_json() -> String {
    let schema = schemars::schema_for!(EntryFile);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}
