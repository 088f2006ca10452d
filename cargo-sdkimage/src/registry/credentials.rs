//! Registry credentials, found the way the docker CLI finds them: `$DOCKER_CONFIG/config.json`
//! (else `~/.docker/config.json`) with its `auths`, `credsStore` and `credHelpers`.
//!
//! No secret ever reaches a message: [`Credentials`] redacts itself in `Debug`, errors name only
//! the registry, the config file and the helper, and config files are parsed without typed
//! deserialization (whose errors quote the offending value).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::dockerconfig::RegistryAuth;
use crate::error::{Error, Result};

/// The key Docker Hub's credentials are stored under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The username credential helpers return when the secret is an identity token.
const TOKEN_USERNAME: &str = "<token>";

/// What a registry accepts as proof of who we are.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token, exchanged at the registry's token server.
    IdentityToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

impl Credentials {
    /// The engine's form (`X-Registry-Auth`), for `server` (a config key or registry host).
    pub fn to_docker(&self, server: &str) -> RegistryAuth {
        let mut docker = RegistryAuth {
            serveraddress: Some(server.to_string()),
            ..Default::default()
        };
        match self {
            Credentials::Basic { username, password } => {
                docker.username = Some(username.clone());
                docker.password = Some(password.clone());
            }
            Credentials::IdentityToken(token) => docker.identitytoken = Some(token.clone()),
        }
        docker
    }
}

/// Every credential the Docker config knows, keyed as the docker CLI keys them for builds, so
/// private base images can be pulled. Best effort: an unreadable config or a failing helper
/// contributes nothing.
pub fn for_build() -> HashMap<String, RegistryAuth> {
    DockerConfig::from_env()
        .map(|c| c.all())
        .unwrap_or_default()
}

/// A parsed `config.json` and where its credential helpers are looked for.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    /// The config file (it need not exist); named in messages.
    path: PathBuf,
    auths: BTreeMap<String, Option<Credentials>>,
    creds_store: Option<String>,
    cred_helpers: BTreeMap<String, String>,
    /// Where `docker-credential-<name>` programs are searched (`PATH` at the edge).
    helper_dirs: Vec<PathBuf>,
}

impl DockerConfig {
    /// `DOCKER_CONFIG` or `~/.docker`, helpers searched on `PATH`.
    pub fn from_env() -> Result<DockerConfig> {
        let dir = crate::dockerconfig::docker_config_dir(&|k| std::env::var(k).ok());
        let helper_dirs = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        DockerConfig::load(&dir, helper_dirs)
    }

