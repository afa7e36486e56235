"""Kubernetes objects per department, as plain data (see `objects`)."""

from govmatrix.kube.objects import Options, department_objects, estate_objects

__all__ = ["Options", "department_objects", "estate_objects"]
