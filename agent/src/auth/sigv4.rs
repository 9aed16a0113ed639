//! AWS Signature Version 4 verification (header form, `AWS4-HMAC-SHA256`), as AWS computes it.
//!
//! Steps, each a function here so tests can check them against AWS's published vectors:
//! 1. [`parse`]: the `Authorization` header (`Credential=<key>/<yyyymmdd>/<region>/<service>/
//!    aws4_request, SignedHeaders=a;b, Signature=<hex>`) and the request time (`X-Amz-Date`, else
//!    `Date`); malformed input is `IncompleteSignatureException` with AWS's wording.
//! 2. [`canonical_request`]: method, URI-encoded normalised path (the path as received is encoded
//!    once more, as every SDK does for non-S3 services), sorted canonical query, the signed headers
//!    (lowercased, values trimmed, inner whitespace runs collapsed, repeated headers joined by
//!    `,`), the signed-header list and the hex SHA-256 of the body.
//! 3. [`string_to_sign`] and [`signing_key`] (`AWS4<secret>` → date → region → service →
//!    `aws4_request`), then [`verify`] compares signatures in constant time.
//!
//! Invariants: the payload hash always comes from the body bytes; an `x-amz-content-sha256`
//! header that differs from it (including `UNSIGNED-PAYLOAD`) is refused, so a body cannot be
//! swapped under a signed header. `host` must be signed. The time check ([`check_time`]) is
//! ±15 minutes, inclusive, like AWS.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::denied::Denied;

/// The only algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Allowed distance between the request time and now, in seconds (15 minutes).
pub const MAX_SKEW_SECS: i64 = 15 * 60;
/// `x-amz-content-sha256`.
const CONTENT_SHA256: &str = "x-amz-content-sha256";

/// The parts of a request that SigV4 covers, as received (path and query still percent-encoded).
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// Path as received, e.g. `/`.
    pub path: &'a str,
    /// Raw query string without `?` (empty when absent).
    pub query: &'a str,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The body bytes.
    pub body: &'a [u8],
}

/// A well-formed `Authorization` header with its request time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Access key id from the credential scope.
    pub access_key_id: String,
    /// `yyyymmdd` from the credential scope.
    pub scope_date: String,
    /// Region from the credential scope: the caller's region.
    pub region: String,
    /// Service from the credential scope.
    pub service: String,
    /// Signed header names, lowercased, in the order given.
    pub signed_headers: Vec<String>,
    /// Signature as sent (hex).
    pub signature: String,
    /// Request time in ISO 8601 basic format (`yyyymmddThhmmssZ`).
    pub amz_date: String,
    /// Request time, Unix seconds.
    pub time: i64,
}

impl Parsed {
    /// `yyyymmdd/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.scope_date, self.region, self.service
        )
    }
}

/// Formats Unix seconds as `yyyymmddThhmmssZ`.
pub fn amz_date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

/// The request time: `X-Amz-Date` (ISO 8601 basic) wins over `Date` (RFC 1123).
/// `Ok(None)` when neither is present.
fn request_time(headers: &HeaderMap) -> Result<Option<(String, i64)>, Denied> {
    if let Some(v) = headers.get("x-amz-date") {
        let s = v.to_str().unwrap_or_default();
        return chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
            .ok()
            .filter(|_| s.len() == 16)
            .map(|t| Some((s.to_string(), t.and_utc().timestamp())))
            .ok_or_else(|| {
                Denied::incomplete(format!(
                    "Date must be in ISO-8601 'basic format'. Got '{s}'. See \
                     http://en.wikipedia.org/wiki/ISO_8601"
                ))
            });
    }
    if let Some(v) = headers.get("date") {
        let s = v.to_str().unwrap_or_default();
        return chrono::DateTime::parse_from_rfc2822(s)
            .map(|t| {
                let secs = t.timestamp();
                Some((amz_date(secs), secs))
            })
            .map_err(|_| {
                Denied::incomplete(format!(
                    "Date must be in RFC 1123 format (e.g. 'Wed, 30 Aug 2015 12:36:00 GMT'). \
                     Got '{s}'."
                ))
            });
    }
    Ok(None)
}

