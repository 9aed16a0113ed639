//! The trail operations: reads (`DescribeTrails`, `GetTrail`, `ListTrails`, `GetTrailStatus`,
//! `GetEventSelectors`, `GetInsightSelectors`, `ListTags`) and changes (`CreateTrail`,
//! `UpdateTrail`, `DeleteTrail`, `StartLogging`, `StopLogging`, `PutEventSelectors`,
//! `PutInsightSelectors`, `AddTags`, `RemoveTags`), with CloudTrail's rules: trails are visible
//! in their home region (multi-region trails everywhere) and changed only from it; member accounts
//! of the organization see organization trails and change nothing.

use serde_json::{Map, Value, json};

use super::input::{optional_bool, optional_list, optional_str, required, tags, trail_name};
use super::{Api, Caller};
use crate::config::{Sse, TrailConfig};
use crate::digest::file::iso;
use crate::selector::Selectors;
use crate::trails::{Origin, Store, StoredTrail, Tag, TrailError, rules};

/// Epoch seconds with milliseconds (CloudTrail's timestamp precision).
fn now_secs() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

impl Api {
    /// `arn:aws:cloudtrail:<home region>:<owner account>:trail/<name>`.
    pub fn trail_arn(&self, spec: &TrailConfig) -> String {
        format!(
            "arn:aws:cloudtrail:{}:{}:trail/{}",
            spec.home_region, self.trails.account, spec.name
        )
    }

    /// True when `caller` is a member account of the organization (not its management account).
    fn is_member(&self, caller: &Caller) -> bool {
        caller.account != self.trails.account
            && self
                .trails
                .config()
                .organization
                .as_ref()
                .is_some_and(|o| o.member_accounts.contains(&caller.account))
    }

    /// True when `caller` is of the agent's account or a member account of its organization:
    /// principals of other accounts own no trails here and see none.
    pub(super) fn serves(&self, caller: &Caller) -> bool {
        caller.account == self.trails.account || self.is_member(caller)
    }

    /// True when `caller` may see `t` from its region.
    fn sees(&self, caller: &Caller, t: &StoredTrail) -> bool {
        (!self.is_member(caller) || t.spec.is_organization_trail)
            && rules::visible_from(&t.spec, &caller.region)
    }

