//! Which values are shown masked (`***`) wherever a message, a plan or a listing would show
//! them: build args whose name says they hold a secret. One rule for every place that shows a
//! build arg (dry runs, `--print`, `dockerfile`, flag and manifest errors).

/// A build arg's value as shown to people: masked when its name says it is a secret, since
/// dry runs and `dockerfile` output end up in CI logs.
pub fn shown_arg<'a>(name: &str, value: &'a str) -> &'a str {
    if looks_secret(name) { "***" } else { value }
}

/// Whether a build arg's name says it holds a secret. The name is cut into parts at `_`, `-`,
/// `.` and camelCase humps; it is secret when a part starts with `TOKEN`, `PASS`, `SECRET`,
/// `AUTH` or `CRED`, starts or ends with `KEY` or ends with `TOKEN`, or is `PAT`
/// (`NPM_AUTH`, `DB_PASS`, `GITHUB_PAT`, `PRIVATE_KEY`, `apiKey`; not `PATH`).
/// Masking more than needed costs a `***`; less leaks a credential into CI logs.
pub fn looks_secret(name: &str) -> bool {
    name_parts(name).iter().any(|part| {
        ["TOKEN", "PASS", "SECRET", "AUTH", "CRED"]
            .iter()
            .any(|p| part.starts_with(p))
            || part.starts_with("KEY")
            || part.ends_with("KEY")
            || part.ends_with("TOKEN")
            || part == "PAT"
    })
}

/// `npmAuthToken` -> NPM, AUTH, TOKEN; `DB_PASS` -> DB, PASS.
fn name_parts(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            parts.push(std::mem::take(&mut part));
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower {
            parts.push(std::mem::take(&mut part));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        part.push(c.to_ascii_uppercase());
    }
    parts.push(part);
    parts.retain(|p| !p.is_empty());
    parts
}

/// `NAME=VALUE` as a message shows it: the value masked when the name looks secret.
pub fn shown_pair(name: &str, value: &str) -> String {
    format!("{name}={}", shown_arg(name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_build_args_are_masked_when_shown() {
        assert_eq!(shown_arg("GITHUB_TOKEN", "ghp_x"), "***");
        assert_eq!(shown_arg("npm_password", "x"), "***");
        assert_eq!(shown_arg("py_version", "3.11"), "3.11");
        for secret in [
            "NPM_AUTH",
            "DB_PASS",
            "GITHUB_PAT",
            "PRIVATE_KEY",
            "SSH_KEY",
            "apiKey",
            "npmAuthToken",
            "AWS_SECRET_ACCESS_KEY",
            "REGISTRY_CREDENTIALS",
            "PASSWORD",
        ] {
            assert!(looks_secret(secret), "{secret}");
        }
        for plain in [
            "PATH_PREFIX",
            "PATH",
            "py_version",
            "BASE_IMAGE",
            "MONTH",
            "PATTERN",
        ] {
            assert!(!looks_secret(plain), "{plain}");
        }
    }
}
