//! The control-plane API, first part: CloudTrail's JSON 1.1 protocol on `[api] listen`.
//!
//! Every call is `POST /` with `X-Amz-Target: com.amazonaws.cloudtrail.v20131101.
//! CloudTrail_20131101.<Operation>` and a JSON body; answers are `application/x-amz-json-1.1`,
//! timestamps epoch seconds, blobs base64. Errors are HTTP 400 `{"__type": "<Exception>",
//! "message": "…"}`, the shape botocore parses. Operations: `DescribeTrails`, `GetTrail`,
//! `ListTrails`, `GetTrailStatus`, `ListPublicKeys`. Trails are the configured ones (read-only
//! here); authentication (SigV4) is not checked yet, but the region of the credential scope, when
//! present, selects the region whose public keys `ListPublicKeys` returns.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::config::{Config, Encryption, Trail, TrailDelivery};
use crate::digest::Shared;
use crate::digest::file::iso;

const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";
/// Public keys per `ListPublicKeys` page.
const KEYS_PER_PAGE: usize = 50;

/// What the API answers from.
pub struct Api {
    account: String,
    trails: Vec<(Trail, Option<TrailDelivery>)>,
    shared: Arc<Shared>,
}

impl Api {
    /// The API over `config`'s trails; `shared` supplies keys and delivery status.
    pub fn new(config: &Config, shared: Arc<Shared>) -> Self {
        let deliveries = config.trail_deliveries();
        Self {
            account: config
                .account_id
                .clone()
                .unwrap_or_else(|| "000000000000".to_string()),
            trails: config
                .trails()
                .into_iter()
                .map(|t| {
                    let d = deliveries.iter().find(|d| d.name == t.name).cloned();
                    (t, d)
                })
                .collect(),
            shared,
        }
    }

    /// `arn:aws:cloudtrail:<home region>:<account>:trail/<name>`.
    pub fn trail_arn(&self, t: &Trail) -> String {
        format!(
            "arn:aws:cloudtrail:{}:{}:trail/{}",
            t.home_region, self.account, t.name
        )
    }

    fn find(&self, name: &str) -> Option<&(Trail, Option<TrailDelivery>)> {
        self.trails
            .iter()
            .find(|(t, _)| t.name == name || self.trail_arn(t) == name)
    }

    fn trail_json(&self, t: &Trail, d: Option<&TrailDelivery>) -> Value {
        let mut m = Map::new();
        m.insert("Name".into(), json!(t.name));
        m.insert("S3BucketName".into(), json!(t.bucket));
        if !t.prefix.is_empty() {
            m.insert("S3KeyPrefix".into(), json!(t.prefix));
        }
        if let Some(arn) = d.and_then(|d| d.sns_topic_arn.as_deref()) {
            m.insert(
                "SnsTopicName".into(),
                json!(arn.rsplit(':').next().unwrap_or(arn)),
            );
            m.insert("SnsTopicARN".into(), json!(arn));
        }
        m.insert("IncludeGlobalServiceEvents".into(), json!(t.include_global));
        m.insert("IsMultiRegionTrail".into(), json!(t.multi_region));
        m.insert("HomeRegion".into(), json!(t.home_region.to_string()));
        m.insert("TrailARN".into(), json!(self.trail_arn(t)));
        m.insert(
            "LogFileValidationEnabled".into(),
            json!(t.digest_interval_secs.is_some()),
        );
        if let Some(Encryption::Kms { key_id, .. }) = d.map(|d| &d.encryption) {
            m.insert("KmsKeyId".into(), json!(key_id));
        }
        m.insert("HasCustomEventSelectors".into(), json!(false));
        m.insert("HasInsightSelectors".into(), json!(false));
        m.insert("IsOrganizationTrail".into(), json!(false));
        Value::Object(m)
    }

