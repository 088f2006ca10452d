//! The minijinja environment every custom Dockerfile is rendered in: the default template,
//! its filters, and template errors as located diagnostics.

use std::path::Path;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior};

use crate::error::Diagnostic;

/// The name a `template` file extends: `{% extends "sdkimage" %}`.
pub const TEMPLATE_NAME: &str = "sdkimage";

/// The default template. Every block renders nothing when its keys are empty.
pub const DEFAULT_TEMPLATE: &str = r#"# Rendered by cargo sdkimage from {{ manifest }}; edit the manifest, not this file.
{% block base %}
{% if adapt %}
FROM {{ adapt.sdk }} AS sdk
FROM {{ base }}
{% for path in adapt.artifacts %}
COPY --from=sdk {{ [path, path] | json }}
{% endfor %}
{% else %}
FROM {{ base }}
{% endif %}
{% endblock %}
{% block system_packages %}
{% if apt_local %}
COPY {{ (apt_local + ["/tmp/sdkimage-debs/"]) | json }}
{% endif %}
{% if apt or apt_local %}
RUN {% if apt %}apt-get update && {% endif %}DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends{% for p in apt %} {{ p | sh }}{% endfor %}{% if apt_local %} /tmp/sdkimage-debs/*.deb{% endif %} && rm -rf /var/lib/apt/lists/* /tmp/sdkimage-debs
{% endif %}
{% endblock %}
{% block python_packages %}
{% if requirements %}
COPY {{ [requirements, "/tmp/sdkimage-requirements.txt"] | json }}
RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir -r /tmp/sdkimage-requirements.txt && rm /tmp/sdkimage-requirements.txt
{% endif %}
{% if pip %}
RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir{% for p in pip %} {{ p | sh }}{% endfor %}

{% endif %}
{% endblock %}
{% block files %}
{% for c in copy %}
COPY {{ [c.from, c.to] | json }}
{% endfor %}
{% endblock %}
{% block environment %}
{% for name, value in env | items %}
ENV {{ name }}={{ value | json }}
{% endfor %}
{% endblock %}
{% block commands %}
{% if workdir %}
WORKDIR {{ workdir }}
{% endif %}
{% for line in run %}
RUN {{ line }}
{% endfor %}
{% if user %}
USER {{ user }}
{% endif %}
{% endblock %}
{% block entrypoint %}
{% if adapt and adapt.entrypoint %}
ENTRYPOINT {{ adapt.entrypoint | json }}
{% endif %}
{% endblock %}
"#;

/// The instructions one rendering may run (a Dockerfile takes a few thousand).
const TEMPLATE_FUEL: u64 = 5_000_000;

/// The environment every rendering uses: blocks on their own lines leave no blank lines,
/// an undefined name is an error (a typo in an override fails instead of rendering nothing),
/// nothing is HTML-escaped.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .expect("default delimiters"),
    );
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A template that loops without end stops with an error instead of hanging the tool.
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    // A JSON string or array: Dockerfile exec form, COPY with spaces, quoted ENV values.
    env.add_filter("json", |v: minijinja::Value| -> String { to_json(&v) });
    // One shell word.
    env.add_filter(
        "sh",
        |s: String| -> std::result::Result<String, minijinja::Error> {
            shlex::try_quote(&s).map(|q| q.into_owned()).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
            })
        },
    );
    env.add_template(TEMPLATE_NAME, DEFAULT_TEMPLATE)
        .expect("the default template parses");
    env
}

/// A value as JSON, arrays with `, ` between items as Dockerfiles are usually written.
fn to_json(v: &minijinja::Value) -> String {
    use minijinja::value::ValueKind;
    match (v.kind(), v.try_iter()) {
        (ValueKind::Seq | ValueKind::Iterable, Ok(items)) => {
            let items: Vec<String> = items.map(|i| to_json(&i)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => serde_json::to_string(v).unwrap_or_default(),
    }
}

/// A minijinja error in `path` (of text `text`) as a located diagnostic; an error inside the
/// default template names it.
pub(crate) fn diagnostic(path: &Path, text: &str, e: &minijinja::Error) -> Diagnostic {
    let what = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    if e.name() == Some(TEMPLATE_NAME) {
        return Diagnostic {
            path: path.to_path_buf(),
            line: 1,
            col: 1,
            message: format!(
                "rendering the default template (line {} of `{TEMPLATE_NAME}`): {what}",
                e.line().unwrap_or(0)
            ),
        };
    }
    match e.range() {
        Some(r) => Diagnostic::at(path, text, r.start, format!("template: {what}")),
        None => Diagnostic {
            path: path.to_path_buf(),
            line: e.line().unwrap_or(1),
            col: 1,
            message: format!("template: {what}"),
        },
    }
}

/// Parse a `template` file (at `path`): its syntax errors, located in it.
pub fn check_syntax(path: &Path, text: &str) -> std::result::Result<(), Diagnostic> {
    let mut env = environment();
    let name = path.display().to_string();
    env.add_template_owned(name, text.to_string())
        .map_err(|e| diagnostic(path, text, &e))
}
