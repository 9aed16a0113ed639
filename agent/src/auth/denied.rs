//! Why a request was refused: the AWS exception name, its HTTP status and message.
//!
//! The API layer turns a [`Denied`] into the JSON 1.1 error shape
//! `{"__type": exception, "message": message}` with `status`. Exception names, statuses and
//! message wording follow what AWS JSON-protocol services answer (sources in the
//! [module doc](super)); every constructor here is the only place its wording lives.

/// A refused request, as AWS would answer it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception} ({status}): {message}")]
pub struct Denied {
    /// AWS exception name, e.g. `InvalidSignatureException`.
    pub exception: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// Human-readable message, AWS wording.
    pub message: String,
}

/// `MissingAuthenticationTokenException`.
pub const MISSING_TOKEN: &str = "MissingAuthenticationTokenException";
/// `IncompleteSignatureException`.
pub const INCOMPLETE_SIGNATURE: &str = "IncompleteSignatureException";
/// `InvalidSignatureException`.
pub const INVALID_SIGNATURE: &str = "InvalidSignatureException";
/// `UnrecognizedClientException`.
pub const UNRECOGNIZED_CLIENT: &str = "UnrecognizedClientException";
/// `AccessDeniedException`.
pub const ACCESS_DENIED: &str = "AccessDeniedException";
/// `ThrottlingException`.
pub const THROTTLING: &str = "ThrottlingException";

/// The message AWS sends when the computed and provided signatures differ.
pub const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the \
     signature you provided. Check your AWS Secret Access Key and signing method. Consult the \
     service documentation for details.";

impl Denied {
    fn new(exception: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self {
            exception,
            status,
            message: message.into(),
        }
    }

    /// No `Authorization` header at all (HTTP 403).
    pub fn missing_token() -> Self {
        Self::new(MISSING_TOKEN, 403, "Missing Authentication Token")
    }

    /// The `Authorization` header or the date is malformed (HTTP 400).
    pub fn incomplete(message: impl Into<String>) -> Self {
        Self::new(INCOMPLETE_SIGNATURE, 400, message)
    }

    /// Unknown access key, or a session token we cannot honour (HTTP 400).
    pub fn unrecognized_client() -> Self {
        Self::new(
            UNRECOGNIZED_CLIENT,
            400,
            "The security token included in the request is invalid.",
        )
    }

    /// The signature does not verify (HTTP 400).
    pub fn signature_mismatch() -> Self {
        Self::new(INVALID_SIGNATURE, 400, SIGNATURE_MISMATCH)
    }

    /// Any other `InvalidSignatureException` (expired, replayed, payload hash) (HTTP 400).
    pub fn invalid_signature(message: impl Into<String>) -> Self {
        Self::new(INVALID_SIGNATURE, 400, message)
    }

    /// Authenticated but not allowed (HTTP 400, as JSON-protocol services send it).
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(ACCESS_DENIED, 400, message)
    }

    /// The replay memory is full: fail closed rather than forget signatures (HTTP 400).
    pub fn throttled() -> Self {
        Self::new(THROTTLING, 400, "Rate exceeded")
    }
}
