"""The serving container: MLflow models behind canary/shadow routing, micro-batching and regional features."""
