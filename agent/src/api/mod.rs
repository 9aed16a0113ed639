//! The control-plane API: CloudTrail's JSON 1.1 protocol on `[api] listen`.
//!
//! Every call is `POST /` with `X-Amz-Target: com.amazonaws.cloudtrail.v20131101.
//! CloudTrail_20131101.<Operation>` and a JSON body; answers are `application/x-amz-json-1.1`,
//! timestamps epoch seconds, blobs base64. Errors are `{"__type": "<Exception>", "message": "…"}`
//! (HTTP 400, or what AWS sends for authentication failures), the shape botocore parses.
//!
//! Order of checks, as AWS: the SigV4 signature (before any parameter is read), then the IAM
//! policy of the caller's principal for `cloudtrail:<Operation>` on the trail ARN the request
//! names (`*` for calls without one), then the parameters. The region of the signature's
//! credential scope is the caller's region: trails are created there, visible there (multi-region
//! trails everywhere) and changed only from their home region.
//!
//! Operations: trails ([`trails`]), `ListPublicKeys` ([`keys`]).

mod input;
mod keys;
pub mod tls_listener;
mod trails;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use crate::auth::{ApiAuth, Denied};
use crate::digest::Shared;
use crate::route::SelectorSet;
use crate::selector::{Compiled, PutEventSelectorsInput, Selectors};
use crate::trails::{LiveTrails, TrailError};

const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

pub use crate::auth::Caller;

/// What the API answers from.
pub struct Api {
    trails: Arc<LiveTrails>,
    shared: Arc<Shared>,
    auth: ApiAuth,
}

impl Api {
    /// The API over the live trail set; `shared` supplies keys and delivery status, `auth`
    /// checks every request.
    pub fn new(trails: Arc<LiveTrails>, shared: Arc<Shared>, auth: ApiAuth) -> Self {
        Self {
            trails,
            shared,
            auth,
        }
    }

    /// Runs one operation for an authenticated and authorized `caller`.
    pub fn call(&self, op: &str, input: &Value, caller: &Caller) -> Result<Value, TrailError> {
        match op {
            "DescribeTrails" => self.describe_trails(caller, input),
            "GetTrail" => self.get_trail(caller, input),
            "ListTrails" => self.list_trails(caller),
            "GetTrailStatus" => self.get_trail_status(caller, input),
            "CreateTrail" => self.create_trail(caller, input),
            "UpdateTrail" => self.update_trail(caller, input),
            "DeleteTrail" => self.delete_trail(caller, input),
            "StartLogging" => self.set_logging(caller, input, true),
            "StopLogging" => self.set_logging(caller, input, false),
            "PutEventSelectors" => self.put_event_selectors(caller, input),
            "GetEventSelectors" => self.get_event_selectors(caller, input),
            "PutInsightSelectors" => self.put_insight_selectors(caller, input),
            "GetInsightSelectors" => self.get_insight_selectors(caller, input),
            "AddTags" => self.add_tags(caller, input),
            "RemoveTags" => self.remove_tags(caller, input),
            "ListTags" => self.list_tags(caller, input),
            "ListPublicKeys" => self.list_public_keys(input, &caller.region),
            _ => Err(TrailError::new(
                "UnknownOperationException",
                format!("operation {op} is not supported"),
            )),
        }
    }
}

/// Validates a PutEventSelectors request's selectors (CloudTrail's rules and exception names);
/// returns what the trail store keeps.
pub fn validate_selectors(input: &Value) -> Result<Selectors, TrailError> {
    let parsed: PutEventSelectorsInput = serde_json::from_value(input.clone()).map_err(|e| {
        TrailError::new(
            "InvalidEventSelectorsException",
            format!("cannot read the event selectors: {e}"),
        )
    })?;
    Selectors::from_input(parsed).map_err(|e| TrailError::new(e.exception(), e.message()))
}

/// Compiles a trail's stored selectors for the router (`None`: every record matches).
pub fn compile_selectors(stored: &Value) -> Result<Option<SelectorSet>, TrailError> {
    let selectors: Selectors = serde_json::from_value(stored.clone()).map_err(|e| {
        TrailError::new(
            "InvalidEventSelectorsException",
            format!("stored event selectors are invalid: {e}"),
        )
    })?;
    let compiled = Compiled::compile(&selectors);
    Ok(Some(SelectorSet::new(move |r| compiled.matches(r))))
}

/// The axum router serving the API.
pub fn router(api: Arc<Api>) -> Router {
    Router::new().route("/", any(handle)).with_state(api)
}

