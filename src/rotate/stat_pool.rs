//! Parallel `statx` for the scan. Looking names up and statting them is most of a scan's time
//! (the kernel's dentry lookup and the inode's attributes), and it is independent per name. The
//! scanning thread lists folders and hands each batch of names to helper threads
//! ([`submit`]), then goes on listing; it takes the answers back ([`Pending::wait`]) in the
//! order it handed them out, so the walk (and everything after it) sees exactly what a single
//! thread would have seen.

use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::{Mutex, mpsc};

use rustix::fs::{AtFlags, Statx, StatxFlags, statx};
use rustix::io::Errno;

/// One answer: the facts and the mount id (a bind-mounted file is a mount), or why not.
pub(crate) type StatAnswer = Result<Statx, Errno>;

/// Below this many names a batch is statted at once by the scanning thread: handing work over
/// costs a duplicated folder handle, two channel messages and a thread wake-up.
const HAND_OVER_MIN: usize = 32;

/// The fewest names one helper gets from a batch.
const CHUNK_MIN: usize = 128;

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
    /// The folder's handle, duplicated, so the job owns what it uses.
    dir: OwnedFd,
    /// NUL-terminated names, back to back.
    names: Vec<u8>,
    reply: mpsc::Sender<Vec<StatAnswer>>,
}

/// Helper threads that stat chunks of batches; built by [`with_pool`].
pub(crate) struct StatPool {
    jobs: mpsc::Sender<Job>,
    helpers: usize,
}

/// Runs `body` with a pool of `helpers` threads (none when `helpers` is 0); they stop when
/// `body` returns.
pub(crate) fn with_pool<T>(helpers: usize, body: impl FnOnce(Option<&StatPool>) -> T) -> T {
    if helpers == 0 {
        return body(None);
    }
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Mutex::new(queue);
    let queue = &queue;
    std::thread::scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(move || {
                loop {
                    // The lock is held only to take the next job, not while statting it.
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let dir = std::os::fd::AsFd::as_fd(&job.dir);
                    let answers = names_in(&job.names).map(|name| stat_one(dir, name)).collect();
                    // The scanning thread may have stopped waiting (it panicked): nothing to do.
                    let _ = job.reply.send(answers);
                }
            });
        }
        let pool = StatPool { jobs, helpers };
        // The sender goes with the pool at the end of `body`, and the helpers' loops end.
        body(Some(&pool))
    })
}

/// The answers for one batch, in the batch's order: some ready, some still with a helper.
pub(crate) struct Pending {
    parts: Vec<Part>,
}

enum Part {
    Ready(Vec<StatAnswer>),
    Waiting(mpsc::Receiver<Vec<StatAnswer>>),
}

impl Pending {
    /// Waits for the helpers and returns every answer, in the batch's order.
    pub fn wait(self) -> Vec<StatAnswer> {
        let mut all = Vec::new();
        for part in self.parts {
            match part {
                Part::Ready(answers) => all.extend(answers),
                // A helper only stats; one that stopped without answering is a bug.
                Part::Waiting(receiver) => all.extend(receiver.recv().expect("a stat helper thread stopped")),
            }
        }
        all
    }
}

/// Starts statting every name of `names` relative to `dir`: on the helpers when there is a pool
/// and the batch is worth handing over, otherwise here and now.
pub(crate) fn submit(pool: Option<&StatPool>, dir: BorrowedFd<'_>, names: &NameBatch) -> Pending {
    let count = names.len();
    let here =
        || Pending { parts: vec![Part::Ready(names.iter().map(|name| stat_one(dir, name)).collect())] };
    let Some(pool) = pool.filter(|_| count >= HAND_OVER_MIN) else { return here() };
    let chunks = count.div_ceil(CHUNK_MIN).clamp(1, pool.helpers);
    let size = count.div_ceil(chunks);
    let mut parts = Vec::with_capacity(chunks);
    for chunk in 0..chunks {
        let range = (chunk * size).min(count)..((chunk + 1) * size).min(count);
        let span = names.span(range.clone());
        let (reply, receiver) = mpsc::channel();
        // Without a second handle (out of descriptors) the chunk is statted here instead.
        let sent = rustix::io::fcntl_dupfd_cloexec(dir, 0)
            .ok()
            .is_some_and(|copy| pool.jobs.send(Job { dir: copy, names: span.to_vec(), reply }).is_ok());
        parts.push(if sent {
            Part::Waiting(receiver)
        } else {
            Part::Ready(names_in(span).map(|name| stat_one(dir, name)).collect())
        });
    }
    Pending { parts }
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
        let alone = summary(submit(None, handle.as_fd(), &names).wait());
        for helpers in 1..=3 {
            let shared = with_pool(helpers, |pool| summary(submit(pool, handle.as_fd(), &names).wait()));
            assert_eq!(shared, alone, "{helpers} helpers");
        }
        assert_eq!(alone[0], None);
        assert_eq!(alone[1], Some(1));
        assert_eq!(alone[999], None);
        assert_eq!(alone[998], Some(998));
    }
}
