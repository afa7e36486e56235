"""A tiny Matrix client for the molecule verify, run on a department host (stdlib only).

It talks to the host's own Synapse on loopback; what crosses hosts is federation, between
the Synapses through nginx on 8448. Prints one JSON object per call.

    matrix_probe.py register SECRETS_DIR LOCALPART
    matrix_probe.py call TOKEN METHOD PATH [JSON_BODY]
    matrix_probe.py wait-body TOKEN ROOM_ID TEXT [SECONDS]
"""

import hashlib
import hmac
import json
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

BASE = "http://127.0.0.1:8008"


def call(token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def register(secrets_dir, localpart):
    with open(f"{secrets_dir}/registration_shared_secret") as handle:
        shared = handle.read().strip()
    _, nonce = call(None, "GET", "/_synapse/admin/v1/register")
    password = secrets.token_urlsafe(16)
    mac = hmac.new(shared.encode(), digestmod=hashlib.sha1)
    for part in (nonce["nonce"], localpart, password):
        mac.update(part.encode())
        mac.update(b"\x00")
    mac.update(b"notadmin")
    body = {
        "nonce": nonce["nonce"],
        "username": localpart,
        "password": password,
        "admin": False,
        "mac": mac.hexdigest(),
    }
    return call(None, "POST", "/_synapse/admin/v1/register", body)


def wait_body(token, room_id, text, seconds):
    deadline = time.monotonic() + seconds
    path = f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}/messages?dir=b&limit=50"
    while time.monotonic() < deadline:
        status, page = call(token, "GET", path)
        if status == 200 and any(
            e.get("content", {}).get("body") == text for e in page.get("chunk", [])
        ):
            return 200, {"found": text}
        time.sleep(0.5)
    return 408, {"error": f"{text!r} did not arrive in {seconds}s"}


def main(argv):
    if argv[0] == "register":
        status, body = register(argv[1], argv[2])
    elif argv[0] == "call":
        payload = json.loads(argv[4]) if len(argv) > 4 else None
        status, body = call(argv[1], argv[2], argv[3], payload)
    elif argv[0] == "wait-body":
        status, body = wait_body(argv[1], argv[2], argv[3], float(argv[4]) if len(argv) > 4 else 60)
    else:
        raise SystemExit(f"unknown command {argv[0]}")
    print(json.dumps({"status": status, "body": body}))


if __name__ == "__main__":
    main(sys.argv[1:])
