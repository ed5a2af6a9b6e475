"""The linkage store: month-by-month runs, stable link keys, crash safety, both backends.

Month 1 holds about 90% of each partner's records, with some dates of birth mistyped;
month 2 holds every record but a few removed ones, the dates corrected. PostgreSQL tests
run against the server in ``LINKAGE_TEST_POSTGRES`` (a libpq URL); without it they are
skipped, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchmarks.cohort_sources import encode_extracts
from linkage.contracts import EncodedSource
from linkage.encoding import ProjectKey
from linkage.matching import Linker, pairwise_quality
from linkage.protocols import load_agreement
from linkage.store import (
    Store,
    StoreError,
    StoreRun,
    assign_keys,
    incremental,
    link_into_store,
    open_store,
)
from linkage.synth import Cohort

from ..helpers import EXAMPLE

SECRET = secrets.token_bytes(32)
KEY = ProjectKey(SECRET)
AGREEMENT = "first-1000-days"
CORRECTED = 15  # records per partner whose date of birth month 1 got wrong
REMOVED = 10    # records per partner that month 2 no longer sends


def encode(extracts: dict[str, pd.DataFrame], noise_seed: int) -> list[EncodedSource]:
    return encode_extracts(extracts, load_agreement(EXAMPLE / "agreement.yaml"), keys=KEY,
                           noise_seed=noise_seed)


def mistype_dates(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    out = frame.copy()
    dates = pd.to_datetime(out.loc[rows, "date_of_birth"]) + pd.Timedelta(days=40)
    out.loc[rows, "date_of_birth"] = dates.dt.strftime("%Y-%m-%d").to_numpy()
    return out


class Months:
    """Two monthly extracts of the small cohort and what changed between them."""

    def __init__(self, cohort: Cohort) -> None:
        rng = np.random.default_rng(5)
        self.month1: dict[str, pd.DataFrame] = {}
        self.month2: dict[str, pd.DataFrame] = {}
        self.corrected: set[tuple[str, str]] = set()
        self.removed: set[tuple[str, str]] = set()
        for partner, frame in cohort.extracts.items():
            sent = rng.random(len(frame)) < 0.9
            first = np.flatnonzero(sent)
            picked = rng.choice(first, CORRECTED + REMOVED, replace=False)
            wrong, gone = picked[:CORRECTED], picked[CORRECTED:]
            self.month1[partner] = mistype_dates(frame, wrong)[sent].reset_index(drop=True)
            keep = np.ones(len(frame), bool)
            keep[gone] = False
            self.month2[partner] = frame[keep].reset_index(drop=True)
            self.corrected |= {(partner, r) for r in frame.record_id.to_numpy()[wrong]}
            self.removed |= {(partner, r) for r in frame.record_id.to_numpy()[gone]}
        self.sources1 = encode(self.month1, noise_seed=1)
        self.sources2 = encode(self.month2, noise_seed=2)  # fresh noise, as in real life
        records2 = {(p, r) for p, f in self.month2.items() for r in f.record_id}
        self.truth2 = cohort.truth[[(p, r) in records2 for p, r in
                                    zip(cohort.truth.partner, cohort.truth.record_id,
                                        strict=True)]]


@pytest.fixture(scope="module")
def months(small_cohort: Cohort) -> Months:
    return Months(small_cohort)


@pytest.fixture(scope="module")
def runs(months: Months, tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[Path, StoreRun, StoreRun, StoreRun]:
    """A SQLite store after month 1, month 2 and month 2 again."""
    path = tmp_path_factory.mktemp("store") / "linkage-unit.sqlite"
    with open_store(path) as store:
        first = link_into_store(store, AGREEMENT, months.sources1)
        second = link_into_store(store, AGREEMENT, months.sources2)
        again = link_into_store(store, AGREEMENT, months.sources2)
    return path, first, second, again


def clusters(links: pd.DataFrame) -> dict[frozenset[tuple[str, str]], str]:
    """Member set -> link key."""
    return {frozenset(zip(g.partner, g.record_id, strict=True)): str(k)
            for k, g in links.groupby("link_key")}


def key_of(links: pd.DataFrame) -> dict[tuple[str, str], str]:
    return dict(zip(zip(links.partner, links.record_id, strict=True), links.link_key,
                    strict=True))


def f1(links: pd.DataFrame, truth: pd.DataFrame) -> float:
    renamed = links.rename(columns={"link_key": "cluster_id"})
    return pairwise_quality(renamed, truth).overall.f1


# -- month by month on SQLite ---------------------------------------------------------------
def test_first_run_gives_every_record_one_random_key(months: Months, runs: Any) -> None:
    _, first, _, _ = runs
    assert first.kind == "first" and first.summary["new"] == sum(map(len, months.sources1))
    assert len(first.links) == first.summary["new"]
    assert not first.links.duplicated(["partner", "record_id"]).any()
    keys = first.links.link_key.unique()
    assert all(re.fullmatch(r"[0-9a-f]{24}", k) for k in keys)
    assert first.summary["created"] == len(keys) == (first.changes.event == "created").sum()


def test_month_two_counts_new_changed_and_removed_records(months: Months, runs: Any) -> None:
    _, first, second, _ = runs
    s = second.summary
    assert s["changed"] == len(months.corrected)  # the dates were corrected: new encodings
    assert s["removed"] == len(months.removed)
    assert s["new"] == sum(map(len, months.sources2)) - len(first.links) + len(months.removed)
    assert s["unchanged"] == len(first.links) - len(months.removed) - len(months.corrected)
    assert not set(key_of(second.links)) & months.removed
    assert second.kind == "update" and not second.drift


def test_no_record_is_in_two_clusters(months: Months, runs: Any) -> None:
    path, _, second, again = runs
    for run in (second, again):
        assert not run.links.duplicated(["partner", "record_id"]).any()
        assert len(run.links) == sum(map(len, months.sources2))
    with open_store(path) as store:
        pd.testing.assert_frame_equal(store.links(AGREEMENT), again.links)


def test_unchanged_clusters_keep_their_keys(runs: Any) -> None:
    _, first, second, _ = runs
    before, after = clusters(first.links), clusters(second.links)
    same = [members for members in before if members in after]
    assert len(same) > 0.8 * len(before)
    assert all(before[m] == after[m] for m in same)


def test_every_key_change_is_in_the_history(runs: Any) -> None:
    path, first, second, _ = runs
    old, new = key_of(first.links), key_of(second.links)
    pairs = {frozenset((k, o)) for k, o in zip(second.changes.link_key,
                                               second.changes.other_key, strict=True)}
    moved = {frozenset((old[r], new[r])) for r in new if r in old and old[r] != new[r]}
    assert moved and moved <= pairs  # each record that changed key: merged, split or joined
    fresh = {new[r] for r in new if r not in old} - set(old.values())
    assert fresh <= set(second.changes.link_key)  # created (or split) this run
    with open_store(path) as store:
        history = store.history(AGREEMENT)
    assert set(history.event) <= {"created", "joined", "merged", "split", "retired"}
    assert (history.run_id == 2).sum() == len(second.changes)


def test_incremental_f1_is_within_a_point_of_a_full_relink(months: Months, runs: Any) -> None:
    _, _, second, _ = runs
    full = Linker().link(months.sources2).links
    assert abs(f1(second.links, months.truth2) - pairwise_quality(full, months.truth2)
               .overall.f1) <= 0.01


def test_a_run_without_changes_changes_no_key(runs: Any) -> None:
    _, _, second, again = runs
    assert again.changes.empty
    assert {k: v for k, v in again.summary.items() if k != "unchanged"} == dict.fromkeys(
        ["new", "changed", "removed", *incremental.COUNTS[4:]], 0)
    pd.testing.assert_frame_equal(again.links, second.links)


def test_the_store_file_holds_no_key(runs: Any) -> None:
    path, *_ = runs
    data = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.is_file())
    secrets_ = [SECRET, KEY.derive("field:given_name"), KEY.derive("record:given_name")]
    for secret in secrets_:
        assert secret not in data
        for text in (secret.hex(), secret.hex().upper()):
            assert text.encode() not in data
            assert text.encode("utf-16-le") not in data


# -- stable keys: merges and splits from real runs -------------------------------------------
def _three_partner_children(links: pd.DataFrame, cohort: Cohort) -> list[dict[str, str]]:
    """People with one record in each partner, all under one key: partner -> record id."""
    truth = cohort.truth.merge(links, on=["partner", "record_id"])
    out = []
    for _, g in truth.groupby("person_id"):
        if len(g) == 3 and g.partner.nunique() == 3 and g.link_key.nunique() == 1:
            out.append(dict(zip(g.partner, g.record_id, strict=True)))
    return out


def _made_up(frame: pd.DataFrame, record_id: str) -> pd.DataFrame:
    """``frame`` with one record's identifiers replaced by those of a child nobody else is."""
    out = frame.copy()
    out.loc[out.record_id == record_id, ["given_name", "family_name", "date_of_birth",
                                         "postcode", "nhs_number"]] = [
        "Zebedee", "Quixotic", "2018-01-01", "LS99 9ZZ", ""]
    return out


