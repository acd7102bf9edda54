//! Writing files so that readers only ever see the old content or the new, never a mix.
//!
//! The new content goes to a temporary file in the same folder, is fsynced, renamed over the
//! final name, and the folder is fsynced so the rename itself survives a crash. Temporary files
//! are named `.mmops-tmp-<pid>-*`: a run killed with SIGKILL cannot clean up after itself, so
//! the next write into the same folder removes temporary files whose process is gone. That is
//! the one temp-file policy of every tool ([`clean_stale_temp_files`]); nothing else deletes them.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use tempfile::NamedTempFile;

/// Prefix of every temporary file mmops creates next to a final file.
pub const TEMP_PREFIX: &str = ".mmops-tmp-";

/// Whether a file name is one of mmops' temporary files (callers that scan folders skip them).
pub fn is_temp_name(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().starts_with(TEMP_PREFIX.as_bytes())
}

/// THE temp-file policy, shared by every tool: a temporary file is removed only when the process
/// named in it is gone (a run killed mid-write). Files of live processes, including concurrent
/// runs, are never touched; neither is anything that is not a regular file (checked without
/// following links) or not named `.mmops-tmp-<pid>-<random>`. Returns the removed paths, sorted.
pub fn clean_stale_temp_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = owner_pid(&name) else { continue };
        // DirEntry::file_type does not follow symlinks.
        let is_file = entry.file_type().map(|kind| kind.is_file()).unwrap_or(false);
        if is_file && !process_exists(pid) && fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed.sort();
    removed
}

/// Temporary files in `dir` whose writer is still running (another mmops run), sorted: left
/// alone, but worth a word when a tool expected the folder to itself.
pub fn live_temp_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut live: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| owner_pid(&entry.file_name()).is_some_and(process_exists))
        .map(|entry| entry.path())
        .collect();
    live.sort();
    live
}

/// The one wording for a note about a leftover temporary file, used by every tool: `removed` is
/// whether [`clean_stale_temp_files`] removed it (its writer was gone) or it was left alone (its
/// writer is still running).
pub fn temp_file_note(path: &Path, removed: bool) -> String {
    let shown = crate::sanitize::display_path(path);
    let pid = path.file_name().and_then(owner_pid).map_or_else(|| "?".to_string(), |pid| pid.to_string());
    if removed {
        format!(
            "removed {shown}, a temporary file of mmops process {pid}, which was killed before it finished"
        )
    } else {
        format!("left {shown} alone: a temporary file of mmops process {pid}, which is still running")
    }
}

/// The pid in `.mmops-tmp-<pid>-<random>`, if the name has that shape.
fn owner_pid(name: &std::ffi::OsStr) -> Option<i32> {
    let rest = name.to_str()?.strip_prefix(TEMP_PREFIX)?;
    let (pid, random) = rest.split_once('-')?;
    if random.is_empty() {
        return None;
    }
    pid.parse().ok().filter(|pid| *pid > 0)
}

fn process_exists(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(pid) => !matches!(rustix::process::test_kill_process(pid), Err(rustix::io::Errno::SRCH)),
        None => false,
    }
}

fn temp_prefix() -> String {
    format!("{TEMP_PREFIX}{}-", std::process::id())
}

/// Whether two output paths name the same file: folders that exist are compared resolved
/// (symlinks too, the file name kept), and any two paths are also compared by name with `.` and
/// `dir/..` folded, so `out/a.json` and `out/../out/./a.json` match before `out/` exists.
pub fn same_destination(a: &Path, b: &Path) -> bool {
    let resolve = |path: &Path| {
        let parent = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
        parent.canonicalize().ok().map(|parent| parent.join(path.file_name().unwrap_or_default()))
    };
    let lexical = |path: &Path| {
        let mut out = PathBuf::new();
        for component in path.components() {
            match component {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir if out.file_name().is_some() => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    };
    lexical(a) == lexical(b) || matches!((resolve(a), resolve(b)), (Some(a), Some(b)) if a == b)
}

/// One output of a run: what names it (a flag) and its path.
pub type Output<'a> = (&'a str, &'a Path);

/// The first pair of a run's outputs (`(what, path)`, in the order given) that name the same
/// file, as `(later, earlier)`: the later would silently replace the earlier. Every tool checks
/// its outputs with this before anything runs.
pub fn shared_output<'a>(outputs: &[Output<'a>]) -> Option<(Output<'a>, Output<'a>)> {
    outputs.iter().enumerate().find_map(|(index, later)| {
        outputs[..index]
            .iter()
            .find(|earlier| same_destination(later.1, earlier.1))
            .map(|earlier| (*later, *earlier))
    })
}

