#!/usr/bin/env bash
# Prepares what the Ansible tests need on the CI host (Debian 12, root), idempotently:
#   - a Docker engine (Debian's docker.io; started in the background when none runs);
#   - a Debian 12 systemd image built with debootstrap (no registry is reachable);
#   - an apt cache (apt-cacher-ng) that the containers reach as their apt proxy;
#   - a wheel cache served as a PyPI simple index (pypiserver) that the containers reach
#     through the roles' index-URL option: the air-gapped install path real sites use.
#
# Usage: scripts/test-hosts.sh [image|engine|caches|all]   (default: all)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
STATE="${GOVMATRIX_TEST_HOSTS_STATE:-/var/cache/govmatrix-test-hosts}"
IMAGE="${GOVMATRIX_TEST_IMAGE:-local/debian12-systemd:latest}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WHEELS="$STATE/wheels"
PYPI_PORT="${GOVMATRIX_PYPI_PORT:-3141}"
SYNAPSE_VERSION="${SYNAPSE_VERSION:-1.163.2}"
# The image carries only what Ansible itself needs; the roles install everything else.
IMAGE_PACKAGES=systemd,systemd-sysv,python3,python3-apt,dbus,iproute2,sudo,ca-certificates,procps

log() { printf 'test-hosts: %s\n' "$*"; }

# Wait up to 15 s for a local TCP listener on port $1; $2 names it in the error.
wait_port() {
  for _ in $(seq 1 30); do
    ss -ltn | grep -q ":$1 " && return
    sleep 0.5
  done
  log "$2 did not start" >&2
  exit 1
}

install_packages() {
  local missing=()
  for p in docker.io debootstrap apt-cacher-ng; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
}

engine() {
  install_packages
  if docker info >/dev/null 2>&1; then
    return
  fi
  log "starting dockerd (log: /var/log/govmatrix-dockerd.log)"
  # No init system runs here, so the engine runs in the background for this machine's life.
  nohup /usr/sbin/dockerd >/var/log/govmatrix-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  log "dockerd did not come up; see /var/log/govmatrix-dockerd.log" >&2
  tail -20 /var/log/govmatrix-dockerd.log >&2
  exit 1
}

image() {
  engine
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "image $IMAGE present"
    return
  fi
  local rootfs="$STATE/rootfs"
  rm -rf "$rootfs"
  mkdir -p "$rootfs"
  log "building $IMAGE with debootstrap (about a minute)"
  debootstrap --variant=minbase --include="$IMAGE_PACKAGES" bookworm "$rootfs" "$MIRROR" \
    >"$STATE/debootstrap.log" 2>&1 || { tail -20 "$STATE/debootstrap.log" >&2; exit 1; }
  # Security updates come from their own suite; unattended-upgrades needs it listed.
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  # pip in the containers must trust the same CAs as the host (see ENVIRONMENT.md).
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -f "$rootfs/etc/machine-id" && : >"$rootfs/etc/machine-id"
  tar -C "$rootfs" -c . | docker import - "$IMAGE" >/dev/null
  rm -rf "$rootfs"
  log "image $IMAGE built"
}

apt_cache() {
  install_packages
  if ss -ltn 2>/dev/null | grep -q ':3142 '; then
    return
  fi
  log "starting apt-cacher-ng on :3142 (cache: /var/cache/apt-cacher-ng)"
  mkdir -p /var/cache/apt-cacher-ng /var/log/apt-cacher-ng /run/apt-cacher-ng
  chown -R apt-cacher-ng:apt-cacher-ng /var/cache/apt-cacher-ng /var/log/apt-cacher-ng /run/apt-cacher-ng
  # ForeGround=0 daemonises; it serves every interface so the docker bridge reaches it.
  # Our own minimal configuration: Debian's remaps send requests to mirror lists, which
  # this network cannot reach; plain proxying fetches exactly what the client asked for.
  local conf="$STATE/acng"
  mkdir -p "$conf"
  printf '%s\n' "CacheDir: /var/cache/apt-cacher-ng" "LogDir: /var/log/apt-cacher-ng" \
    "SupportDir: /usr/lib/apt-cacher-ng" "Port: 3142" "ExThreshold: 4" >"$conf/acng.conf"
  /usr/sbin/apt-cacher-ng -c "$conf" ForeGround=0 \
    pidfile=/run/apt-cacher-ng/pid SocketPath=/run/apt-cacher-ng/socket
  wait_port 3142 "apt-cacher-ng (log: /var/log/apt-cacher-ng)"
}

wheel_cache() {
  mkdir -p "$WHEELS"
  local stamp="$WHEELS/.complete-$SYNAPSE_VERSION-postgres-redis-oidc" pip_log="$STATE/pip-wheel.log"
  # `pip wheel`, not `pip download`: psycopg2 ships only as source, and the hosts should not
  # need a compiler. The containers run Debian's Python 3.11, as /usr/bin/python3 here does.
  local wheel=(/usr/bin/python3 -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$WHEELS")
  if [ ! -f "$stamp" ]; then
    log "filling the wheel cache $WHEELS (matrix-synapse $SYNAPSE_VERSION; log: $pip_log)"
    "${wheel[@]}" "matrix-synapse[postgres,redis,oidc]==$SYNAPSE_VERSION" pip setuptools wheel >"$pip_log" 2>&1 \
      || { tail -20 "$pip_log" >&2; exit 1; }
    touch "$stamp"
  fi
  # The archive service is govmatrix itself: its wheel, built from this checkout, and its
  # dependencies. Rebuilt every run so the containers get the code under test.
  rm -f "$WHEELS"/govmatrix-*.whl
  "${wheel[@]}" "$ROOT" >>"$pip_log" 2>&1 || { tail -20 "$pip_log" >&2; exit 1; }
  rm -f "$WHEELS"/*.tar.gz
  if ! ss -ltn 2>/dev/null | grep -q ":$PYPI_PORT "; then
    log "serving $WHEELS as a PyPI index on :$PYPI_PORT"
    nohup "$ROOT/.venv/bin/pypi-server" run -p "$PYPI_PORT" -i 0.0.0.0 --disable-fallback \
      -a . -P . "$WHEELS" >/var/log/govmatrix-pypiserver.log 2>&1 &
    wait_port "$PYPI_PORT" "pypiserver (log: /var/log/govmatrix-pypiserver.log)"
  fi
}

mkdir -p "$STATE"
case "${1:-all}" in
  engine) engine ;;
  image) image ;;
  caches) apt_cache; wheel_cache ;;
  all) image; apt_cache; wheel_cache ;;
  *) echo "usage: $0 [image|engine|caches|all]" >&2; exit 2 ;;
esac
