//! Where a build comes from: the git commit and remote of the workspace, and the one timestamp
//! rule every generated artifact follows (`SOURCE_DATE_EPOCH`, else the commit's time), so
//! two builds of one commit describe themselves alike. git is asked through its CLI; a
//! workspace that is no git checkout (or a machine without git) simply has no revision.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// The environment variable of reproducible builds (reproducible-builds.org/specs/source-date-epoch).
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z).
const LAST_SECOND: u64 = 253_402_300_799;

/// What git and the environment say about the workspace's source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// `git remote get-url origin`, without any credentials it holds.
    pub remote: Option<String>,
    /// The commit checked out, with `-dirty` when tracked files differ from it.
    pub revision: Option<String>,
    /// `SOURCE_DATE_EPOCH`, else the commit's time, RFC 3339 UTC with seconds; `None` when
    /// neither is known (no checkout): a label of the build time would make every rebuild of
    /// the same inputs another image.
    pub created: Option<String>,
}

impl Provenance {
    /// Read git and the environment once, in the workspace `root`.
    ///
    /// The three git commands (remote, status, the commit and its time) run at once, each in
    /// its own thread: one after the other they were a fixed ~40 ms of every build.
    pub fn read(root: &Path) -> Result<Provenance> {
        let env = std::env::var(SOURCE_DATE_EPOCH).ok();
        let (remote, changes, head) = std::thread::scope(|scope| {
            let remote = scope.spawn(|| remote_url(root));
            let changes =
                scope.spawn(|| git(root, &["status", "--porcelain", "--untracked-files=no"]));
            let head = head(root);
            (
                remote.join().ok().flatten(),
                changes.join().ok().flatten(),
                head,
            )
        });
        let (commit, time) = head.unzip();
        Ok(Provenance {
            remote,
            revision: commit.zip(changes).map(|(c, ch)| dirty(c, &ch)),
            created: source_date(env.as_deref(), || time.flatten())?.map(rfc3339),
        })
    }
}

/// The creation time of what a build makes, RFC 3339 UTC with seconds
/// (`2023-11-14T22:13:20Z`): `SOURCE_DATE_EPOCH` when set, else the time of the commit checked
/// out in `root`, else now. An invalid `SOURCE_DATE_EPOCH` is a usage error naming its value.
pub fn created(root: &Path) -> Result<String> {
    let env = std::env::var(SOURCE_DATE_EPOCH).ok();
    let time = source_date(env.as_deref(), || commit_time(root))?;
    Ok(rfc3339(time.unwrap_or_else(SystemTime::now)))
}

/// The epoch of [`created`]'s rule as seconds since 1970 (`SOURCE_DATE_EPOCH`, else the
/// commit's time), without its last resort: `None` when neither is known.
pub fn epoch_seconds(root: &Path) -> Result<Option<u64>> {
    let env = std::env::var(SOURCE_DATE_EPOCH).ok();
    let time = source_date(env.as_deref(), || commit_time(root))?;
    Ok(time.map(|t| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())))
}

/// The rule of [`created`] with its inputs given, before its last resort (now): the value of
/// `SOURCE_DATE_EPOCH` (`None`: unset; an empty value counts as unset, as in the spec), else
/// the commit's time; `None` when neither is known.
pub fn source_date(
    env: Option<&str>,
    commit: impl FnOnce() -> Option<SystemTime>,
) -> Result<Option<SystemTime>> {
    match env.map(str::trim).filter(|v| !v.is_empty()) {
        Some(value) => parse_epoch(value).map(Some).map_err(|why| {
            Error::Usage(format!(
                "{SOURCE_DATE_EPOCH}={}: {why}; set it to the seconds since 1970-01-01 UTC (e.g. `export {SOURCE_DATE_EPOCH}=$(git log -1 --format=%ct)`) or unset it",
                crate::error::quoted(value)
            ))
        }),
        None => Ok(commit()),
    }
}

/// Why a `SOURCE_DATE_EPOCH` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum EpochError {
    #[error("not a whole, non-negative number of seconds")]
    NotSeconds,
    #[error("after 9999-12-31T23:59:59Z, which RFC 3339 cannot write")]
    TooLate,
}

fn parse_epoch(value: &str) -> std::result::Result<SystemTime, EpochError> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EpochError::NotSeconds);
    }
    match value.parse::<u64>() {
        Ok(secs) if secs <= LAST_SECOND => Ok(UNIX_EPOCH + Duration::from_secs(secs)),
        _ => Err(EpochError::TooLate),
    }
}

/// `time` as RFC 3339 UTC with whole seconds; past year 9999 (which RFC 3339 cannot write),
/// its last second.
pub fn rfc3339(time: SystemTime) -> String {
    let last = UNIX_EPOCH + Duration::from_secs(LAST_SECOND);
    humantime::format_rfc3339_seconds(time.clamp(UNIX_EPOCH, last)).to_string()
}

/// `git <args>` in `root`: its trimmed stdout when it succeeds; `None` when git is missing,
/// `root` is no checkout, or the command fails. Never takes git's optional locks (`git status`
/// would otherwise refresh the index), so a git command the user runs meanwhile never fails.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("--no-optional-locks")
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit time of `HEAD`.
fn commit_time(root: &Path) -> Option<SystemTime> {
    head(root)?.1
}

/// `HEAD`'s commit id and its time, from one `git log`; `None` without a checkout or a commit.
/// (`--no-show-signature`: a `log.showSignature` setting would put gpg's lines in the output.)
fn head(root: &Path) -> Option<(String, Option<SystemTime>)> {
    let out = git(
        root,
        &["log", "-1", "--no-show-signature", "--format=%H %ct"],
    )?;
    parse_head(&out)
}

