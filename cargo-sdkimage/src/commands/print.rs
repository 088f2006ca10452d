//! `build --print`: the resolved plan as one JSON object on stdout, like `docker buildx bake
//! --print`, with what a build would do with each image. Nothing is prepared, built, tagged or
//! recorded, and the state lock is not taken: it only reads.

use std::sync::Arc;

use super::{Loaded, check_builders};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::output::{BuildPrint, EventSink};
use crate::run::{self, BuildOptions, Session};

/// Print the plan of the selection on stdout, checked against the engine when one answers.
pub(super) async fn print(
    l: Loaded,
    opts: &BuildOptions,
    reporter: Arc<dyn EventSink>,
    interrupt: Interrupt,
) -> Result<()> {
    let plan = plan(l, opts, reporter.clone(), interrupt).await?;
    let text = serde_json::to_string_pretty(&plan).expect("the plan serializes");
    reporter.data(&format!("{text}\n"));
    Ok(())
}

/// The plan of the selection, checked against the engine when one answers.
async fn plan(
    l: Loaded,
    opts: &BuildOptions,
    reporter: Arc<dyn EventSink>,
    interrupt: Interrupt,
) -> Result<BuildPrint> {
    match super::setup::connect_pool(&l, opts, &*reporter, None).await {
        Ok(pool) => {
            let facts = check_builders(&*pool[0].api, &l, &opts.secrets, &*reporter).await?;
            let Loaded {
                ws,
                plan,
                selection,
            } = l;
            let session = Session::new(
                ws,
                plan,
                pool,
                reporter,
                interrupt,
                facts.builders,
                facts.native,
            );
            let mut printed = run::print(&session, &selection, opts).await?;
            if session.named_engines {
                let store = crate::fingerprint::StateStore::new(&session.ws.state_dir());
                let classic = |i| session.builder(i) == crate::engine::Builder::Classic;
                let planned = run::planned(
                    &session.plan,
                    &session.pool,
                    &session.native,
                    &classic,
                    &store,
                    &selection,
                );
                for (&i, engine) in selection.iter().zip(planned) {
                    let name = &session.plan.image(i).name;
                    if let Some(p) = printed.images.iter_mut().find(|p| &p.name == name) {
                        p.engine = engine;
                    }
                }
            }
            Ok(printed)
        }
        Err(Error::Unreachable(why)) => {
            reporter.note(crate::output::Note::PrintWithoutEngine { why });
            Ok(run::print_without_engine(
                &l.ws,
                &l.plan,
                &l.selection,
                opts,
            ))
        }
        Err(e) => Err(e),
    }
}