fn answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    answer(status, &json!({ "__type": kind, "message": message }))
}

fn denied(d: &Denied) -> Response {
    let status = StatusCode::from_u16(d.status).unwrap_or(StatusCode::BAD_REQUEST);
    error(status, d.exception, &d.message)
}

async fn handle(
    State(api): State<Arc<Api>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // 1. The signature, before anything of the request is believed.
    let caller = match api
        .auth
        .authenticate(&method, &uri, &headers, &body, SystemTime::now())
    {
        Ok(c) => c,
        Err(d) => {
            tracing::info!(exception = d.exception, "API request refused");
            return denied(&d);
        }
    };
    let Some(op) = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .map(str::to_string)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            "missing or unknown X-Amz-Target",
        );
    };
    let input: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    "the body is not a JSON object",
                );
            }
        }
    };
    // 2. The caller's policies, for the trail the request names; then the call itself, off
    // the async workers (changes wait for the pipeline to switch).
    let answered = tokio::task::spawn_blocking(move || {
        let resource = api.resource(&op, &input, &caller);
        if let Err(d) = api.auth.authorize(&caller, &op, &resource) {
            tracing::info!(principal = %caller.principal, operation = %op, %resource, "API call denied");
            return denied(&d);
        }
        if !api.serves(&caller) {
            return error(
                StatusCode::BAD_REQUEST,
                "AccessDeniedException",
                &format!(
                    "User: {} belongs to account {}, which is neither this agent's account ({}) \
                     nor a member of its organization",
                    caller.principal, caller.account, api.trails.account
                ),
            );
        }
        match api.call(&op, &input, &caller) {
            Ok(v) => answer(StatusCode::OK, &v),
            Err(e) => error(StatusCode::BAD_REQUEST, e.exception, &e.message),
        }
    })
    .await;
    answered.unwrap_or_else(|_| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "the request failed inside the agent",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Limits, validate};

    fn record(json: &str) -> crate::record::Record {
        validate(json.as_bytes(), &Limits::default()).expect("valid record")
    }

    const WRITE: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","accountId":"123456789012"},"eventTime":"2026-01-01T00:00:00Z","eventSource":"orders.example.com","eventName":"CreateOrder","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.5","eventID":"11111111-1111-1111-1111-111111111111","eventType":"AwsApiCall","readOnly":false}"#;

    #[test]
    fn selectors_validate_store_and_compile_round_trip() {
        let input = json!({"TrailName": "t", "AdvancedEventSelectors": [{"FieldSelectors": [
            {"Field": "eventName", "StartsWith": ["Create"]},
            {"Field": "readOnly", "Equals": ["false"]}]}]});
        let stored =
            serde_json::to_value(validate_selectors(&input).expect("valid")).expect("serializable");
        let set = compile_selectors(&stored)
            .expect("compiles")
            .expect("a matcher");
        assert!(set.matches(&record(WRITE)));
        assert!(!set.matches(&record(&WRITE.replace("CreateOrder", "GetOrder"))));
        assert!(!set.matches(&record(
            &WRITE.replace(r#""readOnly":false"#, r#""readOnly":true"#)
        )));

        // The default: management events only.
        let default = compile_selectors(&json!("Default"))
            .expect("compiles")
            .expect("a matcher");
        assert!(default.matches(&record(WRITE)));
        let data = WRITE.replace(
            r#""readOnly":false"#,
            r#""readOnly":false,"eventCategory":"Data","managementEvent":false"#,
        );
        assert!(!default.matches(&record(&data)));
    }

    #[test]
    fn invalid_selectors_get_aws_exceptions() {
        let both = json!({"TrailName": "t", "EventSelectors": [{"ReadWriteType": "All"}],
            "AdvancedEventSelectors": [{"FieldSelectors": [
                {"Field": "eventName", "Equals": ["x"]}]}]});
        assert_eq!(
            validate_selectors(&both).expect_err("both").exception,
            "InvalidParameterCombinationException"
        );
        let bad_type = json!({"TrailName": "t", "EventSelectors": "not a list"});
        assert_eq!(
            validate_selectors(&bad_type).expect_err("shape").exception,
            "InvalidEventSelectorsException"
        );
        let bad_op = json!({"TrailName": "t", "AdvancedEventSelectors": [{"FieldSelectors": [
            {"Field": "readOnly", "StartsWith": ["t"]}]}]});
        assert_eq!(
            validate_selectors(&bad_op).expect_err("operator").exception,
            "InvalidEventSelectorsException"
        );
    }
}
