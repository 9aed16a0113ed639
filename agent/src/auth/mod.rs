//! Authentication (AWS SigV4) and authorization (IAM identity policies) for the control-plane API.
//!
//! Use, per request, before reading any parameter:
//! 1. [`ApiAuth::authenticate`]`(method, uri, headers, body, now)` → [`Caller`] (access key,
//!    principal, account, region of the credential scope) or [`Denied`];
//! 2. [`ApiAuth::authorize`]`(caller, "<Operation>", resource)` where `resource` is the trail ARN
//!    (`arn:aws:cloudtrail:<region>:<account>:trail/<name>`) for calls on one trail, and `"*"`
//!    for calls without one (`DescribeTrails`, `ListTrails`, `LookupEvents`, `ListPublicKeys`):
//!    like IAM for actions without resource-level permissions, `"*"` is only granted by a
//!    statement whose `Resource` is `*` (or whose `NotResource` does not match `*`).
//!
//! A [`Denied`] carries the exception name, HTTP status and message; the API layer answers
//! `{"__type": exception, "message": message}` with that status.
//!
//! | Failure | Exception | HTTP |
//! |---|---|---|
//! | no `Authorization` header | `MissingAuthenticationTokenException` ("Missing Authentication Token") | 403 |
//! | malformed header / scope (parts missing, no date, bad date, wrong service, bad region or terminator, `host` not signed) | `IncompleteSignatureException` | 400 |
//! | `X-Amz-Security-Token` present (no STS here) or unknown access key | `UnrecognizedClientException` ("The security token included in the request is invalid.") | 400 |
//! | request time more than 15 min in the past / future | `InvalidSignatureException` ("Signature expired: … is now earlier than … (… - 15 min.)" / "Signature not yet current: … is still later than … (… + 15 min.)") | 400 |
//! | signature mismatch, `x-amz-content-sha256` not the body's hash | `InvalidSignatureException` | 400 |
//! | exact signature already accepted within the window | `InvalidSignatureException` ("Replayed request: …") | 400 |
//! | replay memory full (fail closed) | `ThrottlingException` ("Rate exceeded") | 400 |
//! | no policy allows / a policy denies | `AccessDeniedException` ("User: <arn> is not authorized to perform: cloudtrail:<Action> on resource: <arn> because no identity-based policy allows the cloudtrail:<Action> action" / "… with an explicit deny in an identity-based policy") | 400 |
//!
//! Sources for names, statuses and wording (JSON-protocol services): AWS "Common Errors" tables
//! as reproduced in the Storage Gateway and Kinesis API references (`IncompleteSignature` 400,
//! `MissingAuthenticationToken` 403, `AccessDeniedException` 400, `InvalidSignatureException`
//! 400); botocore/SDK error dumps in public issues: aws/aws-sdk-js#254 (`Signature expired: … is
//! now earlier than … (… - 15 min.)`, InvalidSignatureException, statusCode 400),
//! serverless/enterprise#11 (`Signature not yet current: … is still later than … (… + 5 min.)`),
//! boto/boto3#509 and ArranJacques/laravel-aws-cognito-auth#25 (UnrecognizedClientException
//! "The security token included in the request is invalid.", 400 from JSON services),
//! iann0036/cloud9-sync#10 and aws/aws-sdk-go#289 (IncompleteSignatureException "… not a valid
//! key=value pair (missing equal-sign) in Authorization header: '…'.", 400), aws/chalice#828 and
//! brendanhay/amazonka#316 (the "Authorization header requires 'Credential' parameter. …"
//! list), nccgroup/AWS-recipes#24 and aws-samples/aws-health-aware#19 (AccessDenied wording).
//! The signature-mismatch text is the one AWS JSON services send, without the canonical-request
//! dump some services append.
//!
//! Files: see [`credentials`] (`credentials.json`, must be 0600-like) and [`policy`]
//! (`policies.json`). TLS: [`tls::tls_acceptor`].

pub mod credentials;
pub mod denied;
pub mod policy;
pub mod replay;
pub mod sigv4;
pub mod tls;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use axum::http::{HeaderMap, Method, Uri};

pub use credentials::{AccessKey, Credentials, Secret};
pub use denied::Denied;
pub use policy::{Decision, Policies};
pub use replay::ReplayCache;
pub use tls::{TlsError, tls_acceptor};

/// The SigV4 service name of the API.
pub const SERVICE: &str = "cloudtrail";
/// The user a first start creates a key for: `arn:aws:iam::<account>:user/opentrail-admin`.
pub const ADMIN_USER: &str = "opentrail-admin";

/// Why the credentials or policies could not be loaded. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthLoadError {
    /// Reading or creating the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The credentials file is readable or writable by group or others.
    #[error(
        "{path}: credentials file must not be accessible by group or others (mode {mode:04o}); \
         run `chmod 600 {path}`"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file's content is invalid.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A policy document is invalid or uses something we do not evaluate.
    #[error("{path}: policy of {message}")]
    Policy {
        /// The file.
        path: PathBuf,
        /// The principal whose policy is refused.
        principal: String,
        /// Principal, statement and reason.
        message: String,
    },
    /// The account id is not 12 digits.
    #[error("account id {0:?} must be 12 digits")]
    Account(String),
}

