use super::*;

fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn paths(text: &str) -> Vec<String> {
    paths_with(text, None, &BTreeMap::new())
}

fn paths_with(
    text: &str,
    target: Option<&str>,
    build_args: &BTreeMap<String, String>,
) -> Vec<String> {
    let automatic = args(&[("TARGETARCH", "arm64"), ("TARGETOS", "linux")]);
    match context_use(text, target, build_args, &automatic) {
        ContextUse::Paths(p) => p.into_iter().collect(),
        ContextUse::Whole(why) => panic!("whole context: {why}"),
    }
}

fn whole(text: &str) -> String {
    match context_use(text, None, &BTreeMap::new(), &BTreeMap::new()) {
        ContextUse::Whole(why) => why.to_string(),
        ContextUse::Paths(p) => panic!("paths {p:?}, not the whole context"),
    }
}

#[test]
fn copy_and_add_sources_cleaned_with_wildcards_kept() {
    let text = "\
FROM scratch
COPY small.txt ./dir/ /
COPY [\"json name\", \"/dst/\"]
ADD ./a/../b/*.tar.gz https://example.com/x.tgz /opt/
COPY --chown=1:1 --chmod=644 data/[ab]?.bin /data/
";
    assert_eq!(
        paths(text),
        [
            "b/*.tar.gz",
            "data/[ab]?.bin",
            "dir",
            "json name",
            "small.txt"
        ]
    );
    // Nothing from the context at all.
    assert!(paths("FROM scratch\nCMD [\"x\"]\n").is_empty());
}

#[test]
fn args_are_expanded_as_the_frontend_does() {
    let text = "\
ARG DIST=dist
FROM scratch
ARG DIST
ARG TARGETARCH
ARG FLAVOUR=slim
ENV SUB=${FLAVOUR}-bin
COPY ${DIST}/${TARGETARCH}/$SUB /
COPY \"$DIST\"/quoted /
";
    assert_eq!(paths(text), ["dist/arm64/slim-bin", "dist/quoted"]);
    assert_eq!(
        paths_with(text, None, &args(&[("DIST", "out"), ("FLAVOUR", "full")])),
        ["out/arm64/full-bin", "out/quoted"]
    );
    // On scratch an unset variable is empty, as BuildKit expands it.
    assert_eq!(paths("FROM scratch\nCOPY x${NOPE}y /\n"), ["xy"]);
    // ENV and ARG carry into a stage built on another.
    assert_eq!(
        paths("FROM scratch AS a\nENV D=lib\nFROM a\nCOPY $D/x /\n"),
        ["lib/x"]
    );
}

#[test]
fn a_variable_a_base_image_could_set_falls_back() {
    let why = whole("FROM debian\nCOPY $HOME/x /\n");
    assert!(why.contains("$HOME"), "{why}");
    // Declared without a value anywhere: the base image's environment decides.
    whole("FROM debian\nARG X\nCOPY ${X:-a} /\n");
    // Set in the Dockerfile: known whatever the base.
    assert_eq!(paths("FROM debian\nARG X=a\nCOPY $X /\n"), ["a"]);
}

#[test]
fn copy_from_is_not_the_context_but_its_stage_is_reached() {
    let text = "\
FROM scratch AS build
COPY src /src
FROM scratch AS unused
COPY unused.txt /
FROM scratch AS docs
COPY docs /docs
FROM scratch
COPY --from=build /src /
COPY --from=1 /x /
COPY --from=busybox /bin/busybox /
RUN --mount=type=bind,from=docs,source=/docs,target=/d true
";
    assert_eq!(paths(text), ["docs", "src", "unused.txt"]);
    // A target stage reaches only what it depends on.
    assert_eq!(paths_with(text, Some("BUILD"), &BTreeMap::new()), ["src"]);
    // A `--from` with a variable may name any stage.
    let text = "FROM scratch AS a\nCOPY a /\nFROM scratch\nARG S=a\nCOPY --from=$S / /\n";
    assert_eq!(paths(text), ["a"]);
    // A stage built on another reaches it.
    assert_eq!(
        paths("FROM scratch AS a\nCOPY a /\nFROM scratch AS b\nCOPY b /\nFROM a\nCOPY c /\n"),
        ["a", "c"]
    );
}

#[test]
fn run_mounts_from_the_context() {
    let text = "\
FROM scratch
RUN --mount=type=bind,source=tools,target=/t --mount=type=cache,target=/c --mount=type=secret,id=s true
RUN --mount=src=more,dst=/m true
RUN --network=none --mount=type=bind,from=busybox,target=/b true
";
    assert_eq!(paths(text), ["more", "tools"]);
    // A bind mount of the whole context, and BuildKit 0.8's tmpfs mount (it counts its
    // empty source), are the whole context.
    whole("FROM scratch\nRUN --mount=target=/ctx true\n");
    whole("FROM scratch\nRUN --mount=type=tmpfs,target=/tmp true\n");
    whole("FROM scratch\nARG S=x\nRUN --mount=source=$S,target=/s true\n");
}

#[test]
fn what_cannot_be_known_falls_back_to_the_whole_context() {
    assert!(whole("FROM scratch\nCOPY . /\n").contains("whole context"));
    whole("FROM scratch\nCOPY ./ /app\n");
    whole("FROM scratch\nADD a/.. /\n");
    whole("# syntax=docker/dockerfile:1\nFROM scratch\nCOPY a /\n");
    assert!(whole("FROM scratch\nCOPY <<EOT /x\nhi\nEOT\n").contains("heredoc"));
    whole("FROM scratch\nRUN <<EOF\ntrue\nEOF\n");
    assert!(whole("FROM scratch AS a\nONBUILD COPY x /\nFROM a\n").contains("ONBUILD"));
    whole("FROM scratch\nFROBNICATE a\nCOPY a /\n");
    whole("FROM scratch\nCOPY a\n");
    whole("FROM scratch\nCOPY ${A:?unset} /\n");
    whole(
        "FROM scratch\nCOPY a /\n"
            .replace("FROM scratch", "ARG")
            .as_str(),
    );
    assert!(matches!(
        context_use(
            "FROM scratch\nCOPY a /\n",
            Some("nope"),
            &BTreeMap::new(),
            &BTreeMap::new()
        ),
        ContextUse::Whole(_)
    ));
}

#[test]
fn the_union_of_two_uses() {
    let a = ContextUse::Paths(["x".to_string()].into());
    let b = ContextUse::Paths(["y".to_string()].into());
    assert_eq!(
        a.clone().union(b),
        ContextUse::Paths(["x".to_string(), "y".to_string()].into())
    );
    assert!(matches!(
        a.union(ContextUse::Whole(WholeContext::NoFrom)),
        ContextUse::Whole(_)
    ));
}