def test_a_split_gives_the_split_off_part_a_new_key(months: Months, runs: Any,
                                                    small_cohort: Cohort,
                                                    tmp_path: Path) -> None:
    child = _three_partner_children(runs[2].links, small_cohort)[0]
    extracts = small_cohort.extracts
    with open_store(tmp_path / "s.sqlite") as store:
        first = link_into_store(store, AGREEMENT, encode(extracts, 1))
        key = key_of(first.links)[("health", child["health"])]
        assert {key_of(first.links)[(p, r)] for p, r in child.items()} == {key}
        wrong = _made_up(extracts["education"], child["education"])
        second = link_into_store(store, AGREEMENT, encode({"education": wrong}, 2))
    keys = key_of(second.links)
    assert keys[("health", child["health"])] == keys[("social_care", child["social_care"])] \
        == key  # the larger part keeps the key
    split_off = keys[("education", child["education"])]
    assert split_off != key
    assert ((second.changes.event == "split") & (second.changes.link_key == split_off)
            & (second.changes.other_key == key)).any()
    assert second.summary["changed"] == 1 and second.summary["new"] == 0


def test_a_merge_keeps_the_older_key(runs: Any, small_cohort: Cohort, tmp_path: Path) -> None:
    child = _three_partner_children(runs[2].links, small_cohort)[1]
    extracts = small_cohort.extracts
    education = extracts["education"]
    month1 = {**extracts, "education": education[education.record_id != child["education"]]}
    with open_store(tmp_path / "m.sqlite") as store:
        first = link_into_store(store, AGREEMENT, encode(month1, 1))
        older = key_of(first.links)[("health", child["health"])]
        wrong = _made_up(education, child["education"])
        second = link_into_store(store, AGREEMENT, encode({"education": wrong}, 2))
        newer = key_of(second.links)[("education", child["education"])]
        assert newer != older and second.summary["new"] == 1
        third = link_into_store(store, AGREEMENT, encode({"education": education}, 3))
        ended = store.query("SELECT ended_event FROM link_keys WHERE link_key = ?", (newer,))
    keys = key_of(third.links)
    assert {keys[(p, r)] for p, r in child.items()} == {older}
    assert ((third.changes.event == "merged") & (third.changes.link_key == newer)
            & (third.changes.other_key == older)).any()
    assert ended == [("merged",)]


