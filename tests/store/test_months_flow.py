"""Three synthetic months through the store: quality close to a full re-link, and keys that
stay put for children whose records did not change."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.cohort_sources import encode_extracts
from linkage.encoding import ProjectKey
from linkage.matching import Linker, pairwise_quality
from linkage.protocols import load_agreement
from linkage.store import link_into_store, open_store
from linkage.synth import Cohort
from linkage.synth.months import monthly_cohort

from ..helpers import EXAMPLE


def test_three_months_keep_keys_and_quality(tmp_path: Path, small_cohort: Cohort) -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    key = ProjectKey(bytes(range(32)))
    seq = monthly_cohort(small_cohort, 3, seed=5)
    keys_by_month = []
    with open_store(tmp_path / "unit.sqlite") as store:
        for month, extracts in enumerate(seq.months):
            sources = encode_extracts(extracts, loaded, keys=key, noise_seed=month)
            run = link_into_store(store, "first-1000-days", sources)
            links = run.links
            assert not links.duplicated(["partner", "record_id"]).any()
            keys_by_month.append(links.set_index(["partner", "record_id"]).link_key)
    truth = small_cohort.truth
    final = keys_by_month[-1].rename("cluster_id").reset_index()
    incremental = pairwise_quality(final, truth).overall.f1
    full = Linker().link(encode_extracts(seq.months[-1], loaded, keys=key, noise_seed=9))
    assert incremental >= pairwise_quality(full.links, truth).overall.f1 - 0.01
    # children whose records were all present and unchanged in months 2 and 3 keep keys
    person = truth.set_index(["partner", "record_id"]).person_id
    m2 = {p: f.set_index("record_id") for p, f in seq.months[1].items()}
    m3 = {p: f.set_index("record_id") for p, f in seq.months[2].items()}
    changed_people = set()
    for partner in m3:
        new = m3[partner].index.difference(m2[partner].index)
        same = m3[partner].index.intersection(m2[partner].index)
        edited = same[(m3[partner].loc[same] != m2[partner].loc[same]).any(axis=1)]
        changed_people |= set(person.loc[[(partner, r) for r in [*new, *edited]]])
    before, after = keys_by_month[1], keys_by_month[2].loc[keys_by_month[1].index]
    steady = ~np.isin(person.loc[before.index].to_numpy(), list(changed_people))
    kept = (before.to_numpy() == after.to_numpy())[steady].mean()
    assert kept >= 0.995, kept
