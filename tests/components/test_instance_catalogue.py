"""The instance catalogue: GPU facts as AWS publishes them."""

from components import instance_catalogue


def test_gpu_facts_of_the_families_in_use() -> None:
    g5, g6e, p5 = (instance_catalogue.get(n) for n in ("g5.xlarge", "g6e.12xlarge", "p5.48xlarge"))
    assert (g5.family, g5.vcpus, g5.memory_gib, g5.gpus, g5.gpu_memory_gib) == ("g5", 4, 16, 1, 24)
    assert (g6e.family, g6e.gpus, g6e.total_gpu_memory_gib, g6e.memory_gib) == ("g6e", 4, 192, 384)
    assert (p5.gpus, p5.gpu_model) == (8, "NVIDIA H100")
    assert instance_catalogue.get("m6i.large").gpus == 0
    assert instance_catalogue.lookup("g9.huge") is None
    assert instance_catalogue.families(["g5.xlarge", "g5.2xlarge", "g6e.xlarge"]) == {"g5", "g6e"}
