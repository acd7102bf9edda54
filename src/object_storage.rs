//! Object storage (S3 and compatibles) for the commands that accept `s3://bucket/prefix/` where
//! they take a path: the URL, the client and the error messages, in one place.
//!
//! The client is the `object_store` crate's S3 store, configured from the standard `AWS_*`
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`). Every request has a connect timeout, a read timeout
//! and a bounded retry budget, so a store that is down fails the run within [`GIVE_UP_AFTER`].
//! The async client runs on a current-thread tokio runtime that exists only while a command talks
//! to a store; the local-disk paths never build one. Errors name the bucket, the key and the HTTP
//! status; credentials never appear in them ([`redact`]).

use std::future::Future;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ::object_store::aws::{AmazonS3, AmazonS3Builder};
use ::object_store::path::Path as ObjectPath;
use ::object_store::{
    BackoffConfig, ClientOptions, ObjectMeta, ObjectStore, ObjectStoreExt as _, PutMode, PutOptions,
    PutPayload, RetryConfig, UpdateVersion,
};
use anyhow::{Result, anyhow, bail};
use futures::stream::{BoxStream, StreamExt as _};

/// How long one request may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request may wait for the next bytes of an answer. There is no limit on the whole
/// request: a large object may take minutes to stream, as long as bytes keep coming. A store that
/// accepts connections and never answers costs two such waits before the retry budget is spent.
const READ_TIMEOUT: Duration = Duration::from_secs(12);
/// Retries of one request stop after this long: a store that is down or refuses the credentials
/// fails the run well within 30 s.
pub(crate) const GIVE_UP_AFTER: Duration = Duration::from_secs(10);
/// At most this many retries of one request.
const MAX_RETRIES: usize = 4;
/// At most this many HEAD requests in flight at once.
const HEAD_CONCURRENCY: usize = 32;
/// Files up to this size go up in one PUT; larger ones in multipart parts of this size, at most
/// [`UPLOAD_PARTS_IN_FLIGHT`] at a time (memory stays bounded whatever the file's size).
pub(crate) const UPLOAD_PART: usize = 8 << 20;
const UPLOAD_PARTS_IN_FLIGHT: usize = 2;
/// S3's limit of keys in one `DeleteObjects` request.
pub(crate) const DELETE_BATCH: usize = 1000;

/// How [`describe`] starts when the store did not answer at all (down, unreachable, timed out).
pub(crate) const NO_ANSWER: &str = "no answer from the store";
/// How a result starts for a request that was never sent because the store had stopped answering.
pub(crate) const NOT_ATTEMPTED: &str = "not attempted";

/// The credential variables whose values must never be printed.
const SECRET_VARS: &[&str] = &["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"];

/// A parsed `s3://bucket/prefix/` location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreUrl {
    pub bucket: String,
    /// The key prefix without leading or trailing `/`; empty for the whole bucket.
    pub prefix: String,
}

impl StoreUrl {
    /// `None` when `text` is not a URL at all (a local path); an error for a URL mmops cannot use.
    pub fn parse(text: &str) -> Option<Result<StoreUrl>> {
        let (scheme, rest) = text.split_once("://")?;
        if scheme.is_empty() || !scheme.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return None;
        }
        Some(match scheme {
            "s3" | "s3a" => parse_s3(text, rest),
            "gs" | "gcs" | "az" | "azure" | "abfs" | "abfss" => Err(anyhow!(
                "{text}: {scheme}:// is not built into this mmops; only s3:// (and S3-compatible stores through \
                 AWS_ENDPOINT_URL) is supported"
            )),
            _ => Err(anyhow!(
                "{text}: unknown URL scheme {scheme}://; use s3://bucket/prefix/ or a local path"
            )),
        })
    }

    /// [`StoreUrl::parse`] for a path argument.
    pub fn from_path(path: &Path) -> Option<Result<StoreUrl>> {
        StoreUrl::parse(path.to_str()?)
    }

    /// The full key of `relative` under the prefix.
    pub fn key(&self, relative: &str) -> String {
        if self.prefix.is_empty() { relative.to_string() } else { format!("{}/{relative}", self.prefix) }
    }

    /// A key as the operator would type it: `s3://bucket/key`.
    pub fn show(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The URL of the prefix itself, with a trailing `/`.
    pub fn show_prefix(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}/", self.bucket)
        } else {
            format!("s3://{}/{}/", self.bucket, self.prefix)
        }
    }
}

