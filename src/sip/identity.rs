//! The caller's identity on an inbound call: the number (from `P-Asserted-Identity` when
//! the trunk is trusted, RFC 3325, otherwise from `From`) and whether the caller asked for
//! privacy (RFC 3323 `Privacy: id`, `header` or `user`).
//!
//! A restricted number is still stored in the call record (the institute may need it,
//! e.g. for a legal request); it is masked wherever numbers are shown. Pure: header
//! values in, identity out.

/// What is shown instead of a restricted number.
pub use crate::floor::RESTRICTED;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub number: String,
    /// The caller asked not to be identified: show `RESTRICTED`.
    pub restricted: bool,
}

/// Decides the caller's identity. `pai`: the `P-Asserted-Identity` values (read only when
/// `trusted`); `privacy`: the `Privacy` values. Any trunk's Privacy is honoured: showing
/// less than allowed is always safe.
pub fn caller_identity(
    from_user: Option<String>,
    pai: &[String],
    privacy: &[String],
    trusted: bool,
) -> CallerIdentity {
    let asserted = trusted
        .then(|| pai.iter().find_map(|v| number_of(v)))
        .flatten();
    let restricted = privacy.iter().flat_map(|v| v.split(';')).any(|t| {
        matches!(
            t.trim().to_ascii_lowercase().as_str(),
            "id" | "header" | "user"
        )
    });
    CallerIdentity {
        number: asserted.or(from_user).unwrap_or_default(),
        restricted,
    }
}

/// The number in a name-addr or addr-spec: the user part of a `sip:`/`sips:` URI or the
/// number of a `tel:` URI, without parameters.
fn number_of(value: &str) -> Option<String> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.trim(),
    };
    let lower = uri.to_ascii_lowercase();
    let rest = if lower.starts_with("tel:") {
        &uri[4..]
    } else if lower.starts_with("sip:") || lower.starts_with("sips:") {
        let rest = &uri[uri.find(':')? + 1..];
        &rest[..rest.find('@')?]
    } else {
        return None;
    };
    let number = rest.split([';', '?']).next()?.trim();
    (!number.is_empty()).then(|| number.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn a_trusted_trunk_asserts_the_number() {
        let from = Some("anonymous".to_owned());
        let pai = v(&[r#""Cidadao" <sip:+552733334444@gw;user=phone>"#]);
        let id = caller_identity(from.clone(), &pai, &[], true);
        assert_eq!(id.number, "+552733334444");
        assert!(!id.restricted);
        let id = caller_identity(from, &v(&["<tel:2733334444;cpc=ordinary>"]), &[], true);
        assert_eq!(id.number, "2733334444");
    }

    #[test]
    fn an_untrusted_trunk_is_not_believed() {
        let pai = v(&["<sip:2799990000@gw>"]);
        let id = caller_identity(Some("2733334444".into()), &pai, &[], false);
        assert_eq!(id.number, "2733334444");
        let id = caller_identity(None, &v(&["garbage", "<http://x>"]), &[], true);
        assert_eq!(id.number, "");
    }

    #[test]
    fn privacy_restricts_but_keeps_the_number() {
        for p in ["id", "header", "user", "none; id", "ID"] {
            let id = caller_identity(Some("2733334444".into()), &[], &v(&[p]), false);
            assert!(id.restricted, "{p}");
            assert_eq!(id.number, "2733334444");
        }
        for p in ["none", "critical", ""] {
            assert!(
                !caller_identity(None, &[], &v(&[p]), true).restricted,
                "{p}"
            );
        }
    }
}