/// `true` for region names shaped like AWS's: `us-east-1`, `us-gov-west-1`, `eu-central-2`.
pub fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].len() <= 2
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// Parses the `Authorization` header and the request time, checking the credential scope
/// against `service`. No header → `MissingAuthenticationTokenException`.
pub fn parse(req: &SignedRequest<'_>, service: &str) -> Result<Parsed, Denied> {
    let Some(raw) = req.headers.get("authorization") else {
        return Err(Denied::missing_token());
    };
    let value = raw.to_str().map_err(|_| {
        Denied::incomplete("Authorization header contains characters that are not valid")
    })?;
    let value = value.trim();
    let time = request_time(req.headers)?;
    let (algorithm, params) = value.split_once(' ').unwrap_or((value, ""));
    let (mut credential, mut signed, mut signature) = (None, None, None);
    if algorithm == ALGORITHM {
        for part in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(Denied::incomplete(format!(
                    "'{part}' not a valid key=value pair (missing equal-sign) in Authorization \
                     header: '{value}'."
                )));
            };
            match k.trim() {
                "Credential" => credential = Some(v.trim()),
                "SignedHeaders" => signed = Some(v.trim()),
                "Signature" => signature = Some(v.trim()),
                _ => {}
            }
        }
    }
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if signed.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    if time.is_none() {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        );
    }
    let (Some(credential), Some(signed), Some(signature), Some((amz_date, time))) =
        (credential, signed, signature, time)
    else {
        return Err(Denied::incomplete(format!(
            "{} Authorization={value}",
            missing.join(" ")
        )));
    };

    let scope: Vec<&str> = credential.split('/').collect();
    let [key, date, region, scope_service, terminator] = scope[..] else {
        return Err(Denied::incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{credential}'"
        )));
    };
    if key.is_empty() {
        return Err(Denied::incomplete(format!(
            "Credential must include an access key id, got '{credential}'"
        )));
    }
    if date != &amz_date[..8] {
        return Err(Denied::incomplete(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '{date}' != '{}', from '{amz_date}'.",
            &amz_date[..8]
        )));
    }
    if !valid_region(region) {
        return Err(Denied::incomplete(format!(
            "Credential should be scoped to a valid region, not '{region}'."
        )));
    }
    if scope_service != service {
        return Err(Denied::incomplete(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    if terminator != "aws4_request" {
        return Err(Denied::incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not \
             '{terminator}'."
        )));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_ascii_lowercase).collect();
    if signed_headers.iter().any(String::is_empty) {
        return Err(Denied::incomplete(format!(
            "SignedHeaders must be a ';'-separated list of header names, got '{signed}'."
        )));
    }
    if !signed_headers
        .iter()
        .any(|h| h == "host" || h == ":authority")
    {
        return Err(Denied::incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    Ok(Parsed {
        access_key_id: key.to_string(),
        scope_date: date.to_string(),
        region: region.to_string(),
        service: scope_service.to_string(),
        signed_headers,
        signature: signature.to_string(),
        amz_date,
        time,
    })
}

/// Refuses a request time more than 15 minutes from `now` (Unix seconds), with AWS's messages.
pub fn check_time(parsed: &Parsed, now: i64) -> Result<(), Denied> {
    if parsed.time < now - MAX_SKEW_SECS {
        return Err(Denied::invalid_signature(format!(
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            parsed.amz_date,
            amz_date(now - MAX_SKEW_SECS),
            amz_date(now)
        )));
    }
    if parsed.time > now + MAX_SKEW_SECS {
        return Err(Denied::invalid_signature(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            parsed.amz_date,
            amz_date(now + MAX_SKEW_SECS),
            amz_date(now)
        )));
    }
    Ok(())
}

/// SigV4 URI encoding: every byte except `A-Za-z0-9-_.~` (and `/` when `keep_slash`) as `%XX`.
pub fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `%XX` decoded; a `%` not followed by two hex digits stays as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_digit(b[i + 1]), hex_digit(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Path normalisation (RFC 3986 dot segments removed, empty segments collapsed), then URI
/// encoding of the path as received (so `%20` becomes `%2520`, as SDKs sign it).
pub fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalised = String::from("/");
    normalised.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalised.push('/');
    }
    uri_encode(normalised.as_bytes(), true)
}

/// Query parameters decoded, re-encoded with SigV4 encoding, sorted by key then value.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// One header's canonical value: each occurrence trimmed with whitespace runs collapsed, joined by `,`.
fn canonical_header_value(headers: &HeaderMap, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, v) in headers.get_all(name).iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut space = false;
        for &b in v.as_bytes().trim_ascii() {
            if b == b' ' || b == b'\t' || b == b'\n' || b == b'\r' {
                space = true;
            } else {
                if space {
                    out.push(b' ');
                    space = false;
                }
                out.push(b);
            }
        }
    }
    out
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The canonical request bytes.
pub fn canonical_request(
    req: &SignedRequest<'_>,
    signed_headers: &[String],
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(req.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(req.query).as_bytes());
    out.push(b'\n');
    for name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(&canonical_header_value(req.headers, name));
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for Hmac<Sha256>.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The derived signing key: HMAC chain from `AWS4<secret>` over date, region, service, terminator.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The expected signature bytes for `req` under `parsed`'s scope, signed with `secret`.
pub fn expected_signature(
    req: &SignedRequest<'_>,
    parsed: &Parsed,
    secret: &str,
    payload_hash: &str,
) -> [u8; 32] {
    let creq = canonical_request(req, &parsed.signed_headers, payload_hash);
    let sts = string_to_sign(&parsed.amz_date, &parsed.scope(), &creq);
    let key = signing_key(secret, &parsed.scope_date, &parsed.region, &parsed.service);
    hmac(&key, sts.as_bytes())
}

/// Verifies the signature of `req` with `secret`; returns the signature bytes (the replay key).
pub fn verify(req: &SignedRequest<'_>, parsed: &Parsed, secret: &str) -> Result<[u8; 32], Denied> {
    let payload_hash = sha256_hex(req.body);
    if let Some(claimed) = req.headers.get(CONTENT_SHA256) {
        if claimed.as_bytes() != payload_hash.as_bytes() {
            return Err(Denied::invalid_signature(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
    }
    let expected = expected_signature(req, parsed, secret, &payload_hash);
    let provided = hex::decode(&parsed.signature).unwrap_or_default();
    if provided.len() == expected.len() && bool::from(provided.ct_eq(&expected[..])) {
        Ok(expected)
    } else {
        Err(Denied::signature_mismatch())
    }
}

/// `true` when the request carries a session token (STS credentials), which this API cannot
/// honour: there is no STS here.
pub fn has_security_token(headers: &HeaderMap) -> bool {
    headers.contains_key("x-amz-security-token")
}
