"""mlplat: the CLI and offline tooling (synth, policy, cost, residency, dev) for the platform."""
