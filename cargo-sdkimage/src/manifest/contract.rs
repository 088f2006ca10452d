//! `[contract]`: what an SDK image promises its users, checked by `cargo sdkimage check` and
//! `build --check`: its entrypoint, the artifacts a custom image copies from it, the tools on
//! its `PATH` and commands with their expected output. Values may use `{variant}`, `{version}`
//! and `{language}`, expanded with the values of the image that declares the contract.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, Variants};
use crate::template::Template;

/// The placeholders a contract value may use.
pub const CONTRACT_PLACEHOLDERS: &[&str] = &["variant", "version", "language"];

/// `[contract]` as written, each value a checked template with its place in the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    /// `entrypoint`: the absolute path the image's `ENTRYPOINT` runs.
    pub entrypoint: Option<Spanned<Template>>,
    /// `artifacts`: absolute paths in the image that make up the SDK (what `adapt` copies).
    pub artifacts: Vec<Spanned<Template>>,
    /// `tools`: program names that must be on the image's `PATH`.
    pub tools: Vec<Spanned<Template>>,
    /// `commands`: programs run in the image, each with the output it must print.
    pub commands: Vec<ContractCommand>,
    /// Where the `[contract]` table is, for messages about the contract as a whole.
    pub span: Range<usize>,
}

/// One `commands` entry: `{ run = ["python3", "--version"], expect = "Python {variant}" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractCommand {
    /// The argv, run in place of the image's entrypoint and command.
    pub run: Vec<Spanned<Template>>,
    /// A line the command's standard output must hold (trimmed); `None`: exit 0 is enough.
    pub expect: Option<Spanned<Template>>,
    pub span: Range<usize>,
}

/// The values a contract's placeholders take: those of the image that declares it.
#[derive(Debug, Clone, Copy)]
pub struct ContractValues<'a> {
    pub variant: Option<&'a str>,
    pub version: Option<&'a str>,
    pub language: &'a str,
}

/// A contract expanded for one image: what `check` verifies.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ImageContract {
    pub entrypoint: Option<String>,
    pub artifacts: Vec<String>,
    pub tools: Vec<String>,
    pub commands: Vec<CommandCheck>,
}

/// One command of an expanded contract.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommandCheck {
    pub run: Vec<String>,
    pub expect: Option<String>,
}

/// A contract value with a placeholder that has no value for the image being expanded
/// (`{version}` in a workspace without a version), at its place in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("contract: `{{{placeholder}}}` cannot be expanded: {}", self.why())]
pub struct ExpandError {
    /// The placeholder's name, without braces.
    pub placeholder: String,
    /// Where the value that uses it is, in the manifest.
    pub span: Range<usize>,
}

impl ExpandError {
    fn why(&self) -> &'static str {
        match self.placeholder.as_str() {
            "version" => {
                "the workspace has no version: set [workspace.package] version or the root package's version"
            }
            "variant" => "this image has no variant",
            _ => "it has no value here",
        }
    }
}