/// [`shared_output`] as an error (exit 2, nothing changed): `--junit out/a.json is also the
/// --out-json file; give each output its own path`.
pub fn refuse_shared_outputs(outputs: &[(&str, &Path)]) -> Result<()> {
    match shared_output(outputs) {
        Some(((later, path), (earlier, _))) => anyhow::bail!(
            "{later} {} is also the {earlier} file; give each output its own path",
            crate::sanitize::display_path(path)
        ),
        None => Ok(()),
    }
}

/// Writes `contents` to `path` atomically. Parent folders are created when missing.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(contents).with_context(|| format!("cannot write {}", path.display()))?;
    file.commit()
}

/// A file being written under a temporary name; [`AtomicFile::commit`] puts it in place.
/// Dropped without commit, the temporary file is removed and the final name is untouched.
pub struct AtomicFile {
    // Dropped in this order: the temporary file first, then the folders it made, now empty.
    temp: NamedTempFile,
    path: PathBuf,
    folders: MadeFolders,
}

/// Folders [`AtomicFile::create`] made that hold no committed file yet, shared by every
/// output of the run (`--out-json x/r.json` and its `x/r.md` twin make `x` once).
static MADE_FOLDERS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Removes, when an [`AtomicFile`] is dropped without being committed, the folders the run made
/// that are empty again: a run refused with exit 2 (a later output's path is bad, the input is
/// malformed) or interrupted leaves no empty `out/` behind. A folder holding anything — another
/// output's temporary or final file, someone else's file — is kept.
struct MadeFolders {
    armed: bool,
}

impl MadeFolders {
    /// Remembers the folders of `dir` that do not exist yet; call before creating them.
    fn about_to_create(dir: &Path) -> Vec<PathBuf> {
        dir.ancestors()
            .take_while(|part| !part.as_os_str().is_empty() && fs::symlink_metadata(part).is_err())
            .map(Path::to_path_buf)
            .collect()
    }

    /// A file was committed at `path`: its folders are kept for good.
    fn keep(&mut self, path: &Path) {
        self.armed = false;
        let mut folders = MADE_FOLDERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        folders.retain(|folder| !path.starts_with(folder));
    }
}

impl Drop for MadeFolders {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut folders = MADE_FOLDERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Deepest first, so `a/b` goes before `a`; `remove_dir` only removes an empty folder.
        folders.sort_by_key(|folder| std::cmp::Reverse(folder.components().count()));
        folders.retain(|folder| fs::remove_dir(folder).is_err() && fs::symlink_metadata(folder).is_ok());
    }
}

