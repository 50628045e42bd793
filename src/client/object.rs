//! Published registries in object storage: `az://container/prefix` (Azure Blob) and
//! `s3://bucket/prefix` (S3 and compatible stores), through the object_store crate.
//!
//! Credentials come from the usual environment variables (`AZURE_STORAGE_*`, `AWS_*`,
//! including `AZURE_STORAGE_USE_EMULATOR` and `AWS_ENDPOINT` for emulators). Reads are blocking
//! calls on a small runtime, so the rest of the client stays synchronous. A source that fails
//! other than with a missing object (unreachable, stalled, refusing the credentials) is skipped
//! for the rest of the run, as HTTP sources are.

use super::{Failed, Health, Sink};
use object_store::path::Path as StorePath;
use object_store::{ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

pub struct ObjectSource {
    conn: Connection,
    health: Health,
}

/// A connection to a container or bucket, under a prefix: what reading and publishing share.
pub struct Connection {
    pub store: Arc<dyn ObjectStore>,
    /// The prefix inside the container, without slashes at its ends (may be empty).
    pub prefix: String,
    /// The location as given, ending with `/`.
    pub location: String,
    /// Calls are blocking, on this small runtime, so the rest of mlreg stays synchronous.
    pub runtime: tokio::runtime::Runtime,
}

impl Connection {
    /// The store's path of `rel`, under the prefix.
    pub fn path(&self, rel: &str) -> StorePath {
        if self.prefix.is_empty() {
            StorePath::from(rel)
        } else {
            StorePath::from(format!("{}/{rel}", self.prefix))
        }
    }
}

/// Bytes read per request when streaming a large blob.
const CHUNK: u64 = 8 << 20;

/// How long a connection's requests may take.
struct Limits {
    /// A whole request, body included.
    request: Option<Duration>,
    /// No byte for this long: a stall.
    read: Option<Duration>,
    connect: Duration,
    /// No retry starts after this long.
    retry: Duration,
}

impl ObjectSource {
    /// Reading a published registry: a request gives up after `stall` without a byte, and
    /// none outlives the command's deadline.
    pub fn open(location: &str, stall: Duration) -> Result<ObjectSource, String> {
        let limits = Limits {
            request: super::time_left()?,
            read: Some(stall),
            connect: stall,
            retry: stall,
        };
        Ok(ObjectSource {
            conn: open_connection(location, limits)?,
            health: Health::default(),
        })
    }

    pub fn location(&self) -> &str {
        &self.conn.location
    }

    pub(crate) fn health(&self) -> &Health {
        &self.health
    }

    /// What a failed call means: a missing (or unchanged) object is that object's answer;
    /// anything else (unreachable, stalled, refused credentials) is the source's failure.
    fn failed(&self, rel: &str, e: object_store::Error) -> Failed {
        let message = format!("{}{rel}: {e}", self.conn.location);
        match e {
            object_store::Error::NotFound { .. }
            | object_store::Error::NotModified { .. }
            | object_store::Error::Precondition { .. } => Failed::answer(message),
            _ => Failed::down(message),
        }
    }

    /// Err when the command's deadline has passed.
    fn in_time(&self, rel: &str) -> Result<(), Failed> {
        super::time_left()
            .map(|_| ())
            .map_err(|e| Failed::answer(format!("{}{rel}: {e}", self.conn.location)))
    }

    fn path(&self, rel: &str) -> StorePath {
        self.conn.path(rel)
    }
}

/// Connect to `az://container/prefix` or `s3://bucket/prefix`, credentials from the environment;
/// a request (body included) gives up after `timeout`.
pub fn connect(location: &str, timeout: Duration) -> Result<Connection, String> {
    open_connection(
        location,
        Limits {
            request: Some(timeout),
            read: None,
            connect: timeout.min(Duration::from_secs(5)),
            retry: timeout,
        },
    )
}

fn open_connection(location: &str, limits: Limits) -> Result<Connection, String> {
    let (scheme, rest) = location
        .split_once("://")
        .ok_or_else(|| format!("`{location}` is not a URL"))?;
    let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if container.is_empty() {
        return Err(format!("`{location}` names no container or bucket"));
    }
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: limits.retry,
        ..RetryConfig::default()
    };
    // Client options replace those read from the environment: carry plain HTTP over (for
    // emulators and private endpoints).
    let env_true =
        |k: &str| std::env::var(k).is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let allow_http = env_true("AWS_ALLOW_HTTP")
        || env_true("AZURE_ALLOW_HTTP")
        || env_true("AZURE_STORAGE_USE_EMULATOR");
    let mut options = ClientOptions::new()
        .with_connect_timeout(limits.connect)
        .with_allow_http(allow_http);
    options = match limits.request {
        Some(t) => options.with_timeout(t),
        None => options.with_timeout_disabled(),
    };
    if let Some(t) = limits.read {
        options = options.with_read_timeout(t);
    }
    let store: Arc<dyn ObjectStore> = match scheme {
        "az" | "azure" => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(container)
                .with_retry(retry)
                .with_client_options(options)
                .build()
                .map_err(|e| format!("{location}: {e}"))?,
        ),
        "s3" => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(container)
                .with_retry(retry)
                .with_client_options(options)
                .build()
                .map_err(|e| format!("{location}: {e}"))?,
        ),
        other => {
            return Err(format!(
                "`{location}`: {other}:// is not supported (folders, file://, http(s)://, az:// and s3:// are)"
            ));
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let prefix = prefix.trim_matches('/').to_string();
    let location = format!("{}/", location.trim_end_matches('/'));
    Ok(Connection {
        store,
        prefix,
        location,
        runtime,
    })
}

