"""The key rules' column-wise fast paths against the rules applied one cluster at a time."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.store.keys import Event, KeyAssignment, _unchanged, assign_keys


def rules_one_by_one(label: np.ndarray, old_key: Sequence[str | None], order: np.ndarray,
                created: Mapping[str, int], gone: Mapping[str, int],
                mint: Callable[[int], Sequence[str]]) -> KeyAssignment:
    """Keys of ``n`` current records from their cluster ``label`` (n,).

    ``old_key``: each record's key before the run (None for a new record); ``order`` (n,)
    the order records entered the store (smaller: older); ``created``: every active old key
    -> the run that created it; ``gone``: old key -> how many of its records left the
    store in this run; ``mint(k)``: ``k`` fresh random keys.
    """
    keys = np.empty(len(label), dtype=object)
    stable = _unchanged(label, old_key)
    keys[stable] = np.asarray(old_key, dtype=object)[stable]
    members: dict[int, list[int]] = defaultdict(list)
    for i in np.flatnonzero(~stable).tolist():
        members[int(label[i])].append(i)
    clusters = sorted(members, key=lambda c: min(int(order[i]) for i in members[c]))
    # per old key: per cluster, (count of its records, the oldest record's order)
    spread: dict[str, dict[int, list[int]]] = defaultdict(dict)
    for c in clusters:
        for i in members[c]:
            k = old_key[i]
            if k is not None:
                entry = spread[k].setdefault(c, [0, int(order[i])])
                entry[0] += 1
                entry[1] = min(entry[1], int(order[i]))
    home = {k: max(where, key=lambda c: (where[c][0], -where[c][1]))
            for k, where in spread.items()}
    homes_of: dict[int, list[str]] = defaultdict(list)
    for k, c in home.items():
        homes_of[c].append(k)
    age = {k: (created.get(k, 0), k) for k in spread}
    orphans = [c for c in clusters if not homes_of[c]]
    fresh = iter(mint(len(orphans)))
    events: list[Event] = []
    ended: dict[str, str] = {}
    minted: list[str] = []
    for c in clusters:
        origin = Counter(old_key[i] for i in members[c])
        if homes_of[c]:
            survivor, *losers = sorted(homes_of[c], key=lambda k: age[k])
            for loser in losers:
                events.append(Event("merged", loser, survivor, origin[loser]))
                ended[loser] = "merged"
            arrived = {k: n for k, n in origin.items() if k not in homes_of[c]}
            kind = "joined"
        else:
            survivor = next(fresh)
            minted.append(survivor)
            arrived = dict(origin)
            if set(arrived) == {None}:
                events.append(Event("created", survivor, None, len(members[c])))
                arrived = {}
            kind = "split"
        if None in arrived:  # new records
            events.append(Event("joined", survivor, None, arrived.pop(None)))
        for k in sorted(arrived, key=lambda k: age[k]):  # type: ignore[index]
            events.append(Event(kind, survivor, k, arrived[k]))
        keys[members[c]] = survivor
    surviving = set(spread) | {k for k in np.asarray(old_key, dtype=object)[stable].tolist()}
    for k in sorted(set(created) - surviving):
        events.append(Event("retired", k, None, int(gone.get(k, 0))))
        ended[k] = "retired"
    return KeyAssignment(keys, tuple(events), tuple(minted), ended)



def counter_mint() -> Callable[[int], list[str]]:
    made = iter(range(10**6))
    return lambda n: [f"new{next(made)}" for _ in range(n)]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fast_paths_give_the_same_keys_and_events(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 14))
    label = np.asarray(data.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)))
    old = data.draw(st.lists(st.sampled_from([None, "a", "b", "c", "d"]), min_size=n,
                             max_size=n))
    order = np.asarray(data.draw(st.permutations(list(range(n)))))
    created = {k: data.draw(st.integers(1, 3)) for k in ("a", "b", "c", "d", "e")}
    gone = {"e": 2, **({"a": 1} if data.draw(st.booleans()) else {})}
    got = assign_keys(label, old, order, created, gone, counter_mint())
    want = rules_one_by_one(label, old, order, created, gone, counter_mint())
    assert list(got.keys) == list(want.keys)
    assert got.events == want.events
    assert got.new_keys == want.new_keys and dict(got.ended) == dict(want.ended)
