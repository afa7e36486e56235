"""How the bundled provider runs: Debian's LemonLDAP::NG FastCGI server with one
department's configuration. The demo's supervisor and the on-prem unit start the same
command; LemonLDAP::NG reads one configuration per installation, so each department's
server is pointed at its own file through LLNG_DEFAULTCONFFILE."""

from __future__ import annotations

FASTCGI_SERVER = "/usr/sbin/llng-fastcgi-server"
# Enough for a burst of logins on 2 cores; each process holds a compiled portal (~60 MB).
PROCESSES = 3
# Debian packages the portal needs, installed without Recommends on hosts. The portal
# loads these Perl modules (found by starting it, and signing in, on a minimal Debian 12):
# IO::Socket::Timeout and Unicode::String for LDAP, String::Random for the OIDC issuer,
# GD::SecurityImage and Image::Magick because it always loads its captcha module.
PACKAGES = (
    "lemonldap-ng-fastcgi-server",
    "liblemonldap-ng-portal-perl",
    "libnet-ldap-perl",
    "libcrypt-openssl-rsa-perl",
    "libcrypt-openssl-bignum-perl",
    "libcrypt-openssl-x509-perl",
    "libio-string-perl",
    "libio-socket-timeout-perl",
    "libunicode-string-perl",
    "libstring-random-perl",
    "libgd-securityimage-perl",
    "libimage-magick-perl",
)


# Under the provider's state directory: session stores (and their locks) and its cache,
# which the portal expects to exist.
STATE_DIRS = ("sessions/lock", "psessions/lock", "cache")


def fastcgi_command(listen: str, pid_file: str) -> list[str]:
    return [
        FASTCGI_SERVER,
        "--foreground",
        "--proc",
        str(PROCESSES),
        "--listen",
        listen,
        "--pid",
        pid_file,
    ]


def environment(ini_file: str) -> dict[str, str]:
    return {
        "LLNG_DEFAULTCONFFILE": ini_file,
        # Portal and user events go to the service's own output (the supervisor's log file,
        # or the journal), not to syslog.
        "LLNG_DEFAULTLOGGER": "Lemonldap::NG::Common::Logger::Std",
    }
