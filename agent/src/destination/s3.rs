//! The S3 destination: each sealed log file becomes one object at `(bucket, key)`, written the
//! way CloudTrail writes it (`Content-Type: application/json`, ACL `bucket-owner-full-control`,
//! SSE-S3 or SSE-KMS per trail, the file's user metadata) with a CRC-32 integrity checksum.
//!
//! Invariants:
//! - **Never overwrites.** Every write is conditional (`If-None-Match: *` on PutObject and on
//!   CompleteMultipartUpload). A `412 PreconditionFailed` means an earlier attempt (before a
//!   crash or a lost response) stored the object: HeadObject confirms its length and the put
//!   reports [`Outcome::AlreadyThere`]; a different length is a permanent error, never a rewrite.
//! - **Bounded memory.** Bodies stream from the staged file; files larger than one part
//!   (`[aws] multipart_part_mb`) go up in parts read from file offsets, one part at a time per
//!   file, `[aws] upload_concurrency` files at once. A failed multipart upload is aborted.
//! - **Ok means stored.** A put returns `Ok` only after S3 acknowledged the object (S3 writes
//!   are durable on acknowledgement).
//! - Errors name the object (`s3://bucket/key`) and are classified by [`super::aws::classify`].

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectCannedAcl,
    ServerSideEncryption,
};

use super::aws::{AwsRuntime, TrailTable, classify, status};
use crate::config::{AwsConfig, Encryption};
use crate::deliver::{Destination, DestinationError, Outcome, SealedFile};

/// Content type CloudTrail gives its log objects.
const CONTENT_TYPE: &str = "application/json";

/// Delivers sealed files to S3.
pub struct S3Destination {
    aws: Arc<AwsRuntime>,
    uploader: Arc<Uploader>,
    concurrency: usize,
}

/// The part of the destination that upload tasks share.
struct Uploader {
    client: aws_sdk_s3::Client,
    trails: TrailTable,
    part_size: u64,
    /// HeadObject was refused once (no `s3:GetObject`); warned about already.
    head_denied_warned: AtomicBool,
}

impl S3Destination {
    /// A destination that uploads through `aws` with the part size and concurrency of
    /// `settings`; `trails` supplies each file's encryption.
    pub fn new(aws: Arc<AwsRuntime>, trails: TrailTable, settings: &AwsConfig) -> Self {
        let uploader = Uploader {
            client: aws.s3_client(),
            trails,
            part_size: settings.multipart_part_mb * 1024 * 1024,
            head_denied_warned: AtomicBool::new(false),
        };
        Self {
            aws,
            uploader: Arc::new(uploader),
            concurrency: settings.upload_concurrency.max(1),
        }
    }
}

impl Destination for S3Destination {
    fn name(&self) -> &str {
        "s3"
    }

    fn put_file(&self, file: &SealedFile) -> Result<Outcome, DestinationError> {
        let uploader = self.uploader.clone();
        self.aws.block_on(async move { uploader.put(file).await })
    }

    /// Uploads up to `[aws] upload_concurrency` files at once; results in input order.
    fn put_files(&self, files: &[SealedFile]) -> Vec<Result<Outcome, DestinationError>> {
        let slots = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let tasks: Vec<_> = files
            .iter()
            .map(|file| {
                let (uploader, slots, file) = (self.uploader.clone(), slots.clone(), file.clone());
                self.aws.spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    uploader.put(&file).await
                })
            })
            .collect();
        self.aws.block_on(async move {
            let mut out = Vec::with_capacity(tasks.len());
            for task in tasks {
                out.push(task.await.unwrap_or_else(|e| {
                    Err(DestinationError::Transient(format!(
                        "upload task failed: {e}"
                    )))
                }));
            }
            out
        })
    }
}

