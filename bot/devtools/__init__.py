"""Developer tooling: local homeserver harness for tests, the demo and benchmarks."""