fn parse_s3(text: &str, rest: &str) -> Result<StoreUrl> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    // S3 bucket names: 3-63 characters, lower-case letters, digits, dots and hyphens.
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'.' || byte == b'-');
    if !bucket_ok {
        bail!(
            "{text}: {bucket:?} is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-'); use s3://bucket/prefix/"
        );
    }
    let prefix = prefix.trim_end_matches('/');
    if !prefix.is_empty() {
        for segment in prefix.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                bail!("{text}: the prefix has an empty, '.' or '..' segment; use s3://bucket/a/b/");
            }
        }
    }
    Ok(StoreUrl { bucket: bucket.to_string(), prefix: prefix.to_string() })
}

/// Replaces every credential value from the environment in `text` by `<redacted>`: the last
/// guard behind messages that are built without them anyway.
pub(crate) fn redact(text: &str) -> String {
    let mut text = text.to_string();
    for var in SECRET_VARS {
        if let Ok(value) = std::env::var(var)
            && value.len() >= 4
        {
            text = text.replace(&value, "<redacted>");
        }
    }
    text
}

/// One object as a listing or a HEAD reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Object {
    pub key: String,
    pub size: u64,
    pub last_modified_nanos: i128,
    pub etag: Option<String>,
}

impl Object {
    fn from_meta(meta: ObjectMeta) -> Object {
        let modified = meta.last_modified;
        Object {
            key: meta.location.to_string(),
            size: meta.size,
            last_modified_nanos: i128::from(modified.timestamp()) * 1_000_000_000
                + i128::from(modified.timestamp_subsec_nanos()),
            etag: meta.e_tag,
        }
    }
}

/// Requests sent, by kind (for reports and the benchmark).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) struct RequestCounts {
    pub list: u64,
    pub head: u64,
    pub get: u64,
    pub put: u64,
    /// Single-object deletes (the lease, a staging object).
    pub delete: u64,
    /// `DeleteObjects` requests (up to 1000 keys each).
    pub delete_batches: u64,
}

/// The result of a conditional put.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Put {
    /// Written; its new ETag.
    Written(Option<String>),
    /// The condition failed: the object exists (create) or changed (update).
    Refused,
}

/// A client for one bucket, with its runtime.
pub(crate) struct Store {
    pub url: StoreUrl,
    inner: Arc<AmazonS3>,
    runtime: tokio::runtime::Runtime,
    requests: std::cell::Cell<RequestCounts>,
}

