//! `ssh://[user@]host[:port]` engines, reached as the docker CLI reaches them: every connection
//! is an `ssh` process running `docker system dial-stdio` on the remote host, its stdin and
//! stdout the connection. bollard speaks to a local socket of ours that starts one such process
//! per connection it accepts, so builds, pushes and BuildKit sessions all go over ssh.

use std::process::Stdio;

use tokio::net::UnixListener;
use tokio::process::Command;

use super::EngineHost;
use crate::error::{Error, Result};

/// What is wrong with an `ssh://` engine URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum SshUrlError {
    #[error("`{url}` is not a valid ssh URL: {source}")]
    Invalid {
        url: String,
        source: url::ParseError,
    },
    #[error("`{url}` names no host")]
    NoHost { url: String },
    #[error("`{url}`: an ssh engine URL has no path (ssh://[user@]host[:port])")]
    HasPath { url: String },
}

/// `ssh://me@host:2222` -> the arguments of `ssh` before the remote command.
pub(super) fn ssh_args(url: &str) -> std::result::Result<Vec<String>, SshUrlError> {
    let parsed = url::Url::parse(url).map_err(|source| SshUrlError::Invalid {
        url: url.to_string(),
        source,
    })?;
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| SshUrlError::NoHost {
            url: url.to_string(),
        })?;
    if !matches!(parsed.path(), "" | "/") {
        return Err(SshUrlError::HasPath {
            url: url.to_string(),
        });
    }
    let mut args = vec!["-o".to_string(), "BatchMode=yes".to_string()];
    if let Some(port) = parsed.port() {
        args.extend(["-p".to_string(), port.to_string()]);
    }
    let target = match parsed.username() {
        "" => host.to_string(),
        user => format!("{user}@{host}"),
    };
    args.extend(["--".to_string(), target]);
    Ok(args)
}

/// A local socket whose every connection is `ssh ... docker system dial-stdio`; the host to
/// give bollard instead of the ssh URL. The socket lives as long as the runtime.
pub(super) async fn dial(host: EngineHost) -> Result<EngineHost> {
    let args = ssh_args(&host.host).map_err(|e| Error::Usage(e.to_string()))?;
    let dir = tempfile::Builder::new()
        .prefix("sdkimage-ssh-")
        .tempdir()
        .map_err(|e| Error::io("cannot make a folder for the ssh engine's socket", e))?;
    let socket = dir.path().join("engine.sock");
    let listener = UnixListener::bind(&socket)
        .map_err(|e| Error::io(format!("cannot listen on {}", socket.display()), e))?;
    tokio::spawn(async move {
        let _dir = dir;
        while let Ok((mut conn, _)) = listener.accept().await {
            let args = args.clone();
            tokio::spawn(async move {
                let child = Command::new("ssh")
                    .args(&args)
                    .args(["docker", "system", "dial-stdio"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .spawn();
                let Ok(mut child) = child else { return };
                let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                    return;
                };
                let mut remote = tokio::io::join(stdout, stdin);
                let _ = tokio::io::copy_bidirectional(&mut conn, &mut remote).await;
                let _ = child.kill().await;
            });
        }
    });
    Ok(EngineHost {
        host: format!("unix://{}", socket.display()),
        tls: None,
        source: format!(
            "{} through `ssh {} docker system dial-stdio`",
            host.source, host.host
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::ssh_args;

    #[test]
    fn ssh_urls_become_ssh_arguments() {
        assert_eq!(
            ssh_args("ssh://builder@arm1.example:2222").unwrap(),
            [
                "-o",
                "BatchMode=yes",
                "-p",
                "2222",
                "--",
                "builder@arm1.example"
            ]
        );
        assert_eq!(
            ssh_args("ssh://arm1").unwrap(),
            ["-o", "BatchMode=yes", "--", "arm1"]
        );
        assert!(ssh_args("ssh://arm1/var/run").is_err());
    }
}
