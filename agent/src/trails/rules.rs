//! CloudTrail's rules for trails changed through the API: the 5-trails-per-region limit (a
//! multi-region trail counts in every region), home-region visibility and mutations, tags, and
//! the exception each invalid setting maps to.

use super::TrailError;
use crate::config::{TrailConfig, TrailInvalid};

/// Trails per region (CloudTrail's limit, not adjustable).
pub const MAX_TRAILS_PER_REGION: usize = 5;
/// Tags per trail.
pub const MAX_TAGS: usize = 50;

/// Refuses a trail set in which some region has more than [`MAX_TRAILS_PER_REGION`] trails.
/// `account` names the caller in the message, as CloudTrail does.
pub fn check_limit(trails: &[TrailConfig], account: &str) -> Result<(), TrailError> {
    let multi = trails.iter().filter(|t| t.is_multi_region_trail).count();
    let mut regions: Vec<&str> = trails.iter().map(|t| t.home_region.as_str()).collect();
    regions.sort_unstable();
    regions.dedup();
    for region in regions {
        let single = trails
            .iter()
            .filter(|t| !t.is_multi_region_trail && t.home_region == region)
            .count();
        if single + multi > MAX_TRAILS_PER_REGION {
            return Err(TrailError::new(
                "MaximumNumberOfTrailsExceededException",
                format!("User: {account} already has {MAX_TRAILS_PER_REGION} trails in {region}."),
            ));
        }
    }
    Ok(())
}

/// True when a trail is visible from `region`: its home region, or everywhere for a
/// multi-region trail (the "shadow" copies).
pub fn visible_from(trail: &TrailConfig, region: &str) -> bool {
    trail.is_multi_region_trail || trail.home_region == region
}

/// Mutations are accepted only in the trail's home region.
pub fn check_home_region(trail: &TrailConfig, region: &str) -> Result<(), TrailError> {
    if trail.home_region == region {
        Ok(())
    } else {
        Err(TrailError::new(
            "InvalidHomeRegionException",
            format!(
                "This operation must be called from the trail's home region ({}); the request \
                 was signed for {region}.",
                trail.home_region
            ),
        ))
    }
}

/// Checks tags (keys 1-128 characters, values up to 256, at most [`MAX_TAGS`], no `aws:`
/// prefix).
pub fn check_tags<'a>(
    tags: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<(), TrailError> {
    let mut n = 0;
    for (key, value) in tags {
        n += 1;
        if key.is_empty() || key.chars().count() > 128 || key.starts_with("aws:") {
            return Err(TrailError::new(
                "InvalidTagParameterException",
                format!("invalid tag key {key:?}: 1-128 characters, not starting with \"aws:\""),
            ));
        }
        if value.is_some_and(|v| v.chars().count() > 256) {
            return Err(TrailError::new(
                "InvalidTagParameterException",
                format!("the value of tag {key:?} is longer than 256 characters"),
            ));
        }
    }
    if n > MAX_TAGS {
        return Err(TrailError::new(
            "TagsLimitExceededException",
            format!("a trail has at most {MAX_TAGS} tags"),
        ));
    }
    Ok(())
}

/// The exception CloudTrail answers for an invalid trail setting (`key` is the config key).
pub fn invalid_setting(e: &TrailInvalid) -> TrailError {
    let exception = match e.key.as_str() {
        "name" => "InvalidTrailNameException",
        "s3_bucket_name" => "InvalidS3BucketNameException",
        "s3_key_prefix" => "InvalidS3PrefixException",
        "sns_topic_arn" => "InvalidSnsTopicNameException",
        "kms_key_id" | "sse" | "bucket_key_enabled" => "InvalidKmsKeyIdException",
        "cloud_watch_logs_log_group_arn" => "InvalidCloudWatchLogsLogGroupArnException",
        "include_global_service_events" | "is_multi_region_trail" => {
            "InvalidParameterCombinationException"
        }
        "home_region" => "InvalidHomeRegionException",
        "is_organization_trail" => "OrganizationsNotInUseException",
        _ => "InvalidParameterException",
    };
    let message = if exception == "InvalidParameterCombinationException" {
        "Multi-Region trail must include global service events.".to_string()
    } else {
        e.message.clone()
    };
    TrailError::new(exception, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(name: &str, home: &str, multi: bool) -> TrailConfig {
        let cfg = crate::config::Config::from_toml(
            &format!(
                "[[trails]]\nname = \"placeholder\"\ns3_bucket_name = \"audit-bucket\"\n\
                 home_region = \"{home}\"\nis_multi_region_trail = {multi}\n"
            ),
            std::path::Path::new("/"),
            "t",
        )
        .expect("config");
        // Short names read better in the tests; the store's rules do not look at them.
        let mut t = cfg.trails[0].clone();
        t.name = name.into();
        t
    }

    #[test]
    fn five_per_region_with_multi_region_trails_counting_everywhere() {
        let mut set: Vec<TrailConfig> = (0..4)
            .map(|i| trail(&format!("east{i}"), "us-east-1", false))
            .collect();
        set.push(trail("west", "us-west-2", false));
        assert!(check_limit(&set, "1").is_ok());
        set.push(trail("multi", "eu-west-1", true));
        assert!(check_limit(&set, "1").is_ok(), "4 + 1 multi in us-east-1");
        set.push(trail("multi2", "eu-west-1", true));
        let e = check_limit(&set, "123456789012").expect_err("6 in us-east-1");
        assert_eq!(e.exception, "MaximumNumberOfTrailsExceededException");
        assert!(e.message.contains("us-east-1"), "{}", e.message);
    }

    #[test]
    fn home_region_and_visibility() {
        let single = trail("s", "eu-west-1", false);
        let multi = trail("m", "eu-west-1", true);
        assert!(visible_from(&single, "eu-west-1"));
        assert!(!visible_from(&single, "us-east-1"));
        assert!(visible_from(&multi, "us-east-1"));
        assert_eq!(
            check_home_region(&multi, "us-east-1")
                .expect_err("shadow")
                .exception,
            "InvalidHomeRegionException"
        );
        assert!(check_home_region(&multi, "eu-west-1").is_ok());
    }

    #[test]
    fn tags() {
        assert!(check_tags([("k", Some("v")), ("k2", None)]).is_ok());
        assert_eq!(
            check_tags([("aws:x", None)])
                .expect_err("reserved")
                .exception,
            "InvalidTagParameterException"
        );
        let keys: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
        assert_eq!(
            check_tags(keys.iter().map(|k| (k.as_str(), None)))
                .expect_err("too many")
                .exception,
            "TagsLimitExceededException"
        );
    }
}
