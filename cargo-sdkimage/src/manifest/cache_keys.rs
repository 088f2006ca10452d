//! `cache-from` and `cache-to`: a build cache that travels through a registry (see
//! [`crate::cache`]), each value checked in docker's syntax at its place in the file.

use toml::Spanned;

use super::Checker;
use crate::cache::CacheConfig;

impl Checker<'_> {
    /// `cache-from = ["type=registry,ref=..."]`, `cache-to = ["type=inline"]`.
    pub(super) fn cache(
        &mut self,
        from: &[Spanned<String>],
        to: &[Spanned<String>],
    ) -> CacheConfig {
        crate::cache::from_file(from, to, None, self.path, self.source, &mut self.diags)
    }
}
