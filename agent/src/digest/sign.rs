//! Digest signatures, exactly as `aws cloudtrail validate-logs` and AWS's Java validator check
//! them.
//!
//! - String to sign: `digestEndTime \n digestS3Bucket/digestS3Object \n
//!   hex(sha256(uncompressed digest bytes)) \n (previousDigestSignature | "null")`, LF-separated,
//!   no trailing LF, every field verbatim from the digest JSON.
//! - Signature: RSASSA-PKCS1-v1_5 with SHA-256 (`SHA256withRSA`), lowercase hex.
//! - Public key published as DER PKCS#1 `RSAPublicKey`; fingerprint = lowercase hex MD5 of those
//!   DER bytes (KMS `GetPublicKey` returns SPKI: [`spki_to_pkcs1`]).
//!
//! Signing with a local key uses aws-lc (several times faster than the pure-Rust `rsa` crate,
//! which keeps key generation, storage and verification); both produce the same, deterministic,
//! PKCS#1 v1.5 signature.

use md5::{Digest as _, Md5};
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

/// The signature algorithm named in digests and object metadata.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";

/// Why a signature could not be made or a key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("RSA signing failed: {0}")]
    Rsa(#[from] rsa::Error),
    #[error("cannot encode or decode a PKCS#1 key: {0}")]
    Pkcs1(#[from] rsa::pkcs1::Error),
    #[error("not an RSA SubjectPublicKeyInfo: {0}")]
    Spki(#[from] rsa::pkcs8::spki::Error),
    #[error("aws-lc rejected the key or failed to sign: {0}")]
    AwsLc(String),
}

/// A private key ready for fast signing (aws-lc).
pub struct FastKey(aws_lc_rs::signature::RsaKeyPair);

impl std::fmt::Debug for FastKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FastKey(..)")
    }
}

impl FastKey {
    /// From DER PKCS#1 `RSAPrivateKey` bytes.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, SignError> {
        aws_lc_rs::signature::RsaKeyPair::from_der(der)
            .map(Self)
            .map_err(|e| SignError::AwsLc(e.to_string()))
    }

    /// RSASSA-PKCS1-v1_5 / SHA-256 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut sig = vec![0u8; self.0.public_modulus_len()];
        self.0
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(|e| SignError::AwsLc(e.to_string()))?;
        Ok(sig)
    }
}

/// DER PKCS#1 `RSAPublicKey` from DER SubjectPublicKeyInfo (what KMS `GetPublicKey` returns).
pub fn spki_to_pkcs1(spki: &[u8]) -> Result<Vec<u8>, SignError> {
    public_der(&RsaPublicKey::from_public_key_der(spki)?)
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The exact string CloudTrail signs for a digest.
pub fn string_to_sign(
    end_time: &str,
    bucket: &str,
    key: &str,
    digest_sha256_hex: &str,
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{end_time}\n{bucket}/{key}\n{digest_sha256_hex}\n{}",
        previous_signature.unwrap_or("null")
    )
}

/// Signs `message` with RSASSA-PKCS1-v1_5 / SHA-256; returns the signature bytes.
pub fn sign(key: &RsaPrivateKey, message: &[u8]) -> Result<Vec<u8>, SignError> {
    let hashed = Sha256::digest(message);
    Ok(key.sign(Pkcs1v15Sign::new::<Sha256>(), &hashed)?)
}

/// True when `signature` is a valid RSASSA-PKCS1-v1_5 / SHA-256 signature of `message`.
pub fn verify(key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> bool {
    let hashed = Sha256::digest(message);
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &hashed, signature)
        .is_ok()
}

/// DER PKCS#1 `RSAPublicKey` bytes (what `ListPublicKeys` returns in `Value`).
pub fn public_der(key: &RsaPublicKey) -> Result<Vec<u8>, SignError> {
    Ok(key.to_pkcs1_der()?.as_bytes().to_vec())
}

