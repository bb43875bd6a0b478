//! The Authentications list's filters: a GET form whose inputs are translated into the API's
//! own listing parameters and checked by the API's parser (`list_query`), so a bad value is
//! refused here for the reason `GET /v1/authentications` gives, beside the input it names.

use serde_json::{Map, Value};

use super::create::field_and_reason;
use super::pages::form_value;
use crate::http::error::ApiError;
use crate::http::handlers::listing::{list_query, ListParams};
use crate::projections::ListQuery;
use crate::time::Timestamp;

/// The filter inputs, in the order of the form. `state` and `expires_within_days` are the
/// dashboard's words for the API's `lifecycle`/`needs_reauthorization` and `expires_before`.
pub(super) const FILTERS: [&str; 8] = [
    "q",
    "service",
    "service_version",
    "environment",
    "workspace",
    "kind",
    "state",
    "expires_within_days",
];

/// The longest "expires within" a person may ask for, in days (ten years).
const MAX_DAYS: i64 = 3650;

const SECONDS_PER_DAY: i64 = 86_400;

/// One filter input: what was typed, and the refusal beside it.
pub(super) struct Filter {
    pub(super) name: &'static str,
    pub(super) value: String,
    pub(super) error: Option<String>,
}

/// The filters as typed, with the query string that keeps them in the paging links.
pub(super) struct Filters {
    pub(super) inputs: Vec<Filter>,
    /// The filled-in filters as a query string (without the cursor).
    pub(super) query: String,
}

impl Filters {
    /// The filters of a request's query string (empty inputs are no filter).
    pub(super) fn of(pairs: &[(String, String)]) -> Filters {
        let inputs: Vec<Filter> = FILTERS
            .iter()
            .map(|name| Filter {
                name,
                value: form_value(pairs, name)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
                error: None,
            })
            .collect();
        let mut encoded = url::form_urlencoded::Serializer::new(String::new());
        for filter in inputs.iter().filter(|f| !f.value.is_empty()) {
            encoded.append_pair(filter.name, &filter.value);
        }
        Filters {
            inputs,
            query: encoded.finish(),
        }
    }

    /// The value typed into filter `name` ("" when none).
    pub(super) fn value(&self, name: &str) -> &str {
        self.inputs
            .iter()
            .find(|f| f.name == name)
            .map_or("", |f| f.value.as_str())
    }

    /// The refusal beside filter `name`.
    pub(super) fn error(&self, name: &str) -> Option<&str> {
        self.inputs
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| f.error.as_deref())
    }

    /// The listing query of these filters, a page of `limit` after `cursor`; a refused
    /// value is put beside its input (`Err` then carries the refusal, for its status and for
    /// a refusal that names no input).
    pub(super) fn query(
        &mut self,
        cursor: Option<&str>,
        limit: usize,
        now: Timestamp,
    ) -> Result<ListQuery, ApiError> {
        let answer = self.api_params(cursor, limit, now).and_then(list_query);
        if let Err(problem) = &answer {
            let (field, reason) = field_and_reason(problem);
            // The API's names of the dashboard's own inputs.
            let input = match field {
                Some("lifecycle" | "needs_reauthorization") => Some("state"),
                Some("expires_before") => Some("expires_within_days"),
                Some("tag") => Some("environment"),
                other => other,
            };
            if let Some(filter) = self.inputs.iter_mut().find(|f| Some(f.name) == input) {
                filter.error = Some(reason);
            }
        }
        answer
    }

    /// The API's parameters of the filters.
    fn api_params(
        &self,
        cursor: Option<&str>,
        limit: usize,
        now: Timestamp,
    ) -> Result<ListParams, ApiError> {
        let mut params = Map::new();
        for name in [
            "q",
            "service",
            "service_version",
            "environment",
            "workspace",
            "kind",
        ] {
            let value = self.value(name);
            if !value.is_empty() {
                params.insert(name.into(), Value::String(value.into()));
            }
        }
        match self.value("state") {
            "" => {}
            "active" | "deleted" => {
                params.insert("lifecycle".into(), self.value("state").into());
            }
            "needs_reauthorization" => {
                params.insert("needs_reauthorization".into(), true.into());
            }
            _ => {
                return Err(ApiError::malformed(
                    "state",
                    "choose active, deleted or needs re-authorization",
                ))
            }
        }
        let days = self.value("expires_within_days");
        if !days.is_empty() {
            let days = days
                .parse::<i64>()
                .ok()
                .filter(|d| (1..=MAX_DAYS).contains(d))
                .ok_or_else(|| {
                    ApiError::malformed(
                        "expires_within_days",
                        format!("must be a whole number of days from 1 to {MAX_DAYS}"),
                    )
                })?;
            let before = now.0 / Timestamp::MICROS_PER_SECOND + days * SECONDS_PER_DAY;
            params.insert("expires_before".into(), before.to_string().into());
        }
        if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
            params.insert("cursor".into(), cursor.into());
        }
        params.insert("limit".into(), limit.into());
        // Only a value outside a form's choices (a kind typed into the URL) fails here.
        serde_path_to_error::deserialize(Value::Object(params)).map_err(|e| {
            let field = e.path().to_string();
            ApiError::malformed(field, "is not one of the choices")
        })
    }
}
