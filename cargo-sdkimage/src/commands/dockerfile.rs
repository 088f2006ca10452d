//! `dockerfile`: the effective Dockerfile of an image (its rendered one for a custom image)
//! and what its context would send, as text or JSON.

use super::{Loaded, Target, load};
use crate::error::{Error, Result};
use crate::output;
use crate::plan::ImageIndex;
use crate::run;

/// `dockerfile`: the effective Dockerfile and what the context would send, for one image.
pub fn dockerfile(target: &Target) -> Result<String> {
    let l = load(target)?;
    let named = l.plan.named(&target.selectors, &target.cwd)?;
    let image = match (target.selectors.is_empty(), named.as_slice()) {
        (false, &[one]) => one,
        _ => {
            return Err(Error::Usage(format!(
                "`dockerfile` shows one image; name one of: {}",
                named
                    .iter()
                    .map(|&i| l.plan.image(i).label())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let m = l.plan.manifest_of(image);
    let img = l.plan.image(image);
    let entry = dockerfile_entry(&l, image)?;
    let text = entry.dockerfile;
    let mut spec = m.context_spec(img.variant.as_deref(), &l.ws.root, &l.ws.state_dir());
    spec.dockerfile = l.ws.root.join(&entry.path);
    // Artifacts of `[[prepare]]` steps that have not run yet are listed apart, not an error:
    // `dockerfile` runs nothing.
    let (copies, unmade): (Vec<_>, Vec<_>) = std::mem::take(&mut spec.copies)
        .into_iter()
        .partition(|c| m.prepare.is_empty() || c.from.exists());
    spec.copies = copies;
    let ctx = crate::context::collect(&spec)?;
    let mut out = format!(
        "# {} ({})\n# dockerfile: {}\n",
        img.name,
        img.label(),
        entry.path
    );
    for (k, v) in &img.build_args {
        out.push_str(&format!("# --build-arg {k}={}\n", run::shown_arg(k, v)));
    }
    out.push_str(&text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
    let total: u64 = ctx.entries.iter().map(|e| e.size).sum();
    out.push_str(&format!(
        "\n# context: {} ({} entries, {} bytes)\n",
        l.ws.display_path(&m.context),
        ctx.entries.len(),
        total
    ));
    for e in &ctx.entries {
        let kind = match &e.kind {
            crate::context::EntryKind::Dir => "dir ".to_string(),
            crate::context::EntryKind::File => format!("{:>10}", e.size),
            crate::context::EntryKind::Symlink { target } => format!("-> {target}"),
        };
        out.push_str(&format!("{:04o} {kind:>10}  {}\n", e.mode & 0o7777, e.path));
    }
    if !unmade.is_empty() {
        out.push_str(
            "# not made yet (by the [[prepare]] steps, which `cargo sdkimage build` runs):\n",
        );
        for c in &unmade {
            out.push_str(&format!(
                "       ?  {}  (from {})\n",
                c.to,
                l.ws.display_path(&c.from)
            ));
        }
    }
    Ok(out)
}

/// `dockerfile --message-format json`: the Dockerfile of each named image (none: every one).
pub fn dockerfiles(target: &Target) -> Result<Vec<output::DockerfileEntry>> {
    let l = load(target)?;
    let named = l.plan.named(&target.selectors, &target.cwd)?;
    named.iter().map(|&i| dockerfile_entry(&l, i)).collect()
}

/// The Dockerfile image `i` is built from: a custom image's rendered one is written first.
fn dockerfile_entry(l: &Loaded, i: ImageIndex) -> Result<output::DockerfileEntry> {
    let img = l.plan.image(i);
    let m = l.plan.manifest_of(i);
    let (path, text) = match img.write_rendered(&l.ws.state_dir())? {
        Some(rendered) => rendered,
        None => {
            let rules =
                crate::guarded::Rules::new(&l.ws.root, crate::guarded::CONFIG_CAP, "a Dockerfile");
            let text = crate::guarded::read_to_string(&m.dockerfile, rules)?;
            (m.dockerfile.clone(), text)
        }
    };
    Ok(output::DockerfileEntry {
        name: img.name.clone(),
        language: img.language.clone(),
        variant: img.variant.clone(),
        path: l.ws.display_path(&path),
        rendered: img.custom.is_some(),
        dockerfile: text,
        build_args: img
            .build_args
            .iter()
            .map(|(k, v)| (k.clone(), run::shown_arg(k, v).to_string()))
            .collect(),
    })
}
