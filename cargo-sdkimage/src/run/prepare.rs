//! `[[prepare]]` steps: each manifest's commands once per run, in build order, each in a
//! process group of its own that a cancelled run stops for good.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{Session, shell_words};
use crate::error::Error;
use crate::manifest::Manifest;
use crate::plan::ImageIndex;

/// Run each selected manifest's `[[prepare]]` commands once, in build order, and check the
/// artifacts its `[[copy]]` entries bring in. Returns, per image of a manifest whose step
/// failed, why: those images fail, their dependants are skipped. The first failure stops the
/// remaining steps unless `keep_going`.
pub async fn prepare(
    session: &Session,
    selection: &[ImageIndex],
    keep_going: bool,
) -> BTreeMap<ImageIndex, String> {
    let mut done = BTreeSet::new();
    let mut failed_manifests = BTreeMap::new();
    for &i in selection {
        let mi = session.plan.image(i).manifest;
        if !done.insert(mi) {
            continue;
        }
        if let Err(e) = prepare_manifest(session, session.plan.manifest(mi)).await {
            failed_manifests.insert(mi, e.to_string());
            if !keep_going {
                break;
            }
        }
    }
    selection
        .iter()
        .filter_map(|&i| {
            let why = failed_manifests.get(&session.plan.image(i).manifest)?;
            Some((i, why.clone()))
        })
        .collect()
}

async fn prepare_manifest(session: &Session, m: &Manifest) -> crate::Result<()> {
    let manifest = session.ws.display_path(&m.path);
    for p in &m.prepare {
        let words = shell_words(&p.run);
        session.reporter.note(crate::output::Note::Prepare {
            language: m.language.clone(),
            run: p.run.clone(),
        });
        let program = if p.run[0] == "cargo" {
            std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
        } else {
            p.run[0].clone()
        };
        let mut command = tokio::process::Command::new(&program);
        command
            .args(&p.run[1..])
            .current_dir(&p.cwd)
            .envs(&p.env)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = run_in_own_group(command).await.map_err(|e| {
            Error::Failed(format!(
                "prepare step of {manifest} failed: cannot run `{words}`: {e}"
            ))
        })?;
        if !output.status.success() {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..]
                .iter()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n");
            return Err(Error::Failed(format!(
                "prepare step of {manifest} failed: `{words}` ({}) in {}\n{tail}",
                output.status,
                session.ws.display_path(&p.cwd),
            )));
        }
    }
    m.check_artifacts(&session.ws.root)
}

/// Run a prepare command in a process group of its own and collect its output. When the run
/// is cancelled (this future dropped), the whole group is stopped: the command's children
/// (compilers a `cargo build` started, a shell's `sleep`) do not outlive us.
async fn run_in_own_group(
    mut command: tokio::process::Command,
) -> std::io::Result<std::process::Output> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    #[cfg(unix)]
    command.process_group(0);
    let child = command.spawn()?;
    struct GroupGuard(Option<u32>);
    impl Drop for GroupGuard {
        fn drop(&mut self) {
            #[cfg(unix)]
            if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
                stop_group(pid);
            }
        }
    }
    let mut guard = GroupGuard(child.id());
    let output = child.wait_with_output().await;
    guard.0 = None;
    output
}

/// How long a cancelled prepare step's processes get to end on SIGTERM before SIGKILL.
const PREPARE_GRACE: Duration = Duration::from_secs(2);

/// Stop process group `pgid` for good: SIGTERM now; SIGKILL to what is left after
/// [`PREPARE_GRACE`]; the group leader (our child) reaped. Runs as a deferred cleanup, which
/// the end of the run waits for, so nothing of the step outlives the tool.
#[cfg(unix)]
fn stop_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let reap = move || {
        let mut status = 0;
        // SAFETY: waitpid on our own child, without blocking.
        unsafe { libc::waitpid(pgid, &mut status, libc::WNOHANG) };
    };
    let group_alive = move || {
        reap();
        // SAFETY: signal 0 only checks whether any process of the group exists.
        unsafe { libc::kill(-pgid, 0) == 0 }
    };
    crate::interrupt::defer_cleanup(async move {
        let deadline = Instant::now() + PREPARE_GRACE;
        while group_alive() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if group_alive() {
            // SAFETY: as above; the group ignored SIGTERM.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            let deadline = Instant::now() + Duration::from_millis(500);
            while group_alive() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
}
