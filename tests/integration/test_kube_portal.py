"""The portal pod of a Kubernetes department, run on this machine: its two commands (the
LemonLDAP::NG FastCGI server and nginx with the rendered main configuration), with the
department's Kubernetes render filled in by `assemble-config`, from the Debian packages the
identity image installs (container/Containerfile.identity).

Not a cluster, so a few things differ from the pod, each for the host's sake: the config
and state directories are temporary ones instead of /config and /data (the render is made
for them), nginx's scratch files are there instead of /tmp, nginx and the FastCGI server
listen on free loopback ports instead of 8080 and 8095, and they run as `nobody` instead of
UID 10002 (the FastCGI server refuses root, as the pod's non-root user makes moot). What
runs is otherwise what the pod runs. The department's directory is not contacted: the login page
and the OpenID Connect discovery need none."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from govmatrix.demo.system import wait_for
from govmatrix.estate import Estate
from govmatrix.estate.pki_plan import plan
from govmatrix.identity import portal
from govmatrix.kube.assemble import assemble
from govmatrix.pki import init as pki_init
from govmatrix.render import paths, render, required_secrets
from govmatrix.render.targets import kubernetes_target
from govmatrix.secretgen import generate_all
from tests.integration.test_directory import free_port, listening

pytestmark = pytest.mark.integration

DEPT = "moj"
HOST = "auth.moj.gov.uk.test"


@pytest.fixture(scope="module")
def portal_url(uk_estate: Estate) -> Iterator[str]:
    assert shutil.which("nginx") and Path(portal.FASTCGI_SERVER).exists(), (
        "nginx and LemonLDAP::NG missing: run 'make setup'"
    )
    # Outside pytest's root-only temporary tree: `nobody` must reach it.
    work = Path(tempfile.mkdtemp(prefix="gm-kube-portal-", dir="/var/tmp"))
    work.chmod(0o755)
    dept = uk_estate.department(DEPT)
    target = dataclasses.replace(
        kubernetes_target(dept),
        config_dir=str(work / "config"),
        data_dir=str(work / "data"),
        ca_dir=str(work / "ca"),
    )
    # The estate CA, which the pod mounts from its certificate's Secret (it verifies the
    # ldaps:// directory, and the portal checks the file at start).
    pki_init(plan(uk_estate), work / "ca")
    rendered = render(uk_estate, dept, target)
    # The ConfigMap's files as the pod mounts them (each key at its path), and the Secret's
    # values, one file each.
    mounted, values = work / "rendered", work / "secret-values"
    values.mkdir()
    for path, item in rendered.items():
        (mounted / path).parent.mkdir(parents=True, exist_ok=True)
        (mounted / path).write_text(item.text)
    for name, value in generate_all(required_secrets(dept, target)).items():
        (values / name).write_text(value)
    for spec in required_secrets(dept, target):
        if spec.ref is not None:  # issued elsewhere: the platform's store holds it
            (values / spec.name).write_text("issued-elsewhere")
    config = Path(target.config_dir)
    assemble(mounted, values, config)
    for sub in portal.STATE_DIRS:  # as the pod's state-dirs init container does
        (work / "data" / "identity" / sub).mkdir(parents=True)
    (work / "portal.log").touch()  # nginx reopens /dev/stdout: the file must be nobody's
    subprocess.run(["chown", "-R", "nobody:nogroup", str(work)], check=True)

    fastcgi_port, http_port = free_port(), free_port()
    nginx_conf = config / paths.IDENTITY_PORTAL_NGINX
    nginx_conf.write_text(
        nginx_conf.read_text()
        .replace("listen 8080;", f"listen 127.0.0.1:{http_port};")
        .replace(f"127.0.0.1:{target.identity_port}", f"127.0.0.1:{fastcgi_port}")
        .replace("/tmp/", f"{work}/tmp-")
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "USER"},
        **portal.environment(str(config / paths.IDENTITY_PROVIDER_INI)),
    }
    logs = (work / "portal.log").open("a")
    unprivileged = {
        "user": "nobody",
        "group": "nogroup",
        "stdout": logs,
        "stderr": subprocess.STDOUT,
    }
    fastcgi = subprocess.Popen(
        portal.fastcgi_command(f"127.0.0.1:{fastcgi_port}", str(work / "llng.pid")),
        env=env,
        **unprivileged,
    )
    nginx = subprocess.Popen(["nginx", "-c", str(nginx_conf), "-g", "daemon off;"], **unprivileged)
    try:

        def up() -> bool:
            for proc in (fastcgi, nginx):
                assert proc.poll() is None, (work / "portal.log").read_text()[-3000:]
            return listening(fastcgi_port) and listening(http_port)

        wait_for(up, "the portal's FastCGI server and nginx", 60)
        yield f"http://127.0.0.1:{http_port}"
    finally:
        for proc in (nginx, fastcgi):
            proc.terminate()
            proc.wait(timeout=30)
        logs.close()
        shutil.rmtree(work, ignore_errors=True)


def test_the_portal_pod_serves_discovery_and_the_login_page(portal_url: str) -> None:
    headers = {"Host": HOST}
    discovery = httpx.get(
        f"{portal_url}/.well-known/openid-configuration", headers=headers, timeout=30
    )
    assert discovery.status_code == 200, discovery.text[:500]
    assert discovery.json()["issuer"] == f"https://{HOST}"
    assert "S256" in discovery.json()["code_challenge_methods_supported"]
    login = httpx.get(f"{portal_url}/", headers=headers, timeout=30)
    assert login.status_code == 200
    assert 'name="password"' in login.text
    static = httpx.get(f"{portal_url}/static/common/js/portal.min.js", headers=headers)
    assert static.status_code == 200  # nginx serves the portal's files itself


def test_the_portals_admin_apis_stay_closed(portal_url: str) -> None:
    response = httpx.get(f"{portal_url}/index.psgi/config/latest", headers={"Host": HOST})
    assert response.status_code == 403