    /// The trail a `Name`/`TrailName`/`ResourceId` value (name or ARN) names, as `caller` sees it.
    pub(super) fn lookup<'s>(
        &self,
        store: &'s Store,
        caller: &Caller,
        value: &str,
    ) -> Result<&'s StoredTrail, TrailError> {
        let (name, arn_region) = trail_name(value)?;
        store
            .find(name)
            .filter(|t| match arn_region {
                // An ARN names the trail wherever it lives (in the owner's account).
                Some(region) => {
                    t.spec.home_region == region
                        && (!self.is_member(caller) || t.spec.is_organization_trail)
                }
                None => self.sees(caller, t),
            })
            .ok_or_else(|| {
                TrailError::new(
                    "TrailNotFoundException",
                    format!("Unknown trail: {value} for the user: {}", caller.account),
                )
            })
    }

    /// The ARN a request is authorized against: the trail it names (or would create), or `*`.
    pub(super) fn resource(&self, op: &str, input: &Value, caller: &Caller) -> String {
        let field = match op {
            "AddTags" | "RemoveTags" => "ResourceId",
            "PutEventSelectors"
            | "GetEventSelectors"
            | "PutInsightSelectors"
            | "GetInsightSelectors" => "TrailName",
            "CreateTrail" | "UpdateTrail" | "DeleteTrail" | "GetTrail" | "GetTrailStatus"
            | "StartLogging" | "StopLogging" => "Name",
            _ => return "*".to_string(),
        };
        let Some(value) = input.get(field).and_then(Value::as_str) else {
            return "*".to_string();
        };
        let store = self.trails.store();
        if let Ok(t) = self.lookup(&store, caller, value) {
            return self.trail_arn(&t.spec);
        }
        match trail_name(value) {
            Ok((_, Some(_))) => value.to_string(),
            _ => format!(
                "arn:aws:cloudtrail:{}:{}:trail/{value}",
                caller.region, self.trails.account
            ),
        }
    }

    /// CloudTrail's `Trail` shape.
    fn trail_json(&self, t: &StoredTrail) -> Value {
        let s = &t.spec;
        let mut m = Map::new();
        m.insert("Name".into(), json!(s.name));
        m.insert("S3BucketName".into(), json!(s.s3_bucket_name));
        let prefix = s.s3_key_prefix.trim_matches('/');
        if !prefix.is_empty() {
            m.insert("S3KeyPrefix".into(), json!(prefix));
        }
        if let Some(arn) = &s.sns_topic_arn {
            m.insert(
                "SnsTopicName".into(),
                json!(arn.rsplit(':').next().unwrap_or(arn)),
            );
            m.insert("SnsTopicARN".into(), json!(arn));
        }
        m.insert(
            "IncludeGlobalServiceEvents".into(),
            json!(s.include_global_service_events),
        );
        m.insert("IsMultiRegionTrail".into(), json!(s.is_multi_region_trail));
        m.insert("HomeRegion".into(), json!(s.home_region));
        m.insert("TrailARN".into(), json!(self.trail_arn(s)));
        m.insert(
            "LogFileValidationEnabled".into(),
            json!(s.enable_log_file_validation),
        );
        if let Some(arn) = &s.cloud_watch_logs_log_group_arn {
            m.insert("CloudWatchLogsLogGroupArn".into(), json!(arn));
        }
        if let Some(arn) = &s.cloud_watch_logs_role_arn {
            m.insert("CloudWatchLogsRoleArn".into(), json!(arn));
        }
        if let Some(key) = &s.kms_key_id {
            m.insert("KmsKeyId".into(), json!(key));
        }
        m.insert(
            "HasCustomEventSelectors".into(),
            json!(stored_selectors(t).has_custom_event_selectors()),
        );
        m.insert(
            "HasInsightSelectors".into(),
            json!(
                t.insight_selectors
                    .as_ref()
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
            ),
        );
        m.insert("IsOrganizationTrail".into(), json!(s.is_organization_trail));
        Value::Object(m)
    }

    /// `CreateTrail`/`UpdateTrail` output.
    fn trail_output(&self, t: &StoredTrail) -> Value {
        let mut v = self.trail_json(t);
        if let Some(m) = v.as_object_mut() {
            for k in [
                "HomeRegion",
                "HasCustomEventSelectors",
                "HasInsightSelectors",
            ] {
                m.remove(k);
            }
        }
        v
    }

    pub(super) fn describe_trails(
        &self,
        caller: &Caller,
        input: &Value,
    ) -> Result<Value, TrailError> {
        let names: Vec<&str> = optional_list(input, "trailNameList")?
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let shadows = optional_bool(input, "includeShadowTrails")?.unwrap_or(true);
        let store = self.trails.store();
        let list: Vec<Value> = store
            .trails
            .iter()
            .filter(|t| self.sees(caller, t))
            .filter(|t| shadows || t.spec.home_region == caller.region)
            .filter(|t| {
                names.is_empty()
                    || names
                        .iter()
                        .any(|n| *n == t.spec.name || *n == self.trail_arn(&t.spec))
            })
            .map(|t| self.trail_json(t))
            .collect();
        Ok(json!({ "trailList": list }))
    }

    pub(super) fn get_trail(&self, caller: &Caller, input: &Value) -> Result<Value, TrailError> {
        let store = self.trails.store();
        let t = self.lookup(&store, caller, required(input, "Name")?)?;
        Ok(json!({ "Trail": self.trail_json(t) }))
    }

    pub(super) fn list_trails(&self, caller: &Caller) -> Result<Value, TrailError> {
        let store = self.trails.store();
        let list: Vec<Value> = store
            .trails
            .iter()
            .filter(|t| !self.is_member(caller) || t.spec.is_organization_trail)
            .map(|t| {
                json!({
                    "TrailARN": self.trail_arn(&t.spec),
                    "Name": t.spec.name,
                    "HomeRegion": t.spec.home_region,
                })
            })
            .collect();
        Ok(json!({ "Trails": list }))
    }

    pub(super) fn get_trail_status(
        &self,
        caller: &Caller,
        input: &Value,
    ) -> Result<Value, TrailError> {
        let store = self.trails.store();
        let t = self.lookup(&store, caller, required(input, "Name")?)?;
        let s = self.shared.status(&t.spec.name);
        let mut m = Map::new();
        m.insert("IsLogging".into(), json!(t.logging));
        if let Some(at) = t.start_logging_time {
            m.insert("StartLoggingTime".into(), json!(at));
            m.insert("TimeLoggingStarted".into(), json!(iso(at as i64)));
        }
        if let Some(at) = t.stop_logging_time {
            m.insert("StopLoggingTime".into(), json!(at));
            m.insert("TimeLoggingStopped".into(), json!(iso(at as i64)));
        }
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

    /// Finds the trail a change names and checks the caller may change it: home region, and
    /// not a member account.
    fn changing<'s>(
        &self,
        store: &'s mut Store,
        caller: &Caller,
        value: &str,
    ) -> Result<&'s mut StoredTrail, TrailError> {
        let name = self.lookup(store, caller, value)?.spec.name.clone();
        if self.is_member(caller) {
            return Err(TrailError::new(
                "NotOrganizationMasterAccountException",
                format!(
                    "The request was made by member account {} of the organization; only the \
                     management account {} can change organization trail {name}.",
                    caller.account, self.trails.account
                ),
            ));
        }
        let t = store.find_mut(&name).ok_or_else(|| {
            TrailError::new("TrailNotFoundException", format!("Unknown trail: {value}"))
        })?;
        rules::check_home_region(&t.spec, &caller.region)?;
        Ok(t)
    }

    /// Applies CreateTrail/UpdateTrail members to `spec`.
    fn apply_members(&self, spec: &mut TrailConfig, input: &Value) -> Result<(), TrailError> {
        if let Some(b) = optional_str(input, "S3BucketName")? {
            spec.s3_bucket_name = b.to_string();
        }
        if let Some(p) = optional_str(input, "S3KeyPrefix")? {
            spec.s3_key_prefix = p.to_string();
        }
        if let Some(topic) = optional_str(input, "SnsTopicName")? {
            spec.sns_topic_arn = if topic.is_empty() {
                None
            } else if topic.starts_with("arn:") {
                Some(topic.to_string())
            } else {
                Some(format!(
                    "arn:aws:sns:{}:{}:{topic}",
                    spec.home_region, self.trails.account
                ))
            };
            if spec.sns_topic_arn.is_some() && !self.trails.notifies {
                return Err(TrailError::new(
                    "InsufficientSnsTopicPolicyException",
                    "this agent delivers to a local folder and was started without SNS \
                     notifications; set sns_topic_arn on a trail in the config file to enable them",
                ));
            }
        }
        if let Some(b) = optional_bool(input, "IncludeGlobalServiceEvents")? {
            spec.include_global_service_events = b;
        }
        if let Some(b) = optional_bool(input, "IsMultiRegionTrail")? {
            spec.is_multi_region_trail = b;
        }
        if let Some(b) = optional_bool(input, "EnableLogFileValidation")? {
            spec.enable_log_file_validation = b;
        }
        if let Some(arn) = optional_str(input, "CloudWatchLogsLogGroupArn")? {
            let arn = (!arn.is_empty()).then(|| arn.to_string());
            if arn != spec.cloud_watch_logs_log_group_arn {
                return Err(TrailError::new(
                    "CloudWatchLogsDeliveryUnavailableException",
                    "CloudWatch Logs delivery is set in the config file \
                     (cloud_watch_logs_log_group_arn) and starts with the agent",
                ));
            }
        }
        if let Some(arn) = optional_str(input, "CloudWatchLogsRoleArn")? {
            spec.cloud_watch_logs_role_arn = (!arn.is_empty()).then(|| arn.to_string());
        }
        if let Some(key) = optional_str(input, "KmsKeyId")? {
            if key.is_empty() {
                spec.kms_key_id = None;
                spec.sse = Sse::Aes256;
                spec.bucket_key_enabled = false;
            } else {
                spec.kms_key_id = Some(key.to_string());
                spec.sse = Sse::AwsKms;
            }
        }
        if let Some(org) = optional_bool(input, "IsOrganizationTrail")? {
            if org && self.trails.config().organization.is_none() {
                return Err(TrailError::new(
                    "OrganizationsNotInUseException",
                    "This account is not part of an organization: configure [organization] first",
                ));
            }
            spec.is_organization_trail = org;
        }
        Ok(())
    }

    pub(super) fn create_trail(&self, caller: &Caller, input: &Value) -> Result<Value, TrailError> {
        let name = required(input, "Name")?.to_string();
        crate::config::check_trail_name(&name)
            .map_err(|m| TrailError::new("InvalidTrailNameException", m))?;
        required(input, "S3BucketName")?;
        let tag_list = tags(input, "TagsList")?;
        rules::check_tags(tag_list.iter().map(|(k, v)| (k.as_str(), v.as_deref())))?;
        if self.is_member(caller) {
            return Err(TrailError::new(
                "NotOrganizationMasterAccountException",
                format!(
                    "member account {} cannot create trails in this agent",
                    caller.account
                ),
            ));
        }
        let defaults = json!({
            "name": name,
            "home_region": caller.region,
            "s3_bucket_name": "",
        });
        let mut spec: TrailConfig = serde_json::from_value(defaults)
            .map_err(|e| TrailError::new("InvalidParameterException", e.to_string()))?;
        self.apply_members(&mut spec, input)?;
        let created = self.trails.change(|store| {
            if store.find(&name).is_some() {
                return Err(TrailError::new(
                    "TrailAlreadyExistsException",
                    format!(
                        "Trail {name} already exists for customer: {}",
                        self.trails.account
                    ),
                ));
            }
            let mut t = StoredTrail::new(spec, Origin::Api, now_secs());
            // As CloudTrail: a new trail logs nothing until StartLogging.
            t.logging = false;
            t.start_logging_time = None;
            t.tags = tag_list
                .iter()
                .map(|(key, value)| Tag {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect();
            store.trails.push(t.clone());
            Ok(t)
        })?;
        tracing::info!(trail = %name, principal = %caller.principal, "trail created");
        Ok(self.trail_output(&created))
    }

    pub(super) fn update_trail(&self, caller: &Caller, input: &Value) -> Result<Value, TrailError> {
        let value = required(input, "Name")?;
        let updated = self.trails.change(|store| {
            let t = self.changing(store, caller, value)?;
            let mut spec = t.spec.clone();
            self.apply_members(&mut spec, input)?;
            t.spec = spec;
            Ok(t.clone())
        })?;
        Ok(self.trail_output(&updated))
    }

    pub(super) fn delete_trail(&self, caller: &Caller, input: &Value) -> Result<Value, TrailError> {
        let value = required(input, "Name")?;
        self.trails.change(|store| {
            let name = self.changing(store, caller, value)?.spec.name.clone();
            store.remove(&name);
            Ok(())
        })?;
        Ok(json!({}))
    }

    pub(super) fn set_logging(
        &self,
        caller: &Caller,
        input: &Value,
        on: bool,
    ) -> Result<Value, TrailError> {
        let value = required(input, "Name")?;
        self.trails.change(|store| {
            let t = self.changing(store, caller, value)?;
            if t.logging != on {
                t.logging = on;
                if on {
                    t.start_logging_time = Some(now_secs());
                } else {
                    t.stop_logging_time = Some(now_secs());
                }
            }
            Ok(())
        })?;
        Ok(json!({}))
    }

    pub(super) fn put_event_selectors(
        &self,
        caller: &Caller,
        input: &Value,
    ) -> Result<Value, TrailError> {
        let value = required(input, "TrailName")?;
        let selectors = super::validate_selectors(input)?;
        let t = self.trails.change(|store| {
            let t = self.changing(store, caller, value)?;
            t.event_selectors = Some(serde_json::to_value(&selectors).map_err(|e| {
                TrailError::new(
                    "InternalFailure",
                    format!("cannot store the selectors: {e}"),
                )
            })?);
            Ok(t.clone())
        })?;
        Ok(self.selectors_output(&t))
    }

    pub(super) fn get_event_selectors(
        &self,
        caller: &Caller,
        input: &Value,
    ) -> Result<Value, TrailError> {
        let store = self.trails.store();
        let t = self.lookup(&store, caller, required(input, "TrailName")?)?;
        Ok(self.selectors_output(t))
    }

    fn selectors_output(&self, t: &StoredTrail) -> Value {
        stored_selectors(t).response(&self.trail_arn(&t.spec))
    }

    pub(super) fn put_insight_selectors(
        &self,
        caller: &Caller,
        input: &Value,
    ) -> Result<Value, TrailError> {
        let value = required(input, "TrailName")?;
        let list = optional_list(input, "InsightSelectors")?.ok_or_else(|| {
            TrailError::new("InvalidParameterException", "InsightSelectors is required")
        })?;
        for s in list {
            match optional_str(s, "InsightType")? {
                Some("ApiCallRateInsight" | "ApiErrorRateInsight") => {}
                other => {
                    return Err(TrailError::new(
                        "InvalidInsightSelectorsException",
                        format!(
                            "InsightType must be ApiCallRateInsight or ApiErrorRateInsight, not {other:?}"
                        ),
                    ));
                }
            }
            for c in optional_list(s, "EventCategories")?.unwrap_or_default() {
                if !matches!(c.as_str(), Some("Management" | "Data")) {
                    return Err(TrailError::new(
                        "InvalidInsightSelectorsException",
                        format!("EventCategories must be Management or Data, not {c}"),
                    ));
                }
            }
        }
        let list = Value::Array(list.to_vec());
        let t = self.trails.change(|store| {
            let t = self.changing(store, caller, value)?;
            t.insight_selectors = Some(list.clone());
            Ok(t.clone())
        })?;
        Ok(json!({"TrailARN": self.trail_arn(&t.spec), "InsightSelectors": list}))
    }

    pub(super) fn get_insight_selectors(
        &self,
        caller: &Caller,
        input: &Value,
    ) -> Result<Value, TrailError> {
        let store = self.trails.store();
        let t = self.lookup(&store, caller, required(input, "TrailName")?)?;
        match &t.insight_selectors {
            Some(Value::Array(a)) if !a.is_empty() => Ok(json!({
                "TrailARN": self.trail_arn(&t.spec),
                "InsightSelectors": a,
            })),
            _ => Err(TrailError::new(
                "InsightNotEnabledException",
                format!(
                    "Trail {} does not have Insights enabled.",
                    self.trail_arn(&t.spec)
                ),
            )),
        }
    }

    pub(super) fn add_tags(&self, caller: &Caller, input: &Value) -> Result<Value, TrailError> {
        let value = required(input, "ResourceId")?;
        let new = tags(input, "TagsList")?;
        self.trails.change(|store| {
            let t = self.changing(store, caller, value)?;
            for (key, value) in new {
                match t.tags.iter_mut().find(|x| x.key == key) {
                    Some(x) => x.value = value,
                    None => t.tags.push(Tag { key, value }),
                }
            }
            rules::check_tags(t.tags.iter().map(|x| (x.key.as_str(), x.value.as_deref())))
        })?;
        Ok(json!({}))
    }

    pub(super) fn remove_tags(&self, caller: &Caller, input: &Value) -> Result<Value, TrailError> {
        let value = required(input, "ResourceId")?;
        let gone = tags(input, "TagsList")?;
        self.trails.change(|store| {
            let t = self.changing(store, caller, value)?;
            t.tags.retain(|x| !gone.iter().any(|(k, _)| *k == x.key));
            Ok(())
        })?;
        Ok(json!({}))
    }

    pub(super) fn list_tags(&self, caller: &Caller, input: &Value) -> Result<Value, TrailError> {
        let store = self.trails.store();
        let mut out = Vec::new();
        for id in optional_list(input, "ResourceIdList")?.unwrap_or_default() {
            let id = id.as_str().ok_or_else(|| {
                TrailError::new("SerializationException", "ResourceIdList holds strings")
            })?;
            let t = self.lookup(&store, caller, id).map_err(|_| {
                TrailError::new(
                    "ResourceNotFoundException",
                    format!("Resource {id} not found."),
                )
            })?;
            out.push(json!({"ResourceId": self.trail_arn(&t.spec), "TagsList": t.tags}));
        }
        Ok(json!({ "ResourceTagList": out }))
    }
}

/// A stored trail's selectors (`Default` until PutEventSelectors; the store only keeps
/// validated ones, so an unreadable entry falls back to the default answer).
fn stored_selectors(t: &StoredTrail) -> Selectors {
    t.event_selectors
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}
