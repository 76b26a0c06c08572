"""The Pulumi program of every stack: validated config in, the regional or global composition out."""

from pathlib import Path

import pulumi

from components.composition import compose
from components.config import ConfigError, load_deployment

try:
    deployment = load_deployment(Path(__file__).resolve().parent.parent)
except ConfigError as error:
    raise pulumi.RunError(f"invalid configuration:\n{error}") from None
compose(deployment, pulumi.get_stack())