    /// Runs one operation: `Ok(body)` or `Err((exception, message))`.
    pub fn call(
        &self,
        op: &str,
        input: &Value,
        region: Option<&str>,
    ) -> Result<Value, (&'static str, String)> {
        match op {
            "DescribeTrails" => {
                let names: Option<Vec<&str>> = input
                    .get("trailNameList")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect());
                let list: Vec<Value> = self
                    .trails
                    .iter()
                    .filter(|(t, _)| {
                        names.as_ref().is_none_or(|n| {
                            n.is_empty()
                                || n.iter().any(|x| *x == t.name || *x == self.trail_arn(t))
                        })
                    })
                    .map(|(t, d)| self.trail_json(t, d.as_ref()))
                    .collect();
                Ok(json!({ "trailList": list }))
            }
            "GetTrail" => {
                let (t, d) = self.named(input, "Name")?;
                Ok(json!({ "Trail": self.trail_json(t, d.as_ref()) }))
            }
            "ListTrails" => {
                let list: Vec<Value> = self
                    .trails
                    .iter()
                    .map(|(t, _)| {
                        json!({
                            "TrailARN": self.trail_arn(t),
                            "Name": t.name,
                            "HomeRegion": t.home_region.to_string(),
                        })
                    })
                    .collect();
                Ok(json!({ "Trails": list }))
            }
            "GetTrailStatus" => {
                let (t, _) = self.named(input, "Name")?;
                let s = self.shared.status(&t.name);
                let started = self.shared.started;
                let mut m = Map::new();
                m.insert("IsLogging".into(), json!(true));
                m.insert("StartLoggingTime".into(), json!(started));
                m.insert("TimeLoggingStarted".into(), json!(iso(started)));
                if let Some(at) = s.latest_delivery {
                    m.insert("LatestDeliveryTime".into(), json!(at));
                }
                if let Some(at) = s.latest_delivery_attempt {
                    m.insert("LatestDeliveryAttemptTime".into(), json!(iso(at)));
                }
                if let Some(at) = s.latest_delivery_attempt_succeeded {
                    m.insert("LatestDeliveryAttemptSucceeded".into(), json!(iso(at)));
                }
                if let Some(e) = s.latest_delivery_error {
                    m.insert("LatestDeliveryError".into(), json!(e));
                }
                if let Some(at) = s.latest_digest_delivery {
                    m.insert("LatestDigestDeliveryTime".into(), json!(at));
                }
                if let Some(e) = s.latest_digest_error {
                    m.insert("LatestDigestDeliveryError".into(), json!(e));
                }
                Ok(Value::Object(m))
            }
            "ListPublicKeys" => self.list_public_keys(input, region),
            _ => Err((
                "UnknownOperationException",
                format!("operation {op} is not supported"),
            )),
        }
    }

    fn named(
        &self,
        input: &Value,
        field: &str,
    ) -> Result<&(Trail, Option<TrailDelivery>), (&'static str, String)> {
        let Some(name) = input.get(field).and_then(Value::as_str) else {
            return Err(("InvalidParameterException", format!("{field} is required")));
        };
        self.find(name).ok_or_else(|| {
            (
                "TrailNotFoundException",
                format!("Unknown trail: {name} for the user: {}", self.account),
            )
        })
    }

    fn list_public_keys(
        &self,
        input: &Value,
        region: Option<&str>,
    ) -> Result<Value, (&'static str, String)> {
        let now = chrono::Utc::now().timestamp();
        let time = |field: &str| -> Result<Option<i64>, (&'static str, String)> {
            match input.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_f64().map(|f| Some(f.floor() as i64)).ok_or((
                    "InvalidTimeRangeException",
                    format!("{field} must be a timestamp"),
                )),
            }
        };
        let from = time("StartTime")?.unwrap_or(now);
        let to = time("EndTime")?.unwrap_or(now);
        if to < from {
            return Err((
                "InvalidTimeRangeException",
                "EndTime must not be before StartTime".into(),
            ));
        }
        let keys = self.shared.keys.public_keys(region, from, to);
        let start = match input.get("NextToken").and_then(Value::as_str) {
            None => 0,
            Some(tok) => tok
                .parse::<usize>()
                .ok()
                .filter(|&n| n <= keys.len())
                .ok_or(("InvalidTokenException", "invalid NextToken".to_string()))?,
        };
        let page: Vec<Value> = keys
            .iter()
            .skip(start)
            .take(KEYS_PER_PAGE)
            .map(|k| {
                json!({
                    "Value": base64::engine::general_purpose::STANDARD.encode(&k.der),
                    "ValidityStartTime": k.valid_from,
                    "ValidityEndTime": k.valid_to,
                    "Fingerprint": k.fingerprint,
                })
            })
            .collect();
        let mut out = json!({ "PublicKeyList": page });
        if start + KEYS_PER_PAGE < keys.len() {
            out["NextToken"] = json!((start + KEYS_PER_PAGE).to_string());
        }
        Ok(out)
    }
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
    Router::new().route("/", post(handle)).with_state(api)
}

fn answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

fn error(kind: &str, message: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        &json!({ "__type": kind, "message": message }),
    )
}

