//! The digest file itself: object key layout and JSON body (CloudTrail's field names and order),
//! compressed as one gzip member.
//!
//! Key: `[prefix/]AWSLogs/[o-id/]<acct>/CloudTrail-Digest/<srcRegion>/YYYY/MM/DD/
//! <acct>_CloudTrail-Digest_<srcRegion>_<trail>_<homeRegion>_<YYYYMMDDTHHMMSSZ>.json.gz`, dated
//! by the digest's **end** time (with seconds); organization trails' digests sit under the
//! organization id, beside their log files.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (the digest's and CloudTrail's time format).
pub fn iso(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The digest object key for a chain's digest ending at `end` (Unix seconds). `root` is the
/// trail's [`logs_root`](crate::encode::object_key::logs_root) (`[prefix/]AWSLogs/[o-id/]`).
pub fn digest_key(
    root: &str,
    account: &str,
    region: &str,
    trail: &str,
    home_region: &str,
    end: i64,
) -> String {
    let at = DateTime::<Utc>::from_timestamp(end, 0).unwrap_or_default();
    format!(
        "{root}{account}/CloudTrail-Digest/{region}/{date}/{account}_CloudTrail-Digest_{region}_{trail}_{home_region}_{stamp}.json.gz",
        date = at.format("%Y/%m/%d"),
        stamp = at.format("%Y%m%dT%H%M%SZ"),
    )
}

/// The `_backfill` digest key beside a standard digest key (`…_<ts>_backfill.json.gz`).
pub fn backfill_key(standard: &str) -> String {
    let stem = standard.strip_suffix(".json.gz").unwrap_or(standard);
    format!("{stem}_backfill.json.gz")
}

/// One `logFiles[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFileEntry {
    pub s3_bucket: String,
    pub s3_object: String,
    /// Lowercase hex SHA-256 of the uncompressed log file.
    pub hash_value: String,
    pub hash_algorithm: String,
    pub newest_event_time: Option<String>,
    pub oldest_event_time: Option<String>,
}

/// A digest's JSON (field order as CloudTrail writes it; absent values are `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestBody {
    pub aws_account_id: String,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: String,
    pub newest_event_time: Option<String>,
    pub oldest_event_time: Option<String>,
    pub previous_digest_s3_bucket: Option<String>,
    pub previous_digest_s3_object: Option<String>,
    pub previous_digest_hash_value: Option<String>,
    pub previous_digest_hash_algorithm: Option<String>,
    pub previous_digest_signature: Option<String>,
    pub log_files: Vec<LogFileEntry>,
}

impl DigestBody {
    /// The exact bytes that are hashed, signed and gzipped.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// One gzip member holding `raw`.
pub fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(raw)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::object_key::logs_root;

    #[test]
    fn key_layout_matches_cloudtrail() {
        // 2015-08-17T15:01:31Z, the documented example.
        let end = 1_439_823_691;
        assert_eq!(iso(end), "2015-08-17T15:01:31Z");
        assert_eq!(
            digest_key(
                &logs_root("", None),
                "111122223333",
                "us-east-2",
                "your-trail-name",
                "us-east-2",
                end
            ),
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz"
        );
        let k = digest_key(
            &logs_root("/p/q/", None),
            "111122223333",
            "eu-west-1",
            "t",
            "us-east-1",
            end,
        );
        assert!(k.starts_with("p/q/AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/"));
        // Organization trails: under the organization id, the file name keeps the account.
        let org = digest_key(
            &logs_root("p", Some("o-aa11bb22cc")),
            "111122223333",
            "eu-west-1",
            "t",
            "us-east-1",
            end,
        );
        assert_eq!(
            org,
            "p/AWSLogs/o-aa11bb22cc/111122223333/CloudTrail-Digest/eu-west-1/2015/08/17/111122223333_CloudTrail-Digest_eu-west-1_t_us-east-1_20150817T150131Z.json.gz"
        );
        // The CLI slices the timestamp at key[-24:-8] (backfill: key[-33:-17]).
        assert_eq!(&k[k.len() - 24..k.len() - 8], "20150817T150131Z");
        let b = backfill_key(&k);
        assert!(b.ends_with("_20150817T150131Z_backfill.json.gz"), "{b}");
        assert_eq!(&b[b.len() - 33..b.len() - 17], "20150817T150131Z");
    }

    #[test]
    fn json_has_cloudtrail_fields_in_order_with_nulls() {
        let body = DigestBody {
            aws_account_id: "111122223333".into(),
            digest_start_time: "2015-08-17T14:01:31Z".into(),
            digest_end_time: "2015-08-17T15:01:31Z".into(),
            digest_s3_bucket: "b".into(),
            digest_s3_object: "k".into(),
            digest_public_key_fingerprint: "fp".into(),
            digest_signature_algorithm: "SHA256withRSA".into(),
            newest_event_time: None,
            oldest_event_time: None,
            previous_digest_s3_bucket: None,
            previous_digest_s3_object: None,
            previous_digest_hash_value: None,
            previous_digest_hash_algorithm: None,
            previous_digest_signature: None,
            log_files: vec![],
        };
        let text = String::from_utf8(body.to_bytes()).expect("utf8");
        assert_eq!(
            text,
            "{\"awsAccountId\":\"111122223333\",\"digestStartTime\":\"2015-08-17T14:01:31Z\",\
             \"digestEndTime\":\"2015-08-17T15:01:31Z\",\"digestS3Bucket\":\"b\",\
             \"digestS3Object\":\"k\",\"digestPublicKeyFingerprint\":\"fp\",\
             \"digestSignatureAlgorithm\":\"SHA256withRSA\",\"newestEventTime\":null,\
             \"oldestEventTime\":null,\"previousDigestS3Bucket\":null,\
             \"previousDigestS3Object\":null,\"previousDigestHashValue\":null,\
             \"previousDigestHashAlgorithm\":null,\"previousDigestSignature\":null,\
             \"logFiles\":[]}"
        );
        let entry = LogFileEntry {
            s3_bucket: "b".into(),
            s3_object: "o".into(),
            hash_value: "ab".into(),
            hash_algorithm: "SHA-256".into(),
            newest_event_time: Some("2015-08-17T14:52:27Z".into()),
            oldest_event_time: Some("2015-08-17T14:42:27Z".into()),
        };
        assert_eq!(
            serde_json::to_string(&entry).expect("json"),
            "{\"s3Bucket\":\"b\",\"s3Object\":\"o\",\"hashValue\":\"ab\",\"hashAlgorithm\":\"SHA-256\",\
             \"newestEventTime\":\"2015-08-17T14:52:27Z\",\"oldestEventTime\":\"2015-08-17T14:42:27Z\"}"
        );
        let gz = gzip(&body.to_bytes()).expect("gzip");
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back)
            .expect("gunzip");
        assert_eq!(back, body.to_bytes());
    }
}
