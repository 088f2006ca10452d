# Sourced by scripts/test, scripts/quickstart and bench/run: make sure a Docker engine and a
# local registry (127.0.0.1:5000) are there, starting them when they are not, and stop what
# was started here when the caller exits.
#
# Debian's packages: docker.io (dockerd, classic builder, API 1.41), docker-registry
# (distribution v2), busybox-static (the base of test images; nothing can be pulled here),
# apache2-utils (htpasswd for auth tests).

_services_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SDKIMAGE_STATE="${SDKIMAGE_STATE:-$_services_root/target/services}"
SDKIMAGE_REGISTRY_ADDR="${SDKIMAGE_REGISTRY_ADDR:-127.0.0.1:5000}"
_started_pids=()

_as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    [ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || missing+=(busybox-static)
    command -v htpasswd >/dev/null || missing+=(apache2-utils)
    command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static binfmt-support)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "services: installing ${missing[*]} (Debian packages)" >&2
        _as_root apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive _as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# arm64 emulation for the engine (qemu-user-static's binfmt handlers, which carry the F flag
# and so work inside containers) and an arm64 busybox for multi-platform tests, from Debian's
# busybox-static:arm64, unpacked to target/arm64/busybox.
ensure_arm64() {
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        _as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        _as_root update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 \
            || _as_root update-binfmts --import qemu-aarch64 >/dev/null 2>&1 || true
    fi
    local dir="$_services_root/target/arm64"
    if [ ! -x "$dir/busybox" ]; then
        mkdir -p "$dir"
        if ! dpkg --print-foreign-architectures | grep -qx arm64; then
            _as_root dpkg --add-architecture arm64
            _as_root apt-get update -qq >/dev/null
        fi
        (cd "$dir" && apt-get download -qq busybox-static:arm64 >/dev/null 2>&1 \
            && dpkg-deb -x busybox-static_*_arm64.deb unpacked \
            && cp unpacked/bin/busybox busybox && rm -rf unpacked busybox-static_*_arm64.deb)
    fi
}

_engine_up() {
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

ensure_engine() {
    if _engine_up; then
        return 0
    fi
    if [ -n "${DOCKER_HOST:-}" ]; then
        echo "services: DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local engine" >&2
        return 1
    fi
    mkdir -p "$SDKIMAGE_STATE"
    echo "services: starting dockerd (log: $SDKIMAGE_STATE/dockerd.log)" >&2
    _as_root sh -c "dockerd >'$SDKIMAGE_STATE/dockerd.log' 2>&1 & echo \$! >'$SDKIMAGE_STATE/dockerd.pid'"
    _started_pids+=("$(cat "$SDKIMAGE_STATE/dockerd.pid")")
    for _ in $(seq 1 60); do
        _engine_up && return 0
        sleep 0.5
    done
    echo "services: dockerd did not come up; see $SDKIMAGE_STATE/dockerd.log" >&2
    tail -n 20 "$SDKIMAGE_STATE/dockerd.log" >&2 || true
    return 1
}

_registry_up() {
    curl -fsS -o /dev/null "http://$SDKIMAGE_REGISTRY_ADDR/v2/" 2>/dev/null
}

ensure_registry() {
    if _registry_up; then
        return 0
    fi
    local dir="$SDKIMAGE_STATE/registry"
    mkdir -p "$dir/data"
    cat >"$dir/config.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $SDKIMAGE_REGISTRY_ADDR
CONFIG
    echo "services: starting docker-registry on $SDKIMAGE_REGISTRY_ADDR" >&2
    docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    echo $! >"$dir/registry.pid"
    _started_pids+=("$!")
    for _ in $(seq 1 40); do
        _registry_up && return 0
        sleep 0.25
    done
    echo "services: the registry did not come up; see $dir/registry.log" >&2
    return 1
}

# Stop what this shell started (engine and registry), newest first.
stop_started() {
    local i
    for ((i = ${#_started_pids[@]} - 1; i >= 0; i--)); do
        _as_root kill "${_started_pids[$i]}" 2>/dev/null || true
    done
    for ((i = ${#_started_pids[@]} - 1; i >= 0; i--)); do
        for _ in $(seq 1 40); do
            _as_root kill -0 "${_started_pids[$i]}" 2>/dev/null || break
            sleep 0.25
        done
    done
    _started_pids=()
}

# Start what is missing; with `keep`, leave it running when the caller exits.
ensure_services() {
    ensure_packages
    ensure_arm64
    ensure_engine
    ensure_registry
    if [ "${1:-}" != keep ]; then
        trap stop_started EXIT
    fi
}

# Stop an engine and registry that an earlier `ensure_services keep` left running.
stop_kept_services() {
    local pidfile
    for pidfile in "$SDKIMAGE_STATE/registry/registry.pid" "$SDKIMAGE_STATE/dockerd.pid"; do
        [ -f "$pidfile" ] || continue
        _started_pids+=("$(cat "$pidfile")")
        rm -f "$pidfile"
    done
    stop_started
}

# The SPDX validator of the SBOM tests (`pyspdxtools -i FILE`, PyPI's spdx-tools) in a venv
# under the target folder, with Debian's python3-venv when `python3 -m venv` is missing.
# Exports its path as SDKIMAGE_PYSPDXTOOLS (a test that needs it fails when that is unset).
ensure_spdx_validator() {
    local venv="${CARGO_TARGET_DIR:-$_services_root/target}/spdx-tools"
    if [ ! -x "$venv/bin/pyspdxtools" ]; then
        if ! python3 -m venv "$venv" >/dev/null 2>&1; then
            rm -rf "$venv"
            echo "services: installing python3-venv (Debian) for the SPDX validator" >&2
            _as_root apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive _as_root apt-get install -y -qq python3 python3-venv >/dev/null
            python3 -m venv "$venv"
        fi
        echo "services: installing spdx-tools (PyPI) into $venv" >&2
        "$venv/bin/pip" install -q --disable-pip-version-check "spdx-tools==0.8.5"
    fi
    export SDKIMAGE_PYSPDXTOOLS="$venv/bin/pyspdxtools"
}
