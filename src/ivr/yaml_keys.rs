//! Map keys that YAML readers disagree on: unquoted digits with a leading zero.
//!
//! Menu options are keypad keys, and `0:` or `1:` written without quotes are fine: every
//! reader takes them as the numbers 0 and 1, which are the keys. But `07:` is the number
//! 7 to a YAML 1.2 reader (ours, and most editors) and octal 7 to a YAML 1.1 one, never
//! the two keys 0 then 7 that IT meant; `08:` is 8 to one and text to the other. So the
//! checker refuses such keys and says to quote them (`"07":`), wherever they appear.
//!
//! Pure text scanning with the YAML event parser serde-saphyr itself uses; a file that
//! does not parse yields the keys found before the error (the parse error is reported
//! by `compile` anyway).

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

/// Whether YAML readers would read `key`, written unquoted, as anything but itself.
pub fn is_ambiguous(key: &str) -> bool {
    key.len() > 1 && key.starts_with('0') && key.bytes().all(|b| b.is_ascii_digit())
}

/// The unquoted map keys of `text` that `is_ambiguous`, with their 1-based lines.
pub fn ambiguous_keys(text: &str) -> Vec<(u64, String)> {
    let mut open: Vec<Open> = Vec::new();
    let mut found = Vec::new();
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else { break };
        match event {
            Event::Scalar(value, style, _, _) => {
                let is_key = node(&mut open);
                if is_key && style == ScalarStyle::Plain && is_ambiguous(&value) {
                    found.push((span.start.line() as u64, value.into_owned()));
                }
            }
            Event::Alias(_) => {
                node(&mut open);
            }
            Event::MappingStart(..) => {
                node(&mut open);
                open.push(Open::Mapping { key_next: true });
            }
            Event::SequenceStart(..) => {
                node(&mut open);
                open.push(Open::Sequence);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                open.pop();
            }
            _ => {}
        }
    }
    found
}

/// Per open collection: for a mapping, whether its next node is a key.
enum Open {
    Mapping { key_next: bool },
    Sequence,
}

/// A node in a mapping alternates key, value: whether this one is a key.
fn node(open: &mut [Open]) -> bool {
    match open.last_mut() {
        Some(Open::Mapping { key_next }) => {
            let was_key = *key_next;
            *key_next = !*key_next;
            was_key
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unquoted_leading_zero_keys_are_ambiguous() {
        let text = "\
options:
  0: a
  1: b
  07: c
  \"08\": d
  '09': e
  10: f
flow: { 00: g, x: 012 }
list: [ 05, { 06: h } ]
";
        assert_eq!(
            ambiguous_keys(text),
            vec![
                (4, "07".to_owned()),
                (8, "00".to_owned()),
                (9, "06".to_owned())
            ]
        );
    }

    #[test]
    fn broken_yaml_yields_what_came_before() {
        assert_eq!(
            ambiguous_keys("a:\n  01: x\nb: [\n"),
            vec![(2, "01".to_owned())]
        );
        assert!(ambiguous_keys("\u{0}\u{1}[{").is_empty());
    }
}
