//! `diff A B`: two images, each read from the local engine when it holds it and otherwise from
//! its registry (or where `--a-from`/`--b-from` say), compared by `crate::diff`.

use crate::diff::{self, ImageRead};
use crate::engine::Engine;
use crate::error::{Error, Result, quoted};
use crate::output::EventSink;
use crate::output::diff::ImageDiff;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::registry::Registries;

/// Where one side of a diff is read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReadFrom {
    /// The engine when it holds the reference, else the registry.
    #[default]
    Auto,
    Engine,
    Registry,
}

/// The options of `diff`.
#[derive(Debug, Clone, Default)]
pub struct DiffCommand {
    pub a: String,
    pub b: String,
    pub a_from: ReadFrom,
    pub b_from: ReadFrom,
    /// The platform read under an index (default: the engine's, else linux/amd64).
    pub platform: Option<Platform>,
}

/// A reference as given, parsed (exit 2 when it is not one).
fn parse(which: &str, text: &str) -> Result<Reference> {
    Reference::parse(text).map_err(|e| {
        Error::Usage(format!(
            "{which} {} is not an image reference: {e}; write [registry/]path[:tag][@digest]",
            quoted(text)
        ))
    })
}

/// Compare the two images of `cmd`.
pub async fn diff(cmd: &DiffCommand, sink: &dyn EventSink) -> Result<ImageDiff> {
    let ref_a = parse("A", &cmd.a)?;
    let ref_b = parse("B", &cmd.b)?;
    let wants_engine = [cmd.a_from, cmd.b_from]
        .iter()
        .any(|f| *f != ReadFrom::Registry);
    let engine = if wants_engine {
        match Engine::connect().await {
            Ok(engine) => Some(engine),
            Err(e) if [cmd.a_from, cmd.b_from].contains(&ReadFrom::Engine) => return Err(e),
            Err(e) => {
                sink.note(crate::output::Note::DiffFromRegistries { why: e.to_string() });
                None
            }
        }
    } else {
        None
    };
    let registries = match &engine {
        Some(engine) => Registries::from_env()?.with_insecure(&engine.insecure_registries().await?),
        None => Registries::from_env()?,
    };
    let platform = match (&cmd.platform, &engine) {
        (Some(p), _) => p.clone(),
        (None, Some(engine)) => Platform::of_engine(&engine.platform().await?),
        (None, None) => Platform::of_engine("linux/amd64"),
    };
    let side = |reference: Reference, text: String, from: ReadFrom| {
        let engine = engine.as_ref();
        let registries = &registries;
        let platform = &platform;
        async move { read_side(engine, registries, &reference, &text, from, platform).await }
    };
    let (a, b) = tokio::try_join!(
        side(ref_a, cmd.a.clone(), cmd.a_from),
        side(ref_b, cmd.b.clone(), cmd.b_from)
    )?;
    diff::compare(&a, &b).await
}

async fn read_side(
    engine: Option<&Engine>,
    registries: &Registries,
    reference: &Reference,
    text: &str,
    from: ReadFrom,
    platform: &Platform,
) -> Result<ImageRead> {
    if from != ReadFrom::Registry
        && let Some(engine) = engine
        && let Some(read) = diff::engine::read(engine, text).await?
    {
        return Ok(read);
    }
    if from == ReadFrom::Engine {
        return Err(Error::Usage(format!(
            "the engine holds no image {}; build or pull it, or read it from its registry (drop --a-from/--b-from engine)",
            quoted(text)
        )));
    }
    match diff::registry::read(registries, reference, text, platform).await? {
        Some(read) => Ok(read),
        None => Err(Error::Usage(format!(
            "no image {}: {}the registry {} has no such manifest",
            quoted(text),
            match (from, engine) {
                (ReadFrom::Auto, Some(_)) => "the engine holds none, and ",
                _ => "",
            },
            reference.registry()
        ))),
    }
}

/// `build --reproduce`, after the builds (with no cache): each built image normalised as a
/// push would make it (`oci::normalize`, without pushing) and its manifest digest compared
/// with the one its registry holds under its first ref (the image's ref at this version).
/// Equal: a note. Not equal: the diff between the two is printed and the run fails (exit 1).
pub async fn reproduce(
    target: &super::Target,
    results: &[crate::run::ImageResult],
    sink: &dyn EventSink,
) -> Result<()> {
    let l = super::load(target)?;
    let engine = Engine::connect().await?;
    let registries = Registries::from_env()?.with_insecure(&engine.insecure_registries().await?);
    let platform = Platform::of_engine(&engine.platform().await?);
    let epoch = epoch(&l.ws.root)?;
    let cache = l.ws.state_dir().join("oci");
    let mut differ = Vec::new();
    for result in results {
        let Some(id) = &result.id else { continue };
        let image = l.plan.image(result.image);
        let Some(reference) = image.refs.first() else {
            continue;
        };
        let text = reference.to_string();
        let parsed = parse("the image's ref", &text)?;
        let Some(pushed) = diff::registry::read(&registries, &parsed, &text, &platform).await?
        else {
            return Err(Error::Failed(format!(
                "cannot check that {text} reproduces: its registry has no such manifest (push this version first)"
            )));
        };
        let dir = tempfile::Builder::new()
            .prefix("sdkimage-reproduce-")
            .tempdir()
            .map_err(|e| Error::io("cannot make a temporary folder for an exported image", e))?;
        let exported = std::sync::Arc::new(
            crate::oci::archive::export_and_open(&engine, id, dir.path()).await?,
        );
        let normalized = {
            let exported = exported.clone();
            let cache = cache.clone();
            tokio::task::spawn_blocking(move || {
                crate::oci::normalize(
                    &exported,
                    &crate::oci::normalize::Options {
                        epoch: Some(epoch),
                        base: &[],
                        cache: &cache,
                    },
                )
            })
            .await
            .map_err(|e| Error::Failed(format!("normalising {text} stopped: {e}")))??
        };
        let local = diff::engine::normalized(&format!("{text} (built)"), exported, &normalized)?;
        if pushed.side.manifest_digest.as_deref() == Some(normalized.manifest.digest.as_str()) {
            sink.note(crate::output::Note::Reproduced {
                image: text.to_string(),
                digest: normalized.manifest.digest.clone(),
                epoch,
            });
            continue;
        }
        let found = diff::compare(&local, &pushed).await?;
        if sink.json() {
            let line = serde_json::to_string(&found).map_err(|e| Error::Failed(e.to_string()))?;
            sink.data(&format!("{line}\n"));
        } else {
            sink.data(&crate::report::diff::diff_text(&found));
        }
        differ.push(format!(
            "{text}: built {}, pushed {}",
            normalized.manifest.digest,
            pushed.side.manifest_digest.unwrap_or_default()
        ));
        drop(dir);
    }
    if differ.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "not reproduced (epoch {epoch}): {}",
            differ.join("; ")
        )))
    }
}

/// The epoch a normalising push uses (`provenance::epoch_seconds`: `SOURCE_DATE_EPOCH`, else
/// the commit's time); without either, nothing to reproduce against.
fn epoch(root: &std::path::Path) -> Result<u64> {
    crate::provenance::epoch_seconds(root)?.ok_or_else(|| {
        Error::Usage(
            "build --reproduce needs the epoch the push used: set SOURCE_DATE_EPOCH, or build from a git checkout (its commit's time)".to_string(),
        )
    })
}
