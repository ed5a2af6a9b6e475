"""Stable link keys: from last run's keys and this run's clusters to this run's keys.

The rules (each change is an :class:`Event` in the store's history):

- Each old key has a **home**: the new cluster holding most of its surviving records
  (ties: the cluster holding its oldest record, by the order records entered the store).
  A key none of whose records survive is ``retired``.
- A cluster that is home to exactly one old key keeps it. So a cluster that did not change
  keeps its key, and a record joining a cluster takes the cluster's key (``joined``, with
  ``other_key`` the key the records came from, or none for new records).
- A cluster that is home to several old keys is a **merge**: the oldest key survives (by
  the run that created it, ties by the key string) and each other key is ``merged`` into
  it (``link_key`` the merged key, ``other_key`` the survivor).
- A cluster home to no old key gets a new random key: ``split`` from each old key whose
  records it holds (``other_key`` that key), or ``created`` when it holds only new records.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The events of the history table.
EVENTS = ("created", "joined", "merged", "split", "retired")


@dataclass(frozen=True)
class Event:
    event: str             #: one of :data:`EVENTS`
    link_key: str
    other_key: str | None  #: merged: the survivor; split/joined: where the records came from
    records: int           #: how many records the event moved (retired: how many left)


@dataclass(frozen=True)
class KeyAssignment:
    keys: np.ndarray             #: (n,) object, each current record's link key
    events: tuple[Event, ...]
    new_keys: tuple[str, ...]    #: keys minted in this run
    ended: Mapping[str, str]     #: key -> "merged" or "retired"


def assign_keys(label: np.ndarray, old_key: Sequence[str | None], order: np.ndarray,
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


def _unchanged(label: np.ndarray, old_key: Sequence[str | None]) -> np.ndarray:
    """(n,) bool: records of clusters that are exactly one old key's surviving records (no
    new record, no other key): they keep their key with no event, and skip the loop."""
    codes = pd.factorize(pd.Series(list(old_key), dtype=object), use_na_sentinel=True)[0]
    label = np.asarray(label, np.int64)
    if len(label) == 0:
        return np.zeros(0, bool)
    frame = pd.DataFrame({"label": label, "key": codes})
    by_label = frame.groupby("label")["key"].agg(["min", "max"])
    one_key = np.zeros(int(label.max()) + 1, bool)
    one_key[by_label.index.to_numpy()] = ((by_label["min"] == by_label["max"])
                                          & (by_label["min"] >= 0)).to_numpy()
    labels_of_key = frame[frame.key >= 0].groupby("key")["label"].nunique()
    whole = np.zeros(int(codes.max(initial=-1)) + 2, bool)  # the last entry: no key
    whole[labels_of_key.index.to_numpy()] = labels_of_key.to_numpy() == 1
    return one_key[label] & whole[codes]
