//! Parsing of storage URLs: pure, no I/O.
//!
//! | URL | backend |
//! | --- | --- |
//! | `file:///var/lib/godiag`, `file://./out`, `file://out` | local directory (absolute or relative) |
//! | `memory://` , `memory:///prefix` | in-process memory (tests) |
//! | `s3://bucket/prefix` (also `s3a://`) | AWS S3 or any S3-compatible server |
//! | `gs://bucket/prefix` | Google Cloud Storage |
//! | `az://container/prefix` (also `azure://`, `abfs://`) | Azure Blob Storage |
//!
//! Cloud credentials and settings come from the environment the way each cloud's SDK reads
//! them (`AWS_*`, `GOOGLE_*`, `AZURE_*`). Query parameters add backend settings by their
//! object_store key name, e.g. `s3://b/p?endpoint=http://127.0.0.1:9000&allow_http=true`;
//! they override the environment. Keep secrets in the environment: query parameters are
//! never echoed in [`StoreUrl::display`] or artifact URIs, but they do sit in whatever
//! configuration holds the URL.

use super::StoreError;

/// Which object_store backend a URL selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A local directory.
    File,
    /// An in-process `InMemory` store (tests).
    Memory,
    /// AWS S3 or an S3-compatible server.
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azure,
}

impl Backend {
    /// Human name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Backend::File => "file",
            Backend::Memory => "memory",
            Backend::S3 => "S3",
            Backend::Gcs => "GCS",
            Backend::Azure => "Azure",
        }
    }
}

/// A parsed storage URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreUrl {
    /// The backend.
    pub backend: Backend,
    /// Bucket (S3, GCS) or container (Azure); for `file://`, the local directory as written.
    pub bucket: String,
    /// Path prefix inside the bucket, without leading or trailing `/` (empty for none).
    pub prefix: String,
    /// Backend settings from the query string, `(key, value)` in order.
    pub options: Vec<(String, String)>,
}

