//! Process signals as messages: signal-hook's iterator on one named thread turns SIGTERM,
//! SIGINT and SIGHUP into [`Signal`] values for whoever owns the serving loop (the HTTP
//! transport). Nothing runs inside a signal handler but signal-hook's self-pipe write.

use std::io;
use std::thread::{self, JoinHandle};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

/// What a signal asks the server to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: stop accepting, drain, exit 0.
    Terminate,
    /// SIGHUP: reload the TLS certificate and key.
    Reload,
}

/// The signal thread; [`Listener::close`] (or drop) stops and joins it.
pub struct Listener {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

/// Installs the handlers and calls `deliver` for each signal, on a thread named
/// `mcp-signals`, until the listener is closed.
pub fn listen<F>(deliver: F) -> io::Result<Listener>
where
    F: Fn(Signal) + Send + 'static,
{
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let handle = signals.handle();
    let thread = thread::Builder::new()
        .name("mcp-signals".into())
        .spawn(move || {
            for number in signals.forever() {
                let signal = if number == SIGHUP {
                    Signal::Reload
                } else {
                    Signal::Terminate
                };
                log::info!("received signal {number} ({signal:?})");
                deliver(signal);
            }
        })?;
    Ok(Listener {
        handle,
        thread: Some(thread),
    })
}

impl Listener {
    /// Stops listening; the default disposition of the signals is not restored, so a
    /// second SIGTERM during the final exit is simply ignored.
    pub fn close(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close();
    }
}
