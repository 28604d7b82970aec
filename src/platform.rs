//! Everything that depends on the operating system's file semantics: exclusive locks, file
//! modes, ownership, no-follow opens and unpredictable temporary names. The rest of the crate
//! calls these functions only, so a port to another system is this one module
//! (`docs/security.md` states the rules they enforce).
#![cfg(unix)]

use std::fs::{self, File, OpenOptions, Permissions, TryLockError};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Who may read the files a vault creates.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, FileAccess, Ledger, Limits};
/// let dir = std::env::temp_dir().join(format!("capvault-doc-access-{}", std::process::id()));
/// let handle = Builder::new(Ledger::new(Limits::default())?)
///     .data_dir(&dir)
///     .file_access(FileAccess::Group)   // 0750 folders, 0640 files: the group may read
///     .spawn()?;
/// handle.shutdown()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum FileAccess {
    /// The vault's user only: folders 0700, files 0600 (the default).
    #[default]
    Owner,
    /// The vault's user, and its group may read: folders 0750, files 0640.
    Group,
}

impl FileAccess {
    /// The mode of a file the vault creates.
    #[must_use]
    pub const fn file_mode(self) -> u32 {
        match self {
            FileAccess::Owner => 0o600,
            FileAccess::Group => 0o640,
        }
    }

    /// The mode of a folder the vault creates.
    #[must_use]
    pub const fn dir_mode(self) -> u32 {
        match self {
            FileAccess::Owner => 0o700,
            FileAccess::Group => 0o750,
        }
    }
}

/// The effective user id of this process.
pub(crate) fn euid() -> u32 {
    #[allow(unsafe_code)]
    // SAFETY: `geteuid` takes no arguments, cannot fail and touches no memory of ours.
    unsafe {
        libc::geteuid()
    }
}

/// The user that owns a file.
pub(crate) fn owner_of(metadata: &fs::Metadata) -> u32 {
    metadata.uid()
}

/// A file's identity on its file system (the inode): a file replaced under the same name has
/// another.
pub(crate) fn file_id(metadata: &fs::Metadata) -> u64 {
    metadata.ino()
}

/// `true` for the error a no-follow open returns on a symlink.
pub(crate) fn is_symlink_refusal(error: &io::Error) -> bool {
    error.raw_os_error() == Some(libc::ELOOP)
}

/// The memory-backed folder for shared-memory files (`/dev/shm` on Linux), if there is one.
pub(crate) fn shm_dir() -> Option<PathBuf> {
    let shm = Path::new("/dev/shm");
    shm.is_dir().then(|| shm.to_owned())
}

/// Why a path was refused before anything was read from it or written to it.
#[derive(Debug)]
pub(crate) enum PathRefusal {
    /// Owned by another user: someone else could have planted it.
    Owner { uid: u32 },
    /// Not a regular file (or folder, where one is expected): a symlink, a fifo, a device.
    Kind,
    /// A folder other users may write into (and not sticky): anyone could plant files there.
    Writable { mode: u32 },
}

impl std::fmt::Display for PathRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathRefusal::Owner { uid } => {
                write!(f, "owned by uid {uid}, not by this process's uid {}", euid())
            }
            PathRefusal::Kind => f.write_str("not a regular file or folder (a symlink?)"),
            PathRefusal::Writable { mode } => {
                write!(f, "other users may write into it (mode {mode:04o}); chmod go-w it")
            }
        }
    }
}

/// Checks that `metadata` belongs to this process's user.
pub(crate) fn check_owner(metadata: &fs::Metadata) -> Result<(), PathRefusal> {
    if metadata.uid() == euid() {
        Ok(())
    } else {
        Err(PathRefusal::Owner { uid: metadata.uid() })
    }
}

/// Creates the data folder with `access`'s mode if it is missing; an existing one must be a
/// folder (not a symlink) of this user that no other user may write into.
pub(crate) fn private_dir(dir: &Path, access: FileAccess) -> io::Result<Result<(), PathRefusal>> {
    match fs::symlink_metadata(dir) {
        Ok(metadata) => {
            if !metadata.is_dir() {
                return Ok(Err(PathRefusal::Kind));
            }
            if let Err(refusal) = check_owner(&metadata) {
                return Ok(Err(refusal));
            }
            let mode = metadata.mode() & 0o7777;
            if mode & 0o022 != 0 {
                return Ok(Err(PathRefusal::Writable { mode }));
            }
            Ok(Ok(()))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent)?;
            }
            fs::DirBuilder::new().mode(access.dir_mode()).create(dir)?;
            // The umask may have taken bits away, never added: set the mode exactly.
            fs::set_permissions(dir, Permissions::from_mode(access.dir_mode()))?;
            Ok(Ok(()))
        }
        Err(error) => Err(error),
    }
}

fn options(access: FileAccess) -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(access.file_mode()).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    options
}

