"""The policy pack: `pulumi preview --policy-pack pulumi/policy` (or `pulumi up`) refuses a
stack that breaks a rule. The rules live in govmatrix_policies, where tests call them."""

from govmatrix_policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack("govmatrix", POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
