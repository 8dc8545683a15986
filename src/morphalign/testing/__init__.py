"""Local stand-ins for remote services, used by the tests and benchmarks (nothing here talks to the network)."""