# -- the key rules, one by one ---------------------------------------------------------------
def _mint() -> Any:
    counter = iter(range(1000))
    return lambda n: [f"new{next(counter)}" for _ in range(n)]


def _assign(label: list[int], old: list[str | None], created: dict[str, int],
            gone: dict[str, int] | None = None) -> tuple[list[str], set[tuple[Any, ...]]]:
    got = assign_keys(np.asarray(label), old, np.arange(len(label)), created, gone or {},
                      _mint())
    return list(got.keys), {(e.event, e.link_key, e.other_key, e.records) for e in got.events}


def test_key_rules() -> None:
    # unchanged keeps its key; a new record joins and takes the key
    assert _assign([0, 0, 1], ["a", "a", None], {"a": 1}) == (
        ["a", "a", "new0"], {("created", "new0", None, 1)})
    assert _assign([0, 0, 0], ["a", "a", None], {"a": 1}) == (
        ["a", "a", "a"], {("joined", "a", None, 1)})
    # merge: the older key (by creation run, then by key) survives
    keys, events = _assign([0, 0], ["z", "b"], {"z": 1, "b": 2})
    assert keys == ["z", "z"] and events == {("merged", "b", "z", 1)}
    keys, events = _assign([0, 0], ["z", "b"], {"z": 1, "b": 1})
    assert keys == ["b", "b"] and events == {("merged", "z", "b", 1)}
    # split: the part with most of the old records keeps the key; ties: the oldest record
    keys, events = _assign([0, 1, 1], ["a", "a", "a"], {"a": 1})
    assert keys == ["new0", "a", "a"] and events == {("split", "new0", "a", 1)}
    keys, events = _assign([0, 1], ["a", "a"], {"a": 1})
    assert keys == ["a", "new0"] and events == {("split", "new0", "a", 1)}
    # a key whose records all left is retired; a record moving between keys joins
    keys, events = _assign([0, 0, 1, 1], ["a", "b", "b", "b"], {"a": 1, "b": 1, "c": 1},
                           {"c": 2})
    assert keys == ["a", "a", "b", "b"]
    assert events == {("joined", "a", "b", 1), ("retired", "c", None, 2)}
    # a key split evenly stays with its oldest record; there it merges with the older key
    keys, events = _assign([0, 0, 1], ["a", "b", "b"], {"a": 1, "b": 2})
    assert keys == ["a", "a", "new0"]
    assert events == {("merged", "b", "a", 1), ("split", "new0", "b", 1)}


# -- drift, partial extracts, new partners, refits -------------------------------------------
def test_drift_is_flagged_when_new_records_lose_a_field(months: Months, tmp_path: Path) -> None:
    health = months.month2["health"].copy()
    health["postcode"] = ""  # the service stopped sending postcodes: every record changes
    with open_store(tmp_path / "d.sqlite") as store:
        link_into_store(store, AGREEMENT, months.sources1)
        run = link_into_store(store, AGREEMENT, encode({"health": health}, 2),
                              full_extract=False)
    assert run.drift and any("postcode" in m and "health~" in m for m in run.messages)
    assert run.summary["removed"] == 0
    assert run.summary["changed"] > 0.95 * len(months.month1["health"])  # but blank ones


