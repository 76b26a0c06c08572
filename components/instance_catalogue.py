"""The EC2 instance types the platform may run nodes on: vCPUs, memory and GPUs, as AWS publishes them.

Pure data and lookups (no pulumi): config validation, the node pools and the cluster-autoscaler tags read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: int
    gpus: int = 0
    gpu_model: str | None = None
    gpu_memory_gib: int = 0  # per GPU

    @property
    def family(self) -> str:
        """`g6e.xlarge` -> `g6e`."""
        return self.name.split(".", 1)[0]

    @property
    def total_gpu_memory_gib(self) -> int:
        return self.gpus * self.gpu_memory_gib


def _gpu_family(
    family: str, model: str, gpu_memory: int, sizes: Iterable[tuple[str, int, int, int]]
) -> list[InstanceType]:
    return [
        InstanceType(f"{family}.{size}", vcpus, memory, gpus, model, gpu_memory) for size, vcpus, memory, gpus in sizes
    ]


# (size, vCPUs, memory GiB, GPUs); g5, g6 and g6e share one size ladder, with g6e at twice the host memory.
_G_SIZES = [
    ("xlarge", 4, 16, 1),
    ("2xlarge", 8, 32, 1),
    ("4xlarge", 16, 64, 1),
    ("8xlarge", 32, 128, 1),
    ("12xlarge", 48, 192, 4),
    ("16xlarge", 64, 256, 1),
    ("24xlarge", 96, 384, 4),
    ("48xlarge", 192, 768, 8),
]
_G6E_SIZES = [(size, vcpus, memory * 2, gpus) for size, vcpus, memory, gpus in _G_SIZES]

# g4dn stops at 16xlarge (its 8-GPU size is metal); its shapes equal g5/g6's, which lets a pool keep one shape.
_G4DN_SIZES = [size for size in _G_SIZES if size[0] not in {"24xlarge", "48xlarge"}]

_TYPES: list[InstanceType] = [
    *_gpu_family("g4dn", "NVIDIA T4", 16, _G4DN_SIZES),
    *_gpu_family("g5", "NVIDIA A10G", 24, _G_SIZES),
    *_gpu_family("g6", "NVIDIA L4", 24, _G_SIZES),
    *_gpu_family("g6e", "NVIDIA L40S", 48, _G6E_SIZES),
    InstanceType("p4d.24xlarge", 96, 1152, 8, "NVIDIA A100", 40),
    InstanceType("p5.48xlarge", 192, 2048, 8, "NVIDIA H100", 80),
    # General purpose, for the system node pool.
    *(
        InstanceType(f"{family}.{size}", vcpus, vcpus * 4)
        for family in ("m6i", "m6a", "m7i", "m7a")
        for size, vcpus in (("large", 2), ("xlarge", 4), ("2xlarge", 8), ("4xlarge", 16))
    ),
]
CATALOGUE: dict[str, InstanceType] = {t.name: t for t in _TYPES}


def lookup(name: str) -> InstanceType | None:
    return CATALOGUE.get(name)


def get(name: str) -> InstanceType:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"{name} is not in the instance catalogue") from None


def families(names: Iterable[str]) -> set[str]:
    return {name.split(".", 1)[0] for name in names}
