//! The receiver's bearer token: read from a mounted Secret file at each delivery (a rotated
//! Secret takes effect without a restart), compared in constant time.

use std::io::Read;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// Longest token file read.
const MAX_TOKEN_FILE: u64 = 4096;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthError {
    #[error("missing Authorization: Bearer header (set http_config.authorization in the receiver's webhook_config)")]
    Missing,
    #[error("wrong bearer token")]
    Wrong,
    #[error(
        "the receiver has no token: {0} (mount the Secret godiag-webhook-token, key token, or set GODIAG_WEBHOOK_TOKEN_FILE)"
    )]
    NoToken(String),
}

impl AuthError {
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "MissingToken",
            AuthError::Wrong => "WrongToken",
            AuthError::NoToken(_) => "NoTokenConfigured",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenFile {
    pub path: PathBuf,
}

impl TokenFile {
    /// Checks an `Authorization` header value against the token in the file.
    pub fn check(&self, header: Option<&[u8]>) -> Result<(), AuthError> {
        let want = read_token(&self.path)?;
        let got = header.and_then(bearer).ok_or(AuthError::Missing)?;
        if bool::from(got.ct_eq(want.as_bytes())) { Ok(()) } else { Err(AuthError::Wrong) }
    }
}

fn read_token(path: &Path) -> Result<String, AuthError> {
    let no = |e: String| AuthError::NoToken(format!("{}: {e}", path.display()));
    let f = std::fs::File::open(path).map_err(|e| no(e.to_string()))?;
    let mut s = String::new();
    f.take(MAX_TOKEN_FILE).read_to_string(&mut s).map_err(|e| no(e.to_string()))?;
    let t = s.trim();
    if t.is_empty() {
        return Err(no("the file is empty".into()));
    }
    Ok(t.to_string())
}

/// The token of `Bearer <token>` (scheme case-insensitive, as RFC 6750 allows).
fn bearer(v: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = (v.get(..7)?, v.get(7..)?);
    if scheme.eq_ignore_ascii_case(b"bearer ") {
        let t = rest.trim_ascii();
        (!t.is_empty()).then_some(t)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_the_bearer_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let tf = TokenFile { path: path.clone() };
        assert!(matches!(tf.check(Some(b"Bearer s3cret")), Err(AuthError::NoToken(_))), "no file: refuse all");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(tf.check(Some(b"Bearer s3cret")), Ok(()));
        assert_eq!(tf.check(Some(b"bearer s3cret")), Ok(()));
        assert_eq!(tf.check(Some(b"Bearer s3cre")), Err(AuthError::Wrong));
        assert_eq!(tf.check(Some(b"Bearer s3crett")), Err(AuthError::Wrong));
        assert_eq!(tf.check(Some(b"Basic czNjcmV0")), Err(AuthError::Missing));
        assert_eq!(tf.check(Some(b"Bearer ")), Err(AuthError::Missing));
        assert_eq!(tf.check(None), Err(AuthError::Missing));
        std::fs::write(&path, "rotated").unwrap();
        assert_eq!(tf.check(Some(b"Bearer s3cret")), Err(AuthError::Wrong), "a rotated Secret applies at once");
        std::fs::write(&path, "  \n").unwrap();
        assert!(matches!(tf.check(Some(b"Bearer x")), Err(AuthError::NoToken(_))));
    }
}
