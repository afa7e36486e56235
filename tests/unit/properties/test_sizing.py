"""Workers and Redis appear exactly for profiles that use workers, and nginx routes to them."""

import pytest

from govmatrix.render.sizing import PROFILES
from tests.unit.properties.renders import homeservers, items

pytestmark = pytest.mark.unit


def test_workers_match_profile() -> None:
    for item, config in homeservers():
        sizing = PROFILES[item.department.synapse.profile]
        worker_files = {
            i.path
            for i in items()
            if i.estate == item.estate
            and i.target == item.target
            and i.department.id == item.department.id
            and i.path.startswith("synapse/workers/")
            and not i.path.endswith(".log.yaml")
        }
        assert worker_files == {f"synapse/workers/{w.name}.yaml" for w in sizing.workers}, item.name
        assert ("redis" in config) == sizing.uses_workers, f"{item.name}: redis vs profile"
        if sizing.uses_workers:
            senders = [w.name for w in sizing.of_role("federation_sender")]
            assert config["federation_sender_instances"] == senders, item.name
            assert config["worker_replication_secret_path"], item.name