def test_a_new_partner_needs_a_refit(months: Months, tmp_path: Path) -> None:
    two = [s for s in months.sources1 if s.partner != "social_care"]
    care = next(s for s in months.sources2 if s.partner == "social_care")
    with open_store(tmp_path / "p.sqlite") as store:
        first = link_into_store(store, AGREEMENT, two)
        before = store.dump()
        with pytest.raises(StoreError, match="social_care"):
            link_into_store(store, AGREEMENT, [care])
        assert store.dump() == before
        refit = link_into_store(store, AGREEMENT, [care], refit=True)
        assert refit.kind == "refit" and len(store.query("SELECT run_id FROM models")) == 2
    before_keys, after_keys = clusters(first.links), clusters(refit.links)
    same = [m for m in before_keys if m in after_keys]
    assert same and all(before_keys[m] == after_keys[m] for m in same)
    assert set(refit.links.partner) == {"health", "education", "social_care"}


def test_a_source_of_another_schema_is_refused(months: Months, tmp_path: Path) -> None:
    with open_store(tmp_path / "x.sqlite") as store:
        link_into_store(store, AGREEMENT, months.sources1)
        other = months.sources1[0]
        shorter = other.with_blocking(np.zeros((len(other), 1), np.uint64), ("extra",))
        with pytest.raises(StoreError, match="other fields"):
            link_into_store(store, AGREEMENT, [shorter])



def test_a_store_of_an_older_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with open_store(path) as store:
        store.execute("UPDATE store_info SET value = '1' WHERE name = 'schema_version'")
    with pytest.raises(StoreError, match=r"schema version 1.*re-create it"):
        open_store(path)