/// Applies what every new object carries (type, ACL, user metadata, encryption) to a PutObject
/// or CreateMultipartUpload request.
macro_rules! object_settings {
    ($req:expr, $file:expr, $enc:expr) => {{
        let req = $req
            .bucket(&$file.bucket)
            .key(&$file.key)
            .content_type(CONTENT_TYPE)
            .acl(ObjectCannedAcl::BucketOwnerFullControl)
            .set_metadata(
                (!$file.metadata.is_empty()).then(|| $file.metadata.clone().into_iter().collect()),
            );
        match $enc {
            Encryption::Aes256 => req.server_side_encryption(ServerSideEncryption::Aes256),
            Encryption::Kms { key_id, bucket_key } => {
                let req = req
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id(key_id.as_str());
                if *bucket_key {
                    req.bucket_key_enabled(true)
                } else {
                    req
                }
            }
        }
    }};
}

impl Uploader {
    async fn put(&self, file: &SealedFile) -> Result<Outcome, DestinationError> {
        let uri = format!("s3://{}/{}", file.bucket, file.key);
        let len = match tokio::fs::metadata(&file.path).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return self.staged_file_gone(file, &uri).await;
            }
            Err(e) => {
                return Err(DestinationError::Transient(format!(
                    "{uri}: cannot read staged file {}: {e}",
                    file.path.display()
                )));
            }
        };
        let enc = match self.trails.find(&file.bucket, &file.key) {
            Some(t) => t.encryption,
            None => {
                tracing::warn!(object = %uri, "no configured trail matches this file; using SSE-S3");
                Encryption::Aes256
            }
        };
        let enc = &enc;
        if len > self.part_size {
            // A retry after a crash should not upload every part again only to be refused at
            // the end; the conditional complete still guards against a race.
            if self.exists(file).await {
                return self.verify_existing(file, len, &uri).await;
            }
            self.put_multipart(file, len, enc, &uri).await
        } else {
            self.put_single(file, len, enc, &uri).await
        }
    }

    async fn put_single(
        &self,
        file: &SealedFile,
        len: u64,
        enc: &Encryption,
        uri: &str,
    ) -> Result<Outcome, DestinationError> {
        let crc = crc32_of(&file.path, 0, len, uri).await?;
        let body = file_body(&file.path, 0, len, uri).await?;
        let req = object_settings!(self.client.put_object(), file, enc)
            .body(body)
            .content_length(len as i64)
            .checksum_crc32(crc)
            .if_none_match("*");
        match req.send().await {
            Ok(_) => Ok(Outcome::Created),
            Err(e) if is_precondition_failed(&e) => self.verify_existing(file, len, uri).await,
            Err(e) => Err(classify(&e, &format!("PutObject {uri}"))),
        }
    }

    async fn put_multipart(
        &self,
        file: &SealedFile,
        len: u64,
        enc: &Encryption,
        uri: &str,
    ) -> Result<Outcome, DestinationError> {
        let created = object_settings!(self.client.create_multipart_upload(), file, enc)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| classify(&e, &format!("CreateMultipartUpload {uri}")))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        if upload_id.is_empty() {
            return Err(DestinationError::Transient(format!(
                "CreateMultipartUpload {uri}: no upload id in the answer"
            )));
        }
        let result = match self.upload_parts(file, len, &upload_id, uri).await {
            Ok(parts) => {
                let done = self
                    .client
                    .complete_multipart_upload()
                    .bucket(&file.bucket)
                    .key(&file.key)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .if_none_match("*")
                    .send()
                    .await;
                match done {
                    Ok(_) => return Ok(Outcome::Created),
                    Err(e) if is_precondition_failed(&e) => {
                        self.verify_existing(file, len, uri).await
                    }
                    Err(e) => Err(classify(&e, &format!("CompleteMultipartUpload {uri}"))),
                }
            }
            Err(e) => Err(e),
        };
        // Best effort: parts of an abandoned upload cost storage until aborted (a bucket
        // lifecycle rule AbortIncompleteMultipartUpload catches what a crash leaves behind).
        if let Err(e) = self
            .client
            .abort_multipart_upload()
            .bucket(&file.bucket)
            .key(&file.key)
            .upload_id(&upload_id)
            .send()
            .await
        {
            tracing::warn!(object = %uri, error = %classify(&e, "AbortMultipartUpload"),
                "cannot abort multipart upload");
        }
        result
    }

    /// Uploads the parts of `file` one after another, each streamed from its file range.
    async fn upload_parts(
        &self,
        file: &SealedFile,
        len: u64,
        upload_id: &str,
        uri: &str,
    ) -> Result<Vec<CompletedPart>, DestinationError> {
        let mut parts = Vec::new();
        let mut offset = 0u64;
        let mut number = 1i32;
        while offset < len {
            let size = self.part_size.min(len - offset);
            let crc = crc32_of(&file.path, offset, size, uri).await?;
            let body = file_body(&file.path, offset, size, uri).await?;
            let done = self
                .client
                .upload_part()
                .bucket(&file.bucket)
                .key(&file.key)
                .upload_id(upload_id)
                .part_number(number)
                .body(body)
                .content_length(size as i64)
                .checksum_crc32(crc.clone())
                .send()
                .await
                .map_err(|e| classify(&e, &format!("UploadPart {number} of {uri}")))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(done.e_tag().map(str::to_string))
                    .checksum_crc32(crc)
                    .build(),
            );
            offset += size;
            number += 1;
        }
        Ok(parts)
    }

    /// True when HeadObject finds `(bucket, key)`; false when absent or not checkable.
    async fn exists(&self, file: &SealedFile) -> bool {
        self.client
            .head_object()
            .bucket(&file.bucket)
            .key(&file.key)
            .send()
            .await
            .is_ok()
    }

    /// The conditional write found an object at the key: confirm it is ours (same length).
    async fn verify_existing(
        &self,
        file: &SealedFile,
        len: u64,
        uri: &str,
    ) -> Result<Outcome, DestinationError> {
        let head = self
            .client
            .head_object()
            .bucket(&file.bucket)
            .key(&file.key)
            .send()
            .await;
        match head {
            Ok(h) if h.content_length() == Some(len as i64) => Ok(Outcome::AlreadyThere),
            Ok(h) => Err(DestinationError::Permanent(format!(
                "{uri} already exists with {} bytes but the staged file has {len}; not overwritten",
                h.content_length().unwrap_or(-1)
            ))),
            Err(e) if status(&e) == Some(403) => {
                // No s3:GetObject (CloudTrail-style bucket policies grant PutObject only). Keys
                // end in 16 random characters: the object is an earlier attempt's.
                if !self.head_denied_warned.swap(true, Relaxed) {
                    tracing::warn!(object = %uri,
                        "object already exists and HeadObject is denied; counting it as delivered \
                         without checking its length (grant s3:GetObject to verify)");
                }
                Ok(Outcome::AlreadyThere)
            }
            Err(e) if status(&e) == Some(404) => Err(DestinationError::Transient(format!(
                "{uri}: the conditional write found an object that HeadObject cannot find"
            ))),
            Err(e) => Err(classify(&e, &format!("HeadObject {uri}"))),
        }
    }

    /// The staged file is gone (delivered, then cleaned up, before a crash): the object must be
    /// in the bucket.
    async fn staged_file_gone(
        &self,
        file: &SealedFile,
        uri: &str,
    ) -> Result<Outcome, DestinationError> {
        let head = self
            .client
            .head_object()
            .bucket(&file.bucket)
            .key(&file.key)
            .send()
            .await;
        match head {
            Ok(_) => Ok(Outcome::AlreadyThere),
            Err(e) if status(&e) == Some(404) => Err(DestinationError::Permanent(format!(
                "staged file {} is missing and {uri} does not exist",
                file.path.display()
            ))),
            Err(e) => Err(classify(&e, &format!("HeadObject {uri}"))),
        }
    }
}

