"""The cluster's smoke tests: kept out of `make test`, run by `make cluster-check`."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: needs the Citus cluster of `make cluster` (CLUSTER_DATABASE_URL)"
    )
