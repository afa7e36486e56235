"""Pictures of the federation graph: Graphviz DOT, and SVG/PNG through Graphviz's `dot`.

Readability at 25+ departments comes from: one node per department, coloured by target;
partners as a separate shape; mutual edges only (undirected); and the `circo` layout,
which spreads a dense graph evenly on a circle instead of stacking it in ranks.
"""

from __future__ import annotations

import shutil
import subprocess

from govmatrix.estate.federation import FederationGraph
from govmatrix.estate.schema import Estate

TARGET_COLOURS = {"onprem": "#d4e6f1", "kubernetes": "#d5f5e3", "demo": "#fdebd0"}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(estate: Estate, graph: FederationGraph) -> str:
    lines = [
        f"graph {_quote(estate.estate.name)} {{",
        "  layout=circo; overlap=false; splines=true; mindist=1.0; fontname=Helvetica;",
        f"  label={_quote(estate.estate.name + ' — federation (mutual edges only)')};",
        "  labelloc=t; fontsize=18;",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=11];',
        '  edge [color="#5d6d7e", penwidth=1.2];',
    ]
    for dept in estate.departments:
        label = f"{dept.name}\\n{dept.server_name}\\n[{dept.target}]"
        colour = TARGET_COLOURS[dept.target]
        lines.append(f'  {_quote(dept.id)} [label="{label}", fillcolor="{colour}"];')
    for partner in estate.partners:
        label = f"{partner.name or partner.id}\\n{partner.server_name}\\n(partner)"
        lines.append(
            f'  {_quote(partner.id)} [label="{label}", shape=hexagon, fillcolor="#f5b7b1"];'
        )
    for a, b in graph.edges:
        lines.append(f"  {_quote(a)} -- {_quote(b)};")
    for a, p in graph.partner_edges:
        lines.append(f'  {_quote(a)} -- {_quote(p)} [style=dashed, color="#c0392b"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


class GraphvizMissing(RuntimeError):
    pass


def render_image(dot_source: str, fmt: str) -> bytes:
    """Run Graphviz to produce `fmt` (svg or png) bytes."""
    binary = shutil.which("dot")
    if binary is None:
        raise GraphvizMissing(
            "Graphviz is not installed; run 'make setup' or 'apt-get install graphviz'"
        )
    result = subprocess.run(
        [binary, f"-T{fmt}"], input=dot_source.encode(), capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"graphviz failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout
