"""The federation graph: mutual edges, allow-lists and CA bundles."""

import pytest

from govmatrix.estate import Estate, parse_estate
from govmatrix.estate.federation import build

pytestmark = pytest.mark.unit


def test_demo_graph(demo_estate: Estate) -> None:
    graph = build(demo_estate)
    assert graph.edges == (("cabinet-office", "hm-treasury"), ("cabinet-office", "home-office"))
    assert graph.partner_edges == (("cabinet-office", "nato"),)
    home = graph.departments["home-office"]
    assert home.peers == ("cabinet-office",)
    assert home.refused == ("hm-treasury",)
    assert home.whitelist == ("home-office.gov.test", "cabinet-office.gov.test")
    cabinet = graph.departments["cabinet-office"]
    assert cabinet.whitelist[0] == "cabinet-office.gov.test"
    assert "ni2ce.nato.test" in cabinet.whitelist
    assert cabinet.partner_ca_bundles == ("file:partners/nato-ca.pem",)
    assert not graph.allows("home-office", "hm-treasury")
    assert not graph.allows("hm-treasury", "home-office")


def test_every_edge_is_mutual_and_whitelists_agree(uk_estate: Estate) -> None:
    graph = build(uk_estate)
    names = {d.id: d.server_name for d in uk_estate.departments}
    for a, b in graph.edges:
        assert names[b] in graph.departments[a].whitelist, f"{a} whitelist lacks {b}"
        assert names[a] in graph.departments[b].whitelist, f"{b} whitelist lacks {a}"
    for dept_id, info in graph.departments.items():
        for refused in info.refused:
            assert names[refused] not in info.whitelist, f"{dept_id} whitelists refused {refused}"


ONE_SIDED = """
version: 1
estate: {name: test-estate, federation: {require_mutual: false}}
departments:
  - {id: aa, name: A, server_name: a.test, target: demo, federation: {allow: [bb]}}
  - {id: bb, name: B, server_name: b.test, target: demo}
"""


def test_one_sided_entry_makes_no_edge_when_allowed() -> None:
    graph = build(parse_estate(ONE_SIDED))
    assert graph.edges == ()
    assert graph.departments["aa"].whitelist == ("a.test",)
    assert graph.departments["aa"].refused == ("bb",)
