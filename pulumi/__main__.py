"""govmatrix on Kubernetes: `pulumi up` stands up every department the stack selects.

The estate file is named by stack config (govmatrix:estate); see docs/kubernetes.md."""

import pulumi

from govmatrix_pulumi.program import build

pulumi.export("departments", build())
