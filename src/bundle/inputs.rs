//! What goes into a bundle: the version, the file list (built-in or `--config`), and its
//! resolution against the repository and the reports folder into checked, sized inputs.
//!
//! Checking is split in two: [`check_config`] is pure (shapes, relative paths, destinations) and
//! [`resolve`] touches the disk (existence, globs, symlinks that lead outside the repository).
//! Every problem is an error before anything is written.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use globset::{Glob, GlobMatcher};
use serde::Deserialize;

use crate::atomic_write::TEMP_PREFIX;
use crate::config_file;
use crate::sanitize::display_path;

/// The built-in file list: the same text as `deploy/release/bundle.yaml`.
pub(crate) const DEFAULT_CONFIG_TEXT: &str = include_str!("../../deploy/release/bundle.yaml");
pub(crate) const DEFAULT_CONFIG_ORIGIN: &str = "built-in file list (deploy/release/bundle.yaml)";

/// Entries mmops adds itself; a list may not name them.
pub(crate) const SUMMARY_NAME: &str = "RELEASE_SUMMARY.md";
pub(crate) const MANIFEST_NAME: &str = "MANIFEST.json";

/// The file list, as written in YAML or JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BundleConfig {
    #[serde(default)]
    pub(crate) files: Vec<EntrySpec>,
    #[serde(default)]
    pub(crate) reports: Vec<EntrySpec>,
}

/// One list entry: a file (`path`) or every file matching `glob`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntrySpec {
    pub(crate) path: Option<String>,
    pub(crate) glob: Option<String>,
    pub(crate) dest: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) required: Option<bool>,
}

/// The two sections of the list: repository files, and reports under `--reports-dir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Files,
    Reports,
}

impl Section {
    fn key(self) -> &'static str {
        match self {
            Section::Files => "files",
            Section::Reports => "reports",
        }
    }

    fn required_by_default(self) -> bool {
        self == Section::Files
    }

    fn default_description(self, file_name: &str) -> String {
        match self {
            Section::Files => format!("File: {file_name}"),
            Section::Reports => format!("Report: {file_name}"),
        }
    }
}

/// A file that will go into the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Input {
    /// Where it is read from (relative to the working directory unless `--reports-dir` is absolute).
    pub(crate) source: PathBuf,
    /// Its name in the zip, `/`-separated.
    pub(crate) dest: String,
    pub(crate) description: String,
    /// Size when the list was resolved; reading a different amount later is an error.
    pub(crate) size: u64,
}

/// Loads the list from `--config`, or the built-in one.
pub(crate) fn load_config(path: Option<&Path>) -> Result<(BundleConfig, String)> {
    let (config, origin) = match path {
        Some(path) => (config_file::load::<BundleConfig>(path)?, path.display().to_string()),
        None => (
            config_file::parse::<BundleConfig>(DEFAULT_CONFIG_TEXT, DEFAULT_CONFIG_ORIGIN)?,
            DEFAULT_CONFIG_ORIGIN.to_string(),
        ),
    };
    check_config(&config, &origin)?;
    Ok((config, origin))
}

/// Semantic checks that need no disk: each entry names exactly one of `path`/`glob`, every path
/// stays inside its root, every destination is a clean relative name, and globs compile.
pub(crate) fn check_config(config: &BundleConfig, origin: &str) -> Result<()> {
    if config.files.is_empty() && config.reports.is_empty() {
        bail!("{origin}: the list is empty; add entries under files: or reports:");
    }
    for (section, entries) in [(Section::Files, &config.files), (Section::Reports, &config.reports)] {
        for (index, entry) in entries.iter().enumerate() {
            let at = format!("{origin}: {}[{index}]", section.key());
            match (&entry.path, &entry.glob) {
                (Some(_), Some(_)) => bail!("{at}: give either path or glob, not both"),
                (None, None) => bail!("{at}: needs a path (one file) or a glob (matching files)"),
                (Some(path), None) => check_relative(path, &format!("{at}.path"))?,
                (None, Some(pattern)) => {
                    check_relative(pattern, &format!("{at}.glob"))?;
                    compile_glob(pattern).with_context(|| format!("{at}.glob"))?;
                }
            }
            if let Some(dest) = &entry.dest {
                check_dest(dest).with_context(|| format!("{at}.dest"))?;
            }
            if entry.description.as_deref().is_some_and(|text| text.trim().is_empty()) {
                bail!("{at}.description: is empty; write one or leave the field out");
            }
        }
    }
    Ok(())
}

