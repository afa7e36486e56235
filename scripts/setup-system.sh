#!/usr/bin/env bash
# Installs the Debian packages govmatrix needs, on a fresh Debian 12 machine as root.
# Idempotent: packages already present are skipped, so a second run is fast.
set -euo pipefail

packages=(
  nginx              # renders are checked with `nginx -t`; the demo serves through it
  graphviz           # `govmatrix graph --format svg|png`
  python3-venv       # Synapse's venv uses Debian's Python, runnable by unprivileged users
  libpq-dev          # psycopg2 for Synapse's PostgreSQL driver
  postgresql-15      # one cluster per demo department
  redis-server       # Synapse workers (medium and large profiles)
  softhsm2           # the demo's and tests' HSM (PKCS#11)
  opensc             # pkcs11-tool, for inspecting tokens
  pgbackrest         # PostgreSQL backups with point-in-time recovery
  restic             # encrypted file backups (media, sealed keys, config)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages: ${missing[*]}" >&2
  echo "       run 'sudo make setup' or install them with apt-get." >&2
  exit 1
fi

echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian starts services on install; the project runs its own instances, so keep
# the distribution's units from grabbing ports 80/5432 on a developer machine.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}"
