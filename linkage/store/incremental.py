"""Month by month: link whatever extracts arrived into the store, keeping link keys stable.

:func:`link_into_store` is one run, in one transaction (a run that fails or is killed at
any point leaves the store as it was):

1. **Diff** each partner's records with the store by record id and content hash
   (:mod:`linkage.store.rows`): new, changed, unchanged and, for a full extract, removed.
2. **Link.** The first run (or ``refit=True``) is a full :class:`~linkage.matching.Linker`
   run over the whole current population and stores its model. Later runs keep the model
   **frozen**: only the candidate pairs touching new or changed records are blocked and
   scored (against every stored source, their own source included, and each other), and
   selected with :func:`~linkage.matching.clustering.select_links`; the edges of changed
   and removed records are dropped first. Such a run reads every stored record's id,
   content hash, blocking keys and link key (``records.blocking``, through a covering
   index), but the encodings only of the records that share a blocking key with a new or
   changed one, and blocks those alone: the same pairs as blocking the whole population.
3. **Cluster** every current record from all stored edges (a fixed edge order, so the
   same edges always give the same clusters) and give the clusters stable keys
   (:mod:`linkage.store.keys`).

**When to refit.** The frozen model stays right while the new records look like the ones
it was fitted on. Refit when a partner joins the agreement (required), when the schema,
comparison levels or threshold change (required), after a large share of the population
is new since the last fit (say a quarter), or when a run warns of **drift**: the
comparison levels of the new records' candidate pairs differ from those the model was
fitted on by a total variation distance above 0.1 in some field (e.g. a partner stopped
sending postcodes, or changed how it records names). A refit keeps the keys stable by the
same rules.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from linkage.contracts import EncodedSource
from linkage.linkfiles import random_link_keys
from linkage.matching.backends import CandidateBackend, InProcessBackend
from linkage.matching.clustering import greedy_clusters
from linkage.matching.linker import LinkerSettings
from linkage.matching.summary import MatchModel
from linkage.store.db import Store, StoreError
from linkage.store.keys import KeyAssignment, assign_keys
from linkage.store.rows import (
    Layout,
    blocking_matrix,
    blocking_of,
    decode_rows,
    encode_rows,
    sparse_source,
)
from linkage.store.scoring import (
    RecordingBackend,
    drift,
    frozen_model,
    level_counts,
    linker_parts,
    score_delta,
    select_delta,
)

EDGE_COLUMNS = ["left_partner", "left_record", "right_partner", "right_record", "weight",
                "probability", "run_id"]
COUNTS = ("new", "changed", "unchanged", "removed", "created", "joined", "merged", "split",
          "retired")


@dataclass(frozen=True)
class StoreRun:
    """What one run did."""

    run_id: int
    kind: str                 #: "first", "update" or "refit"
    links: pd.DataFrame       #: link_key, partner, record_id: every current record
    summary: dict[str, int]   #: records new/changed/unchanged/removed; events by kind
    changes: pd.DataFrame     #: link_key, event, other_key, records
    model: MatchModel
    drift: bool = False       #: the new records' comparison levels drifted from the model's
    messages: tuple[str, ...] = field(default=())

    def report_line(self) -> str:
        """E.g. "run 3: 1204 new records, 37 merges, 2 splits"."""
        s = self.summary
        return (f"run {self.run_id}: {s['new']} new, {s['changed']} changed, {s['removed']} "
                f"removed records; {s['created']} keys created, {s['joined']} joins, "
                f"{s['merged']} merges, {s['split']} splits, {s['retired']} retired")


@dataclass
class _Partner:
    """One partner's current population and how it differs from the store."""

    record_ids: np.ndarray    #: (n,) every current record, stored order then new ones
    keys: np.ndarray          #: (n, passes) uint64 their keyed blocking tokens
    seq: np.ndarray           #: (n,) the order records entered the store
    delta: np.ndarray         #: rows new or changed in this run
    fresh: dict[int, bytes] = field(default_factory=dict)  #: delta row -> its new encoding
    #: (n,) object: each record's link key before the run (None: a new record)
    old_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    gone_keys: list[str] = field(default_factory=list)  #: the link keys of ``gone``
    #: the population (set by :func:`_load`): only the rows ``loaded`` carry encodings
    source: EncodedSource = field(default=None)  # type: ignore[assignment]
    loaded: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    new_rows: list[tuple[Any, ...]] = field(default_factory=list)
    changed_rows: list[tuple[Any, ...]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    unchanged: int = 0


def link_into_store(store: Store, agreement_id: str, sources: Sequence[EncodedSource],
                    settings: LinkerSettings | None = None, *, full_extract: bool = True,
                    refit: bool = False, backend: CandidateBackend | None = None,
                    before_commit: Callable[[StoreRun], None] | None = None) -> StoreRun:
    """Link ``sources`` (the extracts that arrived, one per partner) into the store.

    ``full_extract``: each given source is the partner's whole current extract, so its
    stored records missing from it have left (otherwise only new and changed records are
    sent and nothing is removed). ``refit``: fit the model again on the whole current
    population (see the module docstring for when). ``before_commit(run)`` is called after
    every write, inside the transaction (e.g. to append the audit entry): if it raises,
    the run is rolled back. Returns the :class:`StoreRun`.
    """
    settings = settings or LinkerSettings()
    names = [s.partner for s in sources]
    if not sources or not all(names) or len(set(names)) != len(names):
        raise StoreError("Each run needs one or more encoded sources, each with its own "
                         "partner name.")
    with store.transaction(lock=agreement_id):
        run = _run(store, agreement_id, sources, settings, full_extract=full_extract,
                   refit=refit, backend=backend or InProcessBackend())
        if before_commit is not None:
            before_commit(run)
        return run


def _run(store: Store, agreement_id: str, sources: Sequence[EncodedSource],
         settings: LinkerSettings, *, full_extract: bool, refit: bool,
         backend: CandidateBackend) -> StoreRun:
    run_id = int(store.query("SELECT COALESCE(MAX(run_id), 0) FROM runs WHERE "
                             "agreement_id = ?", (agreement_id,))[0][0]) + 1
    started = _now()
    found = store.query("SELECT layout FROM agreements WHERE agreement_id = ?",
                        (agreement_id,))
    first = not found
    layout = Layout.of(sources[0]) if first else Layout.from_json(found[0][0])
    for s in sources:
        layout.check(s, agreement_id)
    if first:
        store.execute("INSERT INTO agreements (agreement_id, layout, created_run) "
                      "VALUES (?, ?, ?)", (agreement_id, layout.to_json(), run_id))
    partners = _diff(store, agreement_id, layout, sources, run_id, full_extract)
    stored_model = None if first else _stored_model(store, agreement_id)
    known = set() if stored_model is None else set(stored_model[0].sizes)
    arrived = sorted(set(partners) - known)
    if arrived and not first and not refit:
        raise StoreError(f"Partner(s) {', '.join(arrived)} are new to agreement "
                         f"'{agreement_id}': run with refit to fit their models.")
    _load(store, agreement_id, layout, partners,
          everything=stored_model is None or refit or settings.lsh is not None)
    old_edges = _read_edges(store, agreement_id)
    messages: list[str] = []
    drifted = False
    if stored_model is None or refit:
        kind = "first" if first else "refit"
        model, reference, edges = _full_link(partners, settings, backend, run_id)
        dropped, added = old_edges, edges
        store.execute("INSERT INTO models (agreement_id, run_id, model, reference) "
                      "VALUES (?, ?, ?, ?)", (agreement_id, run_id, model.to_json(),
                                              json.dumps(reference)))
    else:
        kind = "update"
        model, reference = stored_model
        if model.threshold != settings.threshold:
            raise StoreError(f"The store's model cuts links at {model.threshold}, these "
                             f"settings at {settings.threshold}: run with refit.")
        edges, dropped, added, drifted_fields = _update_links(
            partners, old_edges, model, reference, settings, backend, run_id, messages)
        for pair, fields in drifted_fields.items():
            drifted = True
            messages.append(f"The comparison levels of new records in {pair} drifted from "
                            f"the model's ({', '.join(f'{f}: {d}' for f, d in fields.items())}"
                            f" total variation distance): consider a refit.")
    _write_records(store, agreement_id, layout, run_id, partners)
    _write_edges(store, agreement_id, dropped, added)
    assignment, order = _assign(store, agreement_id, partners, edges)
    summary = _summary(partners, assignment)
    _write_clusters(store, agreement_id, run_id, order, partners, assignment)
    _write_history(store, agreement_id, run_id, assignment)
    store.execute("INSERT INTO runs (agreement_id, run_id, started, finished, kind, summary) "
                  "VALUES (?, ?, ?, ?, ?, ?)", (agreement_id, run_id, started, _now(), kind,
                                                json.dumps(summary)))
    changes = pd.DataFrame([(e.link_key, e.event, e.other_key, e.records)
                            for e in assignment.events],
                           columns=["link_key", "event", "other_key", "records"])
    links = order.assign(link_key=assignment.keys)[["link_key", "partner", "record_id"]]
    return StoreRun(run_id, kind, links.sort_values(["partner", "record_id"],
                                                    ignore_index=True),
                    summary, changes, model, drifted, tuple(messages))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _diff(store: Store, agreement_id: str, layout: Layout, sources: Sequence[EncodedSource],
          run_id: int, full_extract: bool) -> dict[str, _Partner]:
    """Every partner's current population (stored and arrived) and its differences.

    Reads the stored records' ids, hashes, blocking keys and link keys only, not their
    encodings (:func:`_load` fetches those that the run needs)."""
    rows = store.query("SELECT r.partner, r.record_id, r.seq, r.content_hash, r.blocking, "
                       "c.link_key FROM records r LEFT JOIN clusters c ON "
                       "c.agreement_id = r.agreement_id AND c.partner = r.partner AND "
                       "c.record_id = r.record_id WHERE r.agreement_id = ? "
                       "ORDER BY r.partner, r.seq", (agreement_id,))
    next_seq = 1 + max((int(r[2]) for r in rows), default=0)
    by_partner: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        by_partner.setdefault(r[0], []).append(r)
    given = {s.partner: s for s in sources}
    out = {}
    passes = len(layout.blocking)
    for partner in sorted(set(by_partner) | set(given)):
        stored = by_partner.get(partner, [])
        _, stored_ids, stored_seq, stored_hash, stored_keys, link_keys = (
            zip(*stored, strict=True) if stored else ((),) * 6)
        old_keys = np.asarray(link_keys, dtype=object)
        ids = [str(r) for r in stored_ids]
        keys = blocking_matrix(layout, partner, stored_keys)
        seq = np.asarray(stored_seq, np.int64)
        keep = np.ones(len(ids), bool)
        delta = np.zeros(0, np.int64)
        fresh: dict[int, bytes] = {}
        info = _Partner(np.zeros(0, object), np.zeros((0, passes), np.uint64),
                        np.zeros(0, np.int64), np.zeros(0, np.int64))
        source = given.get(partner)
        if source is not None:
            encoded, hashes = encode_rows(layout, source)
            record_ids = [str(x) for x in source.record_ids]
            if len(set(record_ids)) != len(record_ids):
                raise StoreError(f"Source '{partner}' holds a record id more than once.")
            at = (pd.Index(ids, dtype=object).get_indexer(pd.Index(record_ids, dtype=object))
                  if ids else np.full(len(record_ids), -1, np.int64))
            arrived = np.flatnonzero(at < 0)
            held = np.flatnonzero(at >= 0)
            differs = (np.asarray(stored_hash, dtype=object)[at[held]]
                       != np.asarray(hashes, dtype=object)[held]) if len(held) else \
                np.zeros(0, bool)
            changed = held[differs]
            info.unchanged = len(held) - len(changed)
            source_keys = np.ascontiguousarray(source.blocking_keys, dtype=np.uint64
                                               ).reshape(len(record_ids), passes)
            new_seq = next_seq + np.arange(len(arrived), dtype=np.int64)
            next_seq += len(arrived)
            info.new_rows = [(partner, record_ids[i], int(q), hashes[i], encoded[i])
                             for i, q in zip(arrived.tolist(), new_seq.tolist(), strict=True)]
            info.changed_rows = [(hashes[i], encoded[i], partner, record_ids[i])
                                 for i in changed.tolist()]
            keys = keys.copy()
            keys[at[changed]] = source_keys[changed]
            seen = np.zeros(len(ids), bool)
            seen[at[held]] = True
            fresh = {int(at[i]): encoded[i] for i in changed.tolist()}
            fresh.update({len(ids) + j: encoded[i] for j, i in enumerate(arrived.tolist())})
            delta = np.r_[at[changed], len(ids) + np.arange(len(arrived))].astype(np.int64)
            ids += [record_ids[i] for i in arrived.tolist()]
            keys = np.vstack([keys, source_keys[arrived]])
            seq = np.r_[seq, new_seq]
            if full_extract:
                keep[:] = seen
                info.gone = [ids[k] for k in np.flatnonzero(~seen)]
                info.gone_keys = [str(k) for k in old_keys[~seen].tolist() if k is not None]
            old_keys = np.r_[old_keys, np.full(len(arrived), None, dtype=object)]
            keep = np.r_[keep, np.ones(len(ids) - len(keep), bool)]
        else:
            info.unchanged = len(ids)
        rows_kept = np.flatnonzero(keep)
        position = np.full(len(ids), -1)
        position[rows_kept] = np.arange(len(rows_kept))
        info.record_ids = np.asarray(ids, dtype=object)[rows_kept]
        info.keys = keys[rows_kept]
        info.old_keys = old_keys[rows_kept]
        info.seq = seq.astype(np.int64)[rows_kept]
        info.delta = np.sort(position[delta])
        info.fresh = {int(position[k]): blob for k, blob in fresh.items()}
        out[partner] = info
    return out


#: Record ids per ``IN (...)`` query when fetching candidates' encodings.
FETCH_CHUNK = 500


def _load(store: Store, agreement_id: str, layout: Layout, partners: dict[str, _Partner],
          *, everything: bool) -> None:
    """Give each partner its population ``source``, with the encodings it needs.

    ``everything`` (a full link, or LSH passes, which hash the record filters): every
    record's. Otherwise only the records a run can compare: the new and changed ones and
    every stored record sharing a blocking key (on the same pass) with one of them. Since
    each block holding a new or changed record is then whole, blocking these records
    alone finds exactly the pairs that blocking the whole population would.
    """
    passes = len(layout.blocking)
    wanted = []
    if not everything:
        for j in range(passes):
            found = [info.keys[info.delta, j] for info in partners.values()]
            values = np.unique(np.concatenate(found)) if found else np.zeros(0, np.uint64)
            wanted.append(values[values != 0])
    for partner, info in partners.items():
        n = len(info.record_ids)
        if everything:
            need = np.ones(n, bool)
        else:
            need = np.zeros(n, bool)
            for j in range(passes):
                if len(wanted[j]):
                    need |= np.isin(info.keys[:, j], wanted[j])
            need[info.delta] = True
        loaded = np.flatnonzero(need)
        missing = [str(info.record_ids[k]) for k in loaded.tolist() if k not in info.fresh]
        got = _fetch(store, agreement_id, partner, missing, whole=3 * len(missing) > n)
        rows = [info.fresh[k] if k in info.fresh else got[str(info.record_ids[k])]
                for k in loaded.tolist()]
        if everything:
            info.source = decode_rows(layout, partner, info.record_ids.tolist(), rows)
        else:
            info.source = sparse_source(layout, partner, info.record_ids, info.keys, loaded,
                                        rows)
        info.loaded = loaded


def _fetch(store: Store, agreement_id: str, partner: str, record_ids: list[str], *,
           whole: bool) -> dict[str, bytes]:
    """The stored encodings of ``record_ids`` (``whole``: read the partner's all at once)."""
    if not record_ids:
        return {}
    if whole:
        return {str(r): bytes(b) for r, b in store.query(
            "SELECT record_id, encoding FROM records WHERE agreement_id = ? AND partner = ?",
            (agreement_id, partner))}
    out: dict[str, bytes] = {}
    for k in range(0, len(record_ids), FETCH_CHUNK):
        chunk = record_ids[k:k + FETCH_CHUNK]
        out.update((str(r), bytes(b)) for r, b in store.query(
            f"SELECT record_id, encoding FROM records WHERE agreement_id = ? AND partner = ? "
            f"AND record_id IN ({', '.join('?' * len(chunk))})",
            (agreement_id, partner, *chunk)))
    return out


def _stored_model(store: Store, agreement_id: str
                  ) -> tuple[MatchModel, dict[str, list[list[int]]]] | None:
    rows = store.query("SELECT model, reference FROM models WHERE agreement_id = ? "
                       "ORDER BY run_id DESC LIMIT 1", (agreement_id,))
    if not rows:
        return None
    return (MatchModel.from_json(rows[0][0], source=f"store model of '{agreement_id}'"),
            json.loads(rows[0][1]))


def _read_edges(store: Store, agreement_id: str) -> pd.DataFrame:
    rows = store.query("SELECT left_partner, left_record, right_partner, right_record, "
                       "weight, probability, run_id FROM edges WHERE agreement_id = ?",
                       (agreement_id,))
    return pd.DataFrame(rows, columns=EDGE_COLUMNS)


def _full_link(partners: dict[str, _Partner], settings: LinkerSettings,
               backend: CandidateBackend, run_id: int
               ) -> tuple[MatchModel, dict[str, list[list[int]]], pd.DataFrame]:
    """A full Linker run over the current population: its model, level counts and edges."""
    sources = [p.source for p in partners.values() if len(p.source)]
    recorder = RecordingBackend(backend)
    linker, _ = linker_parts(settings, sources[0])
    linker.backend = recorder
    result = linker.link(sources)
    ids = {s.partner: s.record_ids for s in sources}
    frames = [pd.DataFrame({"left_partner": pm.left, "left_record": ids[pm.left][
        pm.links.left_rows], "right_partner": pm.right, "right_record": ids[pm.right][
        pm.links.right_rows], "weight": pm.links.weight, "probability": pm.links.probability,
        "run_id": run_id}) for pm in result.pair_models]
    edges = pd.concat(frames, ignore_index=True)[EDGE_COLUMNS] if frames else \
        pd.DataFrame(columns=EDGE_COLUMNS)
    return result.match_model(), recorder.counts, edges


def _update_links(partners: dict[str, _Partner], old: pd.DataFrame, model: MatchModel,
                  reference: dict[str, list[list[int]]], settings: LinkerSettings,
                  backend: CandidateBackend, run_id: int, messages: list[str]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame,
                             dict[str, dict[str, float]]]:
    """The edges after scoring the new and changed records with the frozen model; the old
    edges dropped and the edges added (every other edge is in both ``old`` and the
    result, as it was); and the drifted fields per pair."""
    touched = {(p, str(info.source.record_ids[k])) for p, info in partners.items()
               for k in info.delta}
    touched |= {(p, rid) for p, info in partners.items() for rid in info.gone}
    hit = [(lp, lr) in touched or (rp, rr) in touched for lp, lr, rp, rr in
           zip(old.left_partner, old.left_record, old.right_partner, old.right_record,
               strict=True)]
    hit_mask = np.asarray(hit, bool)
    edges = old[~hit_mask] if len(old) else old
    dropped_parts = [old[hit_mask]] if len(old) else []
    if not touched:
        return edges, old.iloc[:0], old.iloc[:0], {}
    first = next(p.source for p in partners.values() if len(p.source))
    linker, comparisons = linker_parts(settings, first)
    if [c.name for c in comparisons] != list(model.fields):
        raise StoreError("These settings compare other fields than the stored model: run "
                         "with refit.")
    lsh = {p: linker.with_lsh(info.source) for p, info in partners.items()}
    rows = {p: {rid: k for k, rid in enumerate(info.source.record_ids.tolist())}
            for p, info in partners.items()}
    kept_parts, new_parts, drifted = [], [], {}
    for pair in model.pairs:
        if pair.left not in lsh or pair.right not in lsh:
            continue  # a partner with no records left
        a, b = lsh[pair.left], lsh[pair.right]  # the same object for deduplication
        mine = (edges.left_partner == pair.left) & (edges.right_partner == pair.right)
        kept = edges[mine]
        edges = edges[~mine]
        scored = score_delta(a, b, partners[pair.left].delta, partners[pair.right].delta,
                             comparisons, frozen_model(pair, comparisons), backend, settings,
                             rows_a=partners[pair.left].loaded,
                             rows_b=partners[pair.right].loaded, coverage=pair.coverage)
        key = f"{pair.left}~{pair.right}"
        if key in reference and len(scored.levels):
            moved = drift(reference[key], level_counts(scored.levels, comparisons),
                          [c.name for c in comparisons])
            if moved:
                drifted[key] = moved
        kl = np.asarray([rows[pair.left][r] for r in kept.left_record], np.int64)
        kr = np.asarray([rows[pair.right][r] for r in kept.right_record], np.int64)
        chosen, stay = select_delta(a, b, scored, kl, kr, kept.weight.to_numpy(float),
                                    kept.probability.to_numpy(float), settings)
        kept_parts.append(kept[stay])
        dropped_parts.append(kept[~stay])
        new_parts.append(pd.DataFrame({
            "left_partner": pair.left, "left_record": a.record_ids[scored.left[chosen]],
            "right_partner": pair.right, "right_record": b.record_ids[scored.right[chosen]],
            "weight": scored.weight[chosen], "probability": scored.probability[chosen],
            "run_id": run_id}))
    unmodelled = sorted({(lp, rp) for lp, rp in zip(edges.left_partner, edges.right_partner,
                                                    strict=True)})
    if unmodelled:
        messages.append(f"Stored edges of {len(unmodelled)} pair(s) of partners without a "
                        f"model were kept as they were.")
    frames = [f for f in [edges, *kept_parts, *new_parts] if len(f)]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=EDGE_COLUMNS)
    dropped = [f for f in dropped_parts if len(f)]
    added = [f for f in new_parts if len(f)]
    return (out[EDGE_COLUMNS],
            pd.concat(dropped, ignore_index=True)[EDGE_COLUMNS] if dropped else old.iloc[:0],
            pd.concat(added, ignore_index=True)[EDGE_COLUMNS] if added else old.iloc[:0],
            drifted)


