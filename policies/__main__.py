"""The CrossGuard pack: `pulumi preview --policy-pack policies/` runs every mlplat rule on the real program.

Only this file builds the `PolicyPack` (it starts a server and blocks); tests use `policies.crossguard`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the pack runs from policies/; import the repo

from pulumi_policy import PolicyPack

from policies.crossguard import policies

PolicyPack(name="mlplat", policies=policies())