impl Store {
    /// Builds the client from the environment. Nothing is sent yet.
    pub fn connect(url: &StoreUrl) -> Result<Store> {
        // `with_client_options` replaces what `from_env` read into the client options, so
        // AWS_ALLOW_HTTP is applied here.
        let allow_http =
            std::env::var("AWS_ALLOW_HTTP").is_ok_and(|value| value.eq_ignore_ascii_case("true"));
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&url.bucket)
            // A create-only copy (a staged multipart upload moved to its final key) completes with
            // `If-None-Match: *`.
            .with_copy_if_not_exists(::object_store::aws::S3CopyIfNotExists::Multipart)
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(CONNECT_TIMEOUT)
                    .with_timeout_disabled()
                    .with_read_timeout(READ_TIMEOUT)
                    .with_allow_http(allow_http),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: MAX_RETRIES,
                retry_timeout: GIVE_UP_AFTER,
            });
        // AWS_ENDPOINT_URL is the name the AWS CLI and SDKs read; object_store's from_env only
        // knows AWS_ENDPOINT. A local endpoint also needs path-style requests.
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT")) {
            builder = builder.with_endpoint(endpoint);
        }
        if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
            builder = builder.with_region("us-east-1");
        }
        let inner = builder.build().map_err(|error| {
            anyhow!("{}: cannot set up the S3 client: {}", url.show_prefix(), redact(&error.to_string()))
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| anyhow!("cannot start the S3 client's runtime: {error}"))?;
        Ok(Store { url: url.clone(), inner: Arc::new(inner), runtime, requests: Default::default() })
    }

    pub fn requests(&self) -> RequestCounts {
        self.requests.get()
    }

    fn count(&self, add: impl FnOnce(&mut RequestCounts)) {
        let mut counts = self.requests.get();
        add(&mut counts);
        self.requests.set(counts);
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn path(key: &str) -> Result<ObjectPath> {
        ObjectPath::parse(key).map_err(|error| anyhow!("{key:?} is not a usable object key: {error}"))
    }

    /// Lists every object under `prefix` (a key prefix ending at a `/` boundary, or empty), page by
    /// page, handing each to `each` as it arrives: memory does not grow with the listing.
    pub fn list(&self, prefix: &str, mut each: impl FnMut(Object)) -> Result<()> {
        let path = if prefix.is_empty() { None } else { Some(Store::path(prefix)?) };
        let mut stream = self.inner.list(path.as_ref());
        let mut seen = 0u64;
        self.count(|counts| counts.list += 1);
        self.block_on(async {
            while let Some(item) = stream.next().await {
                let meta = item.map_err(|error| match error {
                    // Keys with `.`/`..`/empty segments or control characters: the client
                    // cannot name them in a request, so the run stops before it plans anything.
                    ::object_store::Error::InvalidPath { .. } => anyhow!(
                        "cannot list {}: it holds a key this client cannot handle ({}); nothing was changed; \
                             rename or remove that object, or point at a prefix without it",
                        self.url.show_prefix_of(prefix),
                        redact(&crate::sanitize::display_text(&error.to_string(), false))
                    ),
                    error => self.error("list", &self.url.show_prefix_of(prefix), &error),
                })?;
                seen += 1;
                // A page holds up to 1000 keys: the 1001st, 2001st, … object came with a new request.
                if seen > 1 && seen % 1000 == 1 {
                    self.count(|counts| counts.list += 1);
                }
                each(Object::from_meta(meta));
            }
            Ok(())
        })
    }

    /// The object's facts now, `None` when it does not exist.
    pub fn head(&self, key: &str) -> Result<Option<Object>> {
        self.count(|counts| counts.head += 1);
        let path = Store::path(key)?;
        match self.block_on(self.inner.head(&path)) {
            Ok(meta) => Ok(Some(Object::from_meta(meta))),
            Err(::object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(self.error("read", &self.url.show(key), &error)),
        }
    }

    /// HEADs many keys, a bounded number at a time; results in the order of `keys`.
    pub fn head_many(&self, keys: &[&str]) -> Vec<Result<Option<Object>, String>> {
        let store = &self.inner;
        // Once one HEAD gets no answer at all, the rest are not sent: a dead store costs one
        // round of retries, not one per key.
        let down = &std::sync::atomic::AtomicBool::new(false);
        let sent = &std::sync::atomic::AtomicU64::new(0);
        let results = self.block_on(async {
            futures::stream::iter(keys.iter().map(|key| async move {
                use std::sync::atomic::Ordering::Relaxed;
                if down.load(Relaxed) {
                    return Err(format!("{NOT_ATTEMPTED}: the store stopped answering"));
                }
                let path = Store::path(key).map_err(|error| error.to_string())?;
                sent.fetch_add(1, Relaxed);
                match store.head(&path).await {
                    Ok(meta) => Ok(Some(Object::from_meta(meta))),
                    Err(::object_store::Error::NotFound { .. }) => Ok(None),
                    Err(error) => {
                        let text = describe(&error);
                        if text.starts_with(NO_ANSWER) {
                            down.store(true, Relaxed);
                        }
                        Err(text)
                    }
                }
            }))
            .buffered(HEAD_CONCURRENCY)
            .collect()
            .await
        });
        let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
        self.count(|counts| counts.head += sent);
        results
    }

    /// Deletes up to [`DELETE_BATCH`] keys in one `DeleteObjects` request; one result per key, in
    /// order (an error names what the store said about that key). An error for the whole request
    /// (the store is down) is returned as such: then nothing is known about the batch.
    pub fn delete_batch(&self, keys: &[String]) -> Result<Vec<Result<(), String>>> {
        assert!(keys.len() <= DELETE_BATCH, "a DeleteObjects request takes at most 1000 keys");
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.count(|counts| counts.delete_batches += 1);
        let paths: Vec<ObjectPath> = keys.iter().map(|key| Store::path(key)).collect::<Result<_>>()?;
        let input: BoxStream<'static, ::object_store::Result<ObjectPath>> =
            futures::stream::iter(paths.into_iter().map(Ok)).boxed();
        let answers: Vec<::object_store::Result<ObjectPath>> =
            self.block_on(self.inner.delete_stream(input).collect());
        let mut deleted = std::collections::HashSet::new();
        let mut failures: Vec<String> = Vec::new();
        for answer in answers {
            match answer {
                Ok(path) => {
                    deleted.insert(path.to_string());
                }
                Err(error) => failures.push(error.to_string()),
            }
        }
        if deleted.is_empty()
            && failures.len() == 1
            && !failures[0].contains("DeleteObjects request failed for key")
        {
            // The request as a whole failed.
            bail!("cannot delete in s3://{}/: {}", self.url.bucket, redact(&failures[0]));
        }
        Ok(keys
            .iter()
            .map(|key| {
                if deleted.contains(key.as_str()) {
                    Ok(())
                } else {
                    let needle = format!("for key {key}:");
                    let message = failures
                        .iter()
                        .find(|failure| failure.contains(&needle))
                        .map(|failure| {
                            failure.split_once(&needle).map_or(failure.as_str(), |(_, rest)| rest.trim())
                        })
                        .unwrap_or("the store did not confirm the delete");
                    Err(redact(message))
                }
            })
            .collect())
    }

    /// Puts `bytes` at `key` only if no object is there (`If-None-Match: *`).
    pub fn put_create(&self, key: &str, bytes: Vec<u8>) -> Result<Put> {
        self.put(key, bytes, PutMode::Create)
    }

    /// Replaces the object at `key` only if its ETag is still `etag` (`If-Match`).
    pub fn put_update(&self, key: &str, bytes: Vec<u8>, etag: &str) -> Result<Put> {
        self.put(key, bytes, PutMode::Update(UpdateVersion { e_tag: Some(etag.to_string()), version: None }))
    }

    fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Put> {
        self.count(|counts| counts.put += 1);
        let path = Store::path(key)?;
        let options = PutOptions { mode, ..PutOptions::default() };
        match self.block_on(self.inner.put_opts(&path, PutPayload::from(bytes), options)) {
            Ok(result) => Ok(Put::Written(result.e_tag)),
            Err(::object_store::Error::AlreadyExists { .. } | ::object_store::Error::Precondition { .. }) => {
                Ok(Put::Refused)
            }
            Err(error) => Err(self.error("write", &self.url.show(key), &error)),
        }
    }

    /// Deletes one object (absent is fine).
    pub fn delete(&self, key: &str) -> Result<()> {
        self.count(|counts| counts.delete += 1);
        let path = Store::path(key)?;
        match self.block_on(self.inner.delete(&path)) {
            Ok(()) | Err(::object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(self.error("delete", &self.url.show(key), &error)),
        }
    }

    /// Uploads a local file to `key`. `create_only`: only if no object is there (`Put::Refused`
    /// otherwise), else replacing what is there. A file larger than [`UPLOAD_PART`] goes up in
    /// multipart parts; create-only then stages it under `staging_key` and copies it to `key`
    /// with a create-only copy, so `key` never holds a partial or unconditional write.
    pub fn upload_file(&self, key: &str, staging_key: &str, file: &Path, create_only: bool) -> Result<Put> {
        let shown = self.url.show(key);
        let mut reader =
            std::fs::File::open(file).map_err(|error| anyhow!("cannot read {}: {error}", file.display()))?;
        let size = reader.metadata().map(|metadata| metadata.len()).unwrap_or(0);
        if size <= UPLOAD_PART as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            (&mut reader)
                .take(UPLOAD_PART as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|error| anyhow!("cannot read {}: {error}", file.display()))?;
            return self.put(key, bytes, if create_only { PutMode::Create } else { PutMode::Overwrite });
        }
        let target = if create_only { staging_key } else { key };
        let target_path = Store::path(target)?;
        self.count(|counts| counts.put += 1);
        let uploaded: Result<(), String> = self.block_on(async {
            let upload = self.inner.put_multipart(&target_path).await.map_err(|error| describe(&error))?;
            let mut writer = ::object_store::WriteMultipart::new_with_chunk_size(upload, UPLOAD_PART);
            let mut buffer = vec![0u8; 1 << 20];
            loop {
                let count = reader
                    .read(&mut buffer)
                    .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
                if count == 0 {
                    break;
                }
                writer.wait_for_capacity(UPLOAD_PARTS_IN_FLIGHT).await.map_err(|error| describe(&error))?;
                writer.write(&buffer[..count]);
            }
            writer.finish().await.map_err(|error| describe(&error))?;
            Ok(())
        });
        uploaded.map_err(|error| anyhow!("cannot write {}: {error}", self.url.show(target)))?;
        if !create_only {
            return Ok(Put::Written(None));
        }
        let copied = self.block_on(self.inner.copy_if_not_exists(&target_path, &Store::path(key)?));
        let cleanup = self.delete(staging_key);
        let result = match copied {
            Ok(()) => Ok(Put::Written(None)),
            Err(::object_store::Error::AlreadyExists { .. } | ::object_store::Error::Precondition { .. }) => {
                Ok(Put::Refused)
            }
            Err(error) => Err(self.error("write", &shown, &error)),
        };
        cleanup.and(result)
    }

    /// The SHA-256 (hex) and size of an object, read as a stream; `None` when it does not exist.
    pub fn sha256(&self, key: &str) -> Result<Option<(String, u64)>> {
        use sha2::Digest as _;
        let Some(mut reader) = self.open(key)? else { return Ok(None) };
        let mut hasher = sha2::Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let count = reader.read(&mut buffer)?;
            if count == 0 {
                break;
            }
            size += count as u64;
            hasher.update(&buffer[..count]);
        }
        let digest = hasher.finalize();
        Ok(Some((digest.iter().map(|byte| format!("{byte:02x}")).collect(), size)))
    }

    /// Reads a whole object of at most `limit` bytes; `None` when it does not exist.
    pub fn get_small(&self, key: &str, limit: u64) -> Result<Option<(Vec<u8>, Object)>> {
        let Some(mut reader) = self.open(key)? else { return Ok(None) };
        if reader.object.size > limit {
            bail!(
                "{} is {} bytes, more than the {limit} bytes accepted",
                self.url.show(key),
                reader.object.size
            );
        }
        let mut bytes = Vec::new();
        (&mut reader).take(limit + 1).read_to_end(&mut bytes)?;
        let object = reader.object.clone();
        Ok(Some((bytes, object)))
    }

    /// Opens an object for streamed reading; `None` when it does not exist.
    pub fn open(&self, key: &str) -> Result<Option<ObjectReader<'_>>> {
        self.count(|counts| counts.get += 1);
        let path = Store::path(key)?;
        match self.block_on(self.inner.get(&path)) {
            Ok(result) => {
                let object = Object::from_meta(result.meta.clone());
                Ok(Some(ObjectReader {
                    store: self,
                    key: key.to_string(),
                    stream: result.into_stream(),
                    current: Vec::new(),
                    position: 0,
                    object,
                }))
            }
            Err(::object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(self.error("read", &self.url.show(key), &error)),
        }
    }

    /// An error message naming the operation, the location and the HTTP status.
    pub fn error(&self, operation: &str, shown: &str, error: &::object_store::Error) -> anyhow::Error {
        anyhow!("cannot {operation} {shown}: {}", describe(error))
    }
}

