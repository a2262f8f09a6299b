//! `branch` conditions: compiling a `when:` and judging it against the call's variables and
//! the local time. Pure; the local time is computed by the interpreter from its inputs.

use std::collections::BTreeMap;

use super::format::ConditionSpec;
use super::model::Condition;

/// Compiles a `when:`; the error is the message for `atende ivr check`.
pub fn compile(c: &ConditionSpec) -> Result<Condition, String> {
    let value_tests = c.equals.is_some()
        || c.not_equals.is_some()
        || c.one_of.is_some()
        || c.starts_with.is_some()
        || c.is_set.is_some();
    if value_tests && c.var.is_none() {
        return Err("a condition testing a value needs `var` (the variable tested)".into());
    }
    let between =
        match &c.between {
            None => None,
            Some(b) => Some(parse_range(b).ok_or_else(|| {
                format!("between: `{b}` is not a time range like \"08:00-18:00\"")
            })?),
        };
    Ok(Condition {
        var: c.var.clone(),
        equals: c.equals.clone(),
        not_equals: c.not_equals.clone(),
        one_of: c.one_of.clone(),
        starts_with: c.starts_with.clone(),
        is_set: c.is_set,
        weekdays: c
            .weekdays
            .as_ref()
            .map(|w| w.iter().map(|d| weekday(*d)).collect()),
        between,
    })
}

fn weekday(d: super::format::Weekday) -> jiff::civil::Weekday {
    use super::format::Weekday as W;
    use jiff::civil::Weekday as J;
    match d {
        W::Mon => J::Monday,
        W::Tue => J::Tuesday,
        W::Wed => J::Wednesday,
        W::Thu => J::Thursday,
        W::Fri => J::Friday,
        W::Sat => J::Saturday,
        W::Sun => J::Sunday,
    }
}

/// `"08:00-18:00"` → minutes of the day, end excluded; `24:00` allowed as an end.
fn parse_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let minutes = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (from, to) = (minutes(a)?, minutes(b)?);
    (from < to).then_some((from, to))
}

/// Whether a `branch` condition holds for these variables at this local time.
pub fn holds(
    c: &Condition,
    vars: &BTreeMap<String, String>,
    local: &jiff::civil::DateTime,
) -> bool {
    let value = c
        .var
        .as_ref()
        .map(|v| vars.get(v).map_or("", String::as_str));
    let v = value.unwrap_or("");
    c.equals.as_ref().is_none_or(|e| v == e)
        && c.not_equals.as_ref().is_none_or(|e| v != e)
        && c.one_of.as_ref().is_none_or(|l| l.iter().any(|e| e == v))
        && c.starts_with
            .as_ref()
            .is_none_or(|p| v.starts_with(p.as_str()))
        && c.is_set.is_none_or(|want| want != v.is_empty())
        && c.weekdays
            .as_ref()
            .is_none_or(|days| days.contains(&local.date().weekday()))
        && c.between.is_none_or(|(from, to)| {
            let minute = local.hour() as u16 * 60 + local.minute() as u16;
            from <= minute && minute < to
        })
}