impl Contract {
    /// Expand every value with `values`. A placeholder without a value is an error at its
    /// place.
    pub fn expand(&self, values: ContractValues<'_>) -> Result<ImageContract, ExpandError> {
        let lookup = |p: &str| -> Option<String> {
            match p {
                "variant" => values.variant.map(str::to_string),
                "version" => values.version.map(str::to_string),
                "language" => Some(values.language.to_string()),
                _ => None,
            }
        };
        let one = |t: &Spanned<Template>| {
            t.get_ref().expand(lookup).map_err(|missing| ExpandError {
                placeholder: missing.placeholder,
                span: t.span(),
            })
        };
        let many = |ts: &[Spanned<Template>]| ts.iter().map(one).collect::<Result<Vec<_>, _>>();
        let mut commands = Vec::new();
        for c in &self.commands {
            commands.push(CommandCheck {
                run: many(&c.run)?,
                expect: c.expect.as_ref().map(one).transpose()?,
            });
        }
        Ok(ImageContract {
            entrypoint: self.entrypoint.as_ref().map(one).transpose()?,
            artifacts: many(&self.artifacts)?,
            tools: many(&self.tools)?,
            commands,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContract {
    entrypoint: Option<Spanned<String>>,
    #[serde(default)]
    artifacts: Vec<Spanned<String>>,
    #[serde(default)]
    tools: Vec<Spanned<String>>,
    #[serde(default)]
    commands: Vec<Spanned<RawCommand>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    run: Spanned<Vec<Spanned<String>>>,
    expect: Option<Spanned<String>>,
}

impl Checker<'_> {
    /// `[contract]` (at `span`): templates of the contract placeholders; an absolute
    /// entrypoint and artifacts, tool names, commands with a program.
    pub(super) fn contract(
        &mut self,
        raw: Spanned<RawContract>,
        variants: &Variants,
    ) -> Option<Contract> {
        let span = raw.span();
        let raw = raw.into_inner();
        let before = self.diags.len();
        let entrypoint = raw.entrypoint.and_then(|e| {
            let t = self.contract_template(&e, "contract entrypoint", variants)?;
            self.image_path(&e, "contract entrypoint", "/opt/apache/beam/boot")
                .then_some(t)
        });
        let mut artifacts = Vec::new();
        for a in &raw.artifacts {
            if let Some(t) = self.contract_template(a, "contract artifact", variants)
                && self.image_path(a, "contract artifact", "/opt/apache/beam")
            {
                artifacts.push(t);
            }
        }
        let mut tools = Vec::new();
        for tool in &raw.tools {
            let name = tool.get_ref();
            if name.is_empty()
                || name.contains(|c: char| c == '/' || c.is_whitespace() || c.is_control())
            {
                self.error(
                    tool.span().start,
                    format!(
                        "contract tool {} must be a program name looked up on PATH (e.g. \"curl\"), with no `/`, space or control character; check a path with `entrypoint`, `artifacts` or a command",
                        crate::error::quoted(name)
                    ),
                );
            } else if let Some(t) = self.contract_template(tool, "contract tool", variants) {
                tools.push(t);
            }
        }
        let mut commands = Vec::new();
        for c in raw.commands {
            let cspan = c.span();
            let c = c.into_inner();
            let argv = c.run.get_ref();
            if argv.is_empty() || argv[0].get_ref().is_empty() {
                self.error(c.run.span().start, "contract command `run` needs a program and its arguments, e.g. run = [\"python3\", \"--version\"]");
                continue;
            }
            let run: Vec<_> = argv
                .iter()
                .filter_map(|a| self.contract_template(a, "contract command run", variants))
                .collect();
            let expect = match &c.expect {
                Some(e) if e.get_ref().trim().is_empty() => {
                    self.error(e.span().start, "contract command `expect` is empty; leave it out to require only that the command exits 0");
                    None
                }
                Some(e) => self.contract_template(e, "contract command expect", variants),
                None => None,
            };
            if run.len() == argv.len() {
                commands.push(ContractCommand {
                    run,
                    expect,
                    span: cspan,
                });
            }
        }
        (self.diags.len() == before).then_some(Contract {
            entrypoint,
            artifacts,
            tools,
            commands,
            span,
        })
    }

    /// A contract value as a template of [`CONTRACT_PLACEHOLDERS`]; `{variant}` needs variants.
    fn contract_template(
        &mut self,
        text: &Spanned<String>,
        what: &str,
        variants: &Variants,
    ) -> Option<Spanned<Template>> {
        match Template::parse_with(text.get_ref(), CONTRACT_PLACEHOLDERS) {
            Ok(t) if t.uses("variant") && variants.is_empty() => {
                self.error(
                    text.span().start,
                    format!("{what} uses `{{variant}}`, but this manifest has no [variants]"),
                );
                None
            }
            Ok(t) => Some(Spanned::new(text.span(), t)),
            Err(e) => {
                // +1 skips the opening quote of a basic string.
                self.error(
                    text.span().start + 1 + e.offset,
                    format!("{what}: {}", e.message),
                );
                None
            }
        }
    }

    /// An absolute path inside the image, not `/` itself and without `..`; false after an error.
    fn image_path(&mut self, text: &Spanned<String>, what: &str, example: &str) -> bool {
        let p = text.get_ref();
        let inner = crate::paths::normalize_inner(p.trim_start_matches('/'));
        if !p.starts_with('/') || inner.is_none() || p.contains(char::is_control) {
            self.error(
                text.span().start,
                format!(
                    "{what} {} must be an absolute path inside the image, other than `/`, without `..` out of it or control characters (e.g. {example})",
                    crate::error::quoted(p)
                ),
            );
            return false;
        }
        true
    }
}
