"""govmatrix.hsm against a real PKCS#11 module (SoftHSM2): keys are created once and stay
inside the token, sealed secrets open only with the right key and purpose, and every
failure names what to fix.

One SoftHSM2 directory serves the whole test process (a PKCS#11 module is initialised once
per process); each test uses departments of its own, so their tokens never collide.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest
from pkcs11 import Attribute

from govmatrix.estate.schema import Department
from govmatrix.hsm import envelope, keys, memory, provision, signing
from govmatrix.hsm.device import HsmError, session
from govmatrix.hsm.plan import HsmPlan, HsmPlanError, plan
from govmatrix.hsm.signer import HsmEd25519Signer
from govmatrix.render.targets import target_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("softhsm2-util") is None, reason="needs softhsm2 (make setup)"),
]

_numbers = itertools.count()


@pytest.fixture
def demo_root(hsm_root: Path) -> Path:
    return hsm_root


def make_plan(estate, root: Path, **hsm: object) -> HsmPlan:
    """A fresh department (new token labels) on the demo target under `root`."""
    base = estate.departments[0]
    dept_id = f"hsm-test-{next(_numbers)}"
    settings = base.hsm.model_copy(update={"enabled": True, **hsm})
    dept = Department.model_validate(
        {**base.model_dump(), "id": dept_id, "hsm": settings.model_dump()}
    )
    result = plan(dept, target_for("demo", estate, base, root=str(root)))
    assert result is not None
    return HsmPlan(**{**result.__dict__, "department_id": dept_id})


@pytest.fixture
def hsm(demo_estate, demo_root: Path) -> HsmPlan:
    h = make_plan(demo_estate, demo_root)
    provision.init(h)
    return h


def test_init_creates_every_key_once_and_keeps_them_inside(hsm: HsmPlan) -> None:
    again = provision.init(hsm)
    assert again.tokens_created == []
    assert [k.created for k in again.keys] == [False] * 4
    assert provision.check(hsm) == []
    # The TLS key has a token of its own: no Ed25519 object beside it (libp11 pitfall).
    assert hsm.key("tls").token != hsm.key("archive_checkpoint").token
    for planned in hsm.keys.values():
        with session(hsm, planned.token) as sess:
            key = keys.require(sess, planned, hsm.department_id)
            assert key[Attribute.SENSITIVE] is True
            assert key[Attribute.EXTRACTABLE] is False
            assert key[Attribute.NEVER_EXTRACTABLE] is True
            with pytest.raises(Exception):  # noqa: B017 - any refusal: the value is not readable
                key[Attribute.VALUE]


def test_sealed_secrets_open_only_with_their_purpose_and_intact(hsm: HsmPlan) -> None:
    sealed = envelope.seal(hsm, "backup_kek", "pgbackrest", b"correct horse")
    assert b"correct horse" not in sealed.dumps().encode()
    assert envelope.unseal(hsm, "backup_kek", sealed, "pgbackrest") == b"correct horse"
    with pytest.raises(HsmError, match="is for 'pgbackrest', not 'restic'"):
        envelope.unseal(hsm, "backup_kek", sealed, "restic")
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    tampered = envelope.Sealed(sealed.token, sealed.key, sealed.purpose, sealed.iv, flipped)
    with pytest.raises(HsmError, match="altered or sealed by another key"):
        envelope.unseal(hsm, "backup_kek", tampered, "pgbackrest")
    # Another key of the same type cannot open it either.
    with pytest.raises(HsmError, match="sealed by key 'backup-kek'"):
        envelope.unseal(hsm, "signing_wrap", sealed, "pgbackrest")


def test_wrong_pin_missing_token_and_missing_key_say_what_to_fix(
    demo_estate, demo_root: Path, hsm: HsmPlan
) -> None:
    pin_file = Path(hsm.generated_pin_file(hsm.key("backup_kek").token))
    good = pin_file.read_text()
    pin_file.write_text("00000000\n")
    try:
        with pytest.raises(HsmError, match=f"wrong PIN for token .*{pin_file}"):
            envelope.seal(hsm, "backup_kek", "x", b"y")
    finally:
        pin_file.write_text(good)

    never_initialised = make_plan(demo_estate, demo_root)
    with pytest.raises(HsmError, match=r"no token labelled 'hsm-test-\d+' .*hsm init"):
        envelope.seal(never_initialised, "backup_kek", "x", b"y")

    renamed = make_plan(demo_estate, demo_root)
    provision.init(renamed)
    moved = {
        **renamed.keys,
        "backup_kek": renamed.key("backup_kek").__class__(
            "backup_kek", "no-such-kek", "aes-256", renamed.key("backup_kek").token, "generate"
        ),
    }
    missing_key = HsmPlan(**{**renamed.__dict__, "keys": moved})
    with pytest.raises(HsmError, match=r"key 'no-such-kek' .* is missing from token"):
        envelope.seal(missing_key, "backup_kek", "x", b"y")


def test_the_archive_signs_inside_the_hsm(hsm: HsmPlan) -> None:
    from govmatrix.archive import chain

    signer = HsmEd25519Signer(hsm)
    try:
        text = chain.statement("example.gov.test", 7, bytes(32), "2026-11-23T00:00:00.000+00:00")
        signature = chain.sign(signer, text)
        assert chain.signature_valid(signer.public_key(), text, signature)
        assert not chain.signature_valid(signer.public_key(), text + " ", signature)
    finally:
        signer.close()


def test_signing_key_is_sealed_and_unsealed_only_to_memory(hsm: HsmPlan, tmp_path: Path) -> None:
    sealed = tmp_path / "signing.key.sealed"
    plain = "ed25519 a_abcd " + "A" * 43 + "\n"
    assert signing.ensure_sealed(hsm, sealed, plain)
    assert not signing.ensure_sealed(hsm, sealed)  # kept, never replaced
    assert plain.split()[2] not in sealed.read_text()
    assert json.loads(sealed.read_text())["purpose"] == "synapse-signing-key"
    with pytest.raises(HsmError, match="not memory-backed"):
        signing.unseal_to_memory(hsm, sealed, tmp_path / "out" / "signing.key")
    assert not (tmp_path / "out" / "signing.key").exists()
    shm = Path("/dev/shm") / f"govmatrix-test-{hsm.department_id}"
    try:
        signing.unseal_to_memory(hsm, sealed, shm / "signing.key")
        assert (shm / "signing.key").read_text() == plain
        assert (shm / "signing.key").stat().st_mode & 0o777 == 0o600
        assert memory.filesystem_type(shm) == "tmpfs"
    finally:
        shutil.rmtree(shm, ignore_errors=True)


def test_a_tls_key_sharing_a_token_with_ed25519_is_refused(demo_estate, demo_root: Path) -> None:
    from govmatrix.estate.schema import HsmKey

    shared = {
        "tls": HsmKey(label="tls", type="ec-p256", token="shared"),
        "archive_checkpoint": HsmKey(label="ck", type="ed25519", token="shared"),
        "backup_kek": HsmKey(label="kek", type="aes-256"),
        "signing_wrap": HsmKey(label="sw", type="aes-256"),
    }
    with pytest.raises(HsmPlanError, match="libp11 cannot list keys"):
        make_plan(demo_estate, demo_root, keys=shared)
