//! The workspace sandbox: the only code that touches the file system on behalf of a client.
//!
//! It owns the mapping from a client-supplied path (the `path` argument of the `create_file`
//! and `read_file` tools) to a file inside the workspace root, and the two operations on that
//! file: an atomic, durable text write and a capped UTF-8 text read. It also opens the lock
//! files the spec store serializes its updates with ([`Workspace::lock`]).
//!
//! Rules, in the order they are checked:
//! - A path is relative to the root, or absolute and starting with the root (canonical or as
//!   configured). Any other absolute path is refused, and never echoed back.
//! - Empty paths, NUL bytes, paths over [`PATH_MAX`] and components over [`NAME_MAX`] bytes are
//!   refused before any system call.
//! - Empty and `.` components are dropped and `..` is resolved lexically (`a/../b` is `b`); a `..`
//!   that would climb above the root is refused. Lexical resolution is safe because only the
//!   resolved path, never the client's string, reaches the OS, and because of the next rule.
//! - Symbolic links are refused anywhere below the root, whether they point inside or outside
//!   it: deciding where a link leads is itself racy, and a spec workspace has no need for them.
//!   The root itself may be reached through a link; it is canonicalised once, in
//!   [`Workspace::new`].
//! - Only regular files are read or replaced: directories, FIFOs, sockets and devices are refused.
//! - File and content sizes are capped by `max_file_bytes`.
//!
//! Races: std has no `openat`, so a path is checked component by component with `lstat`, the
//! file is opened with `O_NOFOLLOW` (and a write's temporary file with `O_CREAT | O_EXCL`), and
//! the opened handle is checked again: it must be a regular file, and the kernel's idea of where
//! it lives (`/proc/self/fd`, on Linux) must be the path we checked; without `/proc` the path is
//! walked again and device and inode compared. What remains needs local access beyond the
//! protocol: swapping a directory inside the root between the last check and a write's `rename`,
//! and hard links or bind mounts placed inside the root that lead outside it.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::file_lock::{self, FileLock};

/// Longest path the kernel accepts, in bytes, counting the terminating NUL (Linux `PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// Longest single path component, in bytes (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// How many temporary names a write tries. A clash needs the same pid, counter and nanosecond,
/// so running out means something else is squatting on our names.
const TEMP_ATTEMPTS: u32 = 8;

/// Prefix of temporary files. Fixed and short, not derived from the target name, so that the
/// temporary sibling of a file whose name is already [`NAME_MAX`] bytes long still fits.
const TEMP_PREFIX: &str = ".mcp-write-";

/// How many characters of a path an error message quotes before cutting it short.
const QUOTE_MAX_CHARS: usize = 80;

/// `open(2)` flags std does not name, from the kernel's uapi headers: x86_64 uses
/// `asm-generic/fcntl.h`; aarch64 overrides `O_NOFOLLOW` in `arch/arm64/include/uapi/asm/fcntl.h`.
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    target_arch = "x86_64"
))]
mod oflags {
    /// Fail with `ELOOP` instead of following a symbolic link at the final component.
    pub const O_NOFOLLOW: i32 = 0o400_000;
    /// Do not wait for a writer when opening a FIFO (which is then refused).
    pub const O_NONBLOCK: i32 = 0o4_000;
}

/// See the x86_64 variant; only `O_NOFOLLOW` differs.
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    target_arch = "aarch64"
))]
mod oflags {
    /// Fail with `ELOOP` instead of following a symbolic link at the final component.
    pub const O_NOFOLLOW: i32 = 0o100_000;
    /// Do not wait for a writer when opening a FIFO (which is then refused).
    pub const O_NONBLOCK: i32 = 0o4_000;
}

/// Values from macOS `<sys/fcntl.h>`, so the crate still builds on developers' laptops.
#[cfg(target_os = "macos")]
mod oflags {
    /// Fail with `ELOOP` instead of following a symbolic link at the final component.
    pub const O_NOFOLLOW: i32 = 0x0100;
    /// Do not wait for a writer when opening a FIFO (which is then refused).
    pub const O_NONBLOCK: i32 = 0x0004;
}

// A wrong flag value would silently weaken the sandbox, so an unknown target must not build.
#[cfg(not(any(
    all(
        any(target_os = "linux", target_os = "android"),
        any(target_arch = "x86_64", target_arch = "aarch64")
    ),
    target_os = "macos"
)))]
compile_error!("workspace.rs: add O_NOFOLLOW and O_NONBLOCK values for this target");

/// The sandbox: a canonical root directory and the largest file it will read or write.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Canonical (no links, no `..`) absolute root; every file operation happens below it.
    root: PathBuf,
    /// The root as configured, made absolute; clients may use it as the prefix of an absolute path.
    configured_root: PathBuf,
    max_file_bytes: u64,
    /// The root opened once (`O_PATH`), for [`Workspace::open_beneath`]; `None` where that
    /// is not possible.
    root_dir: Option<Arc<File>>,
}

/// One entry of [`Workspace::list_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
}

/// The outcome of a successful [`Workspace::write_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The path relative to the root, `/`-separated, for display.
    pub path: String,
    /// Bytes written.
    pub bytes: u64,
    /// True if the file did not exist before.
    pub created: bool,
}