def _write_records(store: Store, agreement_id: str, layout: Layout, run_id: int,
                   partners: dict[str, _Partner]) -> None:
    for p, info in partners.items():
        store.executemany("DELETE FROM records WHERE agreement_id = ? AND partner = ? AND "
                          "record_id = ?", [(agreement_id, p, rid) for rid in info.gone])
        store.executemany("UPDATE records SET content_hash = ?, encoding = ?, blocking = ?, "
                          "run_id = ? WHERE agreement_id = ? AND partner = ? AND "
                          "record_id = ?",
                          [(d, blob, blocking_of(layout, blob), run_id, agreement_id, pp, rid)
                           for d, blob, pp, rid in info.changed_rows])
        store.executemany("INSERT INTO records (agreement_id, partner, record_id, seq, "
                          "content_hash, encoding, blocking, run_id) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          [(agreement_id, *row, blocking_of(layout, row[-1]), run_id)
                           for row in info.new_rows])


def _typed_edges(frame: pd.DataFrame) -> pd.DataFrame:
    keys = {c: frame[c].astype(str) for c in EDGE_COLUMNS[:4]}
    return pd.DataFrame({**keys, "weight": frame.weight.astype(np.float64),
                         "probability": frame.probability.astype(np.float64),
                         "run_id": frame.run_id.astype(np.int64)})


