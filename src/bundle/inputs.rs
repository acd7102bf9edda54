//! What goes into a bundle: the version, the file list (built-in or `--config`), and its
//! resolution against the repository and the reports folder into checked, sized inputs.
//!
//! Checking is split in two: [`check_config`] is pure (shapes, relative paths, destinations) and
//! [`resolve`] touches the disk (existence, globs, symlinks that lead outside the repository).
//! Every problem is an error before anything is written.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use globset::{Glob, GlobMatcher};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::process::{Resource, Rlimit};
use serde::{Deserialize, Serialize};

use crate::atomic_write::TEMP_PREFIX;
use crate::config_file;
use crate::limits;
use crate::sanitize::{display_path, display_text, excerpt};

/// The built-in file list: the same text as `deploy/release/bundle.yaml`.
pub(crate) const DEFAULT_CONFIG_TEXT: &str = include_str!("../../deploy/release/bundle.yaml");
pub(crate) const DEFAULT_CONFIG_ORIGIN: &str = "built-in file list (deploy/release/bundle.yaml)";

/// Entries mmops adds itself; a list may not name them.
pub(crate) const SUMMARY_NAME: &str = "RELEASE_SUMMARY.md";
pub(crate) const MANIFEST_NAME: &str = "MANIFEST.json";

/// The file list, as written in YAML or JSON.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BundleConfig {
    #[serde(default)]
    pub(crate) files: Vec<EntrySpec>,
    #[serde(default)]
    pub(crate) reports: Vec<EntrySpec>,
}

/// One list entry: a file (`path`) or every file matching `glob`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntrySpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) glob: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
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

/// A file that will go into the bundle, opened once when the list was resolved: every check and
/// read goes through `file`, never through the path again.
#[derive(Debug, Clone)]
pub(crate) struct Input {
    /// Where it is read from (relative to the working directory unless `--reports-dir` is
    /// absolute); for messages only.
    pub(crate) source: PathBuf,
    /// Its name in the zip, `/`-separated.
    pub(crate) dest: String,
    pub(crate) description: String,
    /// Size when the list was resolved; reading a different amount later is an error.
    pub(crate) size: u64,
    pub(crate) file: Arc<File>,
    /// The handle's identity when it was opened; any change by the end of reading is an error.
    pub(crate) identity: Identity,
}

impl Input {
    pub(crate) fn new(
        source: PathBuf,
        dest: String,
        description: String,
        file: File,
        identity: Identity,
    ) -> Input {
        Input { source, dest, description, size: identity.size, file: Arc::new(file), identity }
    }
}

