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

    The common cases are settled column-wise: clusters that did not change keep their
    key with no event, clusters that are one old key's records plus new ones (``joined``)
    or new records only (``created``); only clusters involving merges and splits go
    through the rules one by one.
    """
    old = np.asarray(old_key, dtype=object)
    order = np.asarray(order, np.int64)
    keys = np.empty(len(label), dtype=object)
    stable = _unchanged(label, old_key)
    keys[stable] = old[stable]
    rest = np.flatnonzero(~stable)
    lab = np.asarray(label, np.int64)[rest]
    code, uniques = pd.factorize(pd.Series(old[rest], dtype=object), use_na_sentinel=True)
    key_of = pd.Series(uniques, dtype=object)
    frame = pd.DataFrame({"label": lab, "code": code, "order": order[rest],
                          "new": code < 0})
    clusters = frame.groupby("label").agg(first=("order", "min"), new=("new", "sum"))
    held = frame[frame.code >= 0]
    n_keys = held.groupby("label")["code"].nunique().reindex(clusters.index, fill_value=0)
    spans = held.groupby("code")["label"].nunique()
    one = held.groupby("label")["code"].first().reindex(clusters.index, fill_value=-1)
    only_here = (n_keys == 1) & (one.map(spans).fillna(0) == 1)
    simple = clusters.index[only_here.to_numpy()].to_numpy()
    fresh_only = clusters.index[(n_keys == 0).to_numpy()].to_numpy()
    rules = clusters.index[~(only_here | (n_keys == 0)).to_numpy()].to_numpy()
    by_rules = frozenset(rules.tolist())
    members: dict[int, list[int]] = defaultdict(list)
    for i, c in zip(rest.tolist(), lab.tolist(), strict=True):
        if c in by_rules:
            members[c].append(i)
    _, homes_of, spread = _homes(rules, members, old, order)
    first = dict(zip(clusters.index.tolist(), clusters["first"].tolist(), strict=True))
    one_key = dict(zip(one.index.tolist(), one.tolist(), strict=True))
    names = key_of.tolist()
    orphans = sorted([*fresh_only.tolist(), *(c for c in rules.tolist() if not homes_of[c])],
                     key=lambda c: first[c])
    minted = list(mint(len(orphans)))
    new_key = dict(zip(orphans, minted, strict=True))
    by_cluster: dict[int, list[Event]] = {}
    # one old key's records and new ones: the cluster keeps the key, the new records join
    for c, k, n_new in zip(simple.tolist(), one.loc[simple].tolist(),
                           clusters.new.loc[simple].tolist(), strict=True):
        survivor = str(names[k])
        by_cluster[c] = [Event("joined", survivor, None, int(n_new))] if n_new else []
    for c, n_new in zip(fresh_only.tolist(), clusters.new.loc[fresh_only].tolist(),
                        strict=True):
        by_cluster[c] = [Event("created", new_key[c], None, int(n_new))]
    survivors = {c: (new_key[c] if c in new_key else str(names[one_key[c]]))
                 for c in [*simple.tolist(), *fresh_only.tolist()]}
    keys[rest] = [survivors.get(c) for c in lab.tolist()]  # the rules' clusters: below
    ended: dict[str, str] = {}
    age = {k: (created.get(k, 0), k) for k in spread}
    for c in rules.tolist():
        events: list[Event] = []
        origin = Counter(old[i] for i in members[c])
        if homes_of[c]:
            survivor, *losers = sorted(homes_of[c], key=lambda k: age[k])
            for loser in losers:
                events.append(Event("merged", loser, survivor, origin[loser]))
                ended[loser] = "merged"
            arrived = {k: n for k, n in origin.items() if k not in homes_of[c]}
            kind = "joined"
        else:
            survivor = new_key[c]
            arrived = dict(origin)
            if set(arrived) == {None}:
                events.append(Event("created", survivor, None, len(members[c])))
                arrived = {}
            kind = "split"
        if None in arrived:  # new records
            events.append(Event("joined", survivor, None, arrived.pop(None)))
        for k in sorted(arrived, key=lambda k: age[k]):
            events.append(Event(kind, survivor, k, arrived[k]))
        keys[members[c]] = survivor
        by_cluster[c] = events
    all_events = [e for c in sorted(by_cluster, key=lambda c: first[c]) for e in by_cluster[c]]
    surviving = (set(spread) | {names[k] for k in np.unique(held.code).tolist()}
                 | set(old[stable].tolist()))
    for k in sorted(set(created) - surviving):
        all_events.append(Event("retired", k, None, int(gone.get(k, 0))))
        ended[k] = "retired"
    return KeyAssignment(keys, tuple(all_events), tuple(minted), ended)


def _homes(clusters: np.ndarray, members: Mapping[int, list[int]], old: np.ndarray,
           order: np.ndarray) -> tuple[dict[str, int], dict[int, list[str]],
                                       dict[str, dict[int, list[int]]]]:
    """Each old key's home among ``clusters`` (the one holding most of its records; ties:
    its oldest record), each cluster's homed keys, and where each key's records are."""
    spread: dict[str, dict[int, list[int]]] = defaultdict(dict)
    for c in sorted(clusters.tolist(), key=lambda c: min(int(order[i]) for i in members[c])):
        for i in members[c]:
            k = old[i]
            if k is not None:
                entry = spread[k].setdefault(c, [0, int(order[i])])
                entry[0] += 1
                entry[1] = min(entry[1], int(order[i]))
    home = {k: max(where, key=lambda c: (where[c][0], -where[c][1]))
            for k, where in spread.items()}
    homes_of: dict[int, list[str]] = defaultdict(list)
    for k, c in home.items():
        homes_of[c].append(k)
    return home, homes_of, spread


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
