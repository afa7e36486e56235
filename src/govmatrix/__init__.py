"""govmatrix: sovereign, federated Matrix messaging for a whole government."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("govmatrix")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
