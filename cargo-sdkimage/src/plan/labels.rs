//! Label checks that need the plan: each image's build args and labels must fit in the
//! engine's request URL together (`crate::labels` holds the labels themselves).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::workspace::Workspace;

use super::{BuildPlan, ImageIndex};

impl BuildPlan {
    /// Before anything runs: `SOURCE_DATE_EPOCH` is valid when default labels are on, and each
    /// selected image's build args and user labels fit in the engine's request URL together.
    pub fn check_labels(
        &self,
        ws: &Workspace,
        selection: &[ImageIndex],
        cli: &[(String, String)],
    ) -> Result<()> {
        if ws.config.labels.defaults {
            let env = std::env::var(crate::provenance::SOURCE_DATE_EPOCH).ok();
            crate::provenance::source_date(env.as_deref(), || None)?;
        }
        for &i in selection {
            let image = self.image(i);
            let user =
                crate::labels::merge(&ws.config.labels, None, &self.manifest_of(i).labels, cli);
            let encoded = |map: &BTreeMap<String, String>| {
                super::url_encoded_len(&serde_json::to_string(map).expect("labels serialize"))
            };
            let total = encoded(&image.build_args) + encoded(&user.labels);
            if total > super::BUILD_ARGS_URL_BUDGET {
                return Err(Error::Usage(format!(
                    "{}: its build args and labels take {total} bytes encoded, over the engine API's limit of {} for both in the request URL; shorten the largest labels or pass large values through a file in the build context",
                    image.label(),
                    crate::guarded::human_size(super::BUILD_ARGS_URL_BUDGET as u64),
                )));
            }
        }
        Ok(())
    }
}
