"""Small statistics shared by the benchmarks (run as scripts: this folder is on sys.path)."""

from __future__ import annotations


def pct(values: list[float], q: float) -> float:
    """The q-th percentile by nearest rank (no interpolation): an observed value."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
