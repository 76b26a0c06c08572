"""Benchmarks: each module measures one thing against its named peer in the same run (`make bench` runs all)."""
