//! Parallel `statx` for the scan. Looking names up and statting them is most of a scan's time
//! (the kernel's dentry lookup and the inode's attributes), and it is independent per name: a
//! large batch of one folder's names is split between the scanning thread and helper threads,
//! and the answers come back in the batch's order, so the walk (and everything after it) sees
//! exactly what a single thread would have seen.

use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::mpsc;

use rustix::fs::{AtFlags, Statx, StatxFlags, statx};
use rustix::io::Errno;

/// One answer: the facts and the mount id (a bind-mounted file is a mount), or why not.
pub(crate) type StatAnswer = Result<Statx, Errno>;

/// Below this many names a batch is statted by the scanning thread alone: handing work over
/// costs a duplicated folder handle and two channel messages.
const PARALLEL_MIN: usize = 256;

/// Stats `name` relative to the folder `dir`, never following a symlink.
pub(crate) fn stat_one(dir: BorrowedFd<'_>, name: &CStr) -> StatAnswer {
    statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::BASIC_STATS | StatxFlags::MNT_ID)
}

/// Names of one folder, back to back, each ending in NUL (one allocation for a whole batch).
#[derive(Default)]
pub(crate) struct NameBatch {
    bytes: Vec<u8>,
    starts: Vec<usize>,
}

impl NameBatch {
    /// Adds a name (a directory entry's name: no NUL inside).
    pub fn push(&mut self, name: &CStr) {
        self.starts.push(self.bytes.len());
        self.bytes.extend_from_slice(name.to_bytes_with_nul());
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
    }

    /// The names from `range.start` up to `range.end`, as the bytes that hold them.
    fn span(&self, range: std::ops::Range<usize>) -> &[u8] {
        let end = self.starts.get(range.end).copied().unwrap_or(self.bytes.len());
        self.starts.get(range.start).map_or(&[], |&start| &self.bytes[start..end])
    }

    pub fn iter(&self) -> impl Iterator<Item = &CStr> {
        names_in(&self.bytes)
    }
}

/// The NUL-terminated names in `bytes`, in order.
fn names_in(bytes: &[u8]) -> impl Iterator<Item = &CStr> {
    bytes.split_inclusive(|&byte| byte == 0).filter_map(|name| CStr::from_bytes_with_nul(name).ok())
}

struct Job {
    chunk: usize,
    /// The folder's handle, duplicated, so the job owns what it uses.
    dir: OwnedFd,
    /// NUL-terminated names, back to back.
    names: Vec<u8>,
}

/// Helper threads that stat chunks of a batch; built by [`with_pool`].
pub(crate) struct StatPool {
    jobs: Vec<mpsc::Sender<Job>>,
    answers: mpsc::Receiver<(usize, Vec<StatAnswer>)>,
}

/// Runs `body` with a pool of `helpers` threads (none when `helpers` is 0); they stop when
/// `body` returns.
pub(crate) fn with_pool<T>(helpers: usize, body: impl FnOnce(Option<&StatPool>) -> T) -> T {
    if helpers == 0 {
        return body(None);
    }
    std::thread::scope(|scope| {
        let (answer_sender, answers) = mpsc::channel();
        let mut jobs = Vec::with_capacity(helpers);
        for _ in 0..helpers {
            let (job_sender, job_receiver) = mpsc::channel::<Job>();
            let answer_sender = answer_sender.clone();
            scope.spawn(move || {
                for job in job_receiver {
                    let dir = std::os::fd::AsFd::as_fd(&job.dir);
                    let found = names_in(&job.names).map(|name| stat_one(dir, name));
                    if answer_sender.send((job.chunk, found.collect())).is_err() {
                        break;
                    }
                }
            });
            jobs.push(job_sender);
        }
        let pool = StatPool { jobs, answers };
        // The senders go with the pool at the end of `body`, and the helpers' loops end.
        body(Some(&pool))
    })
}

/// Stats every name of `names` relative to `dir`, in order: on the helpers too when there is a
/// pool and the batch is large enough.
pub(crate) fn stat_all(pool: Option<&StatPool>, dir: BorrowedFd<'_>, names: &NameBatch) -> Vec<StatAnswer> {
    let count = names.len();
    let Some(pool) = pool.filter(|_| count >= PARALLEL_MIN) else {
        return names.iter().map(|name| stat_one(dir, name)).collect();
    };
    let chunks = pool.jobs.len() + 1;
    let size = count.div_ceil(chunks);
    let range = |chunk: usize| (chunk * size).min(count)..((chunk + 1) * size).min(count);
    let mut sent = 0;
    for (index, sender) in pool.jobs.iter().enumerate() {
        let chunk = index + 1;
        if range(chunk).is_empty() {
            continue;
        }
        // Without a second handle the helper cannot work; the scanning thread then does it.
        let Ok(copy) = rustix::io::fcntl_dupfd_cloexec(dir, 0) else { continue };
        if sender.send(Job { chunk, dir: copy, names: names.span(range(chunk)).to_vec() }).is_ok() {
            sent += 1;
        }
    }
    let mut parts: Vec<Option<Vec<StatAnswer>>> = (0..chunks).map(|_| None).collect();
    parts[0] = Some(names_in(names.span(range(0))).map(|name| stat_one(dir, name)).collect());
    for _ in 0..sent {
        // A helper that vanished is a bug (it only stats); its chunk is redone below.
        let Ok((chunk, answers)) = pool.answers.recv() else { break };
        parts[chunk] = Some(answers);
    }
    let mut all = Vec::with_capacity(count);
    for (chunk, part) in parts.into_iter().enumerate() {
        match part {
            Some(answers) => all.extend(answers),
            None => all.extend(names_in(names.span(range(chunk))).map(|name| stat_one(dir, name))),
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_parallel_batch_answers_in_order_as_one_thread_does() {
        let dir = tempfile::tempdir().unwrap();
        let mut names = NameBatch::default();
        for index in 0..1000 {
            let name = format!("f{index:04}");
            names.push(&std::ffi::CString::new(name.clone()).unwrap());
            // Every third name is missing: errors keep their place too.
            if index % 3 != 0 {
                std::fs::write(dir.path().join(name), vec![b'x'; index]).unwrap();
            }
        }
        let handle = rustix::fs::open(
            dir.path(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let summary = |answers: Vec<StatAnswer>| -> Vec<Option<u64>> {
            answers.into_iter().map(|answer| answer.ok().map(|found| found.stx_size)).collect()
        };
        let alone = summary(stat_all(None, handle.as_fd(), &names));
        for helpers in 1..=3 {
            let shared = with_pool(helpers, |pool| summary(stat_all(pool, handle.as_fd(), &names)));
            assert_eq!(shared, alone, "{helpers} helpers");
        }
        assert_eq!(alone[0], None);
        assert_eq!(alone[1], Some(1));
        assert_eq!(alone[999], None);
        assert_eq!(alone[998], Some(998));
    }
}
