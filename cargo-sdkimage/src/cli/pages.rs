//! What the command line says of itself: completion scripts and man pages, from the clap
//! definition (`super::direct_command`), so they cannot drift from it.

use std::path::Path;

use sdkimage::{Error, Result};

use super::direct_command;

/// The completion script of `shell` for `cargo-sdkimage`. clap_complete's bash script names
/// the subcommands' cases after the binary with `-` turned into `__subcmd__`
/// (`cargo__subcmd__sdkimage__subcmd__build)`) but sets `cmd` with `-` turned into `__`
/// (`cargo__sdkimage__subcmd__build`), so no option of a subcommand ever completed; the cases
/// are renamed to what `cmd` is set to.
pub(super) fn completion_script(shell: clap_complete::Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut direct_command(), "cargo-sdkimage", &mut out);
    let script = String::from_utf8_lossy(&out).into_owned();
    match shell {
        clap_complete::Shell::Bash => script.replace(
            "cargo__subcmd__sdkimage__subcmd__",
            "cargo__sdkimage__subcmd__",
        ),
        _ => script,
    }
}

/// The man page of `cargo-sdkimage`, or of one of its commands (`build`): the pages the top
/// page names (`cargo-sdkimage-build(1)`).
pub(super) fn man_page(command: Option<&str>) -> Result<String> {
    let mut top = direct_command().disable_help_subcommand(true);
    top.build();
    let page = match command {
        None => top,
        Some(name) => top.find_subcommand(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = top.get_subcommands().map(|c| c.get_name()).collect();
            Error::Usage(format!(
                "man: no command {}; one of: {}",
                sdkimage::error::quoted(name),
                known.join(", ")
            ))
        })?,
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .map_err(|e| Error::io("cannot render the man page", e))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Every page (`cargo-sdkimage.1`, `cargo-sdkimage-build.1`, ...) into `dir`.
pub(super) fn write_man_pages(dir: &Path) -> Result<()> {
    clap_mangen::generate_to(direct_command(), dir).map_err(|e| {
        Error::io(
            format!("cannot write the man pages to {}", dir.display()),
            e,
        )
    })
}