    /// Read `dir/config.json`; a missing file is an empty config.
    pub fn load(dir: &Path, helper_dirs: Vec<PathBuf>) -> Result<DockerConfig> {
        let path = dir.join("config.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => DockerConfig::parse(&path, &text, helper_dirs),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerConfig {
                path,
                helper_dirs,
                ..Default::default()
            }),
            Err(e) => Err(Error::Usage(format!(
                "cannot read the Docker config {}: {e}",
                path.display()
            ))),
        }
    }

    /// Parse the text of a `config.json` found at `path`.
    pub fn parse(path: &Path, text: &str, helper_dirs: Vec<PathBuf>) -> Result<DockerConfig> {
        let invalid =
            |what: String| Error::Usage(format!("Docker config {}: {what}", path.display()));
        // serde_json's syntax errors carry only a position, never the text around it.
        let value: Value =
            serde_json::from_str(text).map_err(|e| invalid(format!("not valid JSON ({e})")))?;
        let mut auths = BTreeMap::new();
        if let Some(entries) = value.get("auths").and_then(Value::as_object) {
            for (key, entry) in entries {
                auths.insert(
                    key.clone(),
                    parse_auth_entry(entry).map_err(|e| invalid(format!("`auths.{key}`: {e}")))?,
                );
            }
        }
        let creds_store = value
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from);
        let cred_helpers = value
            .get("credHelpers")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(DockerConfig {
            path: path.to_path_buf(),
            auths,
            creds_store,
            cred_helpers,
            helper_dirs,
        })
    }

    /// Credentials for `registry`: its `credHelpers` entry, else `credsStore`, else `auths`,
    /// exactly one source, as the docker CLI chooses.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>> {
        let key = config_key(registry);
        let host = hostname_of(&key);
        if let Some(helper) = self
            .cred_helpers
            .iter()
            .find(|(k, _)| hostname_of(k) == host)
            .map(|(_, h)| h)
        {
            return self.run_helper(helper, &key);
        }
        if let Some(store) = &self.creds_store {
            return self.run_helper(store, &key);
        }
        Ok(self
            .auths
            .get(&key)
            .or_else(|| {
                self.auths
                    .iter()
                    .find(|(k, _)| hostname_of(k) == host)
                    .map(|(_, c)| c)
            })
            .cloned()
            .flatten())
    }

    /// Every credential that can be found, keyed by the config's own keys.
    pub fn all(&self) -> HashMap<String, RegistryAuth> {
        let mut all = HashMap::new();
        for (key, creds) in &self.auths {
            if let Some(creds) = creds {
                all.insert(key.clone(), creds.to_docker(key));
            }
        }
        if let Some(store) = &self.creds_store {
            let mut keys: Vec<String> = self.auths.keys().cloned().collect();
            keys.extend(self.list_helper(store));
            for key in keys {
                if let Ok(Some(creds)) = self.run_helper(store, &key) {
                    all.insert(key.clone(), creds.to_docker(&key));
                }
            }
        }
        for (key, helper) in &self.cred_helpers {
            if let Ok(Some(creds)) = self.run_helper(helper, key) {
                all.insert(key.clone(), creds.to_docker(key));
            }
        }
        all
    }

    fn find_helper(&self, name: &str) -> Result<PathBuf> {
        let program = format!("docker-credential-{name}");
        let found = (!name.is_empty() && !name.contains(['/', '\\']))
            .then(|| {
                self.helper_dirs
                    .iter()
                    .map(|d| d.join(&program))
                    .find(|p| p.is_file())
            })
            .flatten();
        found.ok_or_else(|| {
            Error::Failed(format!(
                "the credential helper `{program}` named in {} is not installed (not found on PATH)",
                self.path.display()
            ))
        })
    }

    /// `docker-credential-<name> get`, the server on stdin; `None` when it has nothing stored.
    fn run_helper(&self, name: &str, server: &str) -> Result<Option<Credentials>> {
        let program = self.find_helper(name)?;
        let failed = |what: String| {
            Error::Failed(format!(
                "credential helper docker-credential-{name} for {server}: {what}"
            ))
        };
        let output = run_with_stdin(&program, "get", server)
            .map_err(|e| failed(format!("cannot run it: {e}")))?;
        if !output.status.success() {
            // Read for the one answer that means "nothing stored", never shown: a failing
            // helper may print what it holds.
            let says =
                |bytes: &[u8]| String::from_utf8_lossy(bytes).contains("credentials not found");
            if says(&output.stdout) || says(&output.stderr) {
                return Ok(None);
            }
            return Err(failed(format!(
                "it failed ({}); its output is not shown, as it may hold a secret (run `docker-credential-{name} get` yourself to see it)",
                output.status
            )));
        }
        parse_helper_output(&output.stdout).map_err(|e| failed(e.to_string()))
    }

    /// The servers a helper holds credentials for (`list`); empty when it cannot tell.
    fn list_helper(&self, name: &str) -> Vec<String> {
        let Ok(program) = self.find_helper(name) else {
            return Vec::new();
        };
        let Ok(output) = run_with_stdin(&program, "list", "") else {
            return Vec::new();
        };
        let listed: Option<Value> = output
            .status
            .success()
            .then(|| serde_json::from_slice(&output.stdout).ok())
            .flatten();
        listed
            .and_then(|v| v.as_object().map(|m| m.keys().cloned().collect()))
            .unwrap_or_default()
    }
}

fn run_with_stdin(program: &Path, arg: &str, input: &str) -> std::io::Result<std::process::Output> {
    let mut child = Command::new(program)
        .arg(arg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is not our problem; its status tells.
        let _ = writeln!(stdin, "{input}");
    }
    child.wait_with_output()
}

/// What is wrong with stored credentials (never showing them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum CredentialsError {
    #[error("`auth` is not base64")]
    AuthNotBase64,
    #[error("`auth` is not UTF-8 once decoded")]
    AuthNotUtf8,
    #[error("`auth` does not decode to `user:password`")]
    AuthNotUserPassword,
    #[error("its answer is not JSON")]
    HelperNotJson,
}

