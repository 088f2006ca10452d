//! The workspace lock: one run at a time changes the state and the images' tags.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// An exclusive lock on the workspace's state, held for the whole run.
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Take the lock; when another run holds it, say so and wait.
    pub fn acquire(state_dir: &Path, on_wait: impl FnOnce()) -> Result<StateLock> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::io(format!("cannot create {}", state_dir.display()), e))?;
        let path = state_dir.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait();
                file.lock()
                    .map_err(|e| Error::io(format!("cannot lock {}", path.display()), e))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(format!("cannot lock {}", path.display()), e));
            }
        }
        Ok(StateLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_waits_for_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first =
            StateLock::acquire(dir.path(), || panic!("the first run does not wait")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let waited = std::sync::atomic::AtomicBool::new(false);
            let lock = StateLock::acquire(&path, || {
                waited.store(true, std::sync::atomic::Ordering::SeqCst)
            })
            .unwrap();
            tx.send(()).unwrap();
            drop(lock);
            waited.load(std::sync::atomic::Ordering::SeqCst)
        });
        // The second run is blocked while the first holds the lock.
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(300))
                .is_err()
        );
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert!(second.join().unwrap(), "the second run said it was waiting");
    }
}
