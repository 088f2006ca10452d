//! clap value parsers of flags whose values are our own syntax, each with a typed error clap
//! shows after the flag and value (`invalid value 'X' for '--jobs <N>': ...`).

use std::ffi::OsString;

/// What is wrong with a `--build-arg`. No message shows a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum BuildArgError {
    #[error("the name before `=` is empty; write KEY=VALUE")]
    EmptyName,
    #[error("the name is empty; write KEY=VALUE or KEY")]
    Empty,
    #[error("the environment variable {0} is not valid UTF-8")]
    NotUtf8(String),
    #[error("no `=` and the environment variable {0} is not set; write {0}=VALUE, or set {0}")]
    Unset(String),
}

/// `KEY=VALUE`, or a bare `KEY` whose value is the environment's (as `docker build` takes
/// it); an unset one is an error naming it. The message never shows a value.
pub(super) fn parse_build_arg(s: &str) -> Result<(String, String), BuildArgError> {
    build_arg_from(s, |k| std::env::var_os(k))
}

fn build_arg_from(
    s: &str,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<(String, String), BuildArgError> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        Some(_) => Err(BuildArgError::EmptyName),
        None if s.is_empty() => Err(BuildArgError::Empty),
        None => match env(s) {
            Some(v) => v
                .into_string()
                .map(|v| (s.to_string(), v))
                .map_err(|_| BuildArgError::NotUtf8(s.to_string())),
            None => Err(BuildArgError::Unset(s.to_string())),
        },
    }
}

/// `-j`/`--jobs`: at least one.
pub(super) type Jobs = std::num::NonZeroUsize;

/// What is wrong with a `--jobs` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum JobsError {
    #[error("--jobs takes a whole number, not {}", sdkimage::error::quoted(.0))]
    NotANumber(String),
    #[error("--jobs must be at least 1")]
    Zero,
}

pub(super) fn parse_jobs(s: &str) -> Result<Jobs, JobsError> {
    let n: usize = s
        .parse()
        .map_err(|_| JobsError::NotANumber(s.to_string()))?;
    Jobs::new(n).ok_or(JobsError::Zero)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_from_the_flag_or_the_environment() {
        let env = |k: &str| (k == "SET").then(|| OsString::from("v"));
        let arg = |s| build_arg_from(s, env);
        assert_eq!(arg("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(arg("SET"), Ok(("SET".into(), "v".into())));
        assert_eq!(arg("=x"), Err(BuildArgError::EmptyName));
        assert_eq!(arg(""), Err(BuildArgError::Empty));
        assert_eq!(
            arg("NOPE").unwrap_err().to_string(),
            "no `=` and the environment variable NOPE is not set; write NOPE=VALUE, or set NOPE"
        );
    }

    #[test]
    fn jobs_are_a_whole_number_of_at_least_one() {
        assert_eq!(parse_jobs("3").map(Jobs::get), Ok(3));
        assert_eq!(
            parse_jobs("0").unwrap_err().to_string(),
            "--jobs must be at least 1"
        );
        assert_eq!(
            parse_jobs("x\n").unwrap_err().to_string(),
            "--jobs takes a whole number, not \"x\\n\""
        );
    }
}
