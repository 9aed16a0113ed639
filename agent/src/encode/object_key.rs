//! CloudTrail-compatible object keys for log files.
//!
//! `[prefix/]AWSLogs/[o-id/]<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 alnum>.json.gz`
//! with the **delivery** time in UTC. The 16-character suffix is random (≈95 bits), and
//! destinations write with no-overwrite semantics, so two agents (or two runs) never replace each
//! other's objects.

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::record::{AccountId, Region};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// 16 random alphanumeric characters.
pub fn unique_suffix() -> String {
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect()
}

/// The key prefix shared by every object of a trail: `prefix/AWSLogs/[o-id/]` (no leading `/`).
pub fn logs_root(prefix: &str, org_id: Option<&str>) -> String {
    let mut root = String::new();
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty() {
        root.push_str(prefix);
        root.push('/');
    }
    root.push_str("AWSLogs/");
    if let Some(org) = org_id {
        root.push_str(org);
        root.push('/');
    }
    root
}

/// The full key of a log file delivered at `at`.
pub fn log_file_key(
    prefix: &str,
    org_id: Option<&str>,
    account: AccountId,
    region: Region,
    at: DateTime<Utc>,
    suffix: &str,
) -> String {
    format!(
        "{root}{account}/CloudTrail/{region}/{date}/{account}_CloudTrail_{region}_{stamp}_{suffix}.json.gz",
        root = logs_root(prefix, org_id),
        date = at.format("%Y/%m/%d"),
        stamp = at.format("%Y%m%dT%H%MZ"),
    )
}

/// True when `key`'s file name matches the pattern the CloudTrail Processing Library accepts:
/// `.+_CloudTrail_[\w\-]+_\d{8}T\d{4}Z_[\w]+\.json\.gz`.
pub fn is_cloudtrail_log_name(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    let Some(stem) = name.strip_suffix(".json.gz") else {
        return false;
    };
    let Some((head, rest)) = stem.split_once("_CloudTrail_") else {
        return false;
    };
    if head.is_empty() {
        return false;
    }
    let parts: Vec<&str> = rest.rsplitn(3, '_').collect();
    let [suffix, stamp, region] = parts[..] else {
        return false;
    };
    let word = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    let sb = stamp.as_bytes();
    word(suffix)
        && !region.is_empty()
        && region
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        && sb.len() == 14
        && sb[8] == b'T'
        && sb[13] == b'Z'
        && sb[..8].iter().chain(&sb[9..13]).all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn key_layout_matches_cloudtrail() {
        let at = Utc
            .with_ymd_and_hms(2015, 8, 1, 2, 10, 59)
            .single()
            .expect("time");
        let acct = AccountId::parse("111122223333").expect("acct");
        let region = Region::parse("us-east-2").expect("region");
        let key = log_file_key("", None, acct, region, at, "Mu0KsOhtH1ar15ZZ");
        assert_eq!(
            key,
            "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz"
        );
        assert!(is_cloudtrail_log_name(&key));
        let org = log_file_key(
            "/logs/",
            Some("o-exampleorgid"),
            acct,
            region,
            at,
            &unique_suffix(),
        );
        assert!(org.starts_with(
            "logs/AWSLogs/o-exampleorgid/111122223333/CloudTrail/us-east-2/2015/08/01/"
        ));
        assert!(is_cloudtrail_log_name(&org));
    }

    #[test]
    fn suffixes_are_alphanumeric_and_distinct() {
        let a = unique_suffix();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, unique_suffix());
    }

    #[test]
    fn name_check_rejects_others() {
        assert!(!is_cloudtrail_log_name(
            "x/111_CloudTrail-Digest_us-east-1_t_us-east-1_20150801T021000Z.json.gz"
        ));
        assert!(!is_cloudtrail_log_name(
            "111_CloudTrail_us-east-1_20150801T0210Z_abc.json.gz.tmp"
        ));
    }
}