/// Why a path or file was refused. `path` fields are relative to the root and `/`-separated.
#[derive(Debug)]
pub enum FileError {
    /// The path is the empty string.
    EmptyPath,
    /// The path contains a NUL byte, which no system call can carry.
    NulByte { path: String },
    /// An absolute path that does not start with the workspace root.
    OutsideRoot,
    /// A `..` would climb above the root.
    EscapesRoot { path: String },
    /// The path, joined to the root, is longer than [`PATH_MAX`] allows.
    PathTooLong {
        path: String,
        len: usize,
        limit: usize,
    },
    /// One component is longer than [`NAME_MAX`] bytes.
    NameTooLong {
        path: String,
        len: usize,
        limit: usize,
    },
    /// `link` (a prefix of `path`, or `path` itself) is a symbolic link.
    Symlink { path: String, link: String },
    /// `parent` (a prefix of `path`) exists but is not a directory.
    NotADirectory { path: String, parent: String },
    /// The file (or one of its parent directories) does not exist.
    NotFound { path: String },
    /// The path names a directory where a file was expected.
    IsDirectory { path: String },
    /// The path names a FIFO, socket, device or other non-regular file.
    NotRegularFile { path: String, kind: &'static str },
    /// The file on disk is larger than the cap.
    FileTooLarge { path: String, size: u64, limit: u64 },
    /// The content to write is larger than the cap.
    ContentTooLarge { path: String, size: u64, limit: u64 },
    /// The file contains NUL bytes.
    Binary { path: String },
    /// The file is not valid UTF-8.
    NotUtf8 { path: String },
    /// The file that was opened is not the one that was checked: something raced us.
    Changed { path: String },
    /// Any other I/O failure; `action` says what we were doing ("read", "write", ...).
    Io {
        path: String,
        action: &'static str,
        source: io::Error,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const TEXT_ONLY: &str = "only utf-8 text can be read";
        match self {
            FileError::EmptyPath => write!(f, "path is empty"),
            FileError::NulByte { path } => write!(f, "path {} contains a nul byte", quote(path)),
            FileError::OutsideRoot => write!(f, "absolute path is outside the workspace root"),
            FileError::EscapesRoot { path } => {
                write!(f, "path {} climbs above the workspace root with '..'", quote(path))
            }
            FileError::PathTooLong { path, len, limit } => write!(
                f,
                "path {} is too long: {len} bytes, the limit is {limit} bytes including the workspace root",
                quote(path)
            ),
            FileError::NameTooLong { path, len, limit } => write!(
                f,
                "path {} has a component of {len} bytes, the limit is {limit} bytes",
                quote(path)
            ),
            FileError::Symlink { path, link } if path == link => write!(
                f,
                "{} is a symbolic link; links are not followed in the workspace",
                quote(path)
            ),
            FileError::Symlink { path, link } => write!(
                f,
                "path {} goes through the symbolic link {}; links are not followed in the workspace",
                quote(path),
                quote(link)
            ),
            FileError::NotADirectory { path, parent } => {
                write!(f, "path {}: {} is not a directory", quote(path), quote(parent))
            }
            FileError::NotFound { path } => write!(f, "file {} does not exist", quote(path)),
            FileError::IsDirectory { path } => {
                write!(f, "{} is a directory, not a file", quote(path))
            }
            FileError::NotRegularFile { path, kind } => write!(
                f,
                "{} is a {kind}; only regular files can be read or written",
                quote(path)
            ),
            FileError::FileTooLarge { path, size, limit } => write!(
                f,
                "file {} is {size} bytes, larger than the limit of {limit} bytes",
                quote(path)
            ),
            FileError::ContentTooLarge { path, size, limit } => write!(
                f,
                "content for {} is {size} bytes, larger than the limit of {limit} bytes",
                quote(path)
            ),
            FileError::Binary { path } => {
                write!(f, "file {} is binary (it contains nul bytes); {TEXT_ONLY}", quote(path))
            }
            FileError::NotUtf8 { path } => {
                write!(f, "file {} is binary (not valid utf-8); {TEXT_ONLY}", quote(path))
            }
            FileError::Changed { path } => write!(
                f,
                "{} changed while it was being opened; refusing to use it",
                quote(path)
            ),
            FileError::Io { path, action, source } => {
                write!(f, "cannot {action} {}: {source}", quote(path))
            }
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Workspace {
    /// Open a workspace rooted at `root`. Fails if root does not exist, is not a directory, or
    /// is unreadable. `max_file_bytes` caps both reads and writes.
    pub fn new(root: &Path, max_file_bytes: u64) -> io::Result<Workspace> {
        let with_root = |e: io::Error| {
            io::Error::new(e.kind(), format!("workspace root {}: {e}", root.display()))
        };
        let configured_root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir().map_err(with_root)?.join(root)
        };
        let canonical = fs::canonicalize(root).map_err(with_root)?;
        if !fs::metadata(&canonical).map_err(with_root)?.is_dir() {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "not a directory");
            return Err(with_root(e));
        }
        // Listing proves we may read it; otherwise every later call would fail less clearly.
        fs::read_dir(&canonical).map_err(with_root)?;
        let root_dir = open_root_dir(&canonical).map(Arc::new);
        Ok(Workspace {
            root: canonical,
            configured_root,
            max_file_bytes,
            root_dir,
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The largest file, in bytes, that is read or written.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_bytes
    }

    /// Resolve a client-supplied path (relative to root, or absolute but inside root) to a path
    /// inside the root, refusing anything that could escape. The file need not exist; the parts
    /// of the path that do exist are checked for symbolic links.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, FileError> {
        let target = self.parse(path)?;
        self.walk(&target, false)?;
        Ok(target.full)
    }

    /// Create parent directories and write atomically: temp file in the same directory, write,
    /// fsync, rename, fsync the directory. Never follows a symlink at the final component or
    /// any parent. An existing file keeps its permission bits. A crash at any point leaves either
    /// the old or the new content (plus, at worst, a stray temporary file or empty directories).
    pub fn write_text(&self, path: &str, content: &str) -> Result<Written, FileError> {
        let target = self.parse(path)?;
        let size = content.len() as u64;
        if size > self.max_file_bytes {
            let limit = self.max_file_bytes;
            return Err(FileError::ContentTooLarge {
                path: target.display(),
                size,
                limit,
            });
        }
        let existing = self.walk(&target, true)?;
        let permissions = match &existing {
            Some(meta) => Some(require_regular(&target, meta)?.permissions()),
            None => None,
        };
        self.replace(&target, content.as_bytes(), permissions)?;
        Ok(Written {
            path: target.display(),
            bytes: size,
            created: existing.is_none(),
        })
    }

    /// The regular files and directories directly inside a workspace directory, sorted by
    /// name. Symbolic links, other file types and names that are not UTF-8 are left out (they
    /// could not be opened through this sandbox anyway). A missing directory is empty.
    pub fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, FileError> {
        let target = if path.is_empty() || path == "." {
            Target::new(&self.root, Vec::new())
        } else {
            self.parse(path)?
        };
        let Some(meta) = self.walk(&target, false)? else {
            return Ok(Vec::new());
        };
        if !meta.is_dir() {
            let (path, parent) = (target.display(), target.display());
            return Err(FileError::NotADirectory { path, parent });
        }
        let entries = fs::read_dir(&target.full).map_err(|e| io_error(&target, "list", e))?;
        let mut out: Vec<DirEntry> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let kind = entry.file_type().ok()?;
                let is_dir = kind.is_dir();
                (is_dir || kind.is_file()).then_some(DirEntry { name, is_dir })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Whether `path` names an existing regular file inside the workspace (no links followed).
    pub fn is_file(&self, path: &str) -> bool {
        self.parse(path)
            .and_then(|t| self.walk(&t, false))
            .is_ok_and(|meta| meta.is_some_and(|m| m.is_file()))
    }

    /// Read UTF-8 text up to max_file_bytes. Files with NUL bytes or invalid UTF-8 are refused
    /// as binary.
    pub fn read_text(&self, path: &str) -> Result<String, FileError> {
        let target = self.parse(path)?;
        let (file, opened) = match self.open_beneath(&target) {
            Some(found) => found,
            None => self.open_walked(&target)?,
        };

        // The size seen at the open is what is read: no second read to find the end (a
        // system call per request), and a file something appends to meanwhile reads as it
        // was when opened. The cap was checked on that size. A size of 0 (which some file
        // systems report for files with content) reads to the end, capped.
        let bytes = match opened.len() {
            0 => read_capped(file, self.max_file_bytes, &target)?,
            seen => read_seen(file, seen, &target)?,
        };
        if bytes.contains(&0) {
            return Err(FileError::Binary {
                path: target.display(),
            });
        }
        String::from_utf8(bytes).map_err(|_| FileError::NotUtf8 {
            path: target.display(),
        })
    }

    /// Opens `target` for reading the long way: each component checked with `lstat` (no
    /// links, directories all the way), the file checked before it is opened (never open a
    /// device or FIFO), then the opened handle checked again and confirmed to be the file at
    /// the path. Every refusal gets its own wording here.
    fn open_walked(&self, target: &Target) -> Result<(File, fs::Metadata), FileError> {
        let checked = self.walk(target, false)?;
        let checked = checked.ok_or_else(|| FileError::NotFound {
            path: target.display(),
        })?;
        self.require_size(target, require_regular(target, &checked)?.len())?;

        let file = OpenOptions::new()
            .read(true)
            .custom_flags(oflags::O_NOFOLLOW | oflags::O_NONBLOCK)
            .open(&target.full)
            .map_err(|e| self.open_error(target, "open", e))?;
        // The checks above were on a path; these are on what we actually opened.
        let opened = file
            .metadata()
            .map_err(|e| io_error(target, "inspect", e))?;
        self.require_size(target, require_regular(target, &opened)?.len())?;
        self.confirm_location(&file, &opened, target)?;
        Ok((file, opened))
    }

    /// Opens an existing regular file below the root in one system call where the kernel
    /// can (Linux 5.6+ `openat2`): `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` refuses a link in
    /// any component and any way out of the root, without the race between checking a path
    /// and opening it. That is what [`Workspace::walk`] checks with one `lstat` per
    /// component; `read_file` is the tool assistants call most. The handle is then checked
    /// as in [`Workspace::open_walked`], including that it is the file at the configured
    /// path (the root is held open, and could have been moved). `None` for anything else
    /// (no `openat2`, a seccomp filter, a missing file, a link, a special file, a size over
    /// the cap): the long way then decides, and words the error.
    #[cfg(target_os = "linux")]
    fn open_beneath(&self, target: &Target) -> Option<(File, fs::Metadata)> {
        use std::ffi::CString;
        use std::os::fd::{AsRawFd, FromRawFd};

        /// `struct open_how` of linux/openat2.h.
        #[repr(C)]
        struct OpenHow {
            flags: u64,
            mode: u64,
            resolve: u64,
        }
        let dir = self.root_dir.as_ref()?;
        if target.parts.is_empty() {
            return None;
        }
        let relative = CString::new(target.parts.join("/")).ok()?;
        let flags =
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
        let how = OpenHow {
            flags: u64::try_from(flags).ok()?,
            mode: 0,
            resolve: libc::RESOLVE_BENEATH
                | libc::RESOLVE_NO_SYMLINKS
                | libc::RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: a live directory descriptor, a NUL-terminated path and an `open_how` of
        // the size passed, all outliving the call; the result is checked before use.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                relative.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        let fd = std::os::fd::RawFd::try_from(fd)
            .ok()
            .filter(|fd| *fd >= 0)?;
        // SAFETY: `fd` was just returned by openat2 and is owned by nothing else.
        let file = unsafe { File::from_raw_fd(fd) };
        let opened = file.metadata().ok()?;
        if !opened.is_file() || opened.len() > self.max_file_bytes {
            return None;
        }
        self.confirm_location(&file, &opened, target).ok()?;
        Some((file, opened))
    }

    #[cfg(not(target_os = "linux"))]
    fn open_beneath(&self, _target: &Target) -> Option<(File, fs::Metadata)> {
        None
    }

    /// Take an exclusive lock on the lock file at `path` (see [`crate::file_lock`]), waiting
    /// at most `wait`; `Ok(None)` when another holder kept it that long. The file is created
    /// empty, with its parent directories, if missing, and is never written: it exists only to
    /// be locked. The same checks as a write apply: no links anywhere, a regular file, and the
    /// opened handle confirmed to be the file at `path`.
    pub fn lock(&self, path: &str, wait: Duration) -> Result<Option<FileLock>, FileError> {
        let target = self.parse(path)?;
        if let Some(meta) = self.walk(&target, true)? {
            require_regular(&target, &meta)?;
        }
        // Read and write: NFS emulates an exclusive flock with a write lock, which needs it.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .custom_flags(oflags::O_NOFOLLOW | oflags::O_NONBLOCK)
            .open(&target.full)
            .map_err(|e| self.open_error(&target, "open", e))?;
        let opened = file
            .metadata()
            .map_err(|e| io_error(&target, "inspect", e))?;
        require_regular(&target, &opened)?;
        self.confirm_location(&file, &opened, &target)?;
        file_lock::lock_exclusive(file, wait).map_err(|e| io_error(&target, "lock", e))
    }

    /// Turn a client path into a [`Target`], refusing by text alone whatever can be refused so.
    fn parse(&self, path: &str) -> Result<Target, FileError> {
        if path.is_empty() {
            return Err(FileError::EmptyPath);
        }
        // Strip the root first, so that no refusal below echoes an absolute path.
        let rel = self.strip_root(path)?;
        if rel.contains('\0') {
            return Err(FileError::NulByte {
                path: rel.to_string(),
            });
        }
        let limit = PATH_MAX - 1;
        if rel.len() > limit {
            let path = rel.to_string();
            return Err(FileError::PathTooLong {
                len: path.len(),
                path,
                limit,
            });
        }
        let mut parts: Vec<String> = Vec::new();
        for name in rel.split('/') {
            match name {
                "" | "." => {}
                ".." if parts.pop().is_none() => {
                    return Err(FileError::EscapesRoot {
                        path: rel.to_string(),
                    });
                }
                ".." => {}
                _ if name.len() > NAME_MAX => {
                    let (path, len) = (rel.to_string(), name.len());
                    return Err(FileError::NameTooLong {
                        path,
                        len,
                        limit: NAME_MAX,
                    });
                }
                _ => parts.push(name.to_string()),
            }
        }
        let target = Target::new(&self.root, parts);
        target.require_fits()?;
        Ok(target)
    }

    /// The part of `path` below the root: `path` itself when relative, the remainder after the
    /// canonical or configured root when absolute.
    fn strip_root<'a>(&self, path: &'a str) -> Result<&'a str, FileError> {
        if !path.starts_with('/') {
            return Ok(path);
        }
        for root in [&self.root, &self.configured_root] {
            if let Ok(rest) = Path::new(path).strip_prefix(root) {
                // Always UTF-8: it is a slice of `path`.
                return rest.to_str().ok_or(FileError::OutsideRoot);
            }
        }
        Err(FileError::OutsideRoot)
    }

    /// `lstat` every component of `target` in order, refusing symbolic links anywhere and
    /// non-directories before the last component. Returns the last component's metadata, or
    /// `None` if it (or a parent) does not exist. With `create`, missing parent directories
    /// are made one at a time: `create_dir_all` would follow a link planted on the way.
    fn walk(&self, target: &Target, create: bool) -> Result<Option<fs::Metadata>, FileError> {
        let mut current = self.root.clone();
        for (i, name) in target.parts.iter().enumerate() {
            current.push(name);
            let is_last = i + 1 == target.parts.len();
            let meta = match fs::symlink_metadata(&current) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound && (is_last || !create) => {
                    return Ok(None);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    make_dir(&current).map_err(|e| io_error(target, "create a directory for", e))?
                }
                Err(e) => return Err(io_error(target, "inspect", e)),
            };
            if meta.file_type().is_symlink() {
                let (path, link) = (target.display(), target.prefix(i + 1));
                return Err(FileError::Symlink { path, link });
            }
            if is_last {
                return Ok(Some(meta));
            }
            if !meta.is_dir() {
                let (path, parent) = (target.display(), target.prefix(i + 1));
                return Err(FileError::NotADirectory { path, parent });
            }
        }
        // Only the root itself, with no components, gets here.
        let meta = fs::symlink_metadata(&self.root).map_err(|e| io_error(target, "inspect", e))?;
        Ok(Some(meta))
    }

    fn require_size(&self, target: &Target, size: u64) -> Result<(), FileError> {
        if size > self.max_file_bytes {
            let limit = self.max_file_bytes;
            return Err(FileError::FileTooLarge {
                path: target.display(),
                size,
                limit,
            });
        }
        Ok(())
    }

    /// Explain a failed open: a link or a vanished file raced in after our checks.
    fn open_error(&self, target: &Target, action: &'static str, e: io::Error) -> FileError {
        match self.walk(target, false) {
            Err(refusal) => refusal,
            Ok(None) => FileError::NotFound {
                path: target.display(),
            },
            Ok(Some(meta)) if meta.is_dir() => FileError::IsDirectory {
                path: target.display(),
            },
            Ok(Some(_)) => io_error(target, action, e),
        }
    }

    /// Check that `file`, opened from `target`, is really the file at `target` now.
    fn confirm_location(
        &self,
        file: &File,
        opened: &fs::Metadata,
        target: &Target,
    ) -> Result<(), FileError> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(actual) = proc_fd_path(file) {
            if actual == target.full {
                return Ok(());
            }
            return Err(FileError::Changed {
                path: target.display(),
            });
        }
        let _ = file; // only the /proc check above needs the handle
        self.confirm_by_inode(opened, target)
    }

    /// The fallback of [`Workspace::confirm_location`]: walk the path again (refusing links) and
    /// compare device and inode. Only a swap-and-swap-back between the two walks gets past it.
    fn confirm_by_inode(&self, opened: &fs::Metadata, target: &Target) -> Result<(), FileError> {
        match self.walk(target, false)? {
            Some(now) if now.dev() == opened.dev() && now.ino() == opened.ino() => Ok(()),
            _ => Err(FileError::Changed {
                path: target.display(),
            }),
        }
    }

    /// Write `bytes` to a fresh temporary sibling of `target` and rename it over `target`.
    /// The caller has already refused links, directories and special files at `target`.
    fn replace(
        &self,
        target: &Target,
        bytes: &[u8],
        permissions: Option<fs::Permissions>,
    ) -> Result<(), FileError> {
        let (mut file, mut temp) = create_temp(target)?;
        let opened = file
            .metadata()
            .map_err(|e| io_error(target, "inspect", e))?;
        self.confirm_location(&file, &opened, &temp.target)?;
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)
                .map_err(|e| io_error(target, "write", e))?;
        }
        file.write_all(bytes)
            .map_err(|e| io_error(target, "write", e))?;
        // The data must be on disk before the rename makes it visible, or a crash could leave
        // the new name pointing at an empty file.
        file.sync_all().map_err(|e| io_error(target, "sync", e))?;
        drop(file);
        if let Err(e) = fs::rename(&temp.target.full, &target.full) {
            return Err(self.open_error(target, "replace", e));
        }
        temp.keep();
        // The rename lives in the directory; sync it so the new name survives a crash.
        let dir = File::open(target.parent_dir()).and_then(|dir| dir.sync_all());
        dir.map_err(|e| io_error(target, "sync the directory of", e))
    }
}