impl StoreUrl {
    /// Parses a storage URL; see the module documentation for the accepted forms.
    pub fn parse(raw: &str) -> Result<StoreUrl, StoreError> {
        let invalid = |message: &str| StoreError::InvalidUrl { url: redact(raw), message: message.to_owned() };
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(invalid("expected scheme://…, one of file://, s3://, gs://, az://, memory://"));
        };
        let backend = match scheme.to_ascii_lowercase().as_str() {
            "file" => Backend::File,
            "memory" => Backend::Memory,
            "s3" | "s3a" => Backend::S3,
            "gs" => Backend::Gcs,
            "az" | "azure" | "abfs" | "abfss" => Backend::Azure,
            "http" | "https" => {
                return Err(invalid(
                    "plain http(s) URLs are not a storage backend; use s3://bucket/prefix?endpoint=… for S3-compatible servers",
                ));
            }
            _ => {
                return Err(invalid("unsupported scheme; use file://, s3://, gs://, az:// or memory://"));
            }
        };
        match backend {
            Backend::File => {
                if rest.contains('?') {
                    return Err(invalid("file:// URLs take no query parameters"));
                }
                if rest.is_empty() {
                    return Err(invalid("missing directory, e.g. file:///var/lib/godiag or file://./out"));
                }
                Ok(StoreUrl { backend, bucket: rest.to_owned(), prefix: String::new(), options: Vec::new() })
            }
            Backend::Memory => {
                let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
                Ok(StoreUrl { backend, bucket: String::new(), prefix: clean_prefix(path), options: parse_query(query) })
            }
            Backend::S3 | Backend::Gcs | Backend::Azure => {
                let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
                let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
                if bucket.is_empty() {
                    return Err(invalid("missing bucket, e.g. s3://my-bucket/godiag"));
                }
                if bucket.contains('@') {
                    return Err(invalid(
                        "credentials in the URL are not supported; use the environment (AWS_*, GOOGLE_*, AZURE_*)",
                    ));
                }
                Ok(StoreUrl {
                    backend,
                    bucket: bucket.to_owned(),
                    prefix: clean_prefix(prefix),
                    options: parse_query(query),
                })
            }
        }
    }

    /// The URL without query parameters, as shown to users: `s3://bucket/prefix`.
    pub fn display(&self) -> String {
        let scheme = match self.backend {
            Backend::File => return format!("file://{}", self.bucket),
            Backend::Memory => return format!("memory:///{}", self.prefix),
            Backend::S3 => "s3",
            Backend::Gcs => "gs",
            Backend::Azure => "az",
        };
        if self.prefix.is_empty() {
            format!("{scheme}://{}", self.bucket)
        } else {
            format!("{scheme}://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// A storage URL as it may be logged or shown in an error: the query string (where credentials
/// can sit, e.g. `secret_access_key=…`) and any `user:password@` part are replaced by a count of
/// what was hidden.
pub fn redact(raw: &str) -> String {
    let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
            let authority = match authority.rsplit_once('@') {
                Some((_, host)) => format!("<credentials hidden>@{host}"),
                None => authority.to_owned(),
            };
            match path {
                Some(p) => format!("{scheme}://{authority}/{p}"),
                None => format!("{scheme}://{authority}"),
            }
        }
        None => base.to_owned(),
    };
    let settings = query.split('&').filter(|kv| !kv.is_empty()).count();
    if settings == 0 { base } else { format!("{base}?<{settings} setting(s) hidden>") }
}

fn clean_prefix(p: &str) -> String {
    p.trim_matches('/').to_owned()
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    ::url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_absolute_and_relative() {
        let u = StoreUrl::parse("file:///var/lib/godiag").unwrap();
        assert_eq!((u.backend, u.bucket.as_str(), u.prefix.as_str()), (Backend::File, "/var/lib/godiag", ""));
        let u = StoreUrl::parse("file://./out").unwrap();
        assert_eq!(u.bucket, "./out");
        assert_eq!(u.display(), "file://./out");
        assert!(StoreUrl::parse("file://").is_err());
    }

    #[test]
    fn s3_bucket_prefix_and_options() {
        let u =
            StoreUrl::parse("s3://diag/godiag/prod/?endpoint=http%3A%2F%2F127.0.0.1%3A9000&allow_http=true").unwrap();
        assert_eq!(u.backend, Backend::S3);
        assert_eq!(u.bucket, "diag");
        assert_eq!(u.prefix, "godiag/prod");
        assert_eq!(
            u.options,
            vec![
                ("endpoint".to_owned(), "http://127.0.0.1:9000".to_owned()),
                ("allow_http".to_owned(), "true".to_owned())
            ]
        );
        assert_eq!(u.display(), "s3://diag/godiag/prod");
        assert_eq!(StoreUrl::parse("s3://diag").unwrap().display(), "s3://diag");
    }

    #[test]
    fn gs_and_az() {
        let u = StoreUrl::parse("gs://bkt/a/b").unwrap();
        assert_eq!((u.backend, u.bucket.as_str(), u.prefix.as_str()), (Backend::Gcs, "bkt", "a/b"));
        let u = StoreUrl::parse("az://container/p").unwrap();
        assert_eq!((u.backend, u.bucket.as_str(), u.prefix.as_str()), (Backend::Azure, "container", "p"));
        assert_eq!(u.display(), "az://container/p");
    }

    #[test]
    fn memory() {
        let u = StoreUrl::parse("memory://").unwrap();
        assert_eq!((u.backend, u.prefix.as_str()), (Backend::Memory, ""));
        assert_eq!(StoreUrl::parse("memory:///x/y").unwrap().prefix, "x/y");
    }

    #[test]
    fn rejects_what_it_cannot_serve() {
        for bad in ["/var/lib/godiag", "ftp://x/y", "https://s3.amazonaws.com/b", "s3:///prefix", "s3://key:secret@b/p"]
        {
            let err = StoreUrl::parse(bad).unwrap_err();
            assert_eq!(err.reason(), "InvalidStorageUrl", "{bad}: {err}");
        }
    }

    #[test]
    fn redaction_hides_query_and_userinfo() {
        assert_eq!(
            redact("s3://bucket/p?endpoint=http://m:9000&secret_access_key=hunter2"),
            "s3://bucket/p?<2 setting(s) hidden>"
        );
        assert_eq!(redact("s3://AKIA:hunter2@bucket/p"), "s3://<credentials hidden>@bucket/p");
        assert_eq!(redact("file:///var/lib/godiag"), "file:///var/lib/godiag");
        let err = StoreUrl::parse("ftp://b/p?secret_access_key=hunter2").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