/// Parses DER PKCS#1 `RSAPublicKey` bytes.
pub fn public_from_der(der: &[u8]) -> Result<RsaPublicKey, SignError> {
    Ok(RsaPublicKey::from_pkcs1_der(der)?)
}

/// Lowercase hex MD5 of the public key's DER bytes (`digestPublicKeyFingerprint`).
pub fn fingerprint(public_der: &[u8]) -> String {
    hex::encode(Md5::digest(public_der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn string_to_sign_is_exact() {
        let s = string_to_sign(
            "2015-08-17T15:01:31Z",
            "bkt",
            "AWSLogs/1/CloudTrail-Digest/x.json.gz",
            "abc123",
            None,
        );
        assert_eq!(
            s,
            "2015-08-17T15:01:31Z\nbkt/AWSLogs/1/CloudTrail-Digest/x.json.gz\nabc123\nnull"
        );
        let s = string_to_sign("T", "b", "k", "h", Some("00ff"));
        assert_eq!(s, "T\nb/k\nh\n00ff");
    }

    #[test]
    fn fingerprint_matches_aws_published_example() {
        // awscli examples/cloudtrail/list-public-keys.rst: Value and its Fingerprint (verbatim).
        let value = "MIIBCgKCAQEAlSS3cl92HDycr/MTj0moOhas8habjrraXw+KzlWF0axSI2tcF+3iJ9BKQAVSKxGwxwu3m0wG3J+kUl1xboEcEPHYoIYMbgfSw7KGnuDKwkLzsQWhUJ0cIbOHASox1vv/5fNXkrHhGbDCHeVXm804c83nvHUEFYThr1PfyP/8HwrCtR3FX5OANtQCP61C1nJtSSkC8JSQUOrIP4CuwJjc+4WGDk+BGH5m9iuiAKkipEHWmUl8/P7XpfpWQuk4h8g3pXZOrNXr08lbh4d39svj7UqdhvOXoBISp9t/EXYuePGEtBdrKD9Dz+VHwyUPtBQvYr9BnkF88qBnaPNhS44rzwIDAQAB";
        let der = base64::engine::general_purpose::STANDARD
            .decode(value)
            .expect("base64");
        assert_eq!(fingerprint(&der), "7f3f401420072e50a65a141430817ab3");
        assert!(public_from_der(&der).is_ok(), "PKCS#1 DER parses");
    }

    #[test]
    fn signs_and_verifies() {
        let key = crate::digest::keys::test_key();
        let msg = string_to_sign("2026-01-10T12:01:31Z", "b", "k", &sha256_hex(b"{}"), None);
        let sig = sign(&key, msg.as_bytes()).expect("sign");
        assert_eq!(sig.len(), 256, "2048-bit key → 256-byte signature");
        let public = key.to_public_key();
        assert!(verify(&public, msg.as_bytes(), &sig));
        assert!(!verify(&public, b"other", &sig));
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert!(!verify(&public, msg.as_bytes(), &bad));
        let der = public_der(&public).expect("der");
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x0a], "PKCS#1, not SPKI");
        // aws-lc signs the same (PKCS#1 v1.5 is deterministic).
        let pkcs1 = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_der(&key).expect("pkcs1");
        let fast = FastKey::from_pkcs1_der(pkcs1.as_bytes()).expect("aws-lc key");
        assert_eq!(fast.sign(msg.as_bytes()).expect("fast sign"), sig);
        // SPKI (as KMS returns it) converts to the same PKCS#1 bytes.
        let spki = rsa::pkcs8::EncodePublicKey::to_public_key_der(&public).expect("spki");
        assert_eq!(&spki.as_bytes()[..4], &[0x30, 0x82, 0x01, 0x22], "SPKI");
        assert_eq!(spki_to_pkcs1(spki.as_bytes()).expect("convert"), der);
        assert!(spki_to_pkcs1(&der).is_err(), "PKCS#1 is not SPKI");
        assert_eq!(public_from_der(&der).expect("parse"), public);
        assert_eq!(fingerprint(&der).len(), 32);
    }
}
