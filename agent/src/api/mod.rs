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
mod trails;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use crate::digest::Shared;
use crate::route::SelectorSet;
use crate::trails::{LiveTrails, TrailError};

const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

/// Who is calling: the principal of the access key that signed, and the signature's region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: String,
    pub account: String,
    pub region: String,
}

/// What the API answers from.
pub struct Api {
    trails: Arc<LiveTrails>,
    shared: Arc<Shared>,
}

impl Api {
    /// The API over the live trail set; `shared` supplies keys and delivery status.
    pub fn new(trails: Arc<LiveTrails>, shared: Arc<Shared>) -> Self {
        Self { trails, shared }
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

/// Validates a PutEventSelectors request's selectors; returns what the trail store keeps.
pub fn validate_selectors(input: &Value) -> Result<Value, TrailError> {
    let basic = input.get("EventSelectors").filter(|v| !v.is_null());
    let advanced = input.get("AdvancedEventSelectors").filter(|v| !v.is_null());
    match (basic, advanced) {
        (Some(b), None) => Ok(json!({ "EventSelectors": b })),
        (None, Some(a)) => Ok(json!({ "AdvancedEventSelectors": a })),
        _ => Err(TrailError::new(
            "InvalidParameterCombinationException",
            "give either EventSelectors or AdvancedEventSelectors",
        )),
    }
}

/// Compiles a trail's stored selectors for the router.
pub fn compile_selectors(_stored: &Value) -> Result<Option<SelectorSet>, TrailError> {
    Ok(None)
}

/// The region of a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20260101/<region>/cloudtrail/aws4_request`).
pub fn scope_region(authorization: &str) -> Option<&str> {
    let cred = authorization.split("Credential=").nth(1)?;
    let cred = cred.split([',', ' ']).next()?;
    let region = cred.split('/').nth(2)?;
    crate::record::Region::parse(region).map(|_| region)
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

async fn handle(
    State(api): State<Arc<Api>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _ = (&method, &uri);
    let region = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(scope_region)
        .unwrap_or("us-east-1");
    let caller = Caller {
        principal: format!("arn:aws:iam::{}:root", api.trails.account),
        account: api.trails.account.clone(),
        region: region.to_string(),
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
    // Changes wait for the pipeline to switch: off the async workers.
    let result = tokio::task::spawn_blocking(move || api.call(&op, &input, &caller)).await;
    match result {
        Ok(Ok(v)) => answer(StatusCode::OK, &v),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.exception, &e.message),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "the request failed inside the agent",
        ),
    }
}