/// One `auths` entry: `identitytoken`, else `auth` (base64 `user:password`), else
/// `username`/`password`; an empty entry (credentials kept by a store) is `None`.
fn parse_auth_entry(entry: &Value) -> Result<Option<Credentials>, CredentialsError> {
    let field = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(token) = field("identitytoken") {
        return Ok(Some(Credentials::IdentityToken(token.to_string())));
    }
    if let Some(auth) = field("auth") {
        let decoded = STANDARD
            .decode(auth.trim())
            .map_err(|_| CredentialsError::AuthNotBase64)?;
        let decoded = String::from_utf8(decoded).map_err(|_| CredentialsError::AuthNotUtf8)?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or(CredentialsError::AuthNotUserPassword)?;
        return Ok(Some(Credentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    match (field("username"), field("password")) {
        (Some(username), Some(password)) => Ok(Some(Credentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        })),
        _ => Ok(None),
    }
}

/// A helper's `get` answer: `{"ServerURL": .., "Username": .., "Secret": ..}`.
fn parse_helper_output(stdout: &[u8]) -> Result<Option<Credentials>, CredentialsError> {
    let value: Value =
        serde_json::from_slice(stdout).map_err(|_| CredentialsError::HelperNotJson)?;
    let field = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or_default();
    let (username, secret) = (field("Username"), field("Secret"));
    Ok(match (username, secret) {
        (_, "") => None,
        (TOKEN_USERNAME, token) => Some(Credentials::IdentityToken(token.to_string())),
        (username, password) => Some(Credentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }),
    })
}

/// The config key for a registry host: Docker Hub's is a URL, every other is the host.
pub fn config_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        other => other.to_string(),
    }
}