async fn handle(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(op) = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
    else {
        return error(
            "UnknownOperationException",
            "missing or unknown X-Amz-Target",
        );
    };
    let input: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return error("SerializationException", "the body is not a JSON object"),
        }
    };
    let region = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(scope_region);
    match api.call(op, &input, region) {
        Ok(v) => answer(StatusCode::OK, &v),
        Err((kind, message)) => error(kind, &message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(dir: &std::path::Path) -> Api {
        let cfg = Config::from_toml(
            "account_id = \"123456789012\"\n[[trails]]\nname = \"main\"\n\
             s3_bucket_name = \"audit-logs\"\nenable_log_file_validation = true\n",
            dir,
            "t",
        )
        .expect("config");
        let shared = Arc::new(Shared::open(dir).expect("keys"));
        Api::new(&cfg, shared)
    }

    #[test]
    fn trails_and_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let api = api(dir.path());
        let arn = "arn:aws:cloudtrail:us-east-1:123456789012:trail/main";
        let d = api.call("DescribeTrails", &json!({}), None).expect("ok");
        assert_eq!(d["trailList"][0]["TrailARN"], arn);
        assert_eq!(d["trailList"][0]["LogFileValidationEnabled"], true);
        let g = api
            .call("GetTrail", &json!({"Name": arn}), None)
            .expect("ok");
        assert_eq!(g["Trail"]["Name"], "main");
        let (kind, _) = api
            .call("GetTrail", &json!({"Name": "nope"}), None)
            .expect_err("unknown");
        assert_eq!(kind, "TrailNotFoundException");
        let s = api
            .call("GetTrailStatus", &json!({"Name": "main"}), None)
            .expect("ok");
        assert_eq!(s["IsLogging"], true);
        assert!(s.get("LatestDeliveryError").is_none());

        // Delivery attempts reach GetTrailStatus through the delivery observer.
        use crate::deliver::{DeliveryObserver, SealedFile};
        let file = SealedFile {
            id: 1,
            trail: "main".into(),
            digest: false,
            path: dir.path().join("x"),
            bucket: "audit-logs".into(),
            key: "AWSLogs/x".into(),
            records: 1,
            bytes: 1,
            metadata: Default::default(),
        };
        let obs: &dyn DeliveryObserver = api.shared.as_ref();
        obs.attempted(
            &file,
            Err("PutObject s3://audit-logs/AWSLogs/x: AccessDenied"),
            1_700_000_000,
        );
        obs.attempted(&file, Ok(()), 1_700_000_060);
        let digest = SealedFile {
            digest: true,
            ..file
        };
        obs.attempted(&digest, Err("NoSuchBucket"), 1_700_000_061);
        let s = api
            .call("GetTrailStatus", &json!({"Name": "main"}), None)
            .expect("ok");
        assert_eq!(
            s["LatestDeliveryError"],
            "PutObject s3://audit-logs/AWSLogs/x: AccessDenied"
        );
        assert_eq!(s["LatestDeliveryAttemptTime"], "2023-11-14T22:14:20Z");
        assert_eq!(s["LatestDeliveryAttemptSucceeded"], "2023-11-14T22:14:20Z");
        assert_eq!(s["LatestDigestDeliveryError"], "NoSuchBucket");
    }

    #[test]
    fn public_keys_by_region_and_time() {
        let dir = tempfile::tempdir().expect("tmp");
        let api = api(dir.path());
        let k = api.shared.keys.active("us-east-1", 1_000_000).expect("key");
        let all = api
            .call(
                "ListPublicKeys",
                &json!({"StartTime": 999_000, "EndTime": 1_001_000.5}),
                Some("us-east-1"),
            )
            .expect("ok");
        let list = all["PublicKeyList"].as_array().expect("list");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["Fingerprint"], k.fingerprint);
        let der = base64::engine::general_purpose::STANDARD
            .decode(list[0]["Value"].as_str().expect("b64"))
            .expect("base64");
        assert_eq!(crate::digest::sign::fingerprint(&der), k.fingerprint);
        let none = api
            .call(
                "ListPublicKeys",
                &json!({"StartTime": 1, "EndTime": 2}),
                Some("us-east-1"),
            )
            .expect("ok");
        assert!(none["PublicKeyList"].as_array().expect("list").is_empty());
        let other = api
            .call(
                "ListPublicKeys",
                &json!({"StartTime": 999_000, "EndTime": 1_001_000}),
                Some("eu-west-1"),
            )
            .expect("ok");
        assert!(other["PublicKeyList"].as_array().expect("list").is_empty());
        assert_eq!(
            scope_region(
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=ab"
            ),
            Some("eu-west-1")
        );
    }
}