/// `<commit id> <seconds>`, as `git log --format=%H %ct` writes it.
fn parse_head(out: &str) -> Option<(String, Option<SystemTime>)> {
    let (id, secs) = out.split_once(' ').unwrap_or((out, ""));
    let time = secs
        .parse()
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s));
    (!id.is_empty()).then(|| (id.to_string(), time))
}

/// `commit`, with `-dirty` when `git status --porcelain --untracked-files=no` listed
/// `changes`: a tracked file differs from it (staged or not), as `git describe --dirty` decides;
/// untracked files (build outputs, metadata files) do not count.
fn dirty(commit: String, changes: &str) -> String {
    if changes.is_empty() {
        commit
    } else {
        format!("{commit}-dirty")
    }
}

/// `git remote get-url origin`, with user and password removed from a URL.
pub fn remote_url(root: &Path) -> Option<String> {
    let url = git(root, &["remote", "get-url", "origin"])?;
    (!url.is_empty()).then(|| without_credentials(&url))
}

/// A URL without the user name and password it may carry (`https://user:token@host/x` ->
/// `https://host/x`); scp-like addresses (`git@host:org/repo.git`) stay as they are.
pub fn without_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed)
            if parsed.has_host()
                && (!parsed.username().is_empty() || parsed.password().is_some()) =>
        {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commit_and_its_time_come_from_one_line() {
        let id = "e248ce9644400d6fca5ba96ab01c6b94aab57971";
        let (commit, time) = parse_head(&format!("{id} 1700000000")).unwrap();
        assert_eq!(commit, id);
        assert_eq!(time, Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
        assert_eq!(parse_head(id).unwrap().1, None);
        assert_eq!(parse_head(""), None);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_seconds() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc3339(at(1_700_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        // Sub-second parts are dropped, not rounded.
        assert_eq!(
            rfc3339(at(1_700_000_000) + Duration::from_millis(999)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(rfc3339(at(LAST_SECOND)), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(at(LAST_SECOND + 100)), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn source_date_epoch_wins_over_the_commit_then_now() {
        let commit = || Some(UNIX_EPOCH + Duration::from_secs(1_600_000_000));
        let when = |env| rfc3339(source_date(env, commit).unwrap().unwrap());
        assert_eq!(when(Some("1700000000")), "2023-11-14T22:13:20Z");
        assert_eq!(when(Some(" 1700000000\n")), "2023-11-14T22:13:20Z");
        // Unset or empty: the commit's time.
        assert_eq!(when(None), "2020-09-13T12:26:40Z");
        assert_eq!(when(Some("")), "2020-09-13T12:26:40Z");
        // No commit: unknown to the rule, and now for `created`.
        assert_eq!(source_date(None, || None).unwrap(), None);
        if std::env::var_os(SOURCE_DATE_EPOCH).is_none() {
            let dir = tempfile::tempdir().unwrap();
            let before = rfc3339(SystemTime::now() - Duration::from_secs(1));
            let now = created(dir.path()).unwrap();
            assert!(now >= before, "{now} {before}");
        }
    }

    #[test]
    fn a_bad_source_date_epoch_is_a_usage_error_naming_it() {
        for bad in [
            "-1",
            "1.5",
            "yesterday",
            "99999999999999999999999",
            "253402300800",
        ] {
            let err = source_date(Some(bad), || None).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{bad}: {err:?}");
            let text = err.to_string();
            assert!(
                text.contains(SOURCE_DATE_EPOCH) && text.contains(bad),
                "{text}"
            );
        }
    }

    #[test]
    fn credentials_never_reach_the_source_label() {
        assert_eq!(
            without_credentials("https://user:ghp_secret@github.com/org/repo.git"),
            "https://github.com/org/repo.git"
        );
        assert_eq!(
            without_credentials("https://token@example.com/x"),
            "https://example.com/x"
        );
        assert_eq!(
            without_credentials("https://github.com/apache/beam"),
            "https://github.com/apache/beam"
        );
        assert_eq!(
            without_credentials("git@github.com:apache/beam.git"),
            "git@github.com:apache/beam.git"
        );
    }

    #[test]
    fn git_gives_the_revision_dirty_state_remote_and_commit_time() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let revision = |root| Provenance::read(root).unwrap().revision;
        assert_eq!(revision(root), None, "not a checkout");
        assert_eq!(remote_url(root), None);
        let run = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(root)
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .env("GIT_COMMITTER_DATE", "1700000000 +0000")
                .env("GIT_AUTHOR_DATE", "1700000000 +0000")
                .output()
                .unwrap();
            assert!(ok.status.success(), "git {args:?}: {ok:?}");
        };
        run(&["init", "-q"]);
        std::fs::write(root.join("a"), "1").unwrap();
        run(&["add", "a"]);
        run(&["commit", "-q", "-m", "one"]);
        run(&[
            "remote",
            "add",
            "origin",
            "https://bot:secret@example.com/org/repo.git",
        ]);
        let head = git(root, &["rev-parse", "HEAD"]).unwrap();
        assert_eq!(head.len(), 40);
        assert_eq!(revision(root), Some(head.clone()));
        assert_eq!(
            remote_url(root).as_deref(),
            Some("https://example.com/org/repo.git")
        );
        assert_eq!(
            rfc3339(source_date(None, || commit_time(root)).unwrap().unwrap()),
            "2023-11-14T22:13:20Z"
        );
        // An untracked file is no change; an edit of a tracked one is.
        std::fs::write(root.join("untracked"), "x").unwrap();
        assert_eq!(revision(root), Some(head.clone()));
        std::fs::write(root.join("a"), "2").unwrap();
        assert_eq!(revision(root), Some(format!("{head}-dirty")));
    }
}
