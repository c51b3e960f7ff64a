"""``consortia bench --workload registry`` end to end on a small registry, and its plan."""

from __future__ import annotations

import json
from collections import Counter

from consortia.bench.registry import FATES, fates, steps
from tests.cli.support import consortia

QUERY_KINDS = {"search vendor", "search type", "search status", "search expiry",
               "search combined", "search page", "certificate", "valid-at", "devices",
               "vendor", "feed"}


def test_fates_follow_their_shares_and_every_one_has_a_path() -> None:
    drawn = Counter(fates(20_000))
    for fate, share in FATES:
        assert abs(drawn[fate] / 20_000 - share) < 0.01, fate
        path = steps(fate, "c", ("vendor", 0), (0, "lab0"), ["T-01", "T-02"])
        assert all(payload.get("certificate") == "c" for _, _, payload in path)
    assert [a for _, a, _ in steps("revoked", "c", ("vendor", 0), (0, "lab0"), ["T-01"])] == [
        "accept", "assign_lab", "test_report", "onsite_check", "decide", "suspend", "revoke"]


def test_bench_registry_builds_the_registry_and_times_every_query_kind() -> None:
    done = consortia("bench", "--workload", "registry", "--certificates", "100", "--queries",
                     "3", "--clients", "2", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["workload"] == "registry" and report["certificates"] == 100
    assert report["product_types"] == 11 and report["vendors"] == 1
    assert 0 < report["issued"] <= 100
    assert [p["connections"] for p in report["passes"]] == [1, 2]
    for one in report["passes"]:
        assert set(one["latency"]) == QUERY_KINDS | {"overall"}
        assert all(row["count"] == 3 for kind, row in one["latency"].items()
                   if kind != "overall")
        assert one["latency"]["overall"]["count"] == one["queries"] == 3 * len(QUERY_KINDS)
        assert one["queries_per_s"] > 0
    assert report["checks_failed"] == []
