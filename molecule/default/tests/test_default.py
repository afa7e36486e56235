"""Verify of the single-host scenario: every role's checks on one department host."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "shared"))

import department_checks as checks


def test_services_run_and_are_enabled(host):
    checks.check_services(host)


def test_only_nginx_faces_the_network(host):
    checks.check_ports(host)


def test_owners_and_modes_of_config_and_secrets(host):
    checks.check_files(host)


def test_homeserver_yaml_is_byte_identical_to_the_render(host):
    checks.check_homeserver_is_the_renderers(host)


def test_health_through_nginx_with_the_estate_ca(host):
    checks.check_health(host)


def test_admin_api_refused_from_the_network(host):
    checks.check_admin_api_not_public(host)


def test_time_sync_updates_and_firewall_configured(host):
    checks.check_base(host)


def test_systemd_exposure_of_synapse_and_archive(host):
    checks.check_exposure(host)


def test_keys_stay_in_the_hsm(host):
    checks.check_hsm(host)


def test_tls_key_stays_in_the_hsm_and_serves_every_worker(host):
    checks.check_hsm_tls(host)


def test_backups_run_on_timers_and_keep_passphrases_sealed(host):
    checks.check_backups(host)


def test_restore_drill_on_the_host_loses_nothing(host):
    checks.check_restore_drill(host)


def test_people_sign_in_through_the_portal_and_leavers_lose_access(host):
    checks.check_identity(host)
