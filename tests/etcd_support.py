"""A real 3-member etcd cluster for tests, on free loopback ports under the test's tmp_path.

Use the fixture by importing it into a test module (``from tests.etcd_support import
etcd_cluster``) or call ``running_etcd_cluster(path)`` as a context manager.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from consortia.cluster.etcd import EtcdCluster


@contextlib.contextmanager
def running_etcd_cluster(data_dir: Path, members: int = 3,
                         timeout_s: float = 30) -> Iterator[EtcdCluster]:
    """Start a cluster, yield it healthy, stop every member on exit (even on failure)."""
    cluster = EtcdCluster(data_dir, members)
    try:
        cluster.start(timeout_s)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def etcd_cluster(tmp_path: Path) -> Iterator[EtcdCluster]:
    """A healthy 3-member etcd cluster in ``tmp_path / "etcd"``, stopped at teardown."""
    with running_etcd_cluster(tmp_path / "etcd") as cluster:
        yield cluster
