//! Published registries in object storage: `az://container/prefix` (Azure Blob) and
//! `s3://bucket/prefix` (S3 and compatible stores), through the object_store crate.
//!
//! Credentials come from the usual environment variables (`AZURE_STORAGE_*`, `AWS_*`,
//! including `AZURE_STORAGE_USE_EMULATOR` and `AWS_ENDPOINT` for emulators). Reads are blocking
//! calls on a small runtime, so the rest of the client stays synchronous.

use object_store::path::Path as StorePath;
use object_store::{ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

pub struct ObjectSource {
    conn: Connection,
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

impl ObjectSource {
    pub fn open(location: &str, timeout: Duration) -> Result<ObjectSource, String> {
        Ok(ObjectSource {
            conn: connect(location, timeout)?,
        })
    }

    pub fn location(&self) -> &str {
        &self.conn.location
    }

    fn path(&self, rel: &str) -> StorePath {
        self.conn.path(rel)
    }
}

/// Connect to `az://container/prefix` or `s3://bucket/prefix`, credentials from the environment.
pub fn connect(location: &str, timeout: Duration) -> Result<Connection, String> {
    let (scheme, rest) = location
        .split_once("://")
        .ok_or_else(|| format!("`{location}` is not a URL"))?;
    let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if container.is_empty() {
        return Err(format!("`{location}` names no container or bucket"));
    }
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: timeout,
        ..RetryConfig::default()
    };
    // Client options replace those read from the environment: carry plain HTTP over (for
    // emulators and private endpoints).
    let env_true =
        |k: &str| std::env::var(k).is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let allow_http = env_true("AWS_ALLOW_HTTP")
        || env_true("AZURE_ALLOW_HTTP")
        || env_true("AZURE_STORAGE_USE_EMULATOR");
    let options = ClientOptions::new()
        .with_timeout(timeout)
        .with_connect_timeout(timeout.min(Duration::from_secs(5)))
        .with_allow_http(allow_http);
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
        let path = self.path(rel);
        self.conn.runtime.block_on(async {
            let meta = self
                .conn
                .store
                .head(&path)
                .await
                .map_err(|e| format!("{}{rel}: {e}", self.conn.location))?;
            if meta.size > limit {
                return Err(format!(
                    "{}{rel}: {} bytes, more than the {limit} expected",
                    self.conn.location, meta.size
                ));
            }
            let bytes = self
                .conn
                .store
                .get(&path)
                .await
                .map_err(|e| e.to_string())?
                .bytes()
                .await
                .map_err(|e| e.to_string())?;
            Ok(bytes.to_vec())
        })
    }

    /// The root, or `None` when its ETag still matches.
    #[allow(clippy::type_complexity)]
    pub fn get_if_changed(
        &self,
        rel: &str,
        etag: Option<&str>,
        limit: u64,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, String> {
        let path = self.path(rel);
        self.conn.runtime.block_on(async {
            let options = GetOptions {
                if_none_match: etag.map(str::to_string),
                ..GetOptions::default()
            };
            match self.conn.store.get_opts(&path, options).await {
                Err(object_store::Error::NotModified { .. }) => Ok(None),
                Err(e) => Err(format!("{}{rel}: {e}", self.conn.location)),
                Ok(result) => {
                    if result.meta.size > limit {
                        return Err(format!(
                            "{}{rel}: larger than {limit} bytes",
                            self.conn.location
                        ));
                    }
                    let tag = result.meta.e_tag.clone();
                    let bytes = result.bytes().await.map_err(|e| e.to_string())?;
                    Ok(Some((bytes.to_vec(), tag)))
                }
            }
        })
    }

    /// Stream the object at `rel` (exactly `size` bytes) to `sink`, one range at a time.
    pub fn stream(
        &self,
        rel: &str,
        size: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        let path = self.path(rel);
        self.conn.runtime.block_on(async {
            let meta = self
                .conn
                .store
                .head(&path)
                .await
                .map_err(|e| e.to_string())?;
            if meta.size != size {
                return Err(format!("{} bytes, expected {size}", meta.size));
            }
            let mut at = 0;
            while at < size {
                let end = (at + CHUNK).min(size);
                let bytes = self
                    .conn
                    .store
                    .get_range(&path, at..end)
                    .await
                    .map_err(|e| e.to_string())?;
                sink(&bytes)?;
                at = end;
            }
            Ok(())
        })
    }
}
