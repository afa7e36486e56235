"""Graphviz (installed by `make setup`) renders the federation picture of both estates."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from govmatrix.cli import app

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("estate", ["demo", "uk-example"])
def test_svg_and_png(estate: str, repo_root: Path, tmp_path: Path) -> None:
    path = str(repo_root / "inventories" / estate / "estate.yml")
    runner = CliRunner()
    svg = tmp_path / "g.svg"
    png = tmp_path / "g.png"
    assert runner.invoke(app, ["graph", path, "--format", "svg", "--out", str(svg)]).exit_code == 0
    assert runner.invoke(app, ["graph", path, "--format", "png", "--out", str(png)]).exit_code == 0
    import html

    text = html.unescape(svg.read_text())
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Every department appears in the picture.
    import yaml

    for dept in yaml.safe_load(Path(path).read_text())["departments"]:
        assert dept["server_name"] in text
