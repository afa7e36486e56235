"""Debian's nginx (installed by `make setup`) accepts the rendered site of every department
(`nginx -t`), with the real certificates from the estate PKI, for the demo and on-prem
targets. Then it serves the demo sites for real on loopback: well-known, security headers,
admin API refusal, and Element's config.json."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from govmatrix import pki
from govmatrix.demo.system import wait_for
from govmatrix.estate import Estate
from govmatrix.estate.federation import build
from govmatrix.estate.pki_plan import plan
from govmatrix.materialise import materialise
from govmatrix.render import Target, render, required_secrets, target_for
from govmatrix.render.paths import nginx_site
from govmatrix.secretgen import generate_all
from tests.conftest import relocate

pytestmark = pytest.mark.integration

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _deploy_sites(
    estate: Estate, kind: str, root: Path, port_shift: int = 0
) -> tuple[Path, dict[str, Target]]:
    pki_dir = root / "pki"
    pki.init(plan(estate), pki_dir)
    graph = build(estate)
    includes = []
    targets = {}
    for dept in estate.departments:
        # The software-key path: HSM-backed TLS (pkcs11-provider, a token and its PIN) is
        # proven by tests/integration/test_hsm_tls_files.py and tests/e2e/test_hsm_tls.py.
        target = relocate(target_for(kind, estate, dept), root / dept.id).with_overrides(
            hsm_dir=None
        )
        if port_shift:
            target = target.with_overrides(
                client_port=target.client_port + port_shift,
                federation_port=target.federation_port + port_shift,
            )
        targets[dept.id] = target
        specs = required_secrets(dept, target)
        materialise(render(estate, dept, target, graph=graph), target, specs, generate_all(specs))
        tls = Path(target.tls_dir)
        tls.mkdir(parents=True, exist_ok=True)
        shutil.copy(pki_dir / dept.id / "server.crt", tls / "server.crt")
        shutil.copy(pki_dir / dept.id / "server.key", tls / "server.key")
        Path(target.element_root).mkdir(parents=True, exist_ok=True)
        (Path(target.element_root) / "index.html").write_text(
            "<!doctype html><title>fixture</title>\n"
        )
        includes.append(f"    include {target.config_dir}/{nginx_site(dept.id)};")
    conf = root / "nginx.conf"
    conf.write_text(
        "\n".join(
            [
                "daemon off;",
                "master_process on;",
                "worker_processes 1;",
                f"pid {root}/nginx.pid;",
                f"error_log {root}/error.log;",
                "events { worker_connections 64; }",
                "http {",
                f"    access_log {root}/access.log;",
                f"    client_body_temp_path {root}/tmp-body;",
                f"    proxy_temp_path {root}/tmp-proxy;",
                "    default_type application/octet-stream;",
                *includes,
                "}",
                "",
            ]
        )
    )
    return conf, targets


@pytest.mark.parametrize("kind", ["demo", "onprem"])
@pytest.mark.parametrize("estate_name", ["demo", "uk-example"])
def test_nginx_t_accepts_sites(
    estate_name: str, kind: str, example_estates: dict[str, Estate], tmp_path: Path
) -> None:
    conf, _ = _deploy_sites(example_estates[estate_name], kind, tmp_path)
    proc = subprocess.run(
        [NGINX, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "test is successful" in proc.stderr


def _wait_for_port(host: str, port: int, timeout: float) -> None:
    import socket

    def listening() -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex((host, port)) == 0

    wait_for(listening, f"something listening on {host}:{port}", timeout, interval=0.05)


@pytest.fixture
def served_root(tmp_path: Path) -> Path:
    """A root nginx's unprivileged workers can traverse, as /var/lib is on a real host."""
    root = tmp_path / "srv"
    root.mkdir()
    for path in (root, *root.parents):
        if path == Path("/"):
            break
        path.chmod(path.stat().st_mode | 0o055)
    return root


def test_nginx_serves_demo_sites(demo_estate: Estate, served_root: Path) -> None:
    # Shift ports so the test never collides with a running demo on 443/8448.
    conf, targets = _deploy_sites(demo_estate, "demo", served_root, port_shift=20000)
    proc = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(served_root)], stderr=subprocess.PIPE
    )
    try:
        dept = demo_estate.department("home-office")
        target = targets[dept.id]
        ip = target.public_address
        _wait_for_port(ip, target.client_port, 10)
        context = ssl.create_default_context(cafile=str(served_root / "pki" / "ca.crt"))
        with httpx.Client(verify=context, timeout=5) as client:

            def get(path: str, port: int) -> httpx.Response:
                # Reach the department's loopback address, verifying its server name.
                return client.get(
                    f"https://{ip}:{port}{path}",
                    headers={"Host": dept.server_name},
                    extensions={"sni_hostname": dept.server_name},
                )

            server = get("/.well-known/matrix/server", target.client_port)
            assert server.status_code == 200
            assert server.json() == {"m.server": f"{dept.server_name}:{target.federation_port}"}
            client_wk = get("/.well-known/matrix/client", target.client_port).json()
            assert client_wk["m.homeserver"]["base_url"] == f"https://{dept.server_name}"
            element = get("/config.json", target.client_port)
            assert element.status_code == 200, element.text
            hs = element.json()["default_server_config"]["m.homeserver"]
            assert hs["server_name"] == dept.server_name
            index = get("/", target.client_port)
            assert index.status_code == 200
            assert "frame-ancestors 'self'" in index.headers["Content-Security-Policy"]
            assert index.headers["X-Frame-Options"] == "SAMEORIGIN"
            assert "max-age" in index.headers["Strict-Transport-Security"]
            # Federation port serves only federation paths.
            assert get("/config.json", target.federation_port).status_code == 404
            # Secrets are not reachable through the web root or the config.json alias.
            secret = (Path(target.secrets_dir) / "form_secret").read_text()
            for probe in (
                "/secrets/form_secret",
                "/config.json/../secrets/form_secret",
                "/../secrets/form_secret",
            ):
                assert secret not in get(probe, target.client_port).text, probe
    finally:
        proc.terminate()
        proc.wait(timeout=10)
