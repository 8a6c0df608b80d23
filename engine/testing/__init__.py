"""A spec's embedded tests: given small tables, the values expected within a tolerance."""

from sapa.engine.testing.embedded import TestResult, run_test, run_tests

__all__ = [
    "TestResult", "run_test", "run_tests",
]
