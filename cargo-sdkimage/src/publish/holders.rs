//! Which engine holds each image a publish reads or pushes (an engine pool leaves images where
//! they were built).

use crate::engine::EngineApi;
use crate::plan::ImageIndex;

/// Which engine holds each image to push: the pool's engine that built it, else `first`.
#[derive(Clone, Copy)]
pub struct Holders<'a> {
    pub first: &'a dyn EngineApi,
    pub by_image: &'a [(ImageIndex, &'a dyn EngineApi)],
}

impl<'a> Holders<'a> {
    /// Every image on one engine.
    pub fn one(engine: &'a dyn EngineApi) -> Holders<'a> {
        Holders {
            first: engine,
            by_image: &[],
        }
    }

    pub fn of(&self, index: ImageIndex) -> &'a dyn EngineApi {
        self.by_image
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(self.first, |(_, e)| *e)
    }
}
