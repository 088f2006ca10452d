# Sourced by scripts/test, scripts/quickstart and bench/run: make sure a Docker engine and a
# local registry (127.0.0.1:5000) are there, starting them when they are not, and stop what
# was started here when the caller exits.
#
# Debian's packages: docker.io (dockerd, classic builder, API 1.41), docker-registry
# (distribution v2), busybox-static (the base of test images; nothing can be pulled here),
# apache2-utils (htpasswd for auth tests), socat and iproute2 (a second, cold engine), podman
# (its Docker-compatible API, which has no BuildKit; the test starts its own
# `podman system service` on a socket of its own and stops it), golang-go (the Go binaries
# the license tests build, offline).

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
    # start_cold_engine: a forwarder into its network namespace, and `ip`
    command -v socat >/dev/null || missing+=(socat)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v podman >/dev/null || missing+=(podman)
    # the go license tests build their Go binaries here (GOPROXY=off, local replacements)
    command -v go >/dev/null || missing+=(golang-go)
    # the ssh:// engine test: an sshd of its own (never the system's)
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
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

# A second, empty engine: a cold CI runner that leaves the shared engine alone. Its own dockerd
# (and the containerd it starts) with its own data root, exec root, pidfile, config and unix
# socket, all under DIR, in a network namespace of its own (DIR/netns): its default bridge and
# iptables rules live there, never touching the shared engine's docker0 (a dockerd started with
# --bridge=none in the host's namespace deletes docker0, breaking the shared engine's builds).
# Each PORT (default: SDKIMAGE_REGISTRY_ADDR's, 5000) of the host's 127.0.0.1 is forwarded to
# the same port of that namespace's loopback (socat over a unix socket), so `localhost:5000`
# names the same registry there. Prints the DOCKER_HOST to use (unix://DIR/docker.sock). Stop it
# with `stop_cold_engine DIR`, which also removes DIR.
#
#   host="$(start_cold_engine /tmp/cold 5000 5201)" && DOCKER_HOST="$host" docker info
start_cold_engine() {
    local dir="$1" port
    shift
    [ $# -gt 0 ] || set -- "${SDKIMAGE_REGISTRY_ADDR##*:}"
    if [ -z "$dir" ]; then
        echo "start_cold_engine: give the folder for its state (short: the socket path must fit in 108 bytes)" >&2
        return 2
    fi
    command -v socat >/dev/null || {
        echo "services: installing socat (Debian package)" >&2
        _as_root apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive _as_root apt-get install -y -qq socat >/dev/null
    }
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    echo '{}' >"$dir/daemon.json"
    touch "$dir/netns"
    _as_root unshare --net="$dir/netns" true || return 1
    _as_root nsenter --net="$dir/netns" ip link set lo up || return 1
    # namespace's 127.0.0.1:PORT -> DIR/port-PORT.sock -> host's 127.0.0.1:PORT
    for port in "$@"; do
        socat "UNIX-LISTEN:$dir/port-$port.sock,fork" "TCP:127.0.0.1:$port" >/dev/null 2>&1 &
        echo $! >"$dir/socat-host-$port.pid"
        _as_root sh -c "nsenter --net='$dir/netns' socat TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:'$dir/port-$port.sock' >/dev/null 2>&1 & echo \$! >'$dir/socat-netns-$port.pid'"
    done
    # COLD_ENGINE_EXPOSE="PORT...": the host's 127.0.0.1:PORT -> the namespace's (a tcp://
    # listener given in COLD_ENGINE_ARGS, e.g. `--tlsverify ... -H tcp://127.0.0.1:PORT`).
    for port in ${COLD_ENGINE_EXPOSE:-}; do
        _as_root sh -c "nsenter --net='$dir/netns' socat UNIX-LISTEN:'$dir/expose-$port.sock',fork TCP:127.0.0.1:$port >/dev/null 2>&1 & echo \$! >'$dir/socat-expose-netns-$port.pid'"
        socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$dir/expose-$port.sock" >/dev/null 2>&1 &
        echo $! >"$dir/socat-expose-host-$port.pid"
    done
    _as_root sh -c "nsenter --net='$dir/netns' dockerd --config-file '$dir/daemon.json' \
        --data-root '$dir/data' --exec-root '$dir/exec' --pidfile '$dir/dockerd.pid' \
        --host 'unix://$dir/docker.sock' --cgroup-parent sdkimage-cold \
        --iptables=false --ip-masq=false ${COLD_ENGINE_ARGS:-} >'$dir/dockerd.log' 2>&1 &"
    for _ in $(seq 1 60); do
        if docker -H "unix://$dir/docker.sock" version --format '{{.Server.Version}}' >/dev/null 2>&1; then
            echo "unix://$dir/docker.sock"
            return 0
        fi
        sleep 0.5
    done
    echo "services: the cold engine did not come up; see $dir/dockerd.log" >&2
    tail -n 20 "$dir/dockerd.log" >&2 || true
    return 1
}

# Stop the engine `start_cold_engine DIR` started (and its containerd and forwarders), unmount
# what it left mounted and remove DIR. Safe to call twice, or on a half-started engine.
stop_cold_engine() {
    local dir="$1" pidfile pid
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    dir="$(cd "$dir" && pwd)"
    for pidfile in "$dir/dockerd.pid" "$dir/exec/containerd/containerd.pid"; do
        [ -f "$pidfile" ] || continue
        pid="$(cat "$pidfile")"
        _as_root kill "$pid" 2>/dev/null || continue
        for _ in $(seq 1 60); do
            _as_root kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        _as_root kill -9 "$pid" 2>/dev/null || true
    done
    for pidfile in "$dir"/socat-*.pid; do
        [ -f "$pidfile" ] && { _as_root kill "$(cat "$pidfile")" 2>/dev/null || true; }
    done
    # Whatever is still mounted below DIR (overlays, shm, the namespace), deepest first.
    awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r \
        | while read -r m; do _as_root umount -l "$m" 2>/dev/null || true; done
    _as_root rm -rf "$dir"
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
