//! SIGINT and SIGTERM, watched once per process and shared by every part of a run: the
//! scheduler cancels builds when one arrives, the command layer stops what else is running.

use tokio::sync::watch;

/// The name of a signal number we watch.
pub fn name(number: i32) -> &'static str {
    if number == 2 { "SIGINT" } else { "SIGTERM" }
}

/// A handle on the process's interruption: cheap to clone, every clone sees the signal.
#[derive(Clone)]
pub struct Interrupt {
    rx: watch::Receiver<Option<i32>>,
}

impl Interrupt {
    /// Start watching SIGINT and SIGTERM (call inside the runtime, once per process).
    pub fn install() -> std::io::Result<Interrupt> {
        let (tx, rx) = watch::channel(None);
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut int = signal(SignalKind::interrupt())?;
            let mut term = signal(SignalKind::terminate())?;
            tokio::spawn(async move {
                let number = tokio::select! {
                    _ = int.recv() => 2,
                    _ = term.recv() => 15,
                };
                let _ = tx.send(Some(number));
            });
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(Some(2));
            }
        });
        Ok(Interrupt { rx })
    }

    /// A handle that is never interrupted (library callers without signal handling, tests).
    pub fn never() -> Interrupt {
        let (tx, rx) = watch::channel(None);
        std::mem::forget(tx);
        Interrupt { rx }
    }

    /// The signal number, once one arrived.
    pub fn received(&self) -> Option<i32> {
        *self.rx.borrow()
    }

    /// Wait for SIGINT (2) or SIGTERM (15).
    pub async fn wait(&mut self) -> i32 {
        loop {
            if let Some(signal) = *self.rx.borrow_and_update() {
                return signal;
            }
            if self.rx.changed().await.is_err() {
                // The watcher is gone: no signal will ever come.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Cleanups started when a cancelled future is dropped (a scan container to remove, ...):
/// `Drop` cannot await, so it spawns them here and the end of the run waits for them.
static CLEANUPS: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>> =
    std::sync::Mutex::new(Vec::new());

/// Run `cleanup` in the background now; [`finish_cleanups`] waits for it before the process
/// exits. Without a runtime (outside one), nothing can run it and it is dropped.
pub fn defer_cleanup(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let handle = runtime.spawn(cleanup);
        if let Ok(mut all) = CLEANUPS.lock() {
            all.push(handle);
        }
    }
}

/// Wait (at most `limit`) for the cleanups deferred so far.
pub async fn finish_cleanups(limit: std::time::Duration) {
    let handles = match CLEANUPS.lock() {
        Ok(mut all) => std::mem::take(&mut *all),
        Err(_) => return,
    };
    let _ = tokio::time::timeout(limit, futures_util::future::join_all(handles)).await;
}