impl AtomicFile {
    /// Creates the temporary file next to `path` (making missing folders). Call it for every
    /// output before a run's first irreversible step: a folder that cannot take the file, or a
    /// final name that is not a regular file, fails here, while nothing has changed yet.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        check_final_name(path)?;
        let dir = parent_dir(path);
        // A failure from here drops `folders`, which removes what was made — after `registry`
        // (declared later, dropped first) is unlocked.
        let folders = MadeFolders { armed: true };
        // Held until the temporary file exists, so another output's cleanup cannot remove the
        // new, still empty folder in between.
        let mut registry = MADE_FOLDERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let made = MadeFolders::about_to_create(dir);
        let created = fs::create_dir_all(dir);
        registry.extend(made);
        if let Err(error) = created {
            // "File exists" would not say which part is wrong: name the file in the way.
            if let Some(blocking) = dir.ancestors().find(|part| {
                !part.as_os_str().is_empty() && part.symlink_metadata().is_ok_and(|meta| !meta.is_dir())
            }) && !blocking.is_dir()
            {
                anyhow::bail!(
                    "cannot create directory {}: {} is not a folder",
                    crate::sanitize::display_path(dir),
                    crate::sanitize::display_path(blocking)
                );
            }
            return Err(error).with_context(|| format!("cannot create directory {}", dir.display()));
        }
        clean_stale_temp_files(dir);
        let temp = tempfile::Builder::new()
            .prefix(&temp_prefix())
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        drop(registry);
        Ok(AtomicFile { temp, path: path.to_path_buf(), folders })
    }

    /// The final path this file will get.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open temporary file, for callers that need `Seek` (zip writers).
    pub fn file_mut(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Flushes to disk, renames over the final name, and fsyncs the folder. The final file keeps
    /// the mode of the file it replaces, or gets 0644 (tempfile creates 0600, which would hide a
    /// report from other users and from node_exporter).
    pub fn commit(self) -> Result<()> {
        self.finish(true, None)
    }

    /// Like [`AtomicFile::commit`], but only when nothing exists at the final name yet: a file
    /// that appeared there meanwhile (another run) is kept, and the error's root cause is an
    /// `io::Error` of kind `AlreadyExists`. For outputs that must never be replaced silently.
    pub fn commit_new(self) -> Result<()> {
        self.finish(false, None)
    }

    /// Like [`AtomicFile::commit_new`], for a secret (a signing key): the file keeps mode 0600
    /// from its creation as a temporary file to its final name, never readable by others.
    pub fn commit_new_private(self) -> Result<()> {
        self.finish(false, Some(0o600))
    }

    fn finish(self, replace: bool, fixed_mode: Option<u32>) -> Result<()> {
        let AtomicFile { temp, path, mut folders } = self;
        let existing_mode = if replace { fs::metadata(&path).ok() } else { None };
        let mode = fixed_mode.unwrap_or_else(|| {
            existing_mode.map_or(0o644, |metadata| metadata.permissions().mode() & 0o7777)
        });
        let file = temp.as_file();
        let prepared = file
            .set_permissions(fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set permissions on the temporary file for {}", path.display()))
            .and_then(|()| {
                file.sync_all().with_context(|| format!("cannot flush {} to disk", path.display()))
            });
        if let Err(error) = prepared {
            // The temporary file goes before the folders it is in.
            drop(temp);
            drop(folders);
            return Err(error);
        }
        let persisted = if replace { temp.persist(&path) } else { temp.persist_noclobber(&path) };
        persisted
            .map_err(|error| error.error)
            .with_context(|| format!("cannot move the new file into place at {}", path.display()))?;
        folders.keep(&path);
        sync_dir(parent_dir(&path)).with_context(|| format!("cannot flush the folder of {}", path.display()))
    }
}

// Through the plain `File`: `NamedTempFile`'s own `Write` appends `at path "/abs/.mmops-tmp-…"`
// to every error, a temporary name the user never chose; callers name the final path instead.
impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.as_file_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.as_file_mut().flush()
    }
}

/// A final name may be absent or a regular file; anything else (a FIFO would hang a reader, a
/// symlink would be replaced rather than written through, a folder cannot be replaced) is refused
/// with what it is.
fn check_final_name(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_file() => Ok(()),
        Ok(metadata) => {
            let kind = crate::limits::describe_kind(&metadata.file_type());
            let dangling = metadata.file_type().is_symlink() && fs::metadata(path).is_err();
            anyhow::bail!(
                "{} is {kind}{}, not a regular file; remove it or choose another path",
                crate::sanitize::display_path(path),
                if dangling { " pointing nowhere" } else { "" }
            )
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        // A parent that is a file (ENOTDIR) or unreadable: create_dir_all or the temp file says so.
        Err(_) => Ok(()),
    }
}

