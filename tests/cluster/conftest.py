"""One local cluster (3 etcd members, 3 nodes) per test module; each test gets it whole.

A fault test kills or pauses processes; the ``cluster`` fixture first brings back whatever an
earlier test left down or failed and waits until the nodes agree, so every test starts from a
healthy consortium without paying for a fresh one (starting three node processes takes a while
on a loaded machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from consortia.cluster.etcd import wait_healthy
from consortia.cluster.local import LocalCluster
from tests.cluster.support import converge, heads

# Short etcd call timeouts so that failover after a hung member happens within a test;
# small batches so that a few seconds of load make many blocks.
TEST_NODE_SETTINGS: dict[str, object] = {"etcd_timeout_s": 3.0, "batch_txs_max": 500}


@pytest.fixture(scope="module")
def module_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    directory: Path = tmp_path_factory.mktemp("cluster")
    cluster = LocalCluster.up(directory, 3, node_settings=TEST_NODE_SETTINGS)
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture
def cluster(module_cluster: LocalCluster) -> LocalCluster:
    etcd = module_cluster.etcd
    assert etcd is not None
    for i, pid in enumerate(etcd.pids()):
        if pid is None:
            etcd.start_member(i, wait=False)
        else:
            etcd.resume_member(i)  # harmless when it was not paused
    wait_healthy(etcd.endpoints, 30)
    for i, head in enumerate(heads(module_cluster.urls)):
        if head is not None and head["status"] == "failed":
            module_cluster.kill_node(i)  # an earlier test's fault stopped it; start afresh
        if not module_cluster.node_alive(i):
            module_cluster.start_node(i)
    converge(module_cluster)
    return module_cluster