/// Opens (creating if missing) a file that is not a symlink, for reading and writing, without
/// truncating it. An existing file must belong to this user; a new one gets `access`'s mode
/// exactly, whatever the umask.
pub(crate) fn open_own(path: &Path, access: FileAccess) -> io::Result<Result<File, PathRefusal>> {
    let file = match options(access).read(true).write(true).create(true).truncate(false).open(path) {
        Ok(file) => file,
        Err(error) if error.raw_os_error() == Some(libc::ELOOP) => return Ok(Err(PathRefusal::Kind)),
        Err(error) => return Err(error),
    };
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Ok(Err(PathRefusal::Kind));
    }
    if let Err(refusal) = check_owner(&metadata) {
        return Ok(Err(refusal));
    }
    file.set_permissions(Permissions::from_mode(access.file_mode()))?;
    Ok(Ok(file))
}

/// Creates a new file that did not exist (never follows or reuses what is at `path`), with
/// `access`'s mode exactly.
pub(crate) fn create_new(path: &Path, access: FileAccess) -> io::Result<File> {
    let file = options(access).read(true).write(true).create_new(true).open(path)?;
    file.set_permissions(Permissions::from_mode(access.file_mode()))?;
    Ok(file)
}

/// Opens an existing file for reading without following a symlink.
pub(crate) fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path)
}

/// Opens an existing file for writing without following a symlink.
pub(crate) fn open_write(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path)
}

/// A suffix nobody can predict: 16 hex digits drawn from std's randomly keyed `RandomState`,
/// mixed with a per-process counter so two calls never repeat.
pub(crate) fn random_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    // Relaxed: only uniqueness matters.
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// Creates a temporary file beside `path`, named `<name>.<random>.tmp`, exclusively.
pub(crate) fn create_temp(path: &Path, access: FileAccess) -> io::Result<(File, PathBuf)> {
    loop {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{}.tmp", random_suffix()));
        let temporary = PathBuf::from(name);
        match create_new(&temporary, access) {
            Ok(file) => return Ok((file, temporary)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
}

/// Replaces `path` with a file `fill` builds under a temporary name of its own (`create_temp`),
/// renamed into place once `fill` succeeds, so a reader sees the old file or the new one, never a
/// part. On failure the temporary file is removed. `fill` syncs what needs syncing; the rename is
/// not followed by a folder sync (callers that need one do it). Returns what `fill` returned.
pub(crate) fn replace_file<T>(
    path: &Path,
    access: FileAccess,
    fill: impl FnOnce(&mut File) -> io::Result<T>,
) -> io::Result<T> {
    let (mut file, temporary) = create_temp(path, access)?;
    let built = fill(&mut file).and_then(|value| fs::rename(&temporary, path).map(|()| value));
    if built.is_err() {
        drop(file);
        let _ = fs::remove_file(&temporary);
    }
    built
}

/// What may stand at a path the vault replaces: nothing, or a regular file of this user (never a
/// symlink, nor another user's file).
pub(crate) fn check_replaceable(path: &Path) -> Result<(), PathRefusal> {
    match fs::symlink_metadata(path) {
        Ok(existing) if !existing.is_file() => Err(PathRefusal::Kind),
        Ok(existing) => check_owner(&existing),
        Err(_) => Ok(()),
    }
}

/// `true` for the temporary names `create_temp` makes for `stem`: `<stem>.<16 hex>.tmp`.
pub(crate) fn is_temp_of(name: &str, stem: &str) -> bool {
    name.strip_prefix(stem)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Syncs a folder, so a rename or a new file in it survives a power cut.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An exclusive lock held on a file for as long as the value lives; the kernel releases it when
/// the process dies, so a `kill -9` leaves no stale lock.
///
/// Dropping it unlocks explicitly before closing: a `flock` belongs to the open file, which a
/// process forked meanwhile (by any thread: `std::process::Command`, Python's multiprocessing)
/// shares until it execs or exits. Closing our descriptor alone would leave the lock held by
/// that child; unlocking through our descriptor releases it for every holder.
#[derive(Debug)]
pub(crate) struct ExclusiveLock {
    file: File,
}

impl Drop for ExclusiveLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Why a lock was not taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Another holder has it; the pid it wrote, if readable.
    Held { pid: Option<u32> },
    /// The lock file is not ours (or not a file).
    Refused(PathRefusal),
    /// An operating-system error.
    Io(io::Error),
}

impl ExclusiveLock {
    /// Takes the lock on `path` without waiting and writes this process's id into the file.
    pub(crate) fn try_take(path: &Path, access: FileAccess) -> Result<ExclusiveLock, LockError> {
        let mut file = open_own(path, access).map_err(LockError::Io)?.map_err(LockError::Refused)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(LockError::Held { pid: read_pid(&mut file) }),
            Err(TryLockError::Error(error)) => return Err(LockError::Io(error)),
        }
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(pid.as_bytes()))
            .map_err(LockError::Io)?;
        Ok(ExclusiveLock { file })
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Moves the calling thread to the background (`SCHED_IDLE` on Linux: it never preempts another
/// thread when it wakes and runs on what other threads leave idle) or back to the ordinary
/// policy. Elsewhere, nothing. Returns whether it took effect.
pub(crate) fn set_background(background: bool) -> bool {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        let policy = if background { libc::SCHED_IDLE } else { libc::SCHED_OTHER };
        // SAFETY: `sched_setscheduler` reads `param` and changes only the calling thread (pid 0).
        #[allow(unsafe_code)]
        let result = unsafe { libc::sched_setscheduler(0, policy, &raw const param) };
        result == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = background;
        false
    }
}

/// Whether a thread moved to the background may come back ([`set_background`]`(false)`): Linux
/// lets an unprivileged thread leave `SCHED_IDLE` only if `RLIMIT_NICE` would let it lower its
/// nice value to 0, which the default limit (0) does not.
pub(crate) fn may_leave_background() -> bool {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `getrlimit` writes one `rlimit` through the pointer.
        #[allow(unsafe_code)]
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NICE, &raw mut limit) } == 0;
        euid() == 0 || (ok && limit.rlim_cur >= 20)
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Opens `path` for reading and writing without following a symlink; with `create`, makes it
/// with `mode` if it is missing.
pub(crate) fn open_rw(path: &Path, mode: u32, create: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Creates `path` with `mode`; fails if it exists.
pub(crate) fn create_new_rw(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Creates the folder `dir` with `mode` if it is missing.
pub(crate) fn create_dir_mode(dir: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new().mode(mode).create(dir)
}

/// Sets the mode of `path`.
pub(crate) fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, Permissions::from_mode(mode))
}

/// Blocks while the low 32 bits of `word` (shared memory) equal `expected`, for at most
/// `timeout`; returns at once if they differ, and may return early (a signal, a spurious wake).
/// A process-shared futex: the word may live in a mapping other processes share.
#[cfg(target_os = "linux")]
pub(crate) fn futex_wait(word: &AtomicU64, expected: u32, timeout: std::time::Duration) {
    let spec = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    #[allow(unsafe_code)]
    // SAFETY: the address is a live, aligned word for the duration of the call (borrowed); on
    // little-endian targets its first four bytes are its low 32 bits. FUTEX_WAIT only reads
    // it, and the timespec lives on this stack frame.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr().cast::<u32>(),
            libc::FUTEX_WAIT,
            expected,
            &raw const spec,
        );
    }
}