/// A list path must be relative, without `..`, so it cannot name a file outside its root.
fn check_relative(path: &str, at: &str) -> Result<()> {
    if path.trim().is_empty() {
        bail!("{at}: is empty");
    }
    if path.starts_with('/') || path.starts_with('\\') {
        bail!("{at}: {path:?} is absolute; paths are relative to the repository (or --reports-dir)");
    }
    if path.split(['/', '\\']).any(|part| part == "..") {
        bail!("{at}: {path:?} contains \"..\" and could escape the repository; name the file inside it");
    }
    Ok(())
}

/// A name inside the zip: relative, `/`-separated, no `.`/`..`/empty parts, not one mmops writes.
pub(crate) fn check_dest(dest: &str) -> Result<()> {
    if dest.is_empty() {
        bail!("the name in the zip is empty");
    }
    if dest.starts_with('/') || dest.contains('\\') || dest.contains('\0') || dest.contains(':') {
        bail!("{dest:?} is not a relative /-separated name (no leading /, \\, : or NUL)");
    }
    if dest.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        bail!("{dest:?} has an empty, \".\" or \"..\" part");
    }
    if dest == SUMMARY_NAME || dest == MANIFEST_NAME {
        bail!("{dest:?} is written by mmops itself; choose another name");
    }
    Ok(())
}

fn compile_glob(pattern: &str) -> Result<GlobMatcher> {
    Glob::new(pattern)
        .map(|glob| glob.compile_matcher())
        .map_err(|error| anyhow::anyhow!("{pattern:?} is not a valid glob: {}", error.kind()))
}

/// Roots the list is resolved against.
#[derive(Debug, Clone)]
pub(crate) struct Roots {
    pub(crate) repository: PathBuf,
    pub(crate) reports: PathBuf,
    pub(crate) include_reports: bool,
    /// Files under this folder (the output folder) are never bundled by a glob.
    pub(crate) exclude: Option<PathBuf>,
}

/// Resolves the list on disk: every path and glob match, in list order (glob matches sorted).
/// All missing required files are reported at once; anything leaving its root is refused.
pub(crate) fn resolve(config: &BundleConfig, roots: &Roots) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    let mut missing = Vec::new();
    let mut sections = vec![(Section::Files, &config.files, roots.repository.as_path())];
    if roots.include_reports {
        sections.push((Section::Reports, &config.reports, roots.reports.as_path()));
    }
    let excluded = roots.exclude.as_ref().and_then(|dir| fs::canonicalize(dir).ok());
    for (section, entries, root) in sections {
        let canonical_root = fs::canonicalize(root).ok();
        for (index, entry) in entries.iter().enumerate() {
            let at = format!("{}[{index}]", section.key());
            let required = entry.required.unwrap_or(section.required_by_default());
            if let Some(path) = &entry.path {
                let source = join(root, path);
                match check_file(&source, canonical_root.as_deref(), &at)? {
                    Some(size) => {
                        let file_name = file_name_of(path);
                        let dest = match (&entry.dest, section) {
                            (Some(dest), _) => dest.clone(),
                            (None, Section::Files) => normalize(path),
                            (None, Section::Reports) => format!("reports/{}", normalize(path)),
                        };
                        let description = entry
                            .description
                            .clone()
                            .unwrap_or_else(|| section.default_description(&file_name));
                        inputs.push(Input { source, dest, description, size });
                    }
                    None if required => missing.push(display_path(&source)),
                    None => {}
                }
            } else if let Some(pattern) = &entry.glob {
                let matches =
                    glob_matches(root, canonical_root.as_deref(), pattern, excluded.as_deref(), &at)?;
                if matches.is_empty() && required {
                    missing.push(format!("{} (glob, no match)", display_path(&join(root, pattern))));
                }
                for (relative, size) in matches {
                    let file_name = file_name_of(&relative);
                    let dest = match (&entry.dest, section) {
                        (Some(prefix), _) => format!("{prefix}/{file_name}"),
                        (None, Section::Files) => relative.clone(),
                        (None, Section::Reports) => format!("reports/{relative}"),
                    };
                    let description =
                        entry.description.clone().unwrap_or_else(|| section.default_description(&file_name));
                    inputs.push(Input { source: join(root, &relative), dest, description, size });
                }
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "{} required file{} missing, nothing was written: {}; create {} or change the list (--config)",
            missing.len(),
            if missing.len() == 1 { " is" } else { "s are" },
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" },
        );
    }
    check_unique_dests(&inputs)?;
    Ok(inputs)
}