/// A client path resolved lexically: its components below the root and the full path.
#[derive(Debug, Clone)]
struct Target {
    parts: Vec<String>,
    full: PathBuf,
}

impl Target {
    fn new(root: &Path, parts: Vec<String>) -> Target {
        let mut full = root.to_path_buf();
        full.extend(&parts);
        Target { parts, full }
    }

    /// The path relative to the root, for messages; `.` for the root itself.
    fn display(&self) -> String {
        self.prefix(self.parts.len())
    }

    /// The first `n` components, `/`-separated.
    fn prefix(&self, n: usize) -> String {
        if n == 0 {
            return ".".to_string();
        }
        self.parts[..n].join("/")
    }

    /// The directory holding the last component.
    fn parent_dir(&self) -> &Path {
        self.full.parent().unwrap_or(&self.full)
    }

    /// A target in the same directory, named `name`.
    fn sibling(&self, name: String) -> Target {
        let full = self.full.with_file_name(&name);
        let mut parts = self.parts.clone();
        parts.pop();
        parts.push(name);
        Target { parts, full }
    }

    /// Refuse a target whose full path the kernel would reject with `ENAMETOOLONG`.
    fn require_fits(&self) -> Result<(), FileError> {
        let (len, limit) = (self.full.as_os_str().len(), PATH_MAX - 1);
        if len > limit {
            return Err(FileError::PathTooLong {
                path: self.display(),
                len,
                limit,
            });
        }
        Ok(())
    }
}

