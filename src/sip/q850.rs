//! Q.850 causes in SIP `Reason` headers (RFC 3326), mapped to atende's hang-up causes
//! both ways. An E1 gateway reports why the public network cleared a call
//! (`Reason: Q.850;cause=17;text="User busy"`) and expects the same of the BYEs it gets.
//!
//! The table and parsing are pure; `note_hangup_reason` hands a request's cause to the
//! dialog router. Only the `Q.850` protocol of a Reason
//! header is read; `SIP;cause=…` reasons are ignored (the SIP status says as much).

/// (Q.850 cause, atende's hang-up cause, text for a Reason header we send). The first row
/// for a cause names it when read; the first row for a hang-up cause names it when sent.
const TABLE: &[(u16, &str, &str)] = &[
    (16, "normal_clearing", "Normal call clearing"),
    (1, "unallocated_number", "Unallocated number"),
    (3, "no_route", "No route to destination"),
    (17, "user_busy", "User busy"),
    (18, "no_user_response", "No user responding"),
    (19, "no_answer", "No answer from user"),
    (21, "call_rejected", "Call rejected"),
    (27, "destination_out_of_order", "Destination out of order"),
    (31, "normal_unspecified", "Normal, unspecified"),
    (34, "no_circuit_available", "No circuit/channel available"),
    (38, "network_out_of_order", "Network out of order"),
    (41, "temporary_failure", "Temporary failure"),
    (42, "switching_congestion", "Switching equipment congestion"),
    (102, "recovery_on_timer_expiry", "Recovery on timer expiry"),
    (127, "interworking", "Interworking, unspecified"),
    // atende's own causes, sent only: the nearest Q.850 meaning.
    (3, "no_outbound_trunk", "No route to destination"),
    (102, "session_timer_expired", "Recovery on timer expiry"),
    (102, "rtp_timeout", "Recovery on timer expiry"),
    (41, "server_shutdown", "Temporary failure"),
    (41, "server_restart", "Temporary failure"),
    (41, "internal_error", "Temporary failure"),
    (41, "acd_down", "Temporary failure"),
];

/// The hang-up cause of a Q.850 cause value; unknown values keep their number.
pub fn cause_name(q850: u16) -> String {
    TABLE
        .iter()
        .find(|(c, _, _)| *c == q850)
        .map(|(_, name, _)| (*name).to_owned())
        .unwrap_or_else(|| format!("q850_{q850}"))
}

/// The Q.850 cause and text for one of atende's hang-up causes. Causes that are not
/// failures (the IVR served the caller, a callback was registered…) are normal clearing.
pub fn q850_for(cause: &str) -> (u16, &'static str) {
    if let Some(n) = cause
        .strip_prefix("q850_")
        .and_then(|n| n.parse::<u16>().ok())
    {
        return (n, "");
    }
    TABLE
        .iter()
        .find(|(_, name, _)| *name == cause)
        .map(|(c, _, text)| (*c, *text))
        .unwrap_or((16, "Normal call clearing"))
}

/// The value of a `Reason` header for a BYE atende sends with this hang-up cause.
pub fn reason_header(cause: &str) -> String {
    match q850_for(cause) {
        (c, "") => format!("Q.850;cause={c}"),
        (c, text) => format!("Q.850;cause={c};text=\"{text}\""),
    }
}

/// The Q.850 cause of one `Reason` header value, if it is a Q.850 reason.
pub fn parse_reason(value: &str) -> Option<u16> {
    let mut parts = value.split(';');
    let protocol = parts.next()?.trim();
    if !protocol.eq_ignore_ascii_case("Q.850") {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("cause")
            .then(|| v.trim().trim_matches('"').parse::<u16>().ok())
            .flatten()
    })
}

/// The hang-up cause a request's `Reason` headers give (the first Q.850 one).
pub fn cause_of(values: &[String]) -> Option<String> {
    values.iter().find_map(|v| parse_reason(v)).map(cause_name)
}

/// Notes the cause of a BYE/CANCEL's `Reason` for the call it ends (the call actor
/// takes it with the dialog's termination).
pub fn note_hangup_reason(ex: &crate::sip::exchange::Exchange, req: &rsipstack::sip::Request) {
    use rsipstack::sip::Method;
    if !matches!(req.method, Method::Bye | Method::Cancel) {
        return;
    }
    let reasons = crate::sip::request::header_values(req, "Reason");
    if let (Some(cause), Some(call_id)) = (cause_of(&reasons), crate::sip::request::call_id(req)) {
        ex.dialog_router.note_reason(&call_id, cause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gateway_reasons() {
        assert_eq!(
            parse_reason(r#"Q.850;cause=16;text="Normal call clearing""#),
            Some(16)
        );
        assert_eq!(parse_reason("q.850 ; cause = 17"), Some(17));
        assert_eq!(parse_reason("SIP;cause=487;text=\"Cancelled\""), None);
        assert_eq!(parse_reason("Q.850;text=\"x\""), None);
        assert_eq!(parse_reason("Q.850;cause=abc"), None);
        assert_eq!(cause_name(17), "user_busy");
        assert_eq!(cause_name(19), "no_answer");
        assert_eq!(cause_name(99), "q850_99");
        let vals = vec!["SIP;cause=200".to_owned(), "Q.850;cause=34".to_owned()];
        assert_eq!(cause_of(&vals).as_deref(), Some("no_circuit_available"));
    }

    #[test]
    fn sends_the_cause_matching_atendes_own() {
        assert_eq!(
            reason_header("normal_clearing"),
            "Q.850;cause=16;text=\"Normal call clearing\""
        );
        assert_eq!(q850_for("no_answer").0, 19);
        assert_eq!(q850_for("session_timer_expired").0, 102);
        assert_eq!(q850_for("server_shutdown").0, 41);
        assert_eq!(q850_for("served_by_ivr").0, 16);
        assert_eq!(reason_header("q850_99"), "Q.850;cause=99");
    }

    #[test]
    fn every_cause_read_is_sent_back_as_the_same_q850() {
        for (c, _, _) in TABLE {
            assert_eq!(q850_for(&cause_name(*c)).0, *c);
        }
        for n in 0..200 {
            assert_eq!(q850_for(&cause_name(n)).0, n);
        }
    }
}
