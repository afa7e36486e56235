"""The estate: one file describing every department of a government's Matrix estate."""

from govmatrix.estate.loader import load_estate, parse_estate
from govmatrix.estate.problems import EstateError, Problem
from govmatrix.estate.schema import SCHEMA_VERSION, Department, Estate, Partner

__all__ = [
    "SCHEMA_VERSION",
    "Department",
    "Estate",
    "EstateError",
    "Partner",
    "Problem",
    "load_estate",
    "parse_estate",
]