impl StoreUrl {
    fn show_prefix_of(&self, prefix: &str) -> String {
        if prefix.is_empty() {
            format!("s3://{}/", self.bucket)
        } else {
            format!("s3://{}/{prefix}/", self.bucket)
        }
    }
}

/// A streamed object body as a blocking reader.
pub(crate) struct ObjectReader<'a> {
    store: &'a Store,
    key: String,
    stream: BoxStream<'static, ::object_store::Result<bytes::Bytes>>,
    current: Vec<u8>,
    position: usize,
    pub object: Object,
}

impl Read for ObjectReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        while self.position == self.current.len() {
            match self.store.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => {
                    self.current = chunk.to_vec();
                    self.position = 0;
                }
                Some(Err(error)) => {
                    return Err(std::io::Error::other(format!(
                        "cannot read {}: {}",
                        self.store.url.show(&self.key),
                        describe(&error)
                    )));
                }
            }
        }
        let count = buffer.len().min(self.current.len() - self.position);
        buffer[..count].copy_from_slice(&self.current[self.position..self.position + count]);
        self.position += count;
        Ok(count)
    }
}

/// What went wrong, for a person: the HTTP status and the store's error code and message when
/// there was an answer, the connection failure otherwise. Never the request URL's query, never a
/// credential.
pub(crate) fn describe(error: &::object_store::Error) -> String {
    use ::object_store::Error as E;
    let known_status = match error {
        E::NotFound { .. } => Some(404),
        E::Precondition { .. } => Some(412),
        E::AlreadyExists { .. } => Some(409),
        E::PermissionDenied { .. } => Some(403),
        E::Unauthenticated { .. } => Some(401),
        E::NotModified { .. } => Some(304),
        _ => None,
    };
    let mut chain = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        chain.push(current.to_string());
        cause = current.source();
    }
    let whole = chain.join(": ");
    let status = known_status.or_else(|| status_in(&whole));
    let code = xml_field(&whole, "Code");
    let message = xml_field(&whole, "Message");
    let text = match (status, code) {
        (Some(status), Some(code)) => {
            format!(
                "HTTP {status} {code}{}",
                message.map_or(String::new(), |message| format!(" ({message})"))
            )
        }
        (Some(status), None) => format!("HTTP {status}"),
        (None, _) => {
            // No answer from the store: the innermost cause says why (refused, timed out, DNS).
            let innermost = chain.last().cloned().unwrap_or_default();
            let retried = if whole.contains("retries") { " (after retries)" } else { "" };
            format!("{NO_ANSWER}: {innermost}{retried}")
        }
    };
    redact(&crate::sanitize::display_text(&text, false))
}