/// Every input stays open from resolution to the end of the run; a glob matching thousands of
/// files must not run out of descriptors at the default soft limit of 1024.
fn raise_open_file_limit() {
    // `None` is "unlimited"; only a finite soft limit below the hard one is raised.
    let limit = rustix::process::getrlimit(Resource::Nofile);
    if let Some(current) = limit.current
        && limit.maximum.is_none_or(|maximum| current < maximum)
    {
        let raised = Rlimit { current: limit.maximum.or(Some(1 << 20)), maximum: limit.maximum };
        let _ = rustix::process::setrlimit(Resource::Nofile, raised);
    }
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
    if dest.chars().any(char::is_control) {
        bail!(
            "\"{}\" has a control character (newline, tab, ESC, ...); such names break listings \
             and scripts: rename the file or give it a dest in the list",
            display_text(dest, false)
        );
    }
    if dest.is_empty() {
        bail!("the name in the zip is empty");
    }
    if dest.starts_with('/') || dest.contains('\\') || dest.contains('\0') || dest.contains(':') {
        bail!("{dest:?} is not a relative /-separated name (no leading /, \\, : or NUL)");
    }
    if dest.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        bail!("{dest:?} has an empty, \".\" or \"..\" part");
    }
    // In any case: `manifest.json` would overwrite `MANIFEST.json` on a case-insensitive disk.
    if dest.eq_ignore_ascii_case(SUMMARY_NAME) || dest.eq_ignore_ascii_case(MANIFEST_NAME) {
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
    raise_open_file_limit();
    for (section, entries, root) in sections {
        let root_handle = open_root(root)?;
        for (index, entry) in entries.iter().enumerate() {
            let at = format!("{}[{index}]", section.key());
            let required = entry.required.unwrap_or(section.required_by_default());
            if let Some(path) = &entry.path {
                let source = join(root, path);
                let found = match &root_handle {
                    Some(handle) => check_file(handle, Path::new(path), &source, &at)?,
                    None => None,
                };
                match found {
                    Some((file, identity)) => {
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
                        inputs.push(Input::new(source, dest, description, file, identity));
                    }
                    None if required => missing.push(display_path(&source)),
                    None => {}
                }
            } else if let Some(pattern) = &entry.glob {
                let matches = match &root_handle {
                    Some(handle) => glob_matches(root, handle, pattern, excluded.as_deref(), &at)?,
                    None => Vec::new(),
                };
                if matches.is_empty() && required {
                    missing.push(format!("{} (glob, no match)", display_path(&join(root, pattern))));
                }
                for (relative, file, identity) in matches {
                    let file_name = file_name_of(&relative);
                    let dest = match (&entry.dest, section) {
                        (Some(prefix), _) => format!("{prefix}/{file_name}"),
                        (None, Section::Files) => relative.clone(),
                        (None, Section::Reports) => format!("reports/{relative}"),
                    };
                    let description =
                        entry.description.clone().unwrap_or_else(|| section.default_description(&file_name));
                    inputs.push(Input::new(join(root, &relative), dest, description, file, identity));
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
    // Distinct names an extractor still writes to one file (`A.json` and `a.json` on macOS or
    // Windows), or a file where another needs a folder: `bundle verify` fails such a zip.
    let dests: Vec<&str> = seen.into_iter().collect();
    if let Some(clash) =
        super::zip_layout::extraction_clashes(&dests, |dest| display_path(Path::new(dest))).first()
    {
        bail!(
            "two files would clash when the release is extracted: {clash}; give one of them another dest in the list"
        );
    }
    Ok(())
}

/// Opens `relative` beneath `root` without following any symlink and without crossing a mount,
/// and checks through that handle that it is a regular file. `None` when it does not exist.
/// The handle is kept: the file is read through it later, so a path swapped for a symlink
/// after this check cannot change what is bundled.
fn check_file(root: &File, relative: &Path, source: &Path, at: &str) -> Result<Option<(File, Identity)>> {
    let shown = display_path(source);
    let file = match open_beneath(root, relative) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) if error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => bail!(
            "{at}: {shown} is a symbolic link, or a folder on its way is; bundles take only regular \
             files and never follow links: list the file the link points to"
        ),
        Err(error) if error.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => bail!(
            "{at}: {shown} is on another mount than its root folder, or leaves it; bundles take only \
             files inside it"
        ),
        Err(error) if error.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error()) => bail!(
            "{at}: cannot open {shown}: too many files open at once (every input stays open until \
             it is bundled); raise the limit with `ulimit -n` or list fewer files"
        ),
        // open(2) of a Unix socket is ENXIO, "No such device or address": say what is there.
        Err(error) if error.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) => bail!(
            "{at}: {shown} is not a regular file (a FIFO, device or socket); bundles take only regular files"
        ),
        Err(error) => return Err(error).with_context(|| format!("{at}: cannot open {shown}")),
    };
    let metadata = file.metadata().with_context(|| format!("{at}: cannot read {shown}"))?;
    if metadata.is_dir() {
        bail!("{at}: {shown} is a folder; list its files, or use a glob such as dir/**");
    }
    if !metadata.is_file() {
        bail!(
            "{at}: {shown} is not a regular file (a FIFO, device or socket); bundles take only regular files"
        );
    }
    Ok(Some((file, Identity::of_metadata(&metadata))))
}

/// What identifies a file's content without reading it: a rewrite in place changes the times,
/// a replacement changes the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    device: u64,
    inode: u64,
    pub(crate) size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Identity {
    pub(crate) fn of_metadata(metadata: &fs::Metadata) -> Identity {
        Identity {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }

    /// Whether the file's status changed less than `window` before `now` (or after it): a write
    /// that began before the handle was first examined may then still be copying its bytes.
    pub(crate) fn changed_recently(&self, now: std::time::SystemTime, window: std::time::Duration) -> bool {
        let changed = std::time::UNIX_EPOCH
            + std::time::Duration::new(
                self.changed.0.max(0) as u64,
                self.changed.1.clamp(0, 999_999_999) as u32,
            );
        now.duration_since(changed).is_ok_and(|age| age < window) || changed > now
    }

    /// The identity of an open file now (fstat on the handle).
    pub(crate) fn of(file: &File) -> io::Result<Identity> {
        file.metadata().map(|metadata| Identity::of_metadata(&metadata))
    }

    /// What differs between two looks at the same handle, for the error message.
    pub(crate) fn difference(&self, now: &Identity) -> Option<String> {
        let mut what = Vec::new();
        if self.size != now.size {
            what.push(format!("size {} → {} bytes", self.size, now.size));
        }
        if self.modified != now.modified {
            what.push("modification time".to_string());
        }
        if self.changed != now.changed {
            what.push("status-change time".to_string());
        }
        if (self.device, self.inode) != (now.device, now.inode) {
            what.push("inode".to_string());
        }
        (!what.is_empty()).then(|| what.join(", "))
    }
}

/// Opens a folder the list is resolved against (following links in the path the user gave).
/// `None` when it does not exist.
fn open_root(root: &Path) -> Result<Option<File>> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::DIRECTORY;
    match rustix::fs::open(root, flags, Mode::empty()) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(errno) => Err(io::Error::from(errno))
            .with_context(|| format!("cannot open the folder {}", display_path(root))),
    }
}

/// Flags for opening an input: read-only, no controlling terminal, and non-blocking so a FIFO
/// put where a file was expected is refused instead of hanging the run.
fn input_flags() -> OFlags {
    OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY
}

