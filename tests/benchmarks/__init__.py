"""Throughput benchmarks (pytest-benchmark): `nox -s bench`. A package, so that its module
names (conftest, test_frontends, test_models) do not clash with those in tests/."""