impl AuthLoadError {
    fn invalid(path: &Path, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The access key that signed the request.
    pub access_key_id: String,
    /// Its principal ARN.
    pub principal: String,
    /// Account id from the principal ARN.
    pub account: String,
    /// Region of the credential scope: the region the caller addresses.
    pub region: String,
}

/// Which requests [`ApiAuth::authenticate`] refuses as replays.
///
/// Identical requests signed within the same second have identical signatures (botocore signs
/// `content-type;host;x-amz-date;x-amz-target` and the body, nothing unique per call), so two
/// genuine identical calls in one second collide: the second is refused as a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplayScope {
    /// Every request (the default; what interfaces.md asks for).
    #[default]
    All,
    /// Only operations that change something: those whose `X-Amz-Target` operation does not
    /// start with `Describe`, `Get`, `List` or `Lookup` (CloudTrail's read-only naming).
    MutatingOnly,
}

/// Credentials, policies and replay memory of the API.
#[derive(Debug)]
pub struct ApiAuth {
    credentials: Credentials,
    policies: Policies,
    replay: ReplayCache,
    replay_scope: ReplayScope,
}

/// `true` when the `X-Amz-Target` operation is read-only by CloudTrail's naming.
fn read_only_target(headers: &HeaderMap) -> bool {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .is_some_and(|op| {
            ["Describe", "Get", "List", "Lookup"]
                .iter()
                .any(|p| op.starts_with(p))
        })
}

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

impl ApiAuth {
    /// From already loaded parts.
    pub fn new(credentials: Credentials, policies: Policies) -> Self {
        Self {
            credentials,
            policies,
            replay: ReplayCache::default(),
            replay_scope: ReplayScope::All,
        }
    }

    /// Sets which requests are checked against replay (default [`ReplayScope::All`]).
    pub fn with_replay_scope(mut self, scope: ReplayScope) -> Self {
        self.replay_scope = scope;
        self
    }

    /// Loads both files; a missing policies file means no grants (every call denied).
    pub fn load(credentials_path: &Path, policy_path: &Path) -> Result<Self, AuthLoadError> {
        Ok(Self::new(
            Credentials::load(credentials_path)?,
            Policies::load(policy_path)?,
        ))
    }

    /// Loads both files; on a first start (no credentials file) creates it (mode 0600) with one
    /// generated key for `arn:aws:iam::<account_id>:user/opentrail-admin`, and a policies file
    /// granting it `cloudtrail:*` on `*` when there is none. Returns the created credentials
    /// path, for the caller to log (the path only, never the secret).
    pub fn load_or_init(
        credentials_path: &Path,
        policy_path: &Path,
        account_id: &str,
    ) -> Result<(Self, Option<PathBuf>), AuthLoadError> {
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthLoadError::Account(account_id.to_string()));
        }
        let mut created = None;
        if !credentials_path.exists() {
            let principal = format!("arn:aws:iam::{account_id}:user/{ADMIN_USER}");
            let key = credentials::generate(&principal);
            if !policy_path.exists() {
                credentials::create(policy_path, Policies::admin_json(&principal).as_bytes())?;
            }
            credentials::create(credentials_path, credentials::to_json(&[key]).as_bytes())?;
            created = Some(credentials_path.to_path_buf());
        }
        Ok((Self::load(credentials_path, policy_path)?, created))
    }

    /// The loaded credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The loaded policies.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Verifies the request's SigV4 signature (service `cloudtrail`) at time `now` and records it
    /// against replay (see [`ReplayScope`]). Checks, in order: header syntax and scope, session token, access key,
    /// clock skew, signature, replay.
    pub fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Caller, Denied> {
        let req = sigv4::SignedRequest {
            method: method.as_str(),
            path: uri.path(),
            query: uri.query().unwrap_or(""),
            headers,
            body,
        };
        let parsed = sigv4::parse(&req, SERVICE)?;
        if sigv4::has_security_token(headers) {
            return Err(Denied::unrecognized_client());
        }
        let key = self
            .credentials
            .get(&parsed.access_key_id)
            .ok_or_else(Denied::unrecognized_client)?;
        let now = unix_secs(now);
        sigv4::check_time(&parsed, now)?;
        let signature = sigv4::verify(&req, &parsed, key.secret_access_key.expose())?;
        if self.replay_scope == ReplayScope::All || !read_only_target(headers) {
            self.replay.check_and_record(signature, parsed.time, now)?;
        }
        Ok(Caller {
            access_key_id: key.access_key_id.clone(),
            principal: key.principal.clone(),
            account: credentials::principal_account(&key.principal)
                .unwrap_or_default()
                .to_string(),
            region: parsed.region,
        })
    }

    /// IAM's decision for `caller` calling `action` (`CreateTrail`, or `cloudtrail:CreateTrail`)
    /// on `resource` (a trail ARN, or `*` for calls without a trail).
    pub fn authorize(&self, caller: &Caller, action: &str, resource: &str) -> Result<(), Denied> {
        let action = if action.contains(':') {
            action.to_string()
        } else {
            format!("{SERVICE}:{action}")
        };
        let on = if resource == "*" {
            String::new()
        } else {
            format!(" on resource: {resource}")
        };
        match self.policies.evaluate(&caller.principal, &action, resource) {
            Decision::Allow => Ok(()),
            Decision::ImplicitDeny => Err(Denied::access_denied(format!(
                "User: {} is not authorized to perform: {action}{on} because no identity-based \
                 policy allows the {action} action",
                caller.principal
            ))),
            Decision::ExplicitDeny => Err(Denied::access_denied(format!(
                "User: {} is not authorized to perform: {action}{on} with an explicit deny in an \
                 identity-based policy",
                caller.principal
            ))),
        }
    }
}