/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)`: the kernel refuses any
/// symlink, `..` escape or mount crossing on the way, atomically. Kernels without openat2 (or
/// sandboxes that hide it) get the same walk component by component.
pub(crate) fn open_beneath(root: &File, relative: &Path) -> io::Result<File> {
    let resolve = ResolveFlags::BENEATH
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV;
    for _ in 0..8 {
        match rustix::fs::openat2(root, relative, input_flags(), Mode::empty(), resolve) {
            Ok(fd) => return Ok(File::from(fd)),
            // A rename elsewhere in the tree raced the lookup; the kernel asks to retry.
            Err(rustix::io::Errno::AGAIN) => continue,
            Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {
                return open_component_by_component(root, relative);
            }
            Err(errno) => return Err(errno.into()),
        }
    }
    open_component_by_component(root, relative)
}

/// The fallback for [`open_beneath`]: each folder opened with `O_NOFOLLOW | O_DIRECTORY`
/// relative to the one before, the file with `O_NOFOLLOW`; a mount crossing is seen by the
/// device number changing.
pub(crate) fn open_component_by_component(root: &File, relative: &Path) -> io::Result<File> {
    let parts: Vec<&std::ffi::OsStr> = relative
        .components()
        .filter_map(|component| match component {
            Component::Normal(part) => Some(Ok(part)),
            Component::CurDir => None,
            _ => Some(Err(io::Error::from(rustix::io::Errno::XDEV))),
        })
        .collect::<io::Result<_>>()?;
    let Some((last, folders)) = parts.split_last() else {
        return Err(io::Error::from(rustix::io::Errno::ISDIR));
    };
    let device = root.metadata()?.dev();
    let mut current: Option<File> = None;
    for folder in folders {
        let base: &File = current.as_ref().unwrap_or(root);
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::DIRECTORY;
        let next = match rustix::fs::openat(base, *folder, flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            // O_NOFOLLOW | O_DIRECTORY on a symlink fails with ENOTDIR: say which it was.
            Err(rustix::io::Errno::NOTDIR)
                if rustix::fs::statat(base, *folder, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Symlink) =>
            {
                return Err(rustix::io::Errno::LOOP.into());
            }
            Err(errno) => return Err(errno.into()),
        };
        if next.metadata()?.dev() != device {
            return Err(rustix::io::Errno::XDEV.into());
        }
        current = Some(next);
    }
    let base: &File = current.as_ref().unwrap_or(root);
    let file = File::from(rustix::fs::openat(base, *last, input_flags(), Mode::empty())?);
    if file.metadata()?.dev() != device {
        return Err(rustix::io::Errno::XDEV.into());
    }
    Ok(file)
}

/// Files under `root` matching `pattern`, as sorted `/`-separated relative paths with their
/// open handles.
fn glob_matches(
    root: &Path,
    root_handle: &File,
    pattern: &str,
    excluded: Option<&Path>,
    at: &str,
) -> Result<Vec<(String, File, Identity)>> {
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
        if let Some((file, identity)) = check_file(root_handle, relative, entry.path(), at)? {
            found.push((relative_text, file, identity));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
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
            if crate::config_file::is_absent(version_file) {
                return Err(crate::config_file::missing_default(
                    "version file",
                    version_file,
                    Some("--version X.Y.Z"),
                ));
            }
            (limits::read_version_file(version_file)?, version_file.display().to_string())
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
        bail!("\"{}\" is not SemVer: drop the leading v (the bundle name adds it)", excerpt(text, 40));
    }
    semver::Version::parse(text).map(|_| ()).map_err(|error| {
        anyhow::anyhow!("\"{}\" is not SemVer like 0.1.0 or 1.4.0-rc.1: {error}", excerpt(text, 40))
    })
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

    /// Both ways of opening refuse a symlink anywhere on the path (last part or a folder on the
    /// way, inside or outside the root) and open a plain file.
    #[test]
    fn opening_beneath_the_root_never_follows_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/b/file"), "x").unwrap();
        fs::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("b", dir.path().join("a/link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink("a/b/file", dir.path().join("inside-link")).unwrap();
        let root = open_root(dir.path()).unwrap().unwrap();
        let loop_errno = Some(rustix::io::Errno::LOOP.raw_os_error());
        for open in [open_beneath, open_component_by_component] {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut open(&root, Path::new("a/b/file")).unwrap(), &mut text)
                .unwrap();
            assert_eq!(text, "x");
            for linked in ["a/link/file", "out/secret", "inside-link"] {
                let error = open(&root, Path::new(linked)).unwrap_err();
                assert_eq!(error.raw_os_error(), loop_errno, "{linked}: {error}");
            }
            assert_eq!(open(&root, Path::new("a/missing")).unwrap_err().kind(), io::ErrorKind::NotFound);
        }
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("./a//b/"), "a/b");
        assert_eq!(file_name_of("a/b/c.json"), "c.json");
    }
}
