"""Backups on Kubernetes: CloudNativePG's WAL archiving and ScheduledBackup, the restic
CronJob for the files, their Secret and NetworkPolicies, and the estate check that a
Kubernetes department with backups has an object store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from govmatrix.estate import Estate, EstateError, parse_estate
from govmatrix.estate.schema import BackupSettings, Department
from govmatrix.kube import backup, department_objects
from govmatrix.kube.netpol import External
from govmatrix.kube.secrets import Fixed, Generated, external_secret, kube_secrets
from tests.conftest import pod_specs
from tests.unit.kube.test_isolation import _cluster, _dept_pods

pytestmark = pytest.mark.unit

Objects = dict[str, dict[str, list[dict]]]
STORE = External("10.250.0.7")  # in the uk-example object store's block


def _one(items: list[dict], kind: str, name: str) -> dict:
    found = [i for i in items if i["kind"] == kind and i["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _kinds(items: list[dict]) -> set[tuple[str, str]]:
    return {(i["kind"], i["metadata"]["name"]) for i in items}


def _with_repository(department: Department, **changes: object) -> Department:
    repo = department.backup.repository.model_copy(update=changes)
    return department.model_copy(
        update={"backup": department.backup.model_copy(update={"repository": repo})}
    )


def _with_backup(department: Department, **changes: object) -> Department:
    return department.model_copy(update={"backup": department.backup.model_copy(update=changes)})


def _cronjob_pod(items: list[dict]) -> dict:
    return pod_specs(_one(items, "CronJob", backup.CRONJOB))[0]


# --- schedules, retention, archive_timeout ----------------------------------------------


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 2 * * 0", "0 0 2 * * 0"),
        ("*/15 3 * * 1-5", "0 */15 3 * * 1-5"),
        ("30 1 1 * *", "0 30 1 1 * *"),
    ],
)
def test_cnpg_schedule_puts_seconds_first(cron: str, expected: str) -> None:
    assert backup.cnpg_schedule(cron) == expected


def test_cnpg_schedule_refuses_anything_but_five_fields() -> None:
    with pytest.raises(ValueError, match="5-field"):
        backup.cnpg_schedule("0 0 2 * * 0")


def test_scheduled_backup_runs_the_estate_full_schedule(kube_objects: Objects) -> None:
    moj = kube_objects["uk-example"]["moj"]
    spec = _one(moj, "ScheduledBackup", "db-full")["spec"]
    assert spec == {
        "schedule": "0 0 2 * * 0",  # the estate's full "0 2 * * 0", seconds first
        "cluster": {"name": "db"},
        "method": "barmanObjectStore",
        "backupOwnerReference": "self",
        "immediate": True,
    }


@pytest.mark.parametrize(
    ("full", "kept", "days"),
    [
        ("0 2 * * 0", 4, 28),  # weekly: four weeks
        ("0 2 * * 0", 8, 56),
        ("0 2 * * *", 4, 4),  # daily
        ("0 2 1 * *", 3, 93),  # monthly: the longest month counts
        ("0 2 * * 1,4", 2, 8),  # twice a week: the longer gap (Thursday to Monday)
        ("0 2 29 2 *", 1, 1461),  # once in four years: still one gap
        ("*/5 * * * *", 4, 1),  # at least a day
    ],
)
def test_retention_window_is_full_backups_kept_times_their_longest_gap(
    full: str, kept: int, days: int
) -> None:
    settings = BackupSettings.model_validate({"full": full, "retention": {"full": kept}})
    assert backup.retention_days(settings) == days


def test_longest_gap_of_a_weekly_schedule() -> None:
    assert backup.longest_gap("0 2 * * 0") == timedelta(days=7)


def test_cluster_retention_and_archive_timeout_come_from_the_estate(
    kube_objects: Objects, uk_estate: Estate
) -> None:
    moj = kube_objects["uk-example"]["moj"]
    spec = _one(moj, "Cluster", "db")["spec"]
    assert uk_estate.department("moj").backup.retention.full == 8
    assert spec["backup"]["retentionPolicy"] == "56d"
    assert spec["postgresql"]["parameters"]["archive_timeout"] == "30s"
    dept = _with_backup(uk_estate.department("moj"), archive_timeout="1m")
    cluster = _one(department_objects(uk_estate, dept), "Cluster", "db")
    assert cluster["spec"]["postgresql"]["parameters"]["archive_timeout"] == "60s"


@pytest.mark.parametrize(
    ("full", "diff", "expected"),
    [
        ("0 2 * * 0", "0 2 * * 1-6", "0 2 * * 0,1-6"),  # the default: every day
        ("0 2 * * *", "0 2 * * 1-6", "0 2 * * *"),
        ("0 3 * * 0", "0 2 * * 1-6", "0 2 * * 1-6"),  # different times: diff alone
        ("0 2 1 * *", "0 2 * * *", "0 2 * * *"),
        ("0 2 1 * 0", "0 2 1 * 1-6", "0 2 1 * 1-6"),  # day of month set: diff alone
        ("0 2 * * 1-5", "0 2 * * 1-5", "0 2 * * 1-5"),  # the same schedule twice
    ],
)
def test_files_schedule_is_the_diff_schedule_joined_with_full(
    full: str, diff: str, expected: str
) -> None:
    settings = BackupSettings.model_validate({"full": full, "diff": diff})
    assert backup.files_schedule(settings) == expected


# --- the Cluster's backup section -------------------------------------------------------


def test_wal_archiving_and_base_backups_go_to_the_object_store(kube_objects: Objects) -> None:
    moj = kube_objects["uk-example"]["moj"]
    store = _one(moj, "Cluster", "db")["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "s3://moj-govmatrix-backup/moj/postgresql"
    assert store["endpointURL"] == "https://objects.platform.gov.uk.test"
    assert store["s3Credentials"] == {
        "accessKeyId": {"name": "backup", "key": "ACCESS_KEY_ID"},
        "secretAccessKey": {"name": "backup", "key": "ACCESS_SECRET_KEY"},
    }
    assert store["wal"] == {"compression": "gzip", "maxParallel": 2, "encryption": "AES256"}
    assert store["data"] == {"compression": "gzip", "jobs": 2, "encryption": "AES256"}
    # The keys it names are the keys the ExternalSecret makes.
    made = {e["secretKey"] for e in _one(moj, "ExternalSecret", "backup")["spec"]["data"]}
    for ref in store["s3Credentials"].values():
        assert ref["name"] == "backup" and ref["key"] in made


def test_server_side_encryption_can_be_left_to_the_bucket(uk_estate: Estate) -> None:
    dept = _with_repository(uk_estate.department("moj"), server_side_encryption=False)
    store = _one(department_objects(uk_estate, dept), "Cluster", "db")["spec"]["backup"][
        "barmanObjectStore"
    ]
    assert "encryption" not in store["wal"] and "encryption" not in store["data"]


def test_a_region_reaches_cnpg_and_restic_without_being_a_secret(uk_estate: Estate) -> None:
    dept = _with_repository(uk_estate.department("moj"), region="eu-west-2")
    items = department_objects(uk_estate, dept)
    store = _one(items, "Cluster", "db")["spec"]["backup"]["barmanObjectStore"]
    assert store["s3Credentials"]["region"] == {"name": "backup", "key": "REGION"}
    secret = next(s for s in kube_secrets(dept) if s.name == "backup")
    assert dict(secret.keys)["REGION"] == Fixed("eu-west-2")
    template = external_secret(dept, secret)["spec"]["target"]["template"]
    assert template["data"] == {"REGION": "eu-west-2"}
    env = {e["name"]: e.get("value") for e in _cronjob_pod(items)["containers"][0]["env"]}
    assert env["AWS_DEFAULT_REGION"] == "eu-west-2"


@pytest.mark.parametrize(
    ("endpoint", "url", "port", "repository"),
    [
        (
            "https://objects.gov.test",
            "https://objects.gov.test",
            443,
            "s3:https://objects.gov.test/b/moj/restic",
        ),
        (
            "http://minio.gov.test:9000/",
            "http://minio.gov.test:9000",
            9000,
            "s3:http://minio.gov.test:9000/b/moj/restic",
        ),
        ("s3.gov.test", "https://s3.gov.test", 443, "s3:https://s3.gov.test/b/moj/restic"),
        ("http://s3.gov.test", "http://s3.gov.test", 80, "s3:http://s3.gov.test/b/moj/restic"),
        (None, None, 443, "s3:s3.amazonaws.com/b/moj/restic"),
    ],
)
def test_endpoint_url_port_and_restic_repository(
    uk_estate: Estate, endpoint: str | None, url: str | None, port: int, repository: str
) -> None:
    dept = _with_repository(uk_estate.department("moj"), endpoint=endpoint, bucket="b")
    repo = dept.backup.repository
    assert backup.endpoint_url(repo) == url
    assert backup.endpoint_port(repo) == port
    assert backup.restic_repository(dept) == repository
    items = department_objects(uk_estate, dept)
    store = _one(items, "Cluster", "db")["spec"]["backup"]["barmanObjectStore"]
    assert store.get("endpointURL") == url
    for policy in ("backup", "postgresql"):
        egress = _one(items, "NetworkPolicy", policy)["spec"]["egress"]
        assert {
            "to": [{"ipBlock": {"cidr": "10.250.0.0/24"}}],
            "ports": [{"port": port, "protocol": "TCP"}],
        } in egress


# --- the restic CronJob -----------------------------------------------------------------


def test_cronjob_backs_up_media_and_config_daily(kube_objects: Objects) -> None:
    moj = kube_objects["uk-example"]["moj"]
    cronjob = _one(moj, "CronJob", "backup-files")
    assert cronjob["spec"]["schedule"] == "0 2 * * 0,1-6"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = _cronjob_pod(moj)
    container = pod["containers"][0]
    assert container["image"] == "registry.gov.uk.test/govmatrix/restic/restic:0.18.1"
    volumes = {v["name"]: v for v in pod["volumes"]}
    # The claim the Synapse StatefulSet makes for its pod synapse-0, read-only here.
    statefulset = _one(moj, "StatefulSet", "synapse")
    template = statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    assert volumes["media"]["persistentVolumeClaim"] == {
        "claimName": f"{template}-{statefulset['metadata']['name']}-0",
        "readOnly": True,
    }
    assert volumes["config"]["configMap"] == {"name": "govmatrix-config"}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    for name in ("media", "config", "secrets"):
        assert mounts[name]["readOnly"] is True
    script = container["command"][-1]
    assert f"restic backup --host moj --tag govmatrix {mounts['media']['mountPath']}" in script
    assert mounts["config"]["mountPath"] in script
    assert "--keep-within 56d --prune" in script  # the database's recovery window
    env = {e["name"]: e for e in container["env"]}
    assert env["RESTIC_REPOSITORY"]["value"] == (
        "s3:https://objects.platform.gov.uk.test/moj-govmatrix-backup/moj/restic"
    )
    assert env["RESTIC_PASSWORD_FILE"]["value"].startswith(mounts["secrets"]["mountPath"])


def test_cronjob_pod_is_restricted(kube_objects: Objects) -> None:
    pod = _cronjob_pod(kube_objects["uk-example"]["moj"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in pod.get("initContainers", []) + pod["containers"]:
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] >= 10000
        assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}
    # Everything restic writes is a bounded scratch volume.
    writable = {
        m["name"] for c in pod["containers"] for m in c["volumeMounts"] if not m.get("readOnly")
    }
    volumes = {v["name"]: v for v in pod["volumes"]}
    for name in writable:
        assert volumes[name]["emptyDir"]["sizeLimit"]


def test_cronjob_pod_follows_the_synapse_pod_to_its_node(kube_objects: Objects) -> None:
    """The media volume is ReadWriteOnce and mounted by Synapse: only a pod on that node can
    mount it as well."""
    moj = kube_objects["uk-example"]["moj"]
    terms = _cronjob_pod(moj)["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms == [
        {
            "labelSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "synapse",
                    "app.kubernetes.io/component": "main",
                }
            },
            "topologyKey": "kubernetes.io/hostname",
        }
    ]
    synapse_labels = _one(moj, "StatefulSet", "synapse")["spec"]["template"]["metadata"]["labels"]
    assert terms[0]["labelSelector"]["matchLabels"].items() <= synapse_labels.items()


# --- secrets ----------------------------------------------------------------------------


def test_no_backup_secret_value_is_inlined(kube_objects: Objects, uk_estate: Estate) -> None:
    moj = kube_objects["uk-example"]["moj"]
    assert not [i for i in moj if i["kind"] == "Secret"]
    external = _one(moj, "ExternalSecret", "backup")["spec"]
    assert {e["remoteRef"]["key"] for e in external["data"]} == {
        "govmatrix/moj/backup_s3_access_key_id",
        "govmatrix/moj/backup_s3_secret_access_key",
        "govmatrix/moj/backup_restic_password",
    }
    assert "data" not in external["target"]["template"]  # no literal without a region
    # The restic pod reads the S3 credentials from files, never from env references.
    container = _cronjob_pod(moj)["containers"][0]
    assert all("valueFrom" not in e for e in container["env"])
    assert all("value" in e for e in container["env"])
    secret = next(s for s in kube_secrets(uk_estate.department("moj")) if s.name == "backup")
    assert all(isinstance(source, Generated) for _key, source in secret.keys)


def test_backup_values_stay_out_of_the_secret_synapse_mounts(uk_estate: Estate) -> None:
    secrets = {s.name: s for s in kube_secrets(uk_estate.department("moj"))}
    assert not [k for k, _ in secrets["govmatrix-secrets"].keys if k.startswith("backup_")]
    assert {k for k, _ in secrets["backup"].keys} == {
        "ACCESS_KEY_ID",
        "ACCESS_SECRET_KEY",
        "RESTIC_PASSWORD",
    }


# --- where backups are rendered ---------------------------------------------------------


def test_every_kubernetes_department_of_the_uk_example_has_backups(
    kube_objects: Objects, uk_estate: Estate
) -> None:
    for dept in uk_estate.departments:
        items = kube_objects["uk-example"][dept.id]
        if dept.target != "kubernetes":
            continue
        kinds = _kinds(items)
        assert ("CronJob", "backup-files") in kinds, dept.id
        assert ("NetworkPolicy", "backup") in kinds, dept.id
        assert ("ExternalSecret", "backup") in kinds, dept.id
        cnpg = dept.kubernetes.database == "cnpg"
        assert (("ScheduledBackup", "db-full") in kinds) is cnpg, dept.id


def test_managed_database_gets_files_backups_but_no_cnpg_objects(kube_objects: Objects) -> None:
    dcms = kube_objects["uk-example"]["dcms"]
    assert _one(dcms, "CronJob", "backup-files")
    assert not [i for i in dcms if i["kind"] in ("Cluster", "ScheduledBackup")]
    assert not [i for i in dcms if i["metadata"]["name"] == "postgresql"]


def test_no_backup_objects_without_an_object_store(kube_objects: Objects) -> None:
    """The demo estate backs up to local disk (on-prem and demo targets): rendered for
    Kubernetes, its departments get no backup objects, and their database no WAL archive."""
    for items in kube_objects["demo"].values():
        kinds = {kind for kind, _name in _kinds(items)}
        assert not kinds & {"CronJob", "ScheduledBackup"}
        assert not [i for i in items if i["metadata"]["name"] == "backup"]
        cluster = _one(items, "Cluster", "db")["spec"]
        assert "backup" not in cluster
        assert "archive_timeout" not in cluster["postgresql"]["parameters"]


def test_backups_switched_off_render_nothing(uk_estate: Estate) -> None:
    dept = _with_backup(uk_estate.department("moj"), enabled=False)
    items = department_objects(uk_estate, dept)
    assert not [i for i in items if "backup" in i["metadata"]["name"]]
    assert "backup" not in _one(items, "Cluster", "db")["spec"]
    assert "backup" not in {s.name for s in kube_secrets(dept)}


# --- network ----------------------------------------------------------------------------


def test_backup_pods_reach_only_the_object_store(kube_objects: Objects) -> None:
    cluster = _cluster(kube_objects["uk-example"])
    pods = _dept_pods(cluster)
    restic = next(p for p in pods if p.namespace == "moj" and p.name == "backup-files")
    assert restic.labels["app.kubernetes.io/name"] == "backup"
    assert cluster.allows(restic, STORE, 443)
    assert not cluster.allows(restic, STORE, 22)
    assert not cluster.allows(restic, External("203.0.113.9"), 443)
    for dest in pods:
        for port in dest.ports.values():
            assert not cluster.allows(restic, dest, port), dest.key
    # Nothing connects to it.
    assert not [p for p in pods if p != restic and cluster.allows(p, restic, 443)]


def test_database_pods_reach_the_store_and_synapse_does_not(kube_objects: Objects) -> None:
    cluster = _cluster(kube_objects["uk-example"])
    pods = [p for p in _dept_pods(cluster) if p.namespace == "moj"]
    database = [p for p in pods if p.labels.get("cnpg.io/cluster") == "db"]
    assert database
    for pod in database:
        assert cluster.allows(pod, STORE, 443)
    for pod in pods:
        if pod.labels["app.kubernetes.io/name"] in ("synapse", "archive", "element"):
            assert not cluster.allows(pod, STORE, 443), pod.key


# --- the estate check -------------------------------------------------------------------

ESTATE = """\
version: 1
estate:
  name: test-estate
  defaults:
    backup: {defaults}