/// Two inputs may not share a name in the zip (a reader would see only one of them).
pub(crate) fn check_unique_dests(inputs: &[Input]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for input in inputs {
        check_dest(&input.dest)
            .with_context(|| format!("{} would be bundled under a bad name", display_path(&input.source)))?;
        if !seen.insert(input.dest.as_str()) {
            bail!(
                "two files would be bundled as {}; give one of them another dest in the list",
                display_path(Path::new(&input.dest))
            );
        }
    }
    Ok(())
}

/// `Some(size)` for a regular file inside `root` (following symlinks that stay inside), `None`
/// when missing; an error when it escapes, is a folder, or cannot be read.
fn check_file(source: &Path, canonical_root: Option<&Path>, at: &str) -> Result<Option<u64>> {
    match fs::symlink_metadata(source) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("{at}: cannot read {}", display_path(source)));
        }
        Ok(_) => {}
    }
    let canonical = match fs::canonicalize(source) {
        Ok(canonical) => canonical,
        // A dangling symlink: the file it names does not exist.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("{at}: cannot resolve {}", display_path(source)));
        }
    };
    if let Some(root) = canonical_root
        && !canonical.starts_with(root)
    {
        bail!(
            "{at}: {} resolves to {}, outside {}; bundles only take files from inside it",
            display_path(source),
            display_path(&canonical),
            display_path(root)
        );
    }
    let metadata =
        fs::metadata(&canonical).with_context(|| format!("{at}: cannot read {}", display_path(source)))?;
    if metadata.is_dir() {
        bail!("{at}: {} is a folder; list its files, or use a glob such as dir/**", display_path(source));
    }
    if !metadata.is_file() {
        bail!("{at}: {} is not a regular file", display_path(source));
    }
    Ok(Some(metadata.len()))
}