/// Wakes every thread blocked in [`futex_wait`] on `word`, in any process.
#[cfg(target_os = "linux")]
pub(crate) fn futex_wake(word: &AtomicU64) {
    #[allow(unsafe_code)]
    // SAFETY: as in `futex_wait`; FUTEX_WAKE does not touch the word's memory.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr().cast::<u32>(), libc::FUTEX_WAKE, i32::MAX);
    }
}

/// The effective user of a running process, `None` if it is gone.
pub(crate) fn uid_of_process(pid: u32) -> Option<u32> {
    fs::metadata(format!("/proc/{pid}")).ok().map(|metadata| metadata.uid())
}

/// This host's name as the kernel has it (`uname -n`); empty when it cannot be read.
#[cfg_attr(not(feature = "nats"), allow(dead_code, reason = "the NATS front names its host"))]
pub(crate) fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").map(|name| name.trim().to_owned()).unwrap_or_default()
}

/// When a running process started (clock ticks since boot, `/proc/PID/stat` field 22): with
/// its pid, it names one process even after the pid is reused. `None` if it is gone.
pub(crate) fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// SIGTERM, SIGINT and SIGHUP, caught on a thread of their own: `on_signal` runs there with the
/// signal's number, after which the signal's default action ends the process (as if it had not
/// been caught). Closed (the thread ends, default dispositions stay caught until exit) by the
/// returned closer.
pub(crate) fn on_termination(
    on_signal: impl FnOnce(i32) + Send + 'static,
) -> io::Result<(signal_hook::iterator::Handle, std::thread::JoinHandle<()>)> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let closer = signals.handle();
    let thread = std::thread::Builder::new().name("capvault-signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            on_signal(signal);
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
    })?;
    Ok((closer, thread))
}

/// Gives `path` to `gid` (the vault's user keeps it) and sets its mode.
pub(crate) fn share_with_group(path: &Path, gid: u32, mode: u32) -> io::Result<()> {
    std::os::unix::fs::chown(path, None, Some(gid))?;
    fs::set_permissions(path, Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_only_in_their_own_form() {
        let stem = "checkpoint-00000000000000000007.ckpt";
        let (_, path) = create_temp(&std::env::temp_dir().join(stem), FileAccess::Owner).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        fs::remove_file(&path).unwrap();
        assert!(is_temp_of(&name, stem), "{name}");
        assert!(!is_temp_of("notes.txt.tmp", stem));
        assert!(!is_temp_of(&format!("{stem}.tmp"), stem));
        assert!(!is_temp_of(&format!("{stem}.0123456789abcdeg.tmp"), stem));
        assert_ne!(random_suffix(), random_suffix());
    }
}