departments:
  - id: aa
    name: A
    server_name: a.test
    target: {target}
    backup: {backup}
"""
S3 = "{type: s3, bucket: aa-backup, endpoint: 'https://s3.test', address_blocks: [10.1.0.0/24]}"


def _estate(target: str = "kubernetes", backup_: str = "{}", defaults: str = "{}") -> str:
    return ESTATE.format(target=target, backup=backup_, defaults=defaults)


def test_kubernetes_department_with_backups_on_local_disk_is_refused() -> None:
    with pytest.raises(EstateError) as info:
        parse_estate(_estate(), "estate.yml")
    (problem,) = info.value.problems
    assert problem.path == "departments[0].backup.repository"
    assert "department 'aa' runs on Kubernetes" in problem.message
    assert "local disk" in problem.message and "S3-compatible" in problem.message
    assert problem.hint and "type: s3" in problem.hint and "backup.enabled: false" in problem.hint
    assert problem.line is not None


def test_s3_repository_on_kubernetes_needs_address_blocks() -> None:
    text = _estate(backup_="{repository: {type: s3, bucket: aa-backup}}")
    with pytest.raises(EstateError) as info:
        parse_estate(text, "estate.yml")
    (problem,) = info.value.problems
    assert problem.path == "departments[0].backup.repository.address_blocks"
    assert "address_blocks" in problem.message and problem.hint and "0.0.0.0/0" in problem.hint


@pytest.mark.parametrize(
    ("target", "backup_", "defaults"),
    [
        ("kubernetes", "{enabled: false}", "{}"),
        ("kubernetes", "{}", "{enabled: false}"),
        ("kubernetes", f"{{repository: {S3}}}", "{}"),
        ("kubernetes", "{}", f"{{repository: {S3}}}"),  # inherited from estate.defaults
        ("kubernetes", "{repository: {address_blocks: [10.1.0.0/24]}}", f"{{repository: {S3}}}"),
        ("onprem", "{}", "{}"),
        ("demo", "{}", "{}"),
    ],
)
def test_estates_the_check_accepts(target: str, backup_: str, defaults: str) -> None:
    estate = parse_estate(_estate(target, backup_, defaults), "estate.yml")
    assert estate.departments[0].target == target


def test_the_department_overrides_a_default_s3_repository_with_local() -> None:
    text = _estate(backup_="{repository: {type: local}}", defaults=f"{{repository: {S3}}}")
    with pytest.raises(EstateError, match="local disk"):
        parse_estate(text, "estate.yml")