fn is_precondition_failed<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    status(err) == Some(412)
}

/// A request body streaming `len` bytes of `path` from `offset`.
async fn file_body(
    path: &Path,
    offset: u64,
    len: u64,
    uri: &str,
) -> Result<ByteStream, DestinationError> {
    ByteStream::read_from()
        .path(path)
        .offset(offset)
        .length(Length::Exact(len))
        .build()
        .await
        .map_err(|e| {
            DestinationError::Transient(format!("{uri}: cannot read {}: {e}", path.display()))
        })
}

/// Base64 of the big-endian CRC-32 of `len` bytes of `path` from `offset` (the
/// `x-amz-checksum-crc32` value), computed off the async threads.
async fn crc32_of(
    path: &Path,
    offset: u64,
    len: u64,
    uri: &str,
) -> Result<String, DestinationError> {
    let owned = path.to_path_buf();
    let crc = tokio::task::spawn_blocking(move || crc32_range(&owned, offset, len))
        .await
        .map_err(|e| DestinationError::Transient(format!("{uri}: checksum task failed: {e}")))?
        .map_err(|e| {
            DestinationError::Transient(format!("{uri}: cannot read {}: {e}", path.display()))
        })?;
    Ok(aws_smithy_types::base64::encode(crc.to_be_bytes()))
}

