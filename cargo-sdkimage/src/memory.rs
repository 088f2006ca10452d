//! Process-wide allocator settings, made once at start-up ([`tune_allocator`], from
//! `cli::main`, before any thread starts).
//!
//! glibc's malloc gives a thread that finds the arenas busy an arena of its own, up to eight per
//! core, and memory freed into one arena serves only allocations from that arena. A build runs
//! tokio's workers and blocking threads (the context walk, the hashing threads, the file sync's
//! readers, each holding read buffers of 256 KiB): with an arena each, the peak RSS grows with
//! the number of threads that ever allocated, not with what is live. Two arenas (the number of
//! threads allocating at once on a small machine) let freed buffers be reused across threads.
//! `MALLOC_ARENA_MAX` in the environment still wins: it is read by glibc before this runs and
//! this leaves it alone when set.

/// Cap glibc's malloc arenas at [`ARENA_MAX`] unless `MALLOC_ARENA_MAX` says otherwise. A no-op
/// on other C libraries.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes malloc's parameters; it is called before any other
        // thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
        }
    }
}

/// The arenas malloc may use.
pub const ARENA_MAX: libc::c_int = 2;