/// A temporary file that removes itself unless [`TempFile::keep`] is called, so every early
/// return of a write, and a panic unwinding through it, cleans up.
struct TempFile {
    target: Target,
    armed: bool,
}

impl TempFile {
    /// The file has been renamed into place; there is nothing left to remove.
    fn keep(&mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = fs::remove_file(&self.target.full) {
                log::warn!(
                    "cannot remove temporary file {}: {e}",
                    self.target.full.display()
                );
            }
        }
    }
}

/// Create a new, empty temporary sibling of `target`. `create_new` is `O_CREAT | O_EXCL`, which
/// never opens an existing file, FIFO or link, so nothing planted under the name is touched.
fn create_temp(target: &Target) -> Result<(File, TempFile), FileError> {
    for _ in 0..TEMP_ATTEMPTS {
        let temp = target.sibling(temp_name());
        temp.require_fits()
            .map_err(|_| too_long_for_temp(target, &temp))?;
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(oflags::O_NOFOLLOW)
            .open(&temp.full);
        match opened {
            Ok(file) => {
                return Ok((
                    file,
                    TempFile {
                        target: temp,
                        armed: true,
                    },
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(target, "create a temporary file for", e)),
        }
    }
    let e = io::Error::new(
        io::ErrorKind::AlreadyExists,
        "every temporary name was taken",
    );
    Err(io_error(target, "create a temporary file for", e))
}

/// The temporary name can be longer than the target's own, so report the length that failed.
fn too_long_for_temp(target: &Target, temp: &Target) -> FileError {
    let (len, limit) = (temp.full.as_os_str().len(), PATH_MAX - 1);
    FileError::PathTooLong {
        path: target.display(),
        len,
        limit,
    }
}

/// A name no other writer uses: pid (other processes), counter (other threads and calls in
/// this one) and the clock (an earlier process with the same pid that crashed mid-write).
fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{TEMP_PREFIX}{}-{count}-{nanos:x}.tmp", std::process::id())
}

/// Make one directory; one that appeared meanwhile is fine, as the caller inspects it next.
fn make_dir(path: &Path) -> io::Result<fs::Metadata> {
    match fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    fs::symlink_metadata(path)
}

/// Where the kernel says `file` lives, if `/proc` is mounted.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn proc_fd_path(file: &File) -> Option<PathBuf> {
    use std::os::unix::io::AsRawFd;
    fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

/// Refuse anything but a regular file, naming what it is instead.
fn require_regular<'m>(
    target: &Target,
    meta: &'m fs::Metadata,
) -> Result<&'m fs::Metadata, FileError> {
    let kind = meta.file_type();
    let path = target.display();
    if kind.is_file() {
        return Ok(meta);
    }
    if kind.is_dir() {
        return Err(FileError::IsDirectory { path });
    }
    if kind.is_symlink() {
        return Err(FileError::Symlink {
            link: path.clone(),
            path,
        });
    }
    let kind = if kind.is_fifo() {
        "fifo"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_char_device() {
        "character device"
    } else {
        "special file"
    };
    Err(FileError::NotRegularFile { path, kind })
}

/// Read at most `cap` bytes. Reading `cap + 1` tells a file that grew past the cap since its
/// size was checked from one that is exactly `cap` bytes, without holding more than that.
/// The root directory as an `O_PATH` handle, for `openat2` (Linux only).
fn open_root_dir(root: &Path) -> Option<File> {
    #[cfg(target_os = "linux")]
    {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(root)
            .ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = root;
        None
    }
}

/// Reads the `seen` bytes the open handle's size said (fewer if the file shrank since).
fn read_seen(reader: impl Read, seen: u64, target: &Target) -> Result<Vec<u8>, FileError> {
    let mut bytes = Vec::with_capacity(usize::try_from(seen).unwrap_or(0));
    reader
        .take(seen)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(target, "read", e))?;
    Ok(bytes)
}