def _write_edges(store: Store, agreement_id: str, old: pd.DataFrame,
                 new: pd.DataFrame) -> None:
    """Delete the stored edges that went or changed, insert those that came or changed
    (``old`` and ``new`` may leave out the edges that stay as they are)."""
    key, values = EDGE_COLUMNS[:4], EDGE_COLUMNS[4:]
    both = _typed_edges(old).merge(_typed_edges(new), on=key, how="outer",
                                   suffixes=("_before", "_after"), indicator=True)
    same = both["_merge"].eq("both").to_numpy(copy=True)  # pandas 3 arrays are read-only
    for c in values:
        same &= (both[f"{c}_before"] == both[f"{c}_after"]).to_numpy()
    gone = both[~same & both["_merge"].ne("right_only").to_numpy()]
    came = both[~same & both["_merge"].ne("left_only").to_numpy()]
    store.executemany("DELETE FROM edges WHERE agreement_id = ? AND left_partner = ? AND "
                      "left_record = ? AND right_partner = ? AND right_record = ?",
                      _rows(agreement_id, gone, key))
    store.executemany("INSERT INTO edges (agreement_id, left_partner, left_record, "
                      "right_partner, right_record, weight, probability, run_id) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      _rows(agreement_id, came, key + [f"{c}_after" for c in values]))


def _rows(first: Any, frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """``(first, *row)`` for each row of ``frame[columns]``, as plain Python values."""
    return list(zip([first] * len(frame), *(frame[c].tolist() for c in columns), strict=True))


def _rows_in(names: Sequence[str], indexes: dict[str, pd.Index], offsets: np.ndarray,
             partner: pd.Series, record: pd.Series) -> np.ndarray:
    """Each (partner, record id)'s row in the current population (-1: not in it)."""
    out = np.full(len(partner), -1, np.int64)
    partner_of, record_of = partner.to_numpy(object), record.to_numpy(object)
    for k, name in enumerate(names):
        mine = np.flatnonzero(partner_of == name)
        if len(mine):
            at = indexes[name].get_indexer(pd.Index(record_of[mine].astype(str)))
            out[mine] = np.where(at >= 0, at + offsets[k], -1)
    return out


def _assign(store: Store, agreement_id: str, partners: dict[str, _Partner],
            edges: pd.DataFrame) -> tuple[KeyAssignment, pd.DataFrame]:
    """Cluster every current record from the edges, then give the clusters stable keys.

    Returns the assignment and the current records in population order (``partner,
    record_id, seq, old_key``)."""
    names = sorted(partners)
    sizes = [len(partners[p].record_ids) for p in names]
    offsets = np.cumsum([0, *sizes])
    order = pd.DataFrame({
        "partner": np.concatenate([np.full(len(partners[p].record_ids), p, dtype=object)
                                   for p in names]) if names else np.zeros(0, object),
        "record_id": np.concatenate([partners[p].record_ids.astype(object)
                                     for p in names]) if names else np.zeros(0, object),
        "seq": np.concatenate([partners[p].seq for p in names]) if names else np.zeros(0)})
    indexes = {p: pd.Index(partners[p].record_ids.astype(str)) for p in names}
    source_of = np.repeat(np.arange(len(names)), sizes)
    a = _rows_in(names, indexes, offsets, edges.left_partner, edges.left_record)
    b = _rows_in(names, indexes, offsets, edges.right_partner, edges.right_record)
    if (a < 0).any() or (b < 0).any():
        raise StoreError(f"The store of '{agreement_id}' holds a link to a record it does "
                         f"not hold.")
    first, second = np.minimum(a, b), np.maximum(a, b)
    by = np.lexsort((second, first))  # a fixed edge order: the same edges, the same clusters
    clusters = greedy_clusters(source_of, first[by].astype(np.int64),
                               second[by].astype(np.int64),
                               edges.weight.to_numpy(float)[by],
                               edges.probability.to_numpy(float)[by],
                               within_source=(source_of[first] == source_of[second])[by])
    keys_before = np.concatenate([partners[p].old_keys for p in names]) if names else \
        np.zeros(0, object)
    created = {str(k): int(run) for k, run in store.query(
        "SELECT link_key, created_run FROM link_keys WHERE agreement_id = ? AND "
        "ended_run IS NULL", (agreement_id,))}
    gone = Counter(k for info in partners.values() for k in info.gone_keys)
    assignment = assign_keys(clusters.label, keys_before.tolist(),
                             order.seq.to_numpy(np.int64), created, gone,
                             lambda n: random_link_keys(n).tolist())
    order["old_key"] = keys_before
    return assignment, order


def _write_clusters(store: Store, agreement_id: str, run_id: int, order: pd.DataFrame,
                    partners: dict[str, _Partner], assignment: KeyAssignment) -> None:
    store.executemany("INSERT INTO link_keys (agreement_id, link_key, created_run) "
                      "VALUES (?, ?, ?)", [(agreement_id, k, run_id)
                                           for k in assignment.new_keys])
    store.executemany("UPDATE link_keys SET ended_run = ?, ended_event = ? WHERE "
                      "agreement_id = ? AND link_key = ?",
                      [(run_id, how, agreement_id, k) for k, how in assignment.ended.items()])
    # a record's cluster row goes with its record (the store holds one for each record)
    store.executemany("DELETE FROM clusters WHERE agreement_id = ? AND partner = ? AND "
                      "record_id = ?", [(agreement_id, p, r) for p, info in partners.items()
                                        for r in info.gone])
    before = order.old_key.to_numpy(object)
    keys = np.asarray(assignment.keys, dtype=object)
    new = np.asarray([k is None for k in before.tolist()], bool)
    moved = np.flatnonzero(~new & (before != keys))
    new = np.flatnonzero(new)
    partner, record = order.partner.to_numpy(object), order.record_id.to_numpy(object)
    store.executemany("UPDATE clusters SET link_key = ?, run_id = ? WHERE agreement_id = ? "
                      "AND partner = ? AND record_id = ?",
                      [(k, run_id, agreement_id, p, r) for k, p, r in zip(
                          keys[moved].tolist(), partner[moved].tolist(),
                          record[moved].tolist(), strict=True)])
    store.executemany("INSERT INTO clusters (agreement_id, partner, record_id, link_key, "
                      "run_id) VALUES (?, ?, ?, ?, ?)",
                      [(agreement_id, p, r, k, run_id) for p, r, k in zip(
                          partner[new].tolist(), record[new].tolist(), keys[new].tolist(),
                          strict=True)])


def _write_history(store: Store, agreement_id: str, run_id: int,
                   assignment: KeyAssignment) -> None:
    store.executemany("INSERT INTO history (agreement_id, run_id, seq, event, link_key, "
                      "other_key, records) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      [(agreement_id, run_id, k, e.event, e.link_key, e.other_key, e.records)
                       for k, e in enumerate(assignment.events)])


def _summary(partners: dict[str, _Partner], assignment: KeyAssignment) -> dict[str, int]:
    events = Counter(e.event for e in assignment.events)
    return {"new": sum(len(p.new_rows) for p in partners.values()),
            "changed": sum(len(p.changed_rows) for p in partners.values()),
            "unchanged": sum(p.unchanged for p in partners.values()),
            "removed": sum(len(p.gone) for p in partners.values()),
            **{k: events.get(k, 0) for k in COUNTS[4:]}}