fn status_in(text: &str) -> Option<u16> {
    let (_, rest) = text.split_once("status code: ")?;
    rest.get(..3)?.parse().ok()
}

fn xml_field<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    let open = format!("<{field}>");
    let close = format!("</{field}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&close)? + start;
    Some(&text[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_parse_into_bucket_and_prefix() {
        let url = StoreUrl::parse("s3://my-bucket/reports/nightly/").unwrap().unwrap();
        assert_eq!(url, StoreUrl { bucket: "my-bucket".into(), prefix: "reports/nightly".into() });
        assert_eq!(url.key("a.json"), "reports/nightly/a.json");
        assert_eq!(url.show_prefix(), "s3://my-bucket/reports/nightly/");
        let whole = StoreUrl::parse("s3://bucket").unwrap().unwrap();
        assert_eq!(whole.prefix, "");
        assert_eq!(whole.key("x"), "x");
    }

    #[test]
    fn local_paths_are_not_urls() {
        for path in ["artifacts", "/var/lib/x", "./s3:/x", "a/b://c", ""] {
            assert!(StoreUrl::parse(path).is_none(), "{path}");
        }
    }

    #[test]
    fn bad_urls_are_errors_naming_the_problem() {
        for (url, part) in [
            ("s3://B/x", "bucket name"),
            ("s3:///x", "bucket name"),
            ("s3://bucket/a//b", "segment"),
            ("s3://bucket/a/../b", "segment"),
            ("gs://bucket/x", "not built into"),
            ("ftp://host/x", "unknown URL scheme"),
        ] {
            let error = StoreUrl::parse(url).unwrap().unwrap_err().to_string();
            assert!(error.contains(part), "{url}: {error}");
        }
    }

    #[test]
    fn statuses_and_codes_are_found_in_error_text() {
        assert_eq!(status_in("Server returned non-2xx status code: 503 Service Unavailable: x"), Some(503));
        assert_eq!(xml_field("<Error><Code>NoSuchBucket</Code></Error>", "Code"), Some("NoSuchBucket"));
        assert_eq!(xml_field("nothing", "Code"), None);
    }
}
