//! The HTTP source: `POST /v1/events` on a loopback address.
//!
//! Body: JSON lines (`application/x-ndjson`, the default) or, with `application/json`, one
//! record or an array of records. Each record is judged alone. Answers (JSON body
//! `{"accepted","rejected","errors":[{"index","reason"}]}`, first 100 errors):
//! * 200 once every accepted record is durable in the WAL;
//! * 400 when the body holds no valid record;
//! * 413 for a body over `max_body_bytes`;
//! * 503 with `Retry-After` when the memory budget is full (nothing was taken; retry).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::intake::{Intake, IntakeError};
use crate::quarantine::Origin;
use crate::record::{Record, RejectReason, Rejection};

/// How long a request waits for room in the memory budget before 503.
const ADMIT_WAIT: Duration = Duration::from_millis(200);
/// Errors listed per response.
const MAX_ERRORS: usize = 100;

#[derive(Serialize)]
struct ItemError {
    index: usize,
    reason: String,
}

#[derive(Serialize)]
struct Answer {
    accepted: usize,
    rejected: usize,
    errors: Vec<ItemError>,
}

#[derive(Clone)]
struct Ctx {
    intake: Arc<Intake>,
    source: Arc<str>,
}

/// The axum router of one HTTP source.
pub fn router(intake: Arc<Intake>, listen: SocketAddr, max_body_bytes: usize) -> Router {
    let ctx = Ctx {
        intake,
        source: Arc::from(format!("http:{listen}")),
    };
    Router::new()
        .route("/v1/events", post(post_events))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(ctx)
}

async fn post_events(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    // Reserve memory first, so a busy agent refuses before judging (and quarantining) anything.
    let reserve = body.len() as u64;
    let budget = ctx.intake.budget.clone();
    let admitted =
        tokio::task::spawn_blocking(move || budget.acquire(reserve, Some(ADMIT_WAIT))).await;
    if !matches!(admitted, Ok(true)) {
        return busy();
    }
    let intake = ctx.intake.clone();
    let source = ctx.source.clone();
    let judged =
        tokio::task::spawn_blocking(move || judge(&intake, &source, &body, json_body)).await;
    ctx.intake.budget.release(reserve);
    let (records, errors, rejected) = match judged {
        Ok(j) => j,
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
    };
    let accepted = records.len();
    if accepted == 0 {
        return answer(
            StatusCode::BAD_REQUEST,
            Answer {
                accepted,
                rejected: rejected.max(1),
                errors: or_empty(errors),
            },
        );
    }
    let intake = ctx.intake.clone();
    let spooled =
        tokio::task::spawn_blocking(move || intake.spool(records, Vec::new(), Some(ADMIT_WAIT)))
            .await;
    let ticket = match spooled {
        Ok(Ok(t)) => t,
        Ok(Err(IntakeError::Busy)) => return busy(),
        Ok(Err(e)) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
    };
    if let Err(e) = ctx.intake.wal.wait_async(ticket).await {
        return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response();
    }
    answer(
        StatusCode::OK,
        Answer {
            accepted,
            rejected,
            errors,
        },
    )
}

fn or_empty(mut errors: Vec<ItemError>) -> Vec<ItemError> {
    if errors.is_empty() {
        errors.push(ItemError {
            index: 0,
            reason: "missing_field: the body holds no record".into(),
        });
    }
    errors
}

/// Splits and validates the body: accepted records, listed errors, total rejected.
fn judge(
    intake: &Intake,
    source: &str,
    body: &[u8],
    json_body: bool,
) -> (Vec<Record>, Vec<ItemError>, usize) {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut rejected = 0usize;
    let mut handle = |index: usize, item: &[u8], records: &mut Vec<Record>| {
        let origin = || Origin {
            source: source.to_string(),
            position: format!("index {index}"),
        };
        match intake.check(item, origin) {
            Ok(r) => records.push(r),
            Err(rej) => {
                rejected += 1;
                if errors.len() < MAX_ERRORS {
                    errors.push(ItemError {
                        index,
                        reason: rej.to_string(),
                    });
                }
            }
        }
    };
    let trimmed = body
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .map_or(&body[..0], |s| &body[s..]);
    if json_body && trimmed.starts_with(b"[") {
        match std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Vec<&RawValue>>(t).map_err(|e| e.to_string()))
        {
            Ok(items) => {
                for (i, item) in items.iter().enumerate() {
                    handle(i, item.get().as_bytes(), &mut records);
                }
            }
            Err(e) => {
                let rej = Rejection::new(
                    RejectReason::InvalidJson,
                    format!("body is not a JSON array: {e}"),
                );
                let origin = Origin {
                    source: source.to_string(),
                    position: "body".into(),
                };
                intake.quarantine.put(&rej, &origin, body);
                rejected += 1;
                errors.push(ItemError {
                    index: 0,
                    reason: rej.to_string(),
                });
            }
        }
    } else if json_body {
        handle(0, trimmed, &mut records);
    } else {
        for (index, line) in body.split(|&c| c == b'\n').enumerate() {
            if !line.iter().all(u8::is_ascii_whitespace) {
                handle(index, line, &mut records);
            }
        }
    }
    if rejected > 0 {
        if let Err(e) = intake.quarantine.sync() {
            tracing::warn!(error = %e, "cannot fsync quarantine");
        }
    }
    (records, errors, rejected)
}

fn answer(status: StatusCode, body: Answer) -> Response {
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::RETRY_AFTER, "1"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        r#"{"error":"busy: the memory budget is full; retry later"}"#,
    )
        .into_response()
}