impl ObjectSource {
    /// The object at `rel`, refused unread when it is larger than `limit`.
    pub fn get(&self, rel: &str, limit: u64) -> Result<Vec<u8>, String> {
        self.health.check(&self.conn.location)?;
        let path = self.path(rel);
        let got = self.conn.runtime.block_on(async {
            self.in_time(rel)?;
            let meta = self
                .conn
                .store
                .head(&path)
                .await
                .map_err(|e| self.failed(rel, e))?;
            if meta.size > limit {
                return Err(Failed::answer(format!(
                    "{}{rel}: {} bytes, more than the {limit} expected",
                    self.conn.location, meta.size
                )));
            }
            let bytes = self
                .conn
                .store
                .get(&path)
                .await
                .map_err(|e| self.failed(rel, e))?
                .bytes()
                .await
                .map_err(|e| self.failed(rel, e))?;
            if bytes.len() as u64 > limit {
                return Err(Failed::answer(format!(
                    "{}{rel}: larger than the {limit} bytes expected",
                    self.conn.location
                )));
            }
            Ok(bytes.to_vec())
        });
        self.health.settle(got)
    }

    /// The root, or `None` when its ETag still matches.
    #[allow(clippy::type_complexity)]
    pub fn get_if_changed(
        &self,
        rel: &str,
        etag: Option<&str>,
        limit: u64,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, String> {
        self.health.check(&self.conn.location)?;
        let path = self.path(rel);
        let got = self.conn.runtime.block_on(async {
            self.in_time(rel)?;
            let options = GetOptions {
                if_none_match: etag.map(str::to_string),
                ..GetOptions::default()
            };
            match self.conn.store.get_opts(&path, options).await {
                Err(object_store::Error::NotModified { .. }) if etag.is_some() => Ok(None),
                Err(e) => Err(self.failed(rel, e)),
                Ok(result) => {
                    if result.meta.size > limit {
                        return Err(Failed::answer(format!(
                            "{}{rel}: larger than {limit} bytes",
                            self.conn.location
                        )));
                    }
                    let tag = result.meta.e_tag.clone();
                    let bytes = result.bytes().await.map_err(|e| self.failed(rel, e))?;
                    Ok(Some((bytes.to_vec(), tag)))
                }
            }
        });
        self.health.settle(got)
    }

    /// Stream the object at `rel` (exactly `size` bytes) to `sink`, one range at a time (the
    /// store retries a range that breaks off).
    pub fn stream(&self, rel: &str, size: u64, sink: &mut Sink<'_>) -> Result<(), String> {
        self.health.check(&self.conn.location)?;
        let path = self.path(rel);
        let got = self.conn.runtime.block_on(async {
            self.in_time(rel)?;
            let meta = self
                .conn
                .store
                .head(&path)
                .await
                .map_err(|e| self.failed(rel, e))?;
            if meta.size != size {
                return Err(Failed::answer(format!(
                    "{}{rel}: {} bytes, expected {size}",
                    self.conn.location, meta.size
                )));
            }
            let mut at = 0;
            while at < size {
                self.in_time(rel)?;
                let end = at.saturating_add(CHUNK).min(size);
                let bytes = self
                    .conn
                    .store
                    .get_range(&path, at..end)
                    .await
                    .map_err(|e| self.failed(rel, e))?;
                if bytes.len() as u64 != end - at {
                    return Err(Failed::answer(format!(
                        "{}{rel}: asked for {} bytes at {at}, got {}",
                        self.conn.location,
                        end - at,
                        bytes.len()
                    )));
                }
                sink(at, &bytes).map_err(Failed::answer)?;
                at = end;
            }
            Ok(())
        });
        self.health.settle(got)
    }
}
