//! systemd socket activation (`sd_listen_fds(3)`): when started by `mcp-server-spec.socket`
//! the listening socket is inherited as file descriptor 3, so the port stays open across
//! restarts and upgrades and no connection attempt is refused in between.
//!
//! The protocol: `LISTEN_PID` names this process and `LISTEN_FDS` counts the descriptors
//! passed from 3 on. Anything else (variables for another process, a descriptor that is
//! not a listening stream socket) is ignored or refused with a clear error.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};

use crate::error::Error;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// The inherited listener, if this process was socket-activated.
pub fn inherited_listener() -> Result<Option<TcpListener>, Error> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        log::debug!("LISTEN_PID={pid} names another process; binding normally");
        return Ok(None);
    }
    let count: i32 = fds
        .trim()
        .parse()
        .map_err(|_| Error::usage(format!("LISTEN_FDS: invalid value '{fds}'")))?;
    // Children (none today) must not inherit the activation (sd_listen_fds "unset_environment").
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    if count < 1 {
        return Ok(None);
    }
    if count > 1 {
        log::warn!(
            "socket activation passed {count} sockets; serving the first, ignoring the rest"
        );
    }
    check_listening_stream(LISTEN_FDS_START)?;
    // SAFETY: the descriptor was passed to us by the service manager for this purpose, was
    // just checked to be an open listening stream socket, and nothing else owns it.
    let listener = unsafe { TcpListener::from_raw_fd(LISTEN_FDS_START) };
    set_cloexec(LISTEN_FDS_START)?;
    Ok(Some(listener))
}

fn check_listening_stream(fd: RawFd) -> Result<(), Error> {
    let not_a_listener = || {
        Error::usage(format!(
            "LISTEN_FDS: descriptor {fd} is not a listening TCP socket"
        ))
    };
    let mut kind: libc::c_int = 0;
    let mut accepting: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into the int we own.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut kind as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 || kind != libc::SOCK_STREAM {
        return Err(not_a_listener());
    }
    len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: as above.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut accepting as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 || accepting == 0 {
        return Err(not_a_listener());
    }
    Ok(())
}

fn set_cloexec(fd: RawFd) -> Result<(), Error> {
    // SAFETY: fcntl on a descriptor we own, with flag arguments only.
    let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    if rc != 0 {
        return Err(Error::io(
            "socket activation: setting FD_CLOEXEC",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}