fn read_capped(reader: impl Read, cap: u64, target: &Target) -> Result<Vec<u8>, FileError> {
    let mut bytes = Vec::new();
    let read = reader.take(cap.saturating_add(1)).read_to_end(&mut bytes);
    read.map_err(|e| io_error(target, "read", e))?;
    let size = bytes.len() as u64;
    if size > cap {
        return Err(FileError::FileTooLarge {
            path: target.display(),
            size,
            limit: cap,
        });
    }
    Ok(bytes)
}

fn io_error(target: &Target, action: &'static str, source: io::Error) -> FileError {
    if source.kind() == io::ErrorKind::NotFound {
        return FileError::NotFound {
            path: target.display(),
        };
    }
    FileError::Io {
        path: target.display(),
        action,
        source,
    }
}

/// Quote a path for a message: escaped, and cut short so a 4 KB path cannot flood a reply.
fn quote(path: &str) -> String {
    let mut chars = path.chars();
    let head: String = chars.by_ref().take(QUOTE_MAX_CHARS).collect();
    let more = if chars.next().is_some() { "…" } else { "" };
    format!("\"{}{more}\"", head.escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// A unique directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let count = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let name = format!(
                "mcp-workspace-test-{}-{count}-{nanos:x}",
                std::process::id()
            );
            let dir = std::env::temp_dir().join(name);
            fs::create_dir(&dir).expect("create temp dir");
            TempDir(fs::canonicalize(&dir).expect("canonicalize temp dir"))
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A workspace in `<tmp>/root`, leaving `<tmp>/outside` for escape targets.
    struct Fixture {
        tmp: TempDir,
        ws: Workspace,
    }

    impl Fixture {
        fn new(cap: u64) -> Fixture {
            let tmp = TempDir::new();
            fs::create_dir(tmp.path().join("root")).expect("create root");
            fs::create_dir(tmp.path().join("outside")).expect("create outside");
            fs::write(tmp.path().join("outside/secret.txt"), "secret").expect("write secret");
            let ws = Workspace::new(&tmp.path().join("root"), cap).expect("open workspace");
            Fixture { tmp, ws }
        }

        fn root(&self) -> PathBuf {
            self.ws.root().to_path_buf()
        }

        fn outside(&self) -> PathBuf {
            self.tmp.path().join("outside")
        }

        /// Every entry below the root, relative, sorted.
        fn entries(&self) -> Vec<String> {
            fn collect(dir: &Path, base: &Path, out: &mut Vec<String>) {
                for entry in fs::read_dir(dir).expect("list dir") {
                    let path = entry.expect("dir entry").path();
                    let rel = path.strip_prefix(base).expect("below base");
                    out.push(rel.to_string_lossy().into_owned());
                    if fs::symlink_metadata(&path).expect("lstat").is_dir() {
                        collect(&path, base, out);
                    }
                }
            }
            let mut out = Vec::new();
            collect(self.ws.root(), self.ws.root(), &mut out);
            out.sort();
            out
        }
    }

    fn make_fifo(path: &Path) -> bool {
        let status = std::process::Command::new("mkfifo").arg(path).status();
        matches!(status, Ok(s) if s.success())
    }

    #[test]
    fn new_refuses_missing_root_and_files() {
        let tmp = TempDir::new();
        let missing = Workspace::new(&tmp.path().join("missing"), 10).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        fs::write(tmp.path().join("file"), "x").unwrap();
        let file = Workspace::new(&tmp.path().join("file"), 10).unwrap_err();
        assert!(file.to_string().contains("not a directory"), "{file}");
    }

    #[test]
    fn new_canonicalises_root_and_accepts_both_prefixes() {
        let tmp = TempDir::new();
        fs::create_dir(tmp.path().join("real")).unwrap();
        symlink(tmp.path().join("real"), tmp.path().join("link")).unwrap();
        let ws = Workspace::new(&tmp.path().join("link/."), 100).unwrap();
        assert_eq!(ws.root(), tmp.path().join("real"));
        assert_eq!(ws.max_file_bytes(), 100);

        let via_link = format!("{}/link/a.md", tmp.path().display());
        ws.write_text(&via_link, "one").unwrap();
        let via_real = format!("{}/real/a.md", tmp.path().display());
        assert_eq!(ws.read_text(&via_real).unwrap(), "one");
        assert_eq!(ws.resolve(&via_link).unwrap(), tmp.path().join("real/a.md"));
    }

    #[test]
    fn refuses_empty_and_nul() {
        let f = Fixture::new(100);
        assert!(matches!(f.ws.read_text(""), Err(FileError::EmptyPath)));
        assert!(matches!(
            f.ws.write_text("", "x"),
            Err(FileError::EmptyPath)
        ));
        let err = f.ws.write_text("a\0b", "x").unwrap_err();
        assert!(matches!(err, FileError::NulByte { .. }));
        assert_eq!(err.to_string(), r#"path "a\0b" contains a nul byte"#);
        assert!(f.entries().is_empty());
    }

    #[test]
    fn refuses_absolute_paths_outside_without_echoing_them() {
        let f = Fixture::new(100);
        let secret = f.outside().join("secret.txt");
        let secret = secret.to_str().unwrap();
        let long = format!("/etc/{}", "a/".repeat(PATH_MAX));
        for path in ["/etc/passwd", "/dev/null", secret, "/etc/pass\0wd", &long] {
            let read = f.ws.read_text(path).unwrap_err();
            assert!(matches!(read, FileError::OutsideRoot), "{path}: {read}");
            assert!(!read.to_string().contains(path));
            let write = f.ws.write_text(path, "x").unwrap_err();
            assert!(matches!(write, FileError::OutsideRoot), "{path}: {write}");
        }
        // A sibling whose name merely starts with the root's name is outside too.
        let sibling = format!("{}-evil/x", f.root().display());
        assert!(matches!(
            f.ws.resolve(&sibling),
            Err(FileError::OutsideRoot)
        ));
        assert_eq!(fs::read_to_string(secret).unwrap(), "secret");
    }

    #[test]
    fn accepts_absolute_paths_inside() {
        let f = Fixture::new(100);
        let path = format!("{}/docs/a.md", f.root().display());
        let written = f.ws.write_text(&path, "hi").unwrap();
        assert_eq!(written.path, "docs/a.md");
        assert_eq!(f.ws.read_text("docs/a.md").unwrap(), "hi");
    }

    #[test]
    fn refuses_dot_dot_escapes() {
        let f = Fixture::new(100);
        let absolute = format!("{}/../outside/secret.txt", f.root().display());
        for path in [
            "..",
            "../outside/secret.txt",
            "a/../../x",
            "./a/b/../../../x",
            &absolute,
        ] {
            let err = f.ws.read_text(path).unwrap_err();
            assert!(
                matches!(err, FileError::EscapesRoot { .. }),
                "{path}: {err}"
            );
            assert!(matches!(
                f.ws.write_text(path, "x"),
                Err(FileError::EscapesRoot { .. })
            ));
            assert!(
                !err.to_string().contains(f.tmp.path().to_str().unwrap()),
                "{err}"
            );
        }
        assert_eq!(
            fs::read_to_string(f.outside().join("secret.txt")).unwrap(),
            "secret"
        );
        assert!(!f.tmp.path().join("x").exists());
    }

    #[test]
    fn normalises_harmless_dot_dot_lexically() {
        let f = Fixture::new(100);
        let written = f.ws.write_text("a/../b.md", "b").unwrap();
        assert_eq!(written.path, "b.md");
        assert_eq!(f.ws.read_text("./x/.//../b.md").unwrap(), "b");
        assert_eq!(f.ws.resolve("a/./b/..").unwrap(), f.root().join("a"));
        // `a` was never created: the `..` was resolved in text, not on disk.
        assert_eq!(f.entries(), ["b.md"]);
    }

    #[test]
    fn root_itself_is_a_directory() {
        let f = Fixture::new(100);
        assert_eq!(f.ws.resolve(".").unwrap(), f.root());
        assert!(matches!(
            f.ws.read_text("."),
            Err(FileError::IsDirectory { .. })
        ));
        assert!(matches!(
            f.ws.write_text("a/..", "x"),
            Err(FileError::IsDirectory { .. })
        ));
    }

    #[test]
    fn refuses_symlinked_file_to_outside() {
        let f = Fixture::new(100);
        symlink(f.outside().join("secret.txt"), f.root().join("link.txt")).unwrap();
        let err = f.ws.read_text("link.txt").unwrap_err();
        assert!(matches!(err, FileError::Symlink { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            r#""link.txt" is a symbolic link; links are not followed in the workspace"#
        );
        assert!(matches!(
            f.ws.write_text("link.txt", "x"),
            Err(FileError::Symlink { .. })
        ));
        assert!(matches!(
            f.ws.resolve("link.txt"),
            Err(FileError::Symlink { .. })
        ));
        assert_eq!(
            fs::read_to_string(f.outside().join("secret.txt")).unwrap(),
            "secret"
        );
    }

    #[test]
    fn refuses_dangling_symlink_that_would_create_outside() {
        let f = Fixture::new(100);
        symlink(f.outside().join("new.txt"), f.root().join("new.txt")).unwrap();
        assert!(matches!(
            f.ws.write_text("new.txt", "x"),
            Err(FileError::Symlink { .. })
        ));
        assert!(matches!(
            f.ws.read_text("new.txt"),
            Err(FileError::Symlink { .. })
        ));
        assert!(!f.outside().join("new.txt").exists());
    }

    #[test]
    fn refuses_symlinked_parent_to_outside() {
        let f = Fixture::new(100);
        symlink(f.outside(), f.root().join("docs")).unwrap();
        let err = f.ws.read_text("docs/secret.txt").unwrap_err();
        assert!(
            matches!(&err, FileError::Symlink { link, .. } if link == "docs"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            r#"path "docs/secret.txt" goes through the symbolic link "docs"; links are not followed in the workspace"#
        );
        let write = f.ws.write_text("docs/sub/new.txt", "x").unwrap_err();
        assert!(matches!(write, FileError::Symlink { .. }), "{write}");
        assert!(!f.outside().join("sub").exists());
        assert_eq!(
            fs::read_to_string(f.outside().join("secret.txt")).unwrap(),
            "secret"
        );
    }

    #[test]
    fn refuses_symlinks_that_stay_inside_too() {
        let f = Fixture::new(100);
        f.ws.write_text("real/a.md", "a").unwrap();
        symlink(f.root().join("real"), f.root().join("alias")).unwrap();
        symlink("a.md", f.root().join("real/b.md")).unwrap();
        assert!(matches!(
            f.ws.read_text("alias/a.md"),
            Err(FileError::Symlink { .. })
        ));
        assert!(matches!(
            f.ws.read_text("real/b.md"),
            Err(FileError::Symlink { .. })
        ));
        assert!(matches!(
            f.ws.write_text("real/b.md", "b"),
            Err(FileError::Symlink { .. })
        ));
        assert_eq!(f.ws.read_text("real/a.md").unwrap(), "a");
    }

    #[test]
    fn refuses_fifo_without_blocking() {
        let f = Fixture::new(100);
        if !make_fifo(&f.root().join("pipe")) {
            return; // no mkfifo on this machine; the socket test covers special files
        }
        let err = f.ws.read_text("pipe").unwrap_err();
        assert!(
            matches!(err, FileError::NotRegularFile { kind: "fifo", .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            r#""pipe" is a fifo; only regular files can be read or written"#
        );
        let write = f.ws.write_text("pipe", "x").unwrap_err();
        assert!(matches!(
            write,
            FileError::NotRegularFile { kind: "fifo", .. }
        ));
    }

    #[test]
    fn refuses_sockets() {
        let f = Fixture::new(100);
        let _listener = std::os::unix::net::UnixListener::bind(f.root().join("sock")).unwrap();
        let err = f.ws.read_text("sock").unwrap_err();
        assert!(
            matches!(err, FileError::NotRegularFile { kind: "socket", .. }),
            "{err}"
        );
        let write = f.ws.write_text("sock", "x").unwrap_err();
        assert!(matches!(
            write,
            FileError::NotRegularFile { kind: "socket", .. }
        ));
    }

    #[test]
    fn refuses_device_through_a_link() {
        let f = Fixture::new(100);
        symlink("/dev/zero", f.root().join("zero")).unwrap();
        assert!(matches!(
            f.ws.read_text("zero"),
            Err(FileError::Symlink { .. })
        ));
    }

    #[test]
    fn reports_created_then_overwritten() {
        let f = Fixture::new(100);
        let first = f.ws.write_text("a.md", "first").unwrap();
        assert_eq!(
            first,
            Written {
                path: "a.md".into(),
                bytes: 5,
                created: true
            }
        );
        let second = f.ws.write_text("a.md", "2nd").unwrap();
        assert_eq!(
            second,
            Written {
                path: "a.md".into(),
                bytes: 3,
                created: false
            }
        );
        assert_eq!(f.ws.read_text("a.md").unwrap(), "2nd");
    }

    #[test]
    fn creates_parent_directories() {
        let f = Fixture::new(100);
        let written =
            f.ws.write_text("specs/feature/design.md", "# design")
                .unwrap();
        assert!(written.created);
        assert!(f.root().join("specs/feature").is_dir());
        assert_eq!(
            f.ws.read_text("specs/feature/design.md").unwrap(),
            "# design"
        );
    }

    #[test]
    fn atomic_writes_leave_no_temporary_files() {
        let f = Fixture::new(100);
        for i in 0..5 {
            f.ws.write_text("d/a.md", &format!("v{i}")).unwrap();
            f.ws.write_text("b.md", "").unwrap();
        }
        assert_eq!(f.entries(), ["b.md", "d", "d/a.md"]);
        assert_eq!(f.ws.read_text("d/a.md").unwrap(), "v4");
        assert_eq!(f.ws.read_text("b.md").unwrap(), "");
    }

    #[test]
    fn lock_creates_an_empty_file_and_excludes_a_second_holder() {
        let f = Fixture::new(100);
        let held = f.ws.lock("specs/.locks/a.lock", Duration::ZERO).unwrap();
        assert!(held.is_some());
        assert_eq!(
            f.entries(),
            ["specs", "specs/.locks", "specs/.locks/a.lock"]
        );
        assert_eq!(fs::read(f.root().join("specs/.locks/a.lock")).unwrap(), b"");
        let busy = f.ws.lock("specs/.locks/a.lock", Duration::from_millis(20));
        assert!(busy.unwrap().is_none(), "held by the first handle");
        drop(held);
        assert!(f
            .ws
            .lock("specs/.locks/a.lock", Duration::ZERO)
            .unwrap()
            .is_some());
    }

    #[test]
    fn lock_refuses_links_and_directories() {
        let f = Fixture::new(100);
        symlink(f.outside().join("new.lock"), f.root().join("x.lock")).unwrap();
        let err = f.ws.lock("x.lock", Duration::ZERO).unwrap_err();
        assert!(matches!(err, FileError::Symlink { .. }), "{err}");
        assert!(!f.outside().join("new.lock").exists());
        fs::create_dir(f.root().join("d.lock")).unwrap();
        let err = f.ws.lock("d.lock", Duration::ZERO).unwrap_err();
        assert!(matches!(err, FileError::IsDirectory { .. }), "{err}");
    }

    #[test]
    fn failed_replace_removes_its_temporary_file() {
        let f = Fixture::new(100);
        fs::create_dir(f.root().join("dir")).unwrap();
        fs::write(f.root().join("dir/keep"), "").unwrap();
        // Bypass write_text's checks so the rename itself fails, after the temp file exists.
        let target = f.ws.parse("dir").unwrap();
        let err = f.ws.replace(&target, b"x", None).unwrap_err();
        assert!(matches!(err, FileError::IsDirectory { .. }), "{err}");
        assert_eq!(f.entries(), ["dir", "dir/keep"]);
    }

    #[test]
    fn list_dir_skips_links_and_sorts() {
        let f = Fixture::new(1024);
        fs::create_dir_all(f.root().join("specs/b-spec")).expect("mkdir");
        fs::write(f.root().join("specs/a.md"), "a").expect("write");
        symlink(f.outside(), f.root().join("specs/link")).expect("symlink");
        let names: Vec<(String, bool)> =
            f.ws.list_dir("specs")
                .expect("list")
                .into_iter()
                .map(|e| (e.name, e.is_dir))
                .collect();
        assert_eq!(
            names,
            [("a.md".to_string(), false), ("b-spec".to_string(), true)]
        );
        assert_eq!(
            f.ws.list_dir("missing").expect("missing is empty"),
            Vec::new()
        );
        assert!(matches!(
            f.ws.list_dir("specs/link"),
            Err(FileError::Symlink { .. })
        ));
        assert!(matches!(
            f.ws.list_dir("../outside"),
            Err(FileError::EscapesRoot { .. })
        ));
        assert!(f
            .ws
            .list_dir("")
            .expect("root")
            .iter()
            .any(|e| e.name == "specs"));
        assert!(f.ws.is_file("specs/a.md"));
        assert!(
            !f.ws.is_file("specs/b-spec") && !f.ws.is_file("specs/link") && !f.ws.is_file("nope")
        );
    }

    #[test]
    fn temp_file_guard_removes_unless_kept() {
        let f = Fixture::new(100);
        let target = f.ws.parse("a.md").unwrap();
        let (_, temp) = create_temp(&target).unwrap();
        assert_eq!(f.entries().len(), 1);
        drop(temp);
        assert!(f.entries().is_empty());
        let (_, mut kept) = create_temp(&target).unwrap();
        kept.keep();
        drop(kept);
        assert_eq!(f.entries().len(), 1);
        assert!(f.entries()[0].starts_with(TEMP_PREFIX));
    }

    #[test]
    fn overwrite_keeps_permissions() {
        let f = Fixture::new(100);
        f.ws.write_text("a.sh", "one").unwrap();
        fs::set_permissions(f.root().join("a.sh"), fs::Permissions::from_mode(0o750)).unwrap();
        f.ws.write_text("a.sh", "two").unwrap();
        let mode = fs::metadata(f.root().join("a.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o750);
    }

    #[test]
    fn refuses_writing_over_or_reading_a_directory() {
        let f = Fixture::new(100);
        fs::create_dir(f.root().join("dir")).unwrap();
        let write = f.ws.write_text("dir", "x").unwrap_err();
        assert!(matches!(write, FileError::IsDirectory { .. }));
        assert_eq!(write.to_string(), r#""dir" is a directory, not a file"#);
        assert!(matches!(
            f.ws.read_text("dir/"),
            Err(FileError::IsDirectory { .. })
        ));
        assert_eq!(f.entries(), ["dir"]);
    }

    #[test]
    fn refuses_a_file_used_as_a_directory() {
        let f = Fixture::new(100);
        f.ws.write_text("a.md", "a").unwrap();
        let err = f.ws.write_text("a.md/b.md", "b").unwrap_err();
        assert!(matches!(&err, FileError::NotADirectory { parent, .. } if parent == "a.md"));
        assert_eq!(
            err.to_string(),
            r#"path "a.md/b.md": "a.md" is not a directory"#
        );
        assert!(matches!(
            f.ws.read_text("a.md/b.md"),
            Err(FileError::NotADirectory { .. })
        ));
    }

    #[test]
    fn reports_missing_files() {
        let f = Fixture::new(100);
        let err = f.ws.read_text("nope.md").unwrap_err();
        assert!(matches!(err, FileError::NotFound { .. }));
        assert_eq!(err.to_string(), r#"file "nope.md" does not exist"#);
        assert!(matches!(
            f.ws.read_text("no/dir/x.md"),
            Err(FileError::NotFound { .. })
        ));
        assert_eq!(
            f.ws.resolve("no/dir/x.md").unwrap(),
            f.root().join("no/dir/x.md")
        );
        assert!(f.entries().is_empty());
    }

    #[test]
    fn caps_written_content() {
        let f = Fixture::new(8);
        assert_eq!(f.ws.write_text("ok.md", "12345678").unwrap().bytes, 8);
        let err = f.ws.write_text("big.md", "123456789").unwrap_err();
        assert!(matches!(
            err,
            FileError::ContentTooLarge {
                size: 9,
                limit: 8,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            r#"content for "big.md" is 9 bytes, larger than the limit of 8 bytes"#
        );
        assert_eq!(f.entries(), ["ok.md"]);
    }

    #[test]
    fn caps_read_files() {
        let f = Fixture::new(8);
        fs::write(f.root().join("ok.md"), "12345678").unwrap();
        fs::write(f.root().join("big.md"), "123456789").unwrap();
        assert_eq!(f.ws.read_text("ok.md").unwrap(), "12345678");
        let err = f.ws.read_text("big.md").unwrap_err();
        assert!(
            matches!(
                err,
                FileError::FileTooLarge {
                    size: 9,
                    limit: 8,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            r#"file "big.md" is 9 bytes, larger than the limit of 8 bytes"#
        );
    }

    #[test]
    fn capped_read_stops_at_cap_plus_one() {
        // Stands in for a file that grows after its size was checked.
        let f = Fixture::new(8);
        let target = f.ws.parse("grow.md").unwrap();
        let endless = io::repeat(b'a');
        let err = read_capped(endless, 8, &target).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::FileTooLarge {
                    size: 9,
                    limit: 8,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            read_capped(&b"12345678"[..], 8, &target).unwrap(),
            b"12345678"
        );
        assert!(read_capped(&b""[..], 0, &target).unwrap().is_empty());
    }

    /// A read takes the size seen at the open: a file that grows meanwhile (here: an
    /// endless one) is read as it was, one that shrank as it is now.
    #[test]
    fn reads_take_the_size_seen_at_the_open() {
        let f = Fixture::new(8);
        let target = f.ws.parse("grow.md").unwrap();
        assert_eq!(read_seen(io::repeat(b'a'), 5, &target).unwrap(), b"aaaaa");
        assert_eq!(read_seen(&b"ab"[..], 5, &target).unwrap(), b"ab");
        fs::write(f.root().join("empty.md"), "").unwrap();
        assert_eq!(f.ws.read_text("empty.md").unwrap(), "");
        fs::write(f.root().join("full.md"), "12345678").unwrap();
        assert_eq!(f.ws.read_text("full.md").unwrap(), "12345678");
    }

    #[test]
    fn refuses_binary_files() {
        let f = Fixture::new(100);
        fs::write(f.root().join("nul.bin"), b"text\0more").unwrap();
        fs::write(f.root().join("latin1.txt"), b"caf\xe9").unwrap();
        let nul = f.ws.read_text("nul.bin").unwrap_err();
        assert!(matches!(nul, FileError::Binary { .. }));
        assert!(nul.to_string().contains("binary"), "{nul}");
        let latin1 = f.ws.read_text("latin1.txt").unwrap_err();
        assert!(matches!(latin1, FileError::NotUtf8 { .. }));
        assert_eq!(
            latin1.to_string(),
            r#"file "latin1.txt" is binary (not valid utf-8); only utf-8 text can be read"#
        );
    }

    #[test]
    fn handles_unicode_names_and_content() {
        let f = Fixture::new(100);
        let written = f.ws.write_text("spécs/设计.md", "héllo ✓").unwrap();
        assert_eq!(written.path, "spécs/设计.md");
        assert_eq!(written.bytes, "héllo ✓".len() as u64);
        assert!(f.root().join("spécs/设计.md").is_file());
        assert_eq!(f.ws.read_text("spécs/设计.md").unwrap(), "héllo ✓");
        let err = f.ws.read_text("spécs/缺.md").unwrap_err();
        assert_eq!(err.to_string(), r#"file "spécs/缺.md" does not exist"#);
    }

    #[test]
    fn enforces_name_max() {
        let f = Fixture::new(100);
        let longest = "n".repeat(NAME_MAX);
        assert!(f.ws.write_text(&longest, "x").unwrap().created);
        assert_eq!(f.ws.read_text(&longest).unwrap(), "x");
        for name in ["n".repeat(NAME_MAX + 1), "é".repeat(128)] {
            let err = f.ws.write_text(&format!("d/{name}"), "x").unwrap_err();
            assert!(
                matches!(
                    err,
                    FileError::NameTooLong {
                        limit: NAME_MAX,
                        ..
                    }
                ),
                "{err}"
            );
            assert!(
                err.to_string().contains("…"),
                "long paths are cut short: {err}"
            );
        }
        assert_eq!(f.entries(), [longest]);
    }

    #[test]
    fn enforces_path_max() {
        let f = Fixture::new(100);
        let raw = "a/".repeat(PATH_MAX / 2 + 1);
        let err = f.ws.read_text(&raw).unwrap_err();
        assert!(matches!(err, FileError::PathTooLong { limit, .. } if limit == PATH_MAX - 1));
        assert!(err.to_string().len() < 300, "message is short: {err}");
        // Short enough alone, too long once joined to the root.
        let mut near = String::new();
        while near.len() + NAME_MAX < PATH_MAX - 6 {
            near += &"d".repeat(NAME_MAX - 1);
            near.push('/');
        }
        near += &"e".repeat(PATH_MAX - 6 - near.len());
        assert!(near.len() < PATH_MAX - 1);
        assert!(f.root().join(&near).as_os_str().len() > PATH_MAX - 1);
        let err = f.ws.write_text(&near, "x").unwrap_err();
        assert!(matches!(err, FileError::PathTooLong { .. }), "{err}");
        assert!(f.entries().is_empty());
    }

    #[test]
    fn nofollow_flag_refuses_a_final_link() {
        // Guards the hand-written O_NOFOLLOW constant for this target.
        let f = Fixture::new(100);
        symlink(f.outside().join("secret.txt"), f.root().join("link")).unwrap();
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(oflags::O_NOFOLLOW | oflags::O_NONBLOCK)
            .open(f.root().join("link"));
        assert!(opened.is_err());
    }

    /// The one-call open takes what the long way accepts and hands everything else back
    /// to it (which refuses it with its own words), including a root moved away since the
    /// start, whose files are then no longer at the configured path.
    #[cfg(target_os = "linux")]
    #[test]
    fn open_beneath_takes_only_plain_files_below_the_root() {
        let f = Fixture::new(8);
        f.ws.write_text("docs/a.md", "a").unwrap();
        f.ws.write_text("big.md", "123456789").unwrap_err();
        fs::write(f.root().join("big.md"), "123456789").unwrap();
        symlink(f.outside(), f.root().join("out")).unwrap();
        symlink(f.root().join("docs/a.md"), f.root().join("alias.md")).unwrap();
        let fifo = make_fifo(&f.root().join("pipe"));
        let open = |path: &str| f.ws.open_beneath(&f.ws.parse(path).unwrap()).is_some();
        assert!(open("docs/a.md"), "a plain file: one call");
        for refused in ["out/secret.txt", "alias.md", "big.md", "docs", "missing.md"] {
            assert!(!open(refused), "{refused} goes the long way");
            assert!(f.ws.read_text(refused).is_err(), "{refused} is refused");
        }
        if fifo {
            assert!(!open("pipe"));
        }
        assert_eq!(f.ws.read_text("docs/a.md").unwrap(), "a");

        let moved = f.tmp.path().join("moved");
        fs::rename(f.root(), &moved).unwrap();
        fs::create_dir(f.tmp.path().join("root")).unwrap();
        fs::create_dir(f.tmp.path().join("root/docs")).unwrap();
        fs::write(f.tmp.path().join("root/docs/a.md"), "new").unwrap();
        assert!(
            !open("docs/a.md"),
            "the held root is no longer the configured one"
        );
        assert_eq!(f.ws.read_text("docs/a.md").unwrap(), "new");
    }

    #[test]
    fn confirm_location_detects_a_swapped_file() {
        let f = Fixture::new(100);
        f.ws.write_text("a.md", "a").unwrap();
        f.ws.write_text("b.md", "b").unwrap();
        let a = f.ws.parse("a.md").unwrap();
        let b = f.ws.parse("b.md").unwrap();
        let file = File::open(&a.full).unwrap();
        let meta = file.metadata().unwrap();
        assert!(f.ws.confirm_location(&file, &meta, &a).is_ok());
        let err = f.ws.confirm_location(&file, &meta, &b).unwrap_err();
        assert!(matches!(err, FileError::Changed { .. }));
        assert!(f.ws.confirm_by_inode(&meta, &a).is_ok());
        assert!(matches!(
            f.ws.confirm_by_inode(&meta, &b),
            Err(FileError::Changed { .. })
        ));
    }

    #[test]
    fn messages_are_lowercase_without_trailing_period() {
        let io = || io::Error::other("boom");
        let path = || "a.md".to_string();
        let errors = [
            FileError::EmptyPath,
            FileError::NulByte { path: path() },
            FileError::OutsideRoot,
            FileError::EscapesRoot { path: path() },
            FileError::PathTooLong {
                path: path(),
                len: 5000,
                limit: 4095,
            },
            FileError::NameTooLong {
                path: path(),
                len: 300,
                limit: 255,
            },
            FileError::Symlink {
                path: path(),
                link: "a".into(),
            },
            FileError::NotADirectory {
                path: path(),
                parent: "a".into(),
            },
            FileError::NotFound { path: path() },
            FileError::IsDirectory { path: path() },
            FileError::NotRegularFile {
                path: path(),
                kind: "fifo",
            },
            FileError::FileTooLarge {
                path: path(),
                size: 2,
                limit: 1,
            },
            FileError::ContentTooLarge {
                path: path(),
                size: 2,
                limit: 1,
            },
            FileError::Binary { path: path() },
            FileError::NotUtf8 { path: path() },
            FileError::Changed { path: path() },
            FileError::Io {
                path: path(),
                action: "read",
                source: io(),
            },
        ];
        for err in &errors {
            let text = err.to_string();
            let first = text.chars().next().unwrap();
            assert!(!first.is_uppercase() && !text.ends_with('.'), "{text}");
        }
        let with_source = &errors[errors.len() - 1];
        assert!(std::error::Error::source(with_source).is_some());
        assert_eq!(with_source.to_string(), r#"cannot read "a.md": boom"#);
    }
}
