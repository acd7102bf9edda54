//! Artifacts in object storage: `artifact: s3://bucket/reports/nightly.json` or a glob over keys
//! (`s3://bucket/reports/*/summary.json`, the newest match counts).
//!
//! Every task's artifact is looked up in a listing of its prefix (the key's folder, or a glob's
//! literal leading segments), and each prefix is listed once per run however many tasks share
//! it. Age is the object's last-modified time, size its size. A store that cannot be reached or
//! refuses the credentials fails the whole run (exit 2), naming the bucket, prefix and status.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;
use globset::GlobBuilder;

use super::check::{FileFacts, Lookup, TIMESTAMP_JSON_MAX};
use super::config::{Task, Timestamp};
use crate::object_storage::{Object, Store, StoreUrl};

/// Listings and clients shared by the tasks of one run.
#[derive(Default)]
pub(crate) struct Finder {
    stores: HashMap<String, Store>,
    /// (bucket, prefix) → the objects under it.
    listings: HashMap<(String, String), Vec<Object>>,
}

impl Finder {
    /// Looks up a task whose artifact is an object-store URL (`Ok(None)`: it is a local path).
    /// `read_time`: read `timestamp: json:…` from the object (not for a paused task).
    pub fn find(&mut self, task: &Task, read_time: bool) -> Result<Option<Lookup>> {
        let Some(url) = StoreUrl::parse(&task.artifact) else { return Ok(None) };
        let url = url?;
        // `StoreUrl` drops a trailing `/`; the pattern is the key (or key glob) itself.
        let pattern = url.prefix.clone();
        let is_glob = task.is_glob();
        let list_prefix = if is_glob { literal_prefix(&pattern) } else { parent(&pattern) };
        let objects = self.listing(&url.bucket, &list_prefix)?;
        let shown = |key: &str| url.show(key);
        let lookup = if is_glob {
            let matcher = match GlobBuilder::new(&pattern).literal_separator(true).build() {
                Ok(glob) => glob.compile_matcher(),
                Err(error) => {
                    return Ok(Some(Lookup::Failed {
                        path: PathBuf::from(&task.artifact),
                        reason: format!("invalid glob: {error}"),
                    }));
                }
            };
            let newest = objects
                .iter()
                .filter(|object| matcher.is_match(&object.key))
                .max_by(|a, b| (a.last_modified_nanos, &a.key).cmp(&(b.last_modified_nanos, &b.key)));
            match newest {
                Some(object) => found(&shown(&object.key), object),
                None => Lookup::Missing(format!("no object matches {}", task.artifact)),
            }
        } else {
            match objects.iter().find(|object| object.key == pattern) {
                Some(object) => found(&shown(&object.key), object),
                None => Lookup::Missing(format!("{} does not exist", task.artifact)),
            }
        };
        if !read_time {
            return Ok(Some(lookup));
        }
        Ok(Some(self.read_time(task, &url, lookup)?))
    }

    fn store(&mut self, bucket: &str) -> Result<&Store> {
        if !self.stores.contains_key(bucket) {
            let url = StoreUrl { bucket: bucket.to_string(), prefix: String::new() };
            self.stores.insert(bucket.to_string(), Store::connect(&url)?);
        }
        Ok(&self.stores[bucket])
    }

    fn listing(&mut self, bucket: &str, prefix: &str) -> Result<&[Object]> {
        let id = (bucket.to_string(), prefix.to_string());
        if !self.listings.contains_key(&id) {
            let mut objects = Vec::new();
            self.store(bucket)?.list(prefix, |object| objects.push(object))?;
            self.listings.insert(id.clone(), objects);
        }
        Ok(&self.listings[&id])
    }

    /// `timestamp: json:<pointer>` reads the object (at most [`TIMESTAMP_JSON_MAX`] bytes).
    fn read_time(&mut self, task: &Task, url: &StoreUrl, lookup: Lookup) -> Result<Lookup> {
        let (Timestamp::Json(pointer), Lookup::Found(facts)) = (&task.timestamp, lookup.clone()) else {
            return Ok(lookup);
        };
        let key =
            facts.path.to_string_lossy().trim_start_matches(&format!("s3://{}/", url.bucket)).to_string();
        let failed = |reason: String| Lookup::Failed { path: facts.path.clone(), reason };
        let bytes = match self.store(&url.bucket)?.get_small(&key, TIMESTAMP_JSON_MAX) {
            Ok(Some((bytes, _))) => bytes,
            Ok(None) => {
                return Ok(Lookup::Missing(format!("{} was deleted while it was checked", url.show(&key))));
            }
            Err(error) => return Ok(failed(format!("timestamp json:{pointer}: {error:#}"))),
        };
        Ok(facts.time_from_json(pointer, &bytes))
    }
}

fn found(shown: &str, object: &Object) -> Lookup {
    let seconds = object.last_modified_nanos.div_euclid(1_000_000_000) as i64;
    let nanos = object.last_modified_nanos.rem_euclid(1_000_000_000) as u32;
    match crate::clock::from_unix(seconds, nanos) {
        Ok(modified) => Lookup::Found(FileFacts {
            path: PathBuf::from(shown),
            modified,
            size: object.size,
            time: modified,
        }),
        Err(error) => Lookup::Failed { path: PathBuf::from(shown), reason: format!("last-modified {error}") },
    }
}

/// The folder part of a key (`a/b/c.json` → `a/b`).
fn parent(key: &str) -> String {
    key.rsplit_once('/').map_or(String::new(), |(parent, _)| parent.to_string())
}

/// A glob's leading segments without glob characters, never its last segment.
fn literal_prefix(pattern: &str) -> String {
    let segments: Vec<&str> = pattern.split('/').collect();
    let literal: Vec<&str> = segments[..segments.len().saturating_sub(1)]
        .iter()
        .take_while(|segment| !segment.contains(['*', '?', '[', '{']))
        .copied()
        .collect();
    literal.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_prefixes_of_keys_and_globs() {
        assert_eq!(parent("reports/nightly.json"), "reports");
        assert_eq!(parent("top.json"), "");
        assert_eq!(literal_prefix("reports/*/summary.json"), "reports");
        assert_eq!(literal_prefix("a/b/**/x.json"), "a/b");
        assert_eq!(literal_prefix("*.json"), "");
    }
}
