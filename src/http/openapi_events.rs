//! The optional fields of the `Event` schema that lifecycle notices and verification records
//! carry (`projections::public_event::PublicEvent`), added to the generated document: the
//! schema's struct is the event stream handler's, and these fields appear only on the events
//! they concern.

use serde_json::{json, Value};

/// Adds `outcome`, `reason`, `not_after` and `days_before` (none required) to `Event`.
pub fn notice_fields(doc: &mut Value) {
    let Some(properties) = doc
        .pointer_mut("/components/schemas/Event/properties")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let fields = [
        (
            "outcome",
            json!({"type": "string", "enum": ["verified", "failed", "not_verifiable"],
                "description": "`authentication.verification_recorded` only: what checking the new material at the service found."}),
        ),
        (
            "reason",
            json!({"type": "string",
                "description": "`authentication.reauthorization_required`, `authentication.refresh_failed`, and a verification that failed or could not be made: why, without any secret, token or URL path (a host at most)."}),
        ),
        (
            "not_after",
            json!({"type": "string", "format": "date-time",
                "description": "`authentication.certificate_expiring` and `authentication.certificate_expired` only: the certificate's end of validity."}),
        ),
        (
            "days_before",
            json!({"type": "integer", "enum": [30, 7, 1],
                "description": "`authentication.certificate_expiring` only: the threshold reached, in days before `not_after`."}),
        ),
    ];
    for (name, schema) in fields {
        properties.insert(name.into(), schema);
    }
}
