"""The stored population's columns: content fingerprints and the diff of an extract."""

from __future__ import annotations

import secrets

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.cohort_sources import encode_extracts
from linkage.encoding import ProjectKey
from linkage.protocols import load_agreement
from linkage.store.population import PartnerPopulation, diff
from linkage.store.rows import Layout, fingerprint_hex, fingerprint_of_hex, fingerprints, subset
from linkage.synth import Cohort

from ..helpers import EXAMPLE

KEY = ProjectKey(secrets.token_bytes(32))


@pytest.fixture(scope="module")
def health(small_cohort: Cohort) -> pd.DataFrame:
    return small_cohort.extracts["health"].head(300).reset_index(drop=True)


def encode(frame: pd.DataFrame, noise_seed: int):  # type: ignore[no-untyped-def]
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    return encode_extracts({"health": frame}, loaded, keys=KEY, noise_seed=noise_seed)[0]


def test_fingerprints_ignore_fresh_noise_and_see_a_changed_date(health: pd.DataFrame) -> None:
    first, again = encode(health, 1), encode(health, 2)  # the same records, fresh noise
    layout = Layout.of(first)
    assert not np.array_equal(first.field_filters["given_name"],
                              again.field_filters["given_name"])
    assert np.array_equal(fingerprints(layout, first), fingerprints(layout, again))
    changed = health.copy()
    changed.loc[5, "date_of_birth"] = "2019-01-01" if health.date_of_birth[5] != \
        "2019-01-01" else "2019-01-02"
    moved = fingerprints(layout, encode(changed, 1))
    same = (moved == fingerprints(layout, first)).all(axis=1)
    assert not same[5] and same[np.arange(len(health)) != 5].all()
    assert len({tuple(r) for r in fingerprints(layout, first).tolist()}) == \
        len({tuple(r) for r in zip(health.date_of_birth, health.nhs_number, strict=True)})


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
                max_size=20))
def test_fingerprint_text_round_trips(pairs: list[tuple[int, int]]) -> None:
    prints = np.asarray(pairs, np.uint64).reshape(len(pairs), 2)
    texts = fingerprint_hex(prints)
    assert all(len(t) == 32 for t in texts)
    assert np.array_equal(fingerprint_of_hex(texts), prints)


def test_diff_finds_new_changed_unchanged_and_removed(health: pd.DataFrame) -> None:
    before = encode(health.iloc[:200], 1)
    layout = Layout.of(before)
    empty = PartnerPopulation.empty(len(layout.blocking))
    first = diff(empty, before, layout, 1, full_extract=True)
    stored = first.population
    assert list(stored.record_ids) == sorted(str(r) for r in health.record_id[:200])
    assert sorted(stored.seq.tolist()) == list(range(1, 201))
    # the first record of the extract entered first
    assert stored.seq[stored.rows_of([str(health.record_id[0])])[0]] == 1
    changed = health.copy()
    changed.loc[20, "date_of_birth"] = "2019-01-01" if health.date_of_birth[20] != \
        "2019-01-01" else "2019-01-02"
    month2 = encode(health.iloc[10:250], 2)  # 0-9 removed, 200-249 new
    d = diff(stored, month2, layout, 201, full_extract=True)
    ids = d.population.record_ids
    assert list(ids) == sorted(str(r) for r in health.record_id[10:250])
    assert sorted(ids[d.new]) == sorted(str(r) for r in health.record_id[200:250])
    assert len(d.changed) == 0
    assert sorted(d.gone_ids) == sorted(str(r) for r in health.record_id[:10])
    assert d.unchanged == 190
    assert (d.population.seq[d.new] >= 201).all()
    row = d.source_row[d.new]
    assert list(np.asarray(month2.record_ids, dtype=object)[row]) == list(ids[d.new])
    month3 = encode(changed.iloc[:250], 3)
    d3 = diff(d.population, month3, layout, 300, full_extract=False)
    assert list(d3.population.record_ids[d3.changed]) == [str(changed.record_id[20])]
    assert len(d3.new) == 10 and len(d3.gone_ids) == 0
    # the population's columns moved with their records
    moved = d3.population.rows_of(list(d.population.record_ids))
    assert np.array_equal(d3.population.seq[moved], d.population.seq)
    untouched = moved[moved != d3.changed[0]]
    keep = d.population.rows_of(list(d3.population.record_ids[untouched]))
    assert np.array_equal(d3.population.fingerprint[untouched], d.population.fingerprint[keep])
    assert np.array_equal(d3.population.blocking[untouched], d.population.blocking[keep])
    assert subset(month3, np.asarray([0])).partner == "health"


def test_an_extract_repeating_a_record_id_is_refused(health: pd.DataFrame) -> None:
    from linkage.store import StoreError
    before = encode(health.iloc[:50], 1)
    layout = Layout.of(before)
    stored = diff(PartnerPopulation.empty(len(layout.blocking)), before, layout, 1,
                  full_extract=True).population
    month2 = encode(health.iloc[:70], 2)  # (the encoder itself refuses repeated ids)
    for rows in ([0, 1, 1], [60, 61, 61]):  # a stored record twice; a new one twice
        with pytest.raises(StoreError, match="more than once"):
            diff(stored, subset(month2, np.asarray(rows)), layout, 100, full_extract=True)
