//! `ListPublicKeys`: the public keys that verify digests signed in the caller's region, with
//! their validity windows, paginated.

use base64::Engine as _;
use serde_json::{Value, json};

use super::Api;
use crate::trails::TrailError;

/// Public keys per `ListPublicKeys` page.
const KEYS_PER_PAGE: usize = 50;

impl Api {
    pub(super) fn list_public_keys(
        &self,
        input: &Value,
        region: &str,
    ) -> Result<Value, TrailError> {
        let now = chrono::Utc::now().timestamp();
        let time = |field: &str| -> Result<Option<i64>, TrailError> {
            match input.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_f64().map(|f| Some(f.floor() as i64)).ok_or_else(|| {
                    TrailError::new(
                        "InvalidTimeRangeException",
                        format!("{field} must be a timestamp"),
                    )
                }),
            }
        };
        let from = time("StartTime")?.unwrap_or(now);
        let to = time("EndTime")?.unwrap_or(now);
        if to < from {
            return Err(TrailError::new(
                "InvalidTimeRangeException",
                "EndTime must not be before StartTime",
            ));
        }
        let keys = self.shared.keys.public_keys(Some(region), from, to);
        let start = match input.get("NextToken").and_then(Value::as_str) {
            None => 0,
            Some(tok) => tok
                .parse::<usize>()
                .ok()
                .filter(|&n| n <= keys.len())
                .ok_or_else(|| TrailError::new("InvalidTokenException", "invalid NextToken"))?,
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