def test_a_run_reads_only_the_encodings_of_candidates(months: Months, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An update compares the records sent by the encodings that arrived, and fetches from
    the store only those of records not sent that share a blocking key with a new or
    changed one: not a partner's whole population."""
    fetched: dict[str, int] = {}
    fetch = incremental._fetch
    def counting(store: Store, agreement_id: str, partner: str, record_ids: Any,
                 **kwargs: Any) -> list[bytes]:
        got = fetch(store, agreement_id, partner, record_ids, **kwargs)
        fetched[partner] = fetched.get(partner, 0) + len(got)
        return got
    education = next(s for s in months.sources2 if s.partner == "education")
    with open_store(tmp_path / "x.sqlite") as store:
        first = link_into_store(store, AGREEMENT, months.sources1)
        monkeypatch.setattr(incremental, "_fetch", counting)
        run = link_into_store(store, AGREEMENT, [education])  # only education sends
    assert run.summary["new"] > 0
    assert fetched.get("education", 0) == 0  # every education record arrived
    held = first.links.partner.value_counts()
    assert 0 < fetched["health"] < held["health"]
    assert fetched.get("social_care", 0) < held["social_care"]


# -- crash safety and PostgreSQL ---------------------------------------------------------------
def _postgres_url() -> str:
    url = os.environ.get("LINKAGE_TEST_POSTGRES")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail("CI is set but LINKAGE_TEST_POSTGRES is not: .ci/run must start a "
                    "PostgreSQL server and export its URL.")
    pytest.skip("LINKAGE_TEST_POSTGRES is not set (CI sets it)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each backend (PostgreSQL: a schema of its own)."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.sqlite")
        return
    url = _postgres_url()
    try:
        import psycopg
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("psycopg is not installed")
        pytest.skip("psycopg is not installed")
    schema = f"linkage_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.parametrize("fail_in", ["_write_keys", "_write_history"])
def test_a_run_that_fails_midway_leaves_the_store_as_before(
        store_url: str, months: Months, fail_in: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(store_url) as store:
        empty = store.dump()
        real = getattr(incremental, fail_in)
        def fail(*args: Any, **kwargs: Any) -> None:
            real(*args, **kwargs)  # its writes happen, then the run dies
            raise RuntimeError("killed")
        with monkeypatch.context() as patch:
            patch.setattr(incremental, fail_in, fail)
            with pytest.raises(RuntimeError, match="killed"):
                link_into_store(store, AGREEMENT, months.sources1)
        assert store.dump() == empty
        link_into_store(store, AGREEMENT, months.sources1)
        before = store.dump()
        with monkeypatch.context() as patch:
            patch.setattr(incremental, fail_in, fail)
            with pytest.raises(RuntimeError, match="killed"):
                link_into_store(store, AGREEMENT, months.sources2)
        assert store.dump() == before
        def refuse(run: StoreRun) -> None:
            raise RuntimeError("audit log full")
        with pytest.raises(RuntimeError, match="audit"):
            link_into_store(store, AGREEMENT, months.sources2, before_commit=refuse)
        assert store.dump() == before
        assert link_into_store(store, AGREEMENT, months.sources2).run_id == 2


def test_both_backends_give_the_same_clusters(store_url: str, months: Months,
                                               runs: Any) -> None:
    _, first, second, _ = runs
    with open_store(store_url) as store:
        assert isinstance(store, Store)
        got1 = link_into_store(store, AGREEMENT, months.sources1)
        got2 = link_into_store(store, AGREEMENT, months.sources2)
        again = link_into_store(store, AGREEMENT, months.sources2)
        assert store.agreements() == [AGREEMENT]
        assert list(store.runs(AGREEMENT).kind) == ["first", "update", "update"]
    assert set(clusters(got1.links)) == set(clusters(first.links))
    assert set(clusters(got2.links)) == set(clusters(second.links))
    assert again.changes.empty


CHILD = """
import os, sys
import numpy as np
from benchmarks.cohort_sources import encode_extracts
from linkage.encoding import ProjectKey
from linkage.protocols import load_agreement
from linkage.store import link_into_store, open_store
from linkage.synth import CohortConfig, generate_cohort
from tests.helpers import EXAMPLE
cohort = generate_cohort(CohortConfig(people=3_000, seed=7))
key = ProjectKey(bytes.fromhex(os.environ["LINKAGE_TEST_KEY"]))
sources = encode_extracts(cohort.extracts, load_agreement(EXAMPLE / "agreement.yaml"),
                          keys=key, noise_seed=2)
with open_store(sys.argv[1]) as store:
    print("start", flush=True)
    link_into_store(store, sys.argv[2], sources)
print("done", flush=True)
"""


def test_a_run_killed_at_random_points_leaves_the_store_as_before(
        store_url: str, months: Months) -> None:
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "LINKAGE_TEST_KEY": SECRET.hex(), "PYTHONPATH": str(root)}
    rng = np.random.default_rng()
    with open_store(store_url) as store:
        link_into_store(store, AGREEMENT, months.sources1)
        before = store.dump()
    for delay in np.sort(rng.uniform(0.0, 0.6, 3)):  # a run takes about half a second
        child = subprocess.Popen([sys.executable, "-c", CHILD, store_url, AGREEMENT],
                                 stdout=subprocess.PIPE, text=True, env=env, cwd=root)
        assert child.stdout is not None and child.stdout.readline().strip() == "start"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        with open_store(store_url) as store:
            after = store.dump()
        if len(after["runs"]) == len(before["runs"]) + 1:  # it committed before the kill
            assert after["records"] != before["records"] and after["history"]
            return  # the run is whole; later kills would hit another run
        assert after == before



UPDATE_CHILD = """
import os, sys
import numpy as np
from benchmarks.cohort_sources import encode_extracts
from linkage.encoding import ProjectKey
from linkage.protocols import load_agreement
from linkage.store import link_into_store, open_store
from linkage.synth import CohortConfig, generate_cohort
from tests.helpers import EXAMPLE
cohort = generate_cohort(CohortConfig(people=1_500, seed=7))
loaded = load_agreement(EXAMPLE / "agreement.yaml")
key = ProjectKey(bytes.fromhex(os.environ["LINKAGE_TEST_KEY"]))
month1 = {p: f.iloc[: len(f) * 9 // 10] for p, f in cohort.extracts.items()}
with open_store(sys.argv[1]) as store:
    link_into_store(store, "a", encode_extracts(month1, loaded, keys=key, noise_seed=1))
    run = link_into_store(store, "a", encode_extracts(cohort.extracts, loaded, keys=key,
                                                      noise_seed=2))
print(run.kind, run.summary["new"] > 0, flush=True)
"""


def test_an_update_runs_where_numba_cannot_run_kernels_side_by_side(tmp_path: Path) -> None:
    """Numba's fallback "workqueue" threading layer (a machine without OpenMP or TBB)
    aborts the process when two parallel kernels overlap: the update then scores its
    partner pairs one by one."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "LINKAGE_TEST_KEY": SECRET.hex(), "PYTHONPATH": str(root),
           "NUMBA_THREADING_LAYER": "workqueue"}
    done = subprocess.run([sys.executable, "-c", UPDATE_CHILD, str(tmp_path / "s.sqlite")],
                          capture_output=True, text=True, env=env, cwd=root, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["update", "True"]

# -- working in proportion to the change -------------------------------------------------------
def full_recluster(store: Store) -> dict[frozenset[tuple[str, str]], str]:
    """Every stored record clustered from every stored edge, as a first run would (the
    store's keys attached): what an update, which re-clusters only what it can reach,
    must agree with."""
    from linkage.matching.clustering import greedy_clusters
    records = pd.DataFrame(store.query(
        "SELECT partner, record_id, seq, link_key FROM records WHERE agreement_id = ?",
        (AGREEMENT,)),
        columns=["partner", "record_id", "seq", "link_key"]).sort_values(
        ["partner", "seq"], ignore_index=True)
    edges = pd.DataFrame(store.query(
        "SELECT left_partner, left_record, right_partner, right_record, weight, probability "
        "FROM edges WHERE agreement_id = ?", (AGREEMENT,)),
        columns=["lp", "lr", "rp", "rr", "weight", "probability"])
    row = {pr: k for k, pr in enumerate(zip(records.partner, records.record_id,
                                            strict=True))}
    a = np.asarray([row[pr] for pr in zip(edges.lp, edges.lr, strict=True)])
    b = np.asarray([row[pr] for pr in zip(edges.rp, edges.rr, strict=True)])
    first, second = np.minimum(a, b), np.maximum(a, b)
    by = np.lexsort((second, first))
    source = pd.factorize(records.partner, sort=True)[0]
    label = greedy_clusters(source, first[by], second[by], edges.weight.to_numpy()[by],
                            edges.probability.to_numpy()[by],
                            within_source=(source[first] == source[second])[by]).label
    out = {}
    for _, group in records.assign(label=label).groupby("label"):
        assert group.link_key.nunique() == 1, "one cluster holds records of several keys"
        out[frozenset(zip(group.partner, group.record_id, strict=True))] = group.link_key.iloc[0]
    return out


def test_an_update_clusters_exactly_as_a_full_recluster(months: Months, runs: Any) -> None:
    """An update re-clusters only the records its changes reach (new, changed and removed
    records, displaced links, and everything joined to them); the clusters must be those
    of clustering everyone from the stored edges, and each cluster one key."""
    path, _, second, _ = runs
    with open_store(path) as store:
        assert full_recluster(store) == clusters(store.links(AGREEMENT))
    assert second.summary["new"] and second.summary["changed"] and second.summary["removed"]


@pytest.mark.parametrize("journaled", [False, True])
def test_the_population_snapshot_matches_the_tables(months: Months, tmp_path: Path,
                                                    journaled: bool) -> None:
    """The population a run reads (the last full snapshot, with the journals of later
    runs applied) is the one the tables hold."""
    from linkage.store import population as pop
    from linkage.store.rows import Layout
    education = next(s for s in months.sources2 if s.partner == "education")
    with open_store(tmp_path / "s.sqlite") as store:
        link_into_store(store, AGREEMENT, months.sources1)
        second = link_into_store(store, AGREEMENT, [education] if journaled
                                 else months.sources2)
        parts = store.query("SELECT part FROM populations")
        assert any(part < 0 for (part,) in parts) == journaled  # a journal, or compacted
        layout = Layout.from_json(store.query("SELECT layout FROM agreements")[0][0])
        found = pop.read_populations(store, AGREEMENT, layout, second.run_id)
        assert (found.journaled > 0) == journaled
        fast = found.partners
        slow = pop._rebuild(store, AGREEMENT, layout)
        stale = pop.read_populations(store, AGREEMENT, layout, second.run_id + 1).partners
        blocking = {p: pop.fill_blocking(store, AGREEMENT, layout,
                                         pop.diff(fast[p], None, layout, 0,
                                                  full_extract=True), p, None)
                    for p in fast}
    assert sorted(fast) == sorted(slow) == sorted(stale)
    for partner in fast:
        for got in (slow[partner], stale[partner]):
            for name in ("record_ids", "seq", "fingerprint", "link_keys"):
                assert np.array_equal(getattr(fast[partner], name), getattr(got, name)), name
            assert np.array_equal(blocking[partner], got.blocking)
        assert fast[partner].arrow_ids().to_pylist() == list(slow[partner].record_ids)


def test_an_update_with_lsh_blocks_on_the_lsh_passes_too(months: Months, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    from linkage.matching.blocking import LshParameters
    from linkage.matching.linker import LinkerSettings
    settings = LinkerSettings(lsh=LshParameters(bands=4, bits_per_band=16))
    passes: list[tuple[str, ...]] = []
    score = incremental.score_delta
    def recording(a: Any, *args: Any, **kwargs: Any) -> Any:
        passes.append(tuple(a.blocking_names))
        return score(a, *args, **kwargs)
    with open_store(tmp_path / "lsh.sqlite") as store:
        link_into_store(store, AGREEMENT, months.sources1, settings)
        monkeypatch.setattr(incremental, "score_delta", recording)
        link_into_store(store, AGREEMENT, months.sources2, settings)
        assert full_recluster(store) == clusters(store.links(AGREEMENT))
    assert passes and all(any(n.startswith("lsh_") for n in names) for names in passes)


def test_after_an_erasure_the_next_run_writes_the_snapshot_in_full(months: Months,
                                                                   tmp_path: Path) -> None:
    from linkage.store.erasure import erase_link_key
    from linkage.store.population import read_populations
    from linkage.store.rows import Layout
    education = next(s for s in months.sources2 if s.partner == "education")
    with open_store(tmp_path / "e.sqlite") as store:
        first = link_into_store(store, AGREEMENT, months.sources1)
        erase_link_key(store, AGREEMENT, str(first.links.link_key.iloc[0]))
        assert not store.query("SELECT part FROM populations")
        rebuilt = link_into_store(store, AGREEMENT, [education])  # rebuilds, then writes all
        assert {p for (p,) in store.query("SELECT part FROM populations")} == {0}
        later = link_into_store(store, AGREEMENT, [education])  # nothing new: a journal
        layout = Layout.from_json(store.query("SELECT layout FROM agreements")[0][0])
        found = read_populations(store, AGREEMENT, layout, later.run_id)
    assert rebuilt.run_id + 1 == later.run_id and not found.rebuilt


def test_a_monthly_run_links_a_record_to_a_child_recorded_twice(small_cohort: Cohort,
                                                                 tmp_path: Path) -> None:
    """Health holds one child twice (identical encodings, joined by deduplication); the
    child's school record arrives in month 2. Its two candidates share its one match, as in
    a full run: without that, each had half of it and it linked to neither."""
    import dataclasses

    from linkage.store.rows import subset

    truth = small_cohort.truth
    people = truth.groupby("person_id").partner.agg(lambda s: tuple(sorted(s)))
    sources = {s.partner: s for s in encode(small_cohort.extracts, noise_seed=1)}
    health, school = sources["health"], sources["education"]
    for child in people[people == ("education", "health")].index:
        ids = truth[truth.person_id == child].set_index("partner").record_id
        h_row = int(np.flatnonzero(health.record_ids == ids["health"])[0])
        twice = subset(health, np.r_[np.arange(len(health)), h_row])
        twice = dataclasses.replace(twice, record_ids=np.r_[health.record_ids[:],
                                                            ["H-twice"]].astype(object))
        without = subset(school, np.flatnonzero(school.record_ids != ids["education"]))
        others = [sources["social_care"]]
        with open_store(tmp_path / f"{child}.sqlite") as store:
            link_into_store(store, AGREEMENT, [twice, without, *others])
            run = link_into_store(store, AGREEMENT, [twice, school, *others])
        links = run.links.set_index(["partner", "record_id"]).link_key
        assert run.kind == "update"
        assert links[("health", ids["health"])] == links[("health", "H-twice")]
        assert links[("education", ids["education"])] == links[("health", ids["health"])]
        break


def test_a_monthly_run_keeps_records_matched_to_two_children_apart(small_cohort: Cohort,
                                                                   tmp_path: Path) -> None:
    """A within-source edge, added or stored, goes where its two records are matched to two
    children of another source (records there that no within-source edge joins), as a full
    run drops it; not where they are matched to one record."""
    from linkage.store.incremental import EDGE_COLUMNS, _read_edges, _without_matched_apart

    with open_store(tmp_path / "unit.sqlite") as store:
        link_into_store(store, AGREEMENT, encode(small_cohort.extracts, noise_seed=1))
        edges = _read_edges(store, AGREEMENT)
        within = edges[(edges.left_partner == "education") &
                       (edges.right_partner == "education")]
        assert len(within), "the small cohort has education duplicates"
        x, y = within.left_record.iloc[0], within.right_record.iloc[0]
        joined = edges[(edges.left_partner == "health") & (edges.right_partner == "health")]
        held = set(joined.left_record) | set(joined.right_record)
        health = [r for r in small_cohort.extracts["health"].record_id if r not in held][:2]

        def edge(a: tuple[str, str], b: tuple[str, str]) -> dict[str, object]:
            return {"left_partner": a[0], "left_record": a[1], "right_partner": b[0],
                    "right_record": b[1], "weight": 30.0, "probability": 1.0, "run_id": 9}

        def run(*rows: dict[str, object]) -> tuple[pd.DataFrame, pd.DataFrame]:
            return _without_matched_apart(store, AGREEMENT,
                                          pd.DataFrame(list(rows), columns=EDGE_COLUMNS), set())

        # matched to two health records no edge joins: the stored edge goes
        kept, apart = run(edge(("health", health[0]), ("education", x)),
                          edge(("health", health[1]), ("education", y)))
        assert len(kept) == 2
        assert {(a, b) for a, b in zip(apart.left_record, apart.right_record,
                                       strict=True)} == {(x, y)}
        # matched to one health record: it stays
        kept, apart = run(edge(("health", health[0]), ("education", x)),
                          edge(("health", health[0]), ("education", y)))
        assert len(kept) == 2 and not len(apart)
        # an added within-source edge between records matched apart is not added; one
        # joining the two health records keeps both
        kept, apart = run(edge(("health", health[0]), ("education", x)),
                          edge(("health", health[1]), ("education", y)),
                          edge(("education", x), ("education", y)))
        assert len(kept) == 2 and len(apart) == 1
        kept, apart = run(edge(("health", health[0]), ("education", x)),
                          edge(("health", health[1]), ("education", y)),
                          edge(("health", health[0]), ("health", health[1])))
        assert len(kept) == 3 and not len(apart)


def test_matched_apart_reads_only_the_checked_records_matches_and_whole_chains(
        tmp_path: Path) -> None:
    """A match at a third record says nothing of the checked pair (an index of -1 once
    gave it to the last checked record); duplicates chained through records that no match
    touches are one child, as a full run's connected pieces."""
    from linkage.store.incremental import EDGE_COLUMNS, _without_matched_apart

    def edge(a: tuple[str, str], b: tuple[str, str]) -> dict[str, object]:
        return {"left_partner": a[0], "left_record": a[1], "right_partner": b[0],
                "right_record": b[1], "weight": 30.0, "probability": 1.0, "run_id": 2}

    def within(*rows: dict[str, object]) -> set[tuple[object, object]]:
        with open_store(tmp_path / "unit.sqlite") as store:
            kept, _ = _without_matched_apart(
                store, "agreement", pd.DataFrame(list(rows), columns=EDGE_COLUMNS), set())
        same = kept[kept.left_partner == kept.right_partner]
        return set(zip(same.left_record, same.right_record, strict=True))

    with open_store(tmp_path / "unit.sqlite") as store:  # one child in health four times
        for a, b in [("H1", "X"), ("X", "Y"), ("Y", "H3")]:
            store.execute("INSERT INTO edges VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          ("agreement", "health", a, "health", b, 30.0, 1.0, 1))
    assert within(edge(("education", "E1"), ("education", "E2")),
                  edge(("health", "H1"), ("education", "E1")),
                  edge(("health", "H9"), ("education", "E0"))) == {("E1", "E2")}
    assert within(edge(("education", "E1"), ("education", "E2")),
                  edge(("health", "H1"), ("education", "E1")),
                  edge(("health", "H3"), ("education", "E2"))) == {("E1", "E2")}
    assert within(edge(("education", "E1"), ("education", "E2")),
                  edge(("health", "H1"), ("education", "E1")),
                  edge(("health", "H9"), ("education", "E2"))) == set()


def test_a_store_made_before_confirmations_keeps_working_and_takes_them_at_a_refit(
        small_cohort: Cohort, store_url: str) -> None:
    """Confirmations (``hints.confirmed_by``) are how the matcher reads encodings, not part
    of them: a store whose layout lacks them (made before they existed) takes monthly runs
    of the same encodings and reads them without; a refit writes them into its layout."""
    import dataclasses

    from linkage.store.rows import Layout

    def stored_layout(store: Any) -> Layout:
        return Layout.from_json(store.query(
            "SELECT layout FROM agreements WHERE agreement_id = ?", (AGREEMENT,))[0][0])

    sources = encode(small_cohort.extracts, noise_seed=1)
    assert sources[0].hints.confirmed_by  # the example agreement has the passes
    old = [dataclasses.replace(s, hints=dataclasses.replace(s.hints, confirmed_by={}))
           for s in sources]
    with open_store(store_url) as store:
        link_into_store(store, AGREEMENT, old)
        assert stored_layout(store).hints.confirmed_by == {}
        assert link_into_store(store, AGREEMENT, sources).kind == "update"
        assert stored_layout(store).hints.confirmed_by == {}
        assert link_into_store(store, AGREEMENT, sources, refit=True).kind == "refit"
        assert stored_layout(store).hints.confirmed_by == sources[0].hints.confirmed_by
        assert link_into_store(store, AGREEMENT, sources).kind == "update"
    # a layout written before the key existed reads as one without confirmations
    text = Layout.of(sources[0]).to_json()
    data = json.loads(text)
    del data["confirmed_by"]
    read = Layout.from_json(json.dumps(data))
    assert read.hints.confirmed_by == {} and read.same_encodings(Layout.of(sources[0]))


def test_a_refit_moves_the_store_to_a_new_schema_and_keeps_the_keys(small_cohort: Cohort,
                                                                    store_url: str) -> None:
    """A new agreement version with other blocking passes (1.2 -> 1.3): a monthly run
    refuses the new encodings; a refit with every partner's whole extract takes them and
    keeps each child's link key by the usual rules."""
    from linkage.store.population import read_populations
    from linkage.store.rows import Layout

    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    new = loaded.agreement.encoding
    old = new.model_copy(update={"blocking": tuple(
        p for p in new.blocking if not p.name.startswith("names_two_days"))})
    extracts = small_cohort.extracts

    def sources(schema: Any) -> list[EncodedSource]:
        return encode_extracts(extracts, loaded, keys=KEY, schema=schema, noise_seed=1)

    with open_store(store_url) as store:
        before = link_into_store(store, AGREEMENT, sources(old)).links
        with pytest.raises(StoreError, match="other fields, filter lengths, blocking passes"):
            link_into_store(store, AGREEMENT, sources(new))
        with pytest.raises(StoreError, match=r"whole extract under the new schema \(missing: "
                                             r"social_care\)"):
            link_into_store(store, AGREEMENT, [s for s in sources(new)
                                               if s.partner != "social_care"], refit=True)
        run = link_into_store(store, AGREEMENT, sources(new), refit=True)
        after = run.links
        layout = Layout.from_json(store.query(
            "SELECT layout FROM agreements WHERE agreement_id = ?", (AGREEMENT,))[0][0])
        assert "names_two_days" in layout.blocking
        held = read_populations(store, AGREEMENT, layout, run.run_id).partners
        assert {p: len(x) for p, x in held.items()} == {p: len(f) for p, f in extracts.items()}
        # the next month updates under the new schema
        assert link_into_store(store, AGREEMENT, sources(new)).kind == "update"
    assert run.kind == "refit"
    keys = before.set_index(["partner", "record_id"]).link_key
    kept = after.set_index(["partner", "record_id"]).link_key.reindex(keys.index) == keys
    assert kept.mean() >= 0.98, kept.mean()