/// Fsyncs a folder so renames and deletions in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run refused after preparing its outputs (exit 2) used to leave the folders
    /// `AtomicFile::create` made; they go with the last uncommitted file in them.
    #[test]
    fn folders_made_for_uncommitted_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let first = AtomicFile::create(&dir.path().join("new/deeper/a.csv")).unwrap();
        let second = AtomicFile::create(&dir.path().join("new/deeper/b.svg")).unwrap();
        drop(first);
        assert!(dir.path().join("new/deeper").is_dir(), "the second file is still in it");
        drop(second);
        assert!(!dir.path().join("new").exists(), "both uncommitted: the folders go");

        // A committed file keeps its folders; the uncommitted one's temp file goes alone.
        let kept = AtomicFile::create(&dir.path().join("out/r.json")).unwrap();
        let dropped = AtomicFile::create(&dir.path().join("out/sub/r.md")).unwrap();
        kept.commit().unwrap();
        drop(dropped);
        let names: Vec<_> =
            fs::read_dir(dir.path().join("out")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("r.json")]);

        // A folder that existed before is never removed, even when left empty.
        fs::create_dir(dir.path().join("mine")).unwrap();
        drop(AtomicFile::create(&dir.path().join("mine/x")).unwrap());
        assert!(dir.path().join("mine").is_dir());
    }

    #[test]
    fn writes_and_replaces_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/out.json");
        write_atomically(&target, b"one").unwrap();
        write_atomically(&target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        let names: Vec<_> =
            fs::read_dir(target.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.json")]);
        assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o644);
    }

    #[test]
    fn keeps_existing_mode() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        fs::write(&target, b"old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&target, b"new").unwrap();
        assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn orphans_of_dead_processes_are_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let live = format!("{TEMP_PREFIX}{}-abc", child.id());
        // A pid above the kernel's pid_max cannot be alive.
        let dead = format!("{TEMP_PREFIX}{}-def", 9_999_999);
        for name in [&live, &dead, &".mmops-tmp-notapid".to_string(), &"user-file".to_string()] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        write_atomically(&dir.path().join("out"), b"new").unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut expected =
            vec![live, ".mmops-tmp-notapid".to_string(), "out".to_string(), "user-file".to_string()];
        expected.sort();
        assert_eq!(names, expected);
    }

    #[test]
    fn non_regular_final_names_are_refused_before_any_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("out.zip");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        let error = AtomicFile::create(&fifo).err().unwrap().to_string();
        assert!(
            error.ends_with("out.zip is a FIFO, not a regular file; remove it or choose another path"),
            "{error}"
        );
        let dangling = dir.path().join("link.zip");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        let error = AtomicFile::create(&dangling).err().unwrap().to_string();
        assert!(error.ends_with("link.zip is a symbolic link pointing nowhere, not a regular file; remove it or choose another path"), "{error}");
        let folder = dir.path().join("sub");
        fs::create_dir(&folder).unwrap();
        assert!(AtomicFile::create(&folder).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3, "no temp file was made");
    }

    #[test]
    fn notes_use_one_wording() {
        let path = Path::new("out/.mmops-tmp-42-abc");
        assert_eq!(
            temp_file_note(path, true),
            "removed out/.mmops-tmp-42-abc, a temporary file of mmops process 42, which was killed before it finished"
        );
        assert_eq!(
            temp_file_note(path, false),
            "left out/.mmops-tmp-42-abc alone: a temporary file of mmops process 42, which is still running"
        );
    }

    #[test]
    fn outputs_naming_one_file_are_found_by_any_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let spelled = dir.path().join("sub/../a.json");
        let (json, junit, other) = (a.as_path(), spelled.as_path(), Path::new("b.xml"));
        assert!(same_destination(Path::new("out/a"), Path::new("./out/x/../a")), "folder not made yet");
        assert_eq!(shared_output(&[("--out-json", json), ("--other", other)]), None);
        assert_eq!(
            shared_output(&[("--out-json", json), ("--other", other), ("--junit", junit)]),
            Some((("--junit", junit), ("--out-json", json)))
        );
        let error = refuse_shared_outputs(&[("--out-json", json), ("--junit", junit)]).unwrap_err();
        assert!(error.to_string().ends_with("is also the --out-json file; give each output its own path"));
    }

    #[test]
    fn commit_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("release.zip");
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"first").unwrap();
        file.commit_new().unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"second").unwrap();
        let error = file.commit_new().unwrap_err();
        let io = error.root_cause().downcast_ref::<io::Error>().unwrap();
        assert_eq!(io.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&target).unwrap(), b"first");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn dropped_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"partial").unwrap();
        drop(file);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
