"""Per resource type: the AWS API calls that create it (parameters shaped by botocore's model from the Pulumi
inputs), the calls that read it back, and what is compared. Inputs with no API counterpart are named once, in
each mapping. Importing this package registers every mapping in `MAPPINGS`."""

from mlplat.verify.mappings import compute, containers, databases, identity, network, services, storage
from mlplat.verify.mappings.base import MAPPINGS, Emulation

__all__ = ["MAPPINGS", "Emulation", "compute", "containers", "databases", "identity", "network", "services", "storage"]