/// Files under `root` matching `pattern`, as sorted `/`-separated relative paths with sizes.
fn glob_matches(
    root: &Path,
    canonical_root: Option<&Path>,
    pattern: &str,
    excluded: Option<&Path>,
    at: &str,
) -> Result<Vec<(String, u64)>> {
    let matcher = compile_glob(pattern)?;
    // Walk only from the pattern's literal leading folders: `deploy/**/*.yml` starts at deploy/.
    let literal: Vec<&str> =
        pattern.split('/').take_while(|part| !part.contains(['*', '?', '[', '{', '\\'])).collect();
    let base = if literal.len() == pattern.split('/').count() {
        literal[..literal.len() - 1].join("/")
    } else {
        literal.join("/")
    };
    let start = if base.is_empty() { root.to_path_buf() } else { root.join(&base) };
    if !start.is_dir() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(&start).follow_links(false).sort_by_file_name() {
        let entry = entry.with_context(|| format!("{at}: cannot list {}", display_path(&start)))?;
        if entry.file_type().is_dir() {
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(root) else { continue };
        let Some(relative_text) = relative.to_str() else {
            bail!("{at}: {} is not valid UTF-8; zip names must be", display_path(entry.path()));
        };
        let relative_text = normalize(relative_text);
        if !matcher.is_match(&relative_text) || file_name_of(&relative_text).starts_with(TEMP_PREFIX) {
            continue;
        }
        if let Some(excluded) = excluded
            && fs::canonicalize(entry.path()).is_ok_and(|canonical| canonical.starts_with(excluded))
        {
            continue;
        }
        if let Some(size) = check_file(entry.path(), canonical_root, at)? {
            found.push((relative_text, size));
        }
    }
    found.sort();
    Ok(found)
}

/// `root/relative`, without a leading `./` when the root is the working directory (paths in
/// messages then read as the user wrote them).
fn join(root: &Path, relative: &str) -> PathBuf {
    if root == Path::new(".") { PathBuf::from(relative) } else { root.join(relative) }
}

/// `./a//b` → `a/b`: the form used in zip names.
fn normalize(path: &str) -> String {
    Path::new(path)
        .components()
        .filter_map(|component| match component {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn file_name_of(path: &str) -> String {
    path.rsplit('/').find(|part| !part.is_empty()).unwrap_or(path).to_string()
}

/// The release version: `--version`, else the trimmed VERSION file. Must be SemVer.
pub(crate) fn resolve_version(flag: Option<&str>, version_file: &Path) -> Result<String> {
    let (text, origin) = match flag {
        Some(text) => (text.to_string(), "--version".to_string()),
        None => {
            let text = fs::read_to_string(version_file).with_context(|| {
                format!(
                    "cannot read {} (the release version); create it or pass --version",
                    version_file.display()
                )
            })?;
            (text.trim().to_string(), version_file.display().to_string())
        }
    };
    check_version(&text).with_context(|| format!("bad release version from {origin}"))?;
    Ok(text)
}

/// SemVer (`0.1.0`, `1.4.0-rc.1`, `1.0.0+build.7`), which also keeps `/`, `..` and spaces out of
/// the file name.
pub(crate) fn check_version(text: &str) -> Result<()> {
    if let Some(rest) = text.strip_prefix(['v', 'V'])
        && semver::Version::parse(rest).is_ok()
    {
        bail!("{text:?} is not SemVer: drop the leading v (the bundle name adds it)");
    }
    semver::Version::parse(text)
        .map(|_| ())
        .map_err(|error| anyhow::anyhow!("{text:?} is not SemVer like 0.1.0 or 1.4.0-rc.1: {error}"))
}

/// `--name` becomes part of a file name: letters, digits, `.`, `_`, `-`; not starting with `.`.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        bail!("--name {name:?}: use letters, digits, '.', '_' and '-' only, not starting with '.' or '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BundleConfig> {
        let config: BundleConfig = config_file::parse(text, "b.yaml")?;
        check_config(&config, "b.yaml")?;
        Ok(config)
    }

    #[test]
    fn built_in_list_is_the_shipped_file() {
        let (config, _) = load_config(None).unwrap();
        let paths: Vec<_> = config.files.iter().filter_map(|entry| entry.path.clone()).collect();
        assert_eq!(
            paths,
            [
                "VERSION",
                "README.md",
                "CHANGELOG.md",
                "deploy/prometheus/alerts_soak.yml",
                "deploy/policies/rollback.yaml",
                "deploy/grafana/dashboards/mm_operability.json"
            ]
        );
        let reports: Vec<_> = config.reports.iter().filter_map(|entry| entry.path.clone()).collect();
        assert_eq!(reports, ["SOAK_RESULTS.md", "soak_metrics.json", "readiness.json"]);
        assert_eq!(config.files[3].description.as_deref(), Some("Deploy config: alerts_soak.yml"));
    }

    #[test]
    fn config_errors_name_the_entry() {
        let error = |text: &str| format!("{:#}", parse(text).unwrap_err());
        assert_eq!(
            error("files:\n  - path: a\n    glob: b\n"),
            "b.yaml: files[0]: give either path or glob, not both"
        );
        assert!(
            error("files:\n  - path: /etc/passwd\n")
                .starts_with("b.yaml: files[0].path: \"/etc/passwd\" is absolute")
        );
        assert!(
            error("reports:\n  - path: ../x\n")
                .starts_with("b.yaml: reports[0].path: \"../x\" contains \"..\"")
        );
        assert!(error("files:\n  - glob: 'a/[b'\n").starts_with("b.yaml: files[0].glob: "));
        assert!(error("files:\n  - path: a\n    dest: MANIFEST.json\n").contains("written by mmops itself"));
        assert!(error("files:\n  - path: a\n    dest: x/../y\n").contains("\"..\" part"));
        assert!(error("files:\n  - path: a\n    requird: true\n").starts_with("b.yaml:3:5: unknown field"));
        assert!(error("files: []\n").contains("the list is empty"));
    }

    #[test]
    fn versions_must_be_semver() {
        for good in ["0.1.0", "1.4.0-rc.1", "2.0.0+build.7"] {
            check_version(good).unwrap();
        }
        for bad in ["", " ", "1.0", "1.0.0 ", "../1.0.0", "1.0.0/x", "latest"] {
            assert!(check_version(bad).is_err(), "{bad:?}");
        }
        assert!(check_version("v1.2.3").unwrap_err().to_string().contains("drop the leading v"));
    }

    #[test]
    fn names_are_safe_file_name_parts() {
        check_name("mm-bot").unwrap();
        check_name("mm_bot.eu").unwrap();
        for bad in ["", "../x", "a/b", ".hidden", "-x", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("./a//b/"), "a/b");
        assert_eq!(file_name_of("a/b/c.json"), "c.json");
    }
}