fn crc32_range(path: &Path, offset: u64, len: u64) -> std::io::Result<u32> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shorter than expected",
            ));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_a_range_matches_s3_checksum_encoding() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("f");
        std::fs::write(&p, b"xxhello worldyy").expect("write");
        // CRC-32 of "hello world" is 0x0d4a1185.
        assert_eq!(crc32_range(&p, 2, 11).expect("crc"), 0x0d4a_1185);
        assert!(crc32_range(&p, 10, 100).is_err());
        assert_eq!(
            aws_smithy_types::base64::encode(0x0d4a_1185u32.to_be_bytes()),
            "DUoRhQ=="
        );
    }

    /// Against a real S3 API, when `OPENTRAIL_TEST_S3_ENDPOINT` is set (`scripts/test-aws.sh`
    /// points it at moto_server and puts credentials in the environment); skipped otherwise.
    #[test]
    fn against_an_s3_endpoint() {
        use crate::config::TrailDelivery;
        use rand::RngCore;

        let Ok(endpoint) = std::env::var("OPENTRAIL_TEST_S3_ENDPOINT") else {
            eprintln!("skipped: OPENTRAIL_TEST_S3_ENDPOINT is not set");
            return;
        };
        let settings = AwsConfig {
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint),
            multipart_part_mb: 5,
            upload_concurrency: 4,
        };
        let aws = Arc::new(AwsRuntime::new(&settings).expect("aws runtime"));
        let client = aws.s3_client();
        let bucket = format!("ot-unit-{:08x}", rand::random::<u32>());
        aws.block_on(client.create_bucket().bucket(&bucket).send())
            .expect("create bucket");
        let trails = TrailTable::new(vec![TrailDelivery {
            name: "t".into(),
            bucket: bucket.clone(),
            prefix: "p".into(),
            encryption: Encryption::Kms {
                key_id: "key-1".into(),
                bucket_key: true,
            },
            sns_topic_arn: None,
        }]);
        let dest = S3Destination::new(aws.clone(), trails, &settings);
        let dir = tempfile::tempdir().expect("tmp");
        let file = |name: &str, data: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, data).expect("write");
            SealedFile {
                id: 1,
                trail: "main".into(),
                digest: false,
                path,
                bucket: bucket.clone(),
                key: format!("p/AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/{name}"),
                records: 1,
                bytes: data.len() as u64,
                metadata: [("signature".to_string(), "ab12".to_string())].into(),
            }
        };
        let get = |key: &str| {
            aws.block_on(async {
                let o = client
                    .get_object()
                    .bucket(&bucket)
                    .key(key)
                    .send()
                    .await
                    .expect("get");
                let sse = o.server_side_encryption().map(|s| s.as_str().to_string());
                let kms = o.ssekms_key_id().map(str::to_string);
                let meta = o.metadata().cloned().unwrap_or_default();
                let ctype = o.content_type().map(str::to_string);
                let body = o.body.collect().await.expect("body").into_bytes();
                (body.to_vec(), sse, kms, meta, ctype)
            })
        };

        // Created once; the retry hits If-None-Match (412) and counts as already there.
        let small = file("small.json.gz", b"small object body");
        assert_eq!(dest.put_file(&small).expect("put"), Outcome::Created);
        assert_eq!(dest.put_file(&small).expect("again"), Outcome::AlreadyThere);
        let (body, sse, kms, meta, ctype) = get(&small.key);
        assert_eq!(body, b"small object body");
        assert_eq!(sse.as_deref(), Some("aws:kms"));
        assert_eq!(kms.as_deref(), Some("key-1"));
        assert_eq!(meta.get("signature").map(String::as_str), Some("ab12"));
        assert_eq!(ctype.as_deref(), Some(CONTENT_TYPE));

        // Something else at the key: refused, never overwritten.
        let mut other = file("other", b"a different body");
        other.key = small.key.clone();
        match dest.put_file(&other) {
            Err(DestinationError::Permanent(m)) => assert!(m.contains(&small.key), "{m}"),
            r => panic!("expected a permanent conflict, got {r:?}"),
        }
        assert_eq!(get(&small.key).0, b"small object body");

        // Staged file gone: the object proves delivery; without it, a permanent error.
        let mut gone = small.clone();
        gone.path = dir.path().join("missing");
        assert_eq!(dest.put_file(&gone).expect("gone"), Outcome::AlreadyThere);
        gone.key.push_str(".absent");
        assert!(matches!(
            dest.put_file(&gone),
            Err(DestinationError::Permanent(_))
        ));

        // Multipart (3 parts of at most 5 MiB), then the conditional complete on an existing
        // key (412 → AlreadyThere, upload aborted).
        let mut big = vec![0u8; 11 * 1024 * 1024 + 17];
        rand::rng().fill_bytes(&mut big);
        let large = file("large.json.gz", &big);
        assert_eq!(dest.put_file(&large).expect("multipart"), Outcome::Created);
        let (body, sse, ..) = get(&large.key);
        assert!(body == big, "multipart body differs");
        assert_eq!(sse.as_deref(), Some("aws:kms"));
        let uri = format!("s3://{bucket}/{}", large.key);
        let enc = Encryption::Aes256;
        let again = aws.block_on(
            dest.uploader
                .put_multipart(&large, big.len() as u64, &enc, &uri),
        );
        assert_eq!(again.expect("complete 412"), Outcome::AlreadyThere);
        let uploads = aws
            .block_on(client.list_multipart_uploads().bucket(&bucket).send())
            .expect("list uploads");
        assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());

        // A batch, uploaded concurrently; results in order.
        let batch: Vec<_> = (0..20)
            .map(|i| {
                file(
                    &format!("batch-{i}.json.gz"),
                    format!("body {i}").as_bytes(),
                )
            })
            .collect();
        let results = dest.put_files(&batch);
        assert!(results.iter().all(|r| matches!(r, Ok(Outcome::Created))));
        for f in &batch[..3] {
            assert_eq!(get(&f.key).0, std::fs::read(&f.path).expect("read"));
        }

        // A bucket that does not exist: permanent, named.
        let mut lost = file("lost.json.gz", b"x");
        lost.bucket = format!("{bucket}-does-not-exist");
        match dest.put_file(&lost) {
            Err(DestinationError::Permanent(m)) => {
                assert!(
                    m.contains("NoSuchBucket") && m.contains(&lost.bucket),
                    "{m}"
                );
            }
            r => panic!("expected NoSuchBucket, got {r:?}"),
        }

        // Nothing listening: transient.
        let down = AwsConfig {
            endpoint_url: Some("http://127.0.0.1:9".into()),
            ..settings.clone()
        };
        let down_aws = Arc::new(AwsRuntime::new(&down).expect("aws runtime"));
        let down_dest = S3Destination::new(down_aws, TrailTable::default(), &down);
        assert!(matches!(
            down_dest.put_file(&small),
            Err(DestinationError::Transient(_))
        ));
    }
}
