//! `${variable}` templates in URLs, bodies, `set` values and `say` values (the IVR's, and
//! the screen-pop URL of a queue).
//!
//! Deliberately tiny: no expressions, no filters. An unknown variable expands to nothing
//! (a caller who skipped a step must not crash the call); `check` flags templates that name
//! no variable any node sets.

use std::collections::BTreeMap;

/// Expands `${name}` from `vars`; `$${` writes a literal `${`.
pub fn expand(template: &str, vars: &BTreeMap<String, String>) -> String {
    expand_escaped(template, vars, str::to_owned)
}

/// Like [`expand`], with each value passed through `escape` (URL encoding, JSON quoting).
pub fn expand_escaped(
    template: &str,
    vars: &BTreeMap<String, String>,
    escape: fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${")
            && let Some(end) = tail.find('}')
        {
            if let Some(v) = vars.get(&tail[..end]) {
                out.push_str(&escape(v));
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The variable names a template reads.
pub fn referenced(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find("${") {
        if i > 0 && rest[..i].ends_with('$') {
            rest = &rest[i + 2..];
            continue;
        }
        let tail = &rest[i + 2..];
        match tail.find('}') {
            Some(end) => {
                names.push(&tail[..end]);
                rest = &tail[end + 1..];
            }
            None => break,
        }
    }
    names
}

/// Percent-encoding for a value placed in a URL (RFC 3986 unreserved kept).
pub fn url_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A value placed inside a JSON string literal in a body template.
pub fn json_escape(v: &str) -> String {
    let quoted = serde_json::Value::String(v.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("cpf".to_owned(), "52998224725".to_owned()),
            ("nome".to_owned(), "Zé \"da\" Silva & cia".to_owned()),
        ])
    }

    #[test]
    fn expands_known_and_blanks_unknown() {
        assert_eq!(
            expand("cpf=${cpf}&x=${nada}", &vars()),
            "cpf=52998224725&x="
        );
        assert_eq!(
            expand("custa $5 e $${literal}", &vars()),
            "custa $5 e ${literal}"
        );
        assert_eq!(expand("${aberto", &vars()), "${aberto");
    }

    #[test]
    fn escapes_for_urls_and_json() {
        assert_eq!(
            expand_escaped("/p?n=${nome}", &vars(), url_escape),
            "/p?n=Z%C3%A9%20%22da%22%20Silva%20%26%20cia"
        );
        assert_eq!(
            expand_escaped("{\"n\":\"${nome}\"}", &vars(), json_escape),
            "{\"n\":\"Zé \\\"da\\\" Silva & cia\"}"
        );
    }

    #[test]
    fn lists_referenced_variables() {
        assert_eq!(referenced("a${x}b${y}$${z}"), vec!["x", "y"]);
    }
}