/// `https://host:port/path` -> `host:port`, as the docker CLI compares config keys.
pub fn hostname_of(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testutil::fake_helper;

    fn config(text: &str, helper_dirs: Vec<PathBuf>) -> DockerConfig {
        DockerConfig::parse(Path::new("/cfg/config.json"), text, helper_dirs).unwrap()
    }

    fn basic(u: &str, p: &str) -> Option<Credentials> {
        Some(Credentials::Basic {
            username: u.into(),
            password: p.into(),
        })
    }

    #[test]
    fn auths_base64_and_plain_fields() {
        let auth = STANDARD.encode("user:pa:ss");
        let c = config(
            &format!(
                r#"{{"auths": {{
                    "localhost:5000": {{"auth": "{auth}"}},
                    "https://ghcr.io": {{"username": "u", "password": "p"}},
                    "https://index.docker.io/v1/": {{"identitytoken": "tok"}},
                    "empty.example": {{}}
                }}}}"#
            ),
            vec![],
        );
        assert_eq!(c.lookup("localhost:5000").unwrap(), basic("user", "pa:ss"));
        assert_eq!(
            c.lookup("ghcr.io").unwrap(),
            basic("u", "p"),
            "keys may carry a scheme"
        );
        assert_eq!(
            c.lookup("docker.io").unwrap(),
            Some(Credentials::IdentityToken("tok".into()))
        );
        assert_eq!(c.lookup("empty.example").unwrap(), None);
        assert_eq!(c.lookup("other:1").unwrap(), None);
        assert_eq!(c.all().len(), 3);
    }

    #[test]
    fn bad_entries_are_usage_errors_without_secrets() {
        let e = DockerConfig::parse(
            Path::new("/c.json"),
            r#"{"auths":{"r":{"auth":"!!secret!!"}}}"#,
            vec![],
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let text = e.to_string();
        assert!(
            text.contains("auths.r") && text.contains("/c.json") && !text.contains("secret"),
            "{text}"
        );
        let nocolon = STANDARD.encode("justsecret");
        let e = DockerConfig::parse(
            Path::new("/c.json"),
            &format!(r#"{{"auths":{{"r":{{"auth":"{nocolon}"}}}}}}"#),
            vec![],
        )
        .unwrap_err();
        assert!(!e.to_string().contains("justsecret"));
        let e = DockerConfig::parse(
            Path::new("/c.json"),
            r#"{"auths": {"r": {"password": "hunter2" "#,
            vec![],
        )
        .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn debug_redacts() {
        let shown = format!(
            "{:?} {:?}",
            basic("me", "hunter2").unwrap(),
            Credentials::IdentityToken("tok123".into())
        );
        assert!(
            shown.contains("me") && !shown.contains("hunter2") && !shown.contains("tok123"),
            "{shown}"
        );
        let c = config(
            r#"{"auths":{"r":{"username":"u","password":"hunter2"}}}"#,
            vec![],
        );
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn missing_file_is_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        let c = DockerConfig::load(dir.path(), vec![]).unwrap();
        assert_eq!(c.lookup("docker.io").unwrap(), None);
    }

    #[test]
    fn cred_helpers_win_over_auths_and_tokens_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        fake_helper(
            dir.path(),
            "fake",
            &[
                ("reg.example:5000", "alice", "s3cret"),
                ("tok.example", "<token>", "refresh"),
            ],
        );
        let c = config(
            r#"{"auths": {"reg.example:5000": {"username": "x", "password": "y"}},
                "credHelpers": {"reg.example:5000": "fake", "https://tok.example": "fake", "none.example": "fake",
                                "gone.example": "missing"}}"#,
            vec![PathBuf::from("/nonexistent"), dir.path().to_path_buf()],
        );
        assert_eq!(
            c.lookup("reg.example:5000").unwrap(),
            basic("alice", "s3cret")
        );
        assert_eq!(
            c.lookup("tok.example").unwrap(),
            Some(Credentials::IdentityToken("refresh".into()))
        );
        assert_eq!(
            c.lookup("none.example").unwrap(),
            None,
            "`credentials not found` is no credentials"
        );
        let e = c.lookup("gone.example").unwrap_err();
        assert!(e.to_string().contains("docker-credential-missing"), "{e}");
        let log = std::fs::read_to_string(dir.path().join("docker-credential-fake.log")).unwrap();
        assert!(log.contains("get reg.example:5000"), "{log}");
    }

    #[test]
    fn creds_store_serves_every_registry_and_builds_get_all() {
        let dir = tempfile::tempdir().unwrap();
        fake_helper(
            dir.path(),
            "store",
            &[
                (DOCKER_HUB_KEY, "hubuser", "hubpass"),
                ("a.example", "a", "b"),
            ],
        );
        let c = config(
            r#"{"auths": {"https://index.docker.io/v1/": {}}, "credsStore": "store"}"#,
            vec![dir.path().into()],
        );
        assert_eq!(c.lookup("docker.io").unwrap(), basic("hubuser", "hubpass"));
        assert_eq!(c.lookup("a.example").unwrap(), basic("a", "b"));
        let all = c.all();
        assert_eq!(all.len(), 2);
        assert_eq!(all[DOCKER_HUB_KEY].username.as_deref(), Some("hubuser"));
        assert_eq!(all["a.example"].serveraddress.as_deref(), Some("a.example"));
    }

    /// A helper that fails says so with its exit status only: what it printed may be the
    /// secret itself.
    #[test]
    fn a_failing_helper_is_named_without_its_output() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-leaky");
        std::fs::write(
            &helper,
            "#!/bin/sh\necho 'not json: Secret=hunter2-out'\necho 'Secret=hunter2-err' >&2\nexit 7\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let c = config(r#"{"credsStore": "leaky"}"#, vec![dir.path().into()]);
        let e = c.lookup("reg.example").unwrap_err().to_string();
        assert!(
            e.contains("docker-credential-leaky") && e.contains("exit status: 7"),
            "{e}"
        );
        assert!(!e.contains("hunter2") && !e.contains("Secret="), "{e}");
    }

    #[test]
    fn helper_names_cannot_escape_the_search_path() {
        let c = config(
            r#"{"credsStore": "../../bin/sh"}"#,
            vec![PathBuf::from("/usr/bin")],
        );
        assert!(c.lookup("x.example").is_err());
    }

    #[test]
    fn keys_and_hostnames() {
        assert_eq!(config_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(config_key("localhost:5000"), "localhost:5000");
        assert_eq!(hostname_of(DOCKER_HUB_KEY), "index.docker.io");
        assert_eq!(hostname_of("http://localhost:5000/v2/"), "localhost:5000");
        assert_eq!(hostname_of("ghcr.io"), "ghcr.io");
    }
}
