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
  slapd              # the demo's and tests' department directories (OpenLDAP)
  ldap-utils         # ldapadd/ldapmodify, for seeding and inspecting directories
  # The demo's per-department OpenID Connect provider (LemonLDAP::NG) and what its LDAP
  # login and RS256 ID tokens need; Debian pulls the rest of the portal in.
  lemonldap-ng-fastcgi-server
  liblemonldap-ng-portal-perl
  libnet-ldap-perl
  libcrypt-openssl-rsa-perl
  libcrypt-openssl-bignum-perl
  libcrypt-openssl-x509-perl
  libio-string-perl
  libio-socket-timeout-perl
  libunicode-string-perl      # the LDAP backend (Recommends, which hosts do not install)
  libstring-random-perl       # OpenID Connect issuer
  libgd-securityimage-perl    # the portal always loads its captcha module
  libimage-magick-perl
)

# From bookworm-backports on Debian 12 (newer releases carry them in main):
backports=(
  pkcs11-provider    # OpenSSL 3 provider: nginx serves TLS with keys that stay in the HSM
)
BACKPORTS_LIST=/etc/apt/sources.list.d/bookworm-backports.list
. /etc/os-release
codename="${VERSION_CODENAME:-}"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
missing_backports=()
for p in "${backports[@]}"; do
  installed "$p" || missing_backports+=("$p")
done

if [ "${#missing[@]}" -eq 0 ] && [ "${#missing_backports[@]}" -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages: ${missing[*]} ${missing_backports[*]}" >&2
  echo "       run 'sudo make setup' or install them with apt-get." >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
backports_target=()
if [ "${#missing_backports[@]}" -gt 0 ] && [ "$codename" = bookworm ]; then
  backports_target=(-t bookworm-backports)
  if ! grep -rqs --include='*.list' --include='*.sources' '^[^#]*bookworm-backports' \
      /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "apt source: adding bookworm-backports ($BACKPORTS_LIST)"
    echo 'deb http://deb.debian.org/debian bookworm-backports main' > "$BACKPORTS_LIST"
  fi
fi

echo "system packages: installing ${missing[*]} ${missing_backports[*]}"
apt-get update -qq
# Debian starts services on install; the project runs its own instances, so keep
# the distribution's units from grabbing ports 80/5432 on a developer machine.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
# No distribution directory either: each directory govmatrix runs has its own configuration.
echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ "${#missing_backports[@]}" -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${backports_target[@]}" "${missing_backports[@]}"
fi
