"""Month by month: link whatever extracts arrived into the store, keeping link keys stable.

:func:`link_into_store` is one run, in one transaction (a run that fails or is killed at
any point leaves the store as it was):

1. **Diff** each partner's extract with its stored population (:mod:`.population`: ids,
   content fingerprints, blocking keys and link keys, read as columns): new, changed,
   unchanged and, for a full extract, removed records.
2. **Link.** The first run (or ``refit=True``) is a full :class:`~linkage.matching.Linker`
   run over the whole current population and stores its model. Later runs keep the model
   **frozen** and do work in proportion to what changed: the encodings are fetched only
   for the new and changed records and the stored records sharing a blocking key with
   one (so each block holding a new record is whole, and blocking these alone finds the
   same pairs as blocking everyone); only their candidate pairs are scored, against every
   stored source (their own included) and each other, and selected with
   :func:`~linkage.matching.clustering.select_links` together with the stored edges of
   the records they compete for; the edges of changed and removed records are dropped.
3. **Cluster and key.** Clusters are connected pieces of the edge graph, and the greedy
   clustering decides each piece on its own edges alone (in a fixed order: the same edges
   always give the same clusters). So a later run re-clusters only the records its changes
   can reach: those touched, every record sharing a link key with one, and everything
   joined to them by an edge, closed under both. The rest keep their clusters and keys
   untouched; these records get stable keys (:mod:`.keys`). The first run and a refit
   cluster everyone.

**When to refit.** The frozen model stays right while the new records look like the ones
it was fitted on. Refit when a partner joins the agreement (required), when the schema,
comparison levels or threshold change (required), after the population has doubled since
the last fit (a run then says so: ``refit_advised`` and a message), or when a run warns of
**drift**: the
comparison levels of the new records' candidate pairs differ from those the model was
fitted on by a total variation distance above 0.1 in some field (e.g. a partner stopped
sending postcodes, or changed how it records names). A refit keeps the keys stable by the
same rules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from linkage.contracts import EncodedSource
from linkage.linkfiles import random_link_keys
from linkage.matching import kernels
from linkage.matching.backends import CandidateBackend, InProcessBackend
from linkage.matching.bridging import duplicate_groups, matched_apart
from linkage.matching.clustering import greedy_clusters
from linkage.matching.comparison import FieldComparison
from linkage.matching.linker import LinkerSettings, best_of_groups, one_match_pair_weights
from linkage.matching.scoring import COVERAGE_MAX, match_probability
from linkage.matching.summary import MatchModel, PairSummary
from linkage.store.db import Store, StoreError
from linkage.store.keys import KeyAssignment, assign_keys
from linkage.store.population import (
    COMPACT_SHARE,
    Journal,
    PartnerDelta,
    PartnerPopulation,
    diff,
    fill_blocking,
    next_seq,
    read_populations,
    write_populations,
)
from linkage.store.rows import (
    Layout,
    blocking_of,
    decode_rows,
    fingerprint_hex,
    row_bytes,
    subset,
)
from linkage.store.scoring import (
    RecordingBackend,
    ScoredDelta,
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
#: A run advises a refit once the population has grown by this share since the fit: 12
#: months of a 100,000-child cohort (+30%) on month 1's model link within 0.0016 F1 of a
#: full re-link, while a refit re-decides borderline links (1% of records changed key in
#: one measured at month 12), so not routinely.
REFIT_GROWTH = 1.0
#: Record ids per ``IN (...)`` query.
FETCH_CHUNK = 500
#: Partner pairs an update scores at the same time (with the in-process backend).
SCORING_THREADS = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class StoreRun:
    """What one run did."""

    run_id: int
    kind: str                 #: "first", "update" or "refit"
    summary: dict[str, int]   #: records new/changed/unchanged/removed; events by kind
    changes: pd.DataFrame     #: link_key, event, other_key, records
    model: MatchModel
    drift: bool = False       #: the new records' comparison levels drifted from the model's
    messages: tuple[str, ...] = field(default=())
    #: the population grew by more than :data:`REFIT_GROWTH` since the model was fitted
    refit_advised: bool = False
    populations: dict[str, PartnerPopulation] = field(default_factory=dict, repr=False)

    @functools.cached_property
    def links(self) -> pd.DataFrame:
        """``link_key, partner, record_id`` of every current record, sorted by partner and
        record id (made when first asked for)."""
        names = sorted(self.populations)
        pops = [self.populations[p] for p in names]
        if not names:
            return pd.DataFrame({c: np.zeros(0, object)
                                 for c in ("link_key", "partner", "record_id")})
        return pd.DataFrame({
            "link_key": np.concatenate([p.link_keys for p in pops]),
            "partner": np.repeat(np.asarray(names, dtype=object), [len(p) for p in pops]),
            "record_id": np.concatenate([p.record_ids for p in pops])})

    def report_line(self) -> str:
        """E.g. "run 3: 1204 new records, 37 merges, 2 splits"."""
        s = self.summary
        return (f"run {self.run_id}: {s['new']} new, {s['changed']} changed, {s['removed']} "
                f"removed records; {s['created']} keys created, {s['joined']} joins, "
                f"{s['merged']} merges, {s['split']} splits, {s['retired']} retired")


@dataclass
class _Loaded:
    """The records of one partner a run compares, as a source: the extract as it arrived
    (when every record was sent) or the records sharing a blocking key with a new or
    changed one (ascending population rows)."""

    rows: np.ndarray        #: (L,) each row of ``source``: its population row
    source: EncodedSource   #: their encodings
    delta: np.ndarray       #: rows of ``source`` that are new or changed, ascending


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
    last_run = int(store.query("SELECT COALESCE(MAX(run_id), 0) FROM runs WHERE "
                               "agreement_id = ?", (agreement_id,))[0][0])
    run_id = last_run + 1
    started = _now()
    found = store.query("SELECT layout FROM agreements WHERE agreement_id = ?",
                        (agreement_id,))
    first = not found
    stored_layout = None if first else Layout.from_json(found[0][0])
    given_layout = Layout.of(sources[0])
    layout = given_layout if stored_layout is None else stored_layout
    if stored_layout is not None and refit:
        if not given_layout.same_encodings(stored_layout):
            layout = _new_layout(store, agreement_id, sources, given_layout,
                                 full_extract=full_extract)
        elif given_layout != stored_layout:  # the same encodings, read with confirmations
            layout = _save_layout(store, agreement_id, given_layout)
    for s in sources:
        layout.check(s, agreement_id)
    # every record is compared as the store's layout says, stored or given this run
    sources = [dataclasses.replace(s, hints=layout.hints) for s in sources]
    if first:
        store.execute("INSERT INTO agreements (agreement_id, layout, created_run) "
                      "VALUES (?, ?, ?)", (agreement_id, layout.to_json(), run_id))
    re_encoded = stored_layout is not None and not layout.same_encodings(stored_layout)
    found_populations = None if stored_layout is None else read_populations(
        store, agreement_id, stored_layout if re_encoded else layout, last_run)
    stored = {} if found_populations is None else found_populations.partners
    if re_encoded:  # every record re-encoded:
        for population in stored.values():  # compared as changed, whatever its content
            population.fingerprint[:] = 0
    given = {s.partner: s for s in sources}
    seq = next_seq(stored)
    deltas: dict[str, PartnerDelta] = {}
    for partner in sorted(set(stored) | set(given)):
        held = stored.get(partner, PartnerPopulation.empty(len(layout.blocking)))
        deltas[partner] = diff(held, given.get(partner), layout, seq,
                               full_extract=full_extract)
        seq += len(deltas[partner].new)
    stored_model = None if first else _stored_model(store, agreement_id)
    known = set() if stored_model is None else set(stored_model[0].sizes)
    arrived = sorted(set(deltas) - known)
    if arrived and not first and not refit:
        raise StoreError(f"Partner(s) {', '.join(arrived)} are new to agreement "
                         f"'{agreement_id}': run with refit to fit their models.")
    everything = stored_model is None or refit or settings.lsh is not None
    loaded = _load(store, agreement_id, layout, deltas, given, everything=everything)
    messages: list[str] = []
    drifted = advised = False
    if stored_model is None or refit:
        kind = "first" if first else "refit"
        model, reference, edges = _full_link(deltas, loaded, settings, backend, run_id)
        store.execute("INSERT INTO models (agreement_id, run_id, model, reference) "
                      "VALUES (?, ?, ?, ?)", (agreement_id, run_id, model.to_json(),
                                              json.dumps(reference)))
        _write_edges(store, agreement_id, _read_edges(store, agreement_id), edges)
        members = {p: np.arange(len(d.population)) for p, d in deltas.items()}
        member_edges = edges
    else:
        kind = "update"
        model, reference = stored_model
        if model.threshold != settings.threshold:
            raise StoreError(f"The store's model cuts links at {model.threshold}, these "
                             f"settings at {settings.threshold}: run with refit.")
        dropped, added, drifted_fields = _update_links(
            store, agreement_id, deltas, loaded, model, reference, settings, backend, run_id)
        fitted = sum(model.sizes.values())
        now = sum(len(d.population) for d in deltas.values())
        advised = now > (1 + REFIT_GROWTH) * fitted
        if advised:
            messages.append(f"The population has grown by {now / max(fitted, 1) - 1:.0%} "
                            f"since the model was fitted: refit (--refit) for the next run.")
        for pair, fields in drifted_fields.items():
            drifted = True
            messages.append(f"The comparison levels of new records in {pair} drifted from "
                            f"the model's ({', '.join(f'{f}: {d}' for f, d in fields.items())}"
                            f" total variation distance): consider a refit.")
        _write_edges(store, agreement_id, dropped, added)
        members, member_edges = _reach(store, agreement_id, deltas, dropped, added)
    assignment = _assign(store, agreement_id, deltas, members, member_edges)
    summary = _summary(deltas, assignment)
    rekeyed = _write_keys(store, agreement_id, run_id, deltas, members, assignment)
    _write_records(store, agreement_id, layout, run_id, deltas, given)  # (with their keys)
    _write_history(store, agreement_id, run_id, assignment)
    populations = {p: d.population for p, d in deltas.items() if len(d.population)}
    journals = {p: Journal(np.union1d(d.delta, rekeyed[p]).astype(np.int64),
                           d.gone_ids) for p, d in deltas.items()}
    journaled = (0 if found_populations is None else found_populations.journaled) + sum(
        len(j.rows) + len(j.removed) for j in journals.values())
    compact = (kind != "update" or found_populations is None or found_populations.rebuilt
               or journaled > COMPACT_SHARE * sum(map(len, populations.values())))
    write_populations(store, agreement_id, run_id,
                      {p: d.population for p, d in deltas.items()},  # (empty ones too)
                      None if compact else journals)
    store.execute("INSERT INTO runs (agreement_id, run_id, started, finished, kind, summary) "
                  "VALUES (?, ?, ?, ?, ?, ?)", (agreement_id, run_id, started, _now(), kind,
                                                json.dumps(summary)))
    changes = pd.DataFrame([(e.link_key, e.event, e.other_key, e.records)
                            for e in assignment.events],
                           columns=["link_key", "event", "other_key", "records"])
    return StoreRun(run_id, kind, summary, changes, model, drifted, tuple(messages),
                    advised, populations)


def _new_layout(store: Store, agreement_id: str, sources: Sequence[EncodedSource],
                layout: Layout, *, full_extract: bool) -> Layout:
    """``layout`` (that of ``sources``), taken as the store's new one: a refit across a schema
    change (e.g. a new agreement version with other blocking passes). Every partner the
    store holds must send its whole extract under the new schema, since its stored
    encodings cannot be compared with the new ones; the refit then relinks everyone and
    keeps the link keys by the usual rules."""
    held = {str(p) for (p,) in store.query(
        "SELECT DISTINCT partner FROM records WHERE agreement_id = ?", (agreement_id,))}
    missing = sorted(held - {s.partner for s in sources})
    if not full_extract or missing:
        raise StoreError(
            f"The sources are encoded with another schema than the store of agreement "
            f"'{agreement_id}': a refit can move the store to it only with every partner's "
            f"whole extract under the new schema"
            + (f" (missing: {', '.join(missing)})." if missing else " (full_extract)."))
    return _save_layout(store, agreement_id, layout)


def _save_layout(store: Store, agreement_id: str, layout: Layout) -> Layout:
    """Write ``layout`` as the store's layout for ``agreement_id``; returns it."""
    store.execute("UPDATE agreements SET layout = ? WHERE agreement_id = ?",
                  (layout.to_json(), agreement_id))
    return layout


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# -- encodings ---------------------------------------------------------------------------

def _load(store: Store, agreement_id: str, layout: Layout, deltas: dict[str, PartnerDelta],
          given: dict[str, EncodedSource], *, everything: bool) -> dict[str, _Loaded]:
    """Each partner's records that the run compares, with their encodings.

    ``everything`` (a full link, or LSH passes, which hash the record filters): every
    record. Otherwise the new and changed records and every stored record sharing a
    blocking key (on the same pass) with one of them. A record sent in this run is
    compared by the encoding that arrived (as a full re-link would; the store keeps its
    first copy, see ``rows``); only records not sent (a partner that sent nothing, or a
    partial extract) are fetched from the store.
    """
    passes = len(layout.blocking)
    wanted = []
    blocking = {} if everything else {
        p: fill_blocking(store, agreement_id, layout, d, p, given.get(p))
        for p, d in deltas.items()}
    for j in range(passes if blocking else 0):
        found = [blocking[p][d.delta, j] for p, d in deltas.items()]
        values = np.unique(np.concatenate(found)) if found else np.zeros(0, np.uint64)
        wanted.append(values[values != 0])
    out = {}
    for partner, d in deltas.items():
        population, n = d.population, len(d.population)
        delta = d.delta
        if n and (d.source_row >= 0).all():
            # every record arrived: compare within the extract as it came (blocking the
            # new records against all of it finds the pairs a loaded subset would)
            rows = np.empty(n, np.int64)
            rows[d.source_row] = np.arange(n)
            out[partner] = _Loaded(rows, given[partner], np.sort(d.source_row[delta]))
            continue
        if everything:
            need = np.ones(n, bool)
        else:
            need = np.zeros(n, bool)
            for j in range(passes):
                if len(wanted[j]) and n:
                    need |= pd.Series(blocking[partner][:, j]).isin(wanted[j]).to_numpy()
            need[delta] = True
        rows = np.flatnonzero(need)
        sent = d.source_row[rows] >= 0
        stored_rows = rows[~sent]
        got = _fetch(store, agreement_id, partner, population.record_ids[stored_rows],
                     whole=3 * len(stored_rows) > n)
        parts = [decode_rows(layout, partner, population.record_ids[stored_rows], got)]
        if sent.any():  # (under the population's str ids)
            parts.append(dataclasses.replace(subset(given[partner], d.source_row[rows[sent]]),
                                             record_ids=population.record_ids[rows[sent]]))
        if len(parts) == 1 or not len(stored_rows):
            source = parts[-1]
        else:
            order = np.argsort(np.r_[stored_rows, rows[sent]], kind="stable")
            source = subset(_stack(parts), order)
        out[partner] = _Loaded(rows, source, np.searchsorted(rows, delta).astype(np.int64))
    return out


def _stack(parts: list[EncodedSource]) -> EncodedSource:
    """One source of several sources' records, in order (same partner and layout)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return EncodedSource(
        partner=first.partner, record_ids=np.concatenate([p.record_ids for p in parts]),
        record_filters=np.concatenate([p.record_filters for p in parts]),
        field_filters={f: np.concatenate([p.field_filters[f] for p in parts])
                       for f in first.field_names},
        missing=np.concatenate([p.missing for p in parts]), field_names=first.field_names,
        field_kinds=first.field_kinds,
        blocking_keys=np.concatenate([p.blocking_keys for p in parts]),
        blocking_names=first.blocking_names, hints=first.hints)


def _fetch(store: Store, agreement_id: str, partner: str, record_ids: np.ndarray, *,
           whole: bool) -> list[bytes]:
    """The stored encodings of ``record_ids``, in that order (``whole``: read the
    partner's all at once)."""
    if not len(record_ids):
        return []
    got: dict[str, bytes] = {}
    if whole:
        got = {str(r): bytes(b) for r, b in store.query(
            "SELECT record_id, encoding FROM records WHERE agreement_id = ? AND partner = ?",
            (agreement_id, partner))}
    else:
        for chunk in _chunks(record_ids.tolist()):
            got.update((str(r), bytes(b)) for r, b in store.query(
                f"SELECT record_id, encoding FROM records WHERE agreement_id = ? AND "
                f"partner = ? AND record_id IN ({', '.join('?' * len(chunk))})",
                (agreement_id, partner, *chunk)))
    try:
        return [got[str(r)] for r in record_ids.tolist()]
    except KeyError:
        raise StoreError(f"The store of '{agreement_id}' lists a record of '{partner}' "
                         f"whose encoding it does not hold: the store is damaged.") from None


def _chunks(items: Sequence[object]) -> Iterable[list[object]]:
    for k in range(0, len(items), FETCH_CHUNK):
        yield list(items[k:k + FETCH_CHUNK])


def _stored_model(store: Store, agreement_id: str
                  ) -> tuple[MatchModel, dict[str, list[list[int]]]] | None:
    rows = store.query("SELECT model, reference FROM models WHERE agreement_id = ? "
                       "ORDER BY run_id DESC LIMIT 1", (agreement_id,))
    if not rows:
        return None
    return (MatchModel.from_json(rows[0][0], source=f"store model of '{agreement_id}'"),
            json.loads(rows[0][1]))


# -- edges -------------------------------------------------------------------------------

def _read_edges(store: Store, agreement_id: str) -> pd.DataFrame:
    rows = store.query("SELECT left_partner, left_record, right_partner, right_record, "
                       "weight, probability, run_id FROM edges WHERE agreement_id = ?",
                       (agreement_id,))
    return pd.DataFrame(rows, columns=EDGE_COLUMNS)


def _edges_touching(store: Store, agreement_id: str,
                    records: Mapping[str, Sequence[str] | np.ndarray],
                    *, other: str | None = None, sides: tuple[str, ...] = ("left", "right")
                    ) -> pd.DataFrame:
    """The stored edges with an end (``sides``) at one of ``records`` (partner -> ids);
    ``other``: only edges whose other end is that partner's."""
    found = []
    select = ("SELECT left_partner, left_record, right_partner, right_record, weight, "
              "probability, run_id FROM edges WHERE agreement_id = ?")
    for partner, ids in records.items():
        for side in sides:
            far = "right" if side == "left" else "left"
            extra = f" AND {far}_partner = ?" if other is not None else ""
            for chunk in _chunks(sorted({str(r) for r in ids})):
                found += store.query(
                    f"{select} AND {side}_partner = ?{extra} AND {side}_record IN "
                    f"({', '.join('?' * len(chunk))})",
                    (agreement_id, partner, *([other] if other is not None else []), *chunk))
    frame = pd.DataFrame(found, columns=EDGE_COLUMNS)
    return frame.drop_duplicates(EDGE_COLUMNS[:4], ignore_index=True)


def _full_link(deltas: dict[str, PartnerDelta], loaded: dict[str, _Loaded],
               settings: LinkerSettings, backend: CandidateBackend, run_id: int
               ) -> tuple[MatchModel, dict[str, list[list[int]]], pd.DataFrame]:
    """A full Linker run over the current population: its model, level counts and edges."""
    names = [p for p in deltas if len(deltas[p].population)]
    sources = [loaded[p].source for p in names]
    recorder = RecordingBackend(backend)
    linker, _ = linker_parts(settings, sources[0])
    linker.backend = recorder
    result = linker.link(sources)
    ids = {p: deltas[p].population.record_ids[loaded[p].rows] for p in names}
    frames = [pd.DataFrame({"left_partner": pm.left, "left_record": ids[pm.left][
        pm.links.left_rows], "right_partner": pm.right, "right_record": ids[pm.right][
        pm.links.right_rows], "weight": pm.links.weight, "probability": pm.links.probability,
        "run_id": run_id}) for pm in result.pair_models]
    edges = pd.concat(frames, ignore_index=True)[EDGE_COLUMNS] if frames else \
        pd.DataFrame(columns=EDGE_COLUMNS)
    return result.match_model(), recorder.counts, edges


def _update_links(store: Store, agreement_id: str, deltas: dict[str, PartnerDelta],
                  loaded: dict[str, _Loaded], model: MatchModel,
                  reference: dict[str, list[list[int]]], settings: LinkerSettings,
                  backend: CandidateBackend, run_id: int
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, dict[str, float]]]:
    """Score the new and changed records with the frozen model: the stored edges dropped
    (those of changed and removed records, and those a better new link displaced), the
    edges added, and the drifted fields per pair."""
    touched = {p: np.r_[d.population.record_ids[d.changed], d.gone_ids]
               for p, d in deltas.items()}
    dropped_parts = [_edges_touching(store, agreement_id,
                                     {p: ids for p, ids in touched.items() if len(ids)})]
    gone = set(_edge_keys(dropped_parts[0]))
    if not any(len(d.delta) for d in deltas.values()):
        return dropped_parts[0], dropped_parts[0].iloc[:0], {}
    first = next(x.source for x in loaded.values() if len(x.source))
    linker, comparisons = linker_parts(settings, first)
    if settings.lsh is not None:  # the LSH passes, as a full run blocks on them too
        loaded = {p: _Loaded(x.rows, linker.with_lsh(x.source), x.delta)
                  for p, x in loaded.items()}
    if [c.name for c in comparisons] != list(model.fields):
        raise StoreError("These settings compare other fields than the stored model: run "
                         "with refit.")
    pairs = [pair for pair in model.pairs if pair.left in deltas and pair.right in deltas
             and len(deltas[pair.left].population) and len(deltas[pair.right].population)]
    def score(pair: PairSummary) -> ScoredDelta:
        la, lb = loaded[pair.left], loaded[pair.right]
        return score_delta(la.source, lb.source, la.delta, lb.delta, comparisons,
                           frozen_model(pair, comparisons), backend, settings,
                           sizes=(len(deltas[pair.left].population),
                                  len(deltas[pair.right].population)),
                           coverage=pair.coverage)
    # the pairs are scored side by side (numpy, Arrow and the compiled kernels let go of
    # the GIL); the in-process backend is pure, another may not be thread-safe
    # (numba's fallback threading layer cannot run two kernels at once: then one by one)
    workers = (SCORING_THREADS if isinstance(backend, InProcessBackend) and len(pairs) > 1
               and kernels.threadsafe() else 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        biggest_first = sorted(pairs, key=lambda q: -_scoring_work(loaded[q.left],
                                                                   loaded[q.right]))
        pending = {id(q): pool.submit(score, q) for q in biggest_first}
        try:
            all_scored = [pending[id(q)].result() for q in pairs]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # (queued pairs are cancelled)
            raise
    new_parts, drifted = [], {}
    joined: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # this run's new duplicates
    # within-source pairs first: the duplicates they join share one match between sources
    for pair, scored in sorted(zip(pairs, all_scored, strict=True),
                               key=lambda item: item[0].left != item[0].right):
        la, lb = loaded[pair.left], loaded[pair.right]
        pop_a, pop_b = deltas[pair.left].population, deltas[pair.right].population
        same = pair.left == pair.right
        if not same:
            scored = _with_duplicate_groups(store, agreement_id, pair, scored, loaded,
                                            deltas, comparisons, joined, gone)
        key = f"{pair.left}~{pair.right}"
        if key in reference and len(scored.levels):
            moved = drift(reference[key], level_counts(scored.levels, comparisons),
                          [c.name for c in comparisons])
            if moved:
                drifted[key] = moved
        left, right = la.rows[scored.left], lb.rows[scored.right]
        if same:
            chosen, _ = select_delta(la.source, la.source, scored, *_no_kept(), settings)
            joined[pair.left] = (scored.left[chosen], scored.right[chosen])
        else:
            hot = scored.probability >= settings.threshold
            kept = _kept_edges(store, agreement_id, pair.left, pair.right,
                               pop_a.record_ids[np.unique(left[hot])],
                               pop_b.record_ids[np.unique(right[hot])], gone)
            kl = pop_a.rows_of(kept.left_record.to_numpy(object))
            kr = pop_b.rows_of(kept.right_record.to_numpy(object))
            if (kl < 0).any() or (kr < 0).any():
                raise StoreError(f"The store of '{agreement_id}' holds a link to a record "
                                 f"it does not hold.")
            global_scored = type(scored)(left, right, scored.levels, scored.weight,
                                         scored.probability)
            chosen, stay = select_delta(la.source, lb.source, global_scored, kl, kr,
                                        kept.weight.to_numpy(float),
                                        kept.probability.to_numpy(float), settings)
            dropped_parts.append(kept[~stay])
        new_parts.append(pd.DataFrame({
            "left_partner": pair.left, "left_record": pop_a.record_ids[left[chosen]],
            "right_partner": pair.right, "right_record": pop_b.record_ids[right[chosen]],
            "weight": scored.weight[chosen], "probability": scored.probability[chosen],
            "run_id": run_id}))
    dropped_edges, added_edges = _concat_edges(dropped_parts), _concat_edges(new_parts)
    if settings.split_matched_apart and len(added_edges):
        added_edges, apart = _without_matched_apart(
            store, agreement_id, added_edges, gone | set(_edge_keys(dropped_edges)))
        if len(apart):
            dropped_edges = _concat_edges([dropped_edges, apart])
    return dropped_edges, added_edges, drifted


def _without_matched_apart(store: Store, agreement_id: str, added: pd.DataFrame,
                           gone: set[tuple[str, str, str, str]]
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``added`` without the within-source edges whose two records are matched to two
    children of another source, as a full run drops them
    (:func:`~linkage.matching.bridging.matched_apart`), and the stored within-source edges
    that this run's matches show the same of (to drop). Checked: the added within-source
    edges, and the stored ones (not ``gone``) at a record with an added match. A record's
    matches are its edges to other sources, stored (not ``gone``) or added; two records of
    another source are one child where within-source edges join them
    (:func:`_one_child_groups`)."""
    same = (added.left_partner == added.right_partner).to_numpy()
    cross_added = added[~same]
    checked = [added[same]]
    ends = pd.concat([
        pd.DataFrame({"partner": cross_added.left_partner, "record": cross_added.left_record}),
        pd.DataFrame({"partner": cross_added.right_partner,
                      "record": cross_added.right_record})]).astype(str)
    matched = {str(p): np.unique(g.record.to_numpy(str)).astype(object)
               for p, g in ends.groupby("partner")}
    if matched:
        stored = _edges_touching(store, agreement_id, matched)
        checked.append(_not_gone(
            stored[(stored.left_partner == stored.right_partner).to_numpy()], gone))
    within = _concat_edges(checked)
    is_added = np.r_[np.ones(int(same.sum()), bool), np.zeros(len(within) - int(same.sum()),
                                                              bool)]
    if not len(within):
        return added, added.iloc[:0]
    apart = np.zeros(len(within), dtype=bool)
    for partner in np.unique(within.left_partner.to_numpy(str)).tolist():
        at = np.flatnonzero((within.left_partner == partner).to_numpy())
        lefts = within.left_record.to_numpy(str)[at]
        rights = within.right_record.to_numpy(str)[at]
        ids = np.unique(np.r_[lefts, rights]).astype(object)
        stored = _edges_touching(store, agreement_id, {partner: ids})
        stored = _not_gone(stored[(stored.left_partner != stored.right_partner).to_numpy()],
                           gone)
        edges = _concat_edges([stored, cross_added[(cross_added.left_partner == partner) |
                                                   (cross_added.right_partner == partner)]])
        mine = edges.left_partner == partner
        record = np.where(mine, edges.left_record, edges.right_record).astype(str)
        other_partner = np.where(mine, edges.right_partner, edges.left_partner).astype(str)
        other_record = np.where(mine, edges.right_record, edges.left_record).astype(str)
        index = pd.Index(ids.astype(str))
        matches = []
        at_record = index.get_indexer(pd.Index(record))
        for other in np.unique(other_partner):
            on = (other_partner == other) & (at_record >= 0)  # (edges at other records too)
            if not on.any():
                continue
            found = pd.Index(np.unique(other_record[on]))
            match = np.full(len(index), -1, dtype=np.int64)
            match[at_record[on]] = found.get_indexer(pd.Index(other_record[on]))
            matches.append((match, _one_child_groups(store, agreement_id, other, found,
                                                     added, gone)))
        apart[at] = matched_apart(index.get_indexer(pd.Index(lefts)),
                                  index.get_indexer(pd.Index(rights)), matches)
    drop_added = np.zeros(len(added), dtype=bool)
    drop_added[np.flatnonzero(same)[apart[is_added]]] = True
    stored_apart = within[~is_added & apart]
    return (added[~drop_added].reset_index(drop=True),
            stored_apart.drop_duplicates(EDGE_COLUMNS[:4], ignore_index=True))


def _concat_edges(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Edge frames one after another (the empty ones left out; none: an empty frame)."""
    kept = [f[EDGE_COLUMNS] for f in frames if len(f)]
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=EDGE_COLUMNS)


def _one_child_groups(store: Store, agreement_id: str, partner: str, records: pd.Index,
                      added: pd.DataFrame, gone: set[tuple[str, str, str, str]]
                      ) -> np.ndarray:
    """Duplicate group of each of ``records`` (ids of ``partner``), as a full run's
    deduplication groups: records joined by chains of within-source edges, stored (not
    ``gone``) or ``added``: (k,) int64. The stored edges are read outwards from ``records``
    until no new record is reached."""
    found = [added[(added.left_partner == partner) & (added.right_partner == partner)]]
    reached: set[str] = set()
    frontier = set(records.to_numpy(str).tolist())
    while frontier:
        reached |= frontier
        stored = _not_gone(_edges_touching(
            store, agreement_id, {partner: np.asarray(sorted(frontier), dtype=object)},
            other=partner), gone)
        found.append(stored)
        frontier = set(np.r_[stored.left_record.to_numpy(str),
                             stored.right_record.to_numpy(str)].tolist()) - reached
    within = _concat_edges(found)
    left, right = within.left_record.to_numpy(str), within.right_record.to_numpy(str)
    nodes = pd.Index(np.unique(np.r_[records.to_numpy(str), left, right]))
    groups = duplicate_groups(len(nodes), nodes.get_indexer(pd.Index(left)),
                              nodes.get_indexer(pd.Index(right)))
    return groups[nodes.get_indexer(records)]


def _with_duplicate_groups(store: Store, agreement_id: str, pair: PairSummary,
                           scored: ScoredDelta, loaded: dict[str, _Loaded],
                           deltas: dict[str, PartnerDelta],
                           comparisons: Sequence[FieldComparison],
                           joined: Mapping[str, tuple[np.ndarray, np.ndarray]],
                           gone: set[tuple[str, str, str, str]]) -> ScoredDelta:
    """``scored`` (pairs between two sources, loaded rows) with the larger source's
    duplicates sharing one match, as a full run does (:mod:`linkage.matching.bridging`):
    duplicates joined by stored links (not dropped in this run) or by this run's. Only the
    best-evidenced pair of a group stays a candidate. Unchanged where no candidate of a
    record has a duplicate among the loaded records."""
    la, lb = loaded[pair.left], loaded[pair.right]
    n_a, n_b = len(deltas[pair.left].population), len(deltas[pair.right].population)
    other, mine = (pair.left, "right") if n_b <= n_a else (pair.right, "left")
    rows_other = scored.left if other == pair.left else scored.right
    if other not in joined and not len(rows_other):
        return scored
    lo = loaded[other]
    population = deltas[other].population
    ids = population.record_ids[lo.rows[np.unique(rows_other)]] if len(rows_other) else []
    stored = _edges_touching(store, agreement_id, {other: ids}, other=other) if len(ids) \
        else pd.DataFrame(columns=EDGE_COLUMNS)
    stored = _not_gone(stored, gone)
    loaded_at = np.full(len(population), -1, np.int64)  # population row -> loaded row
    loaded_at[lo.rows] = np.arange(len(lo.rows))
    def loaded_rows(record_ids: pd.Series) -> np.ndarray:
        at = population.rows_of(record_ids.astype(str).to_numpy(object))
        return np.where(at >= 0, loaded_at[np.maximum(at, 0)], -1)
    left_rows = [loaded_rows(stored.left_record)] if len(stored) else []
    right_rows = [loaded_rows(stored.right_record)] if len(stored) else []
    if other in joined:
        left_rows.append(joined[other][0])
        right_rows.append(joined[other][1])
    if not left_rows:
        return scored
    a_rows, b_rows = np.concatenate(left_rows), np.concatenate(right_rows)
    keep = (a_rows >= 0) & (b_rows >= 0)
    groups = duplicate_groups(len(lo.source), a_rows[keep], b_rows[keep])
    group = groups[rows_other]
    if len(np.unique(group)) == len(np.unique(rows_other)):  # no candidates joined
        return scored
    model = frozen_model(pair, comparisons)
    coverage = pair.coverage if pair.coverage is not None else \
        min(model.lambda_ * max(n_a, n_b), COVERAGE_MAX)
    raw = model.match_weights(scored.levels)
    weight = one_match_pair_weights(la.source, lb.source, scored.left, scored.right, raw,
                                    prior_weight=model.prior_weight, coverage=coverage,
                                    sizes=(n_a, n_b), groups={other: groups})
    records = scored.left if mine == "left" else scored.right
    best = best_of_groups(records, group, raw)
    return ScoredDelta(scored.left[best], scored.right[best], scored.levels[best],
                       weight[best], match_probability(weight[best]))


def _scoring_work(a: _Loaded, b: _Loaded) -> int:
    """About how many key lookups scoring the new records of ``a`` and ``b`` takes."""
    return len(a.delta) * len(b.rows) + len(b.delta) * len(a.rows) + len(a.rows) + len(b.rows)


def _no_kept() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    none = np.zeros(0, np.int64)
    return none, none, np.zeros(0), np.zeros(0)


def _edge_keys(frame: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    return list(zip(*(frame[c].astype(str).tolist() for c in EDGE_COLUMNS[:4]), strict=True))


def _kept_edges(store: Store, agreement_id: str, left: str, right: str,
                left_ids: np.ndarray, right_ids: np.ndarray,
                gone: set[tuple[str, str, str, str]]) -> pd.DataFrame:
    """The stored ``left~right`` edges at the records new pairs compete for, less those
    already dropped."""
    parts = [_edges_touching(store, agreement_id, {left: left_ids}, other=right,
                             sides=("left",)) if len(left_ids) else None,
             _edges_touching(store, agreement_id, {right: right_ids}, other=left,
                             sides=("right",)) if len(right_ids) else None]
    frames = [f for f in parts if f is not None and len(f)]
    if not frames:
        return pd.DataFrame(columns=EDGE_COLUMNS)
    kept = pd.concat(frames, ignore_index=True).drop_duplicates(EDGE_COLUMNS[:4],
                                                                ignore_index=True)
    return _not_gone(kept, gone).reset_index(drop=True)


def _not_gone(edges: pd.DataFrame, gone: set[tuple[str, str, str, str]]) -> pd.DataFrame:
    """``edges`` without those whose key (:func:`_edge_keys`) is in ``gone``."""
    if not len(edges) or not gone:
        return edges
    return edges[np.asarray([k not in gone for k in _edge_keys(edges)], bool)]


def _write_records(store: Store, agreement_id: str, layout: Layout, run_id: int,
                   deltas: dict[str, PartnerDelta], given: dict[str, EncodedSource]) -> None:
    for p, d in deltas.items():
        store.executemany("DELETE FROM records WHERE agreement_id = ? AND partner = ? AND "
                          "record_id = ?", [(agreement_id, p, str(r)) for r in d.gone_ids])
        population = d.population
        for rows, update in ((d.changed, True), (d.new, False)):
            if not len(rows):
                continue
            blobs = row_bytes(layout, given[p], d.source_row[rows])
            hashes = fingerprint_hex(population.fingerprint[rows])
            ids, seq = population.record_ids[rows].tolist(), population.seq[rows].tolist()
            if update:
                store.executemany(
                    "UPDATE records SET content_hash = ?, encoding = ?, blocking = ?, "
                    "run_id = ? WHERE agreement_id = ? AND partner = ? AND record_id = ?",
                    [(h, b, blocking_of(layout, b), run_id, agreement_id, p, r)
                     for h, b, r in zip(hashes, blobs, ids, strict=True)])
            else:
                keys = population.link_keys[rows].tolist()
                store.executemany(
                    "INSERT INTO records (agreement_id, partner, record_id, seq, "
                    "content_hash, encoding, blocking, link_key, run_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(agreement_id, p, r, q, h, b, blocking_of(layout, b), k, run_id)
                     for r, q, h, b, k in zip(ids, seq, hashes, blobs, keys, strict=True)])


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


def _rows(first: object, frame: pd.DataFrame, columns: Sequence[str]
          ) -> list[tuple[object, ...]]:
    """``(first, *row)`` for each row of ``frame[columns]``, as plain Python values."""
    return list(zip([first] * len(frame), *(frame[c].tolist() for c in columns), strict=True))


# -- clusters and keys -------------------------------------------------------------------

def _reach(store: Store, agreement_id: str, deltas: dict[str, PartnerDelta],
           dropped: pd.DataFrame, added: pd.DataFrame
           ) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """The records whose cluster or key this run can change, and every edge among them.

    Starts from the new and changed records and the records whose edges were dropped
    (those of changed and removed records included) or added, and closes the set under
    "has an edge to" (the edges table is written). That also reaches every record
    sharing a link key with a reached one: a key's records are one cluster, joined by
    its stored edges, and an edge this run dropped put both its ends in the start set.
    (An erasure removes every record under its key.) So no index on keys is needed.
    Returns rows per partner (ascending) and the edges, whose both ends are in the set.
    """
    names = sorted(deltas)
    pops = {p: deltas[p].population for p in names}
    inside = {p: np.zeros(len(pops[p]), bool) for p in names}
    frontier = {p: set(deltas[p].delta.tolist()) for p in names}
    def add(frame: pd.DataFrame, sides: Sequence[str], strict: bool) -> None:
        for side in sides:
            for p, ids in frame.groupby(f"{side}_partner")[f"{side}_record"]:
                rows = (pops[str(p)].rows_of(ids.astype(str).to_numpy(object))
                        if str(p) in pops else np.full(len(ids), -1))
                if strict and (rows < 0).any():
                    raise StoreError(f"The store of '{agreement_id}' holds a link to a "
                                     f"record it does not hold.")
                frontier[str(p)].update(rows[rows >= 0].tolist())  # (-1: a removed record)
    for frame in (dropped, added):
        add(frame, ("left", "right"), strict=False)
    edges: list[pd.DataFrame] = []
    while any(frontier.values()):
        reached = {}
        for p in names:
            rows = np.asarray(sorted(frontier[p]), np.int64)
            rows = rows[~inside[p][rows]] if len(rows) else rows
            frontier[p] = set()
            if len(rows):
                inside[p][rows] = True
                reached[p] = rows
        if reached:
            found = _edges_touching(store, agreement_id,
                                    {p: pops[p].record_ids[r] for p, r in reached.items()})
            edges.append(found)
            add(found, ("left", "right"), strict=True)
    frame = (pd.concat(edges, ignore_index=True).drop_duplicates(EDGE_COLUMNS[:4],
                                                                 ignore_index=True)
             if edges else pd.DataFrame(columns=EDGE_COLUMNS))
    return {p: np.flatnonzero(inside[p]) for p in names}, frame


def _assign(store: Store, agreement_id: str, deltas: dict[str, PartnerDelta],
            members: dict[str, np.ndarray], edges: pd.DataFrame) -> KeyAssignment:
    """Cluster the ``members`` (rows per partner) from ``edges`` (all edges among them),
    then give the clusters stable keys. The order of records (partner, then the order
    they entered the store) fixes the edge order, so a set of records clustered on its own
    gets the clusters it would get among everyone."""
    names = sorted(deltas)
    pops = [deltas[p].population for p in names]
    rows = [members[p] for p in names]
    sizes = [len(r) for r in rows]
    seq = np.concatenate([pop.seq[r] for pop, r in zip(pops, rows, strict=True)]) \
        if names else np.zeros(0, np.int64)
    source_of = np.repeat(np.arange(len(names)), sizes)
    rank = np.lexsort((seq, source_of))  # members in (partner, seq) order
    position = np.empty(len(rank), np.int64)
    position[rank] = np.arange(len(rank))
    offsets = np.cumsum([0, *sizes])
    def member_of(partner: pd.Series, record: pd.Series) -> np.ndarray:
        out = np.full(len(partner), -1, np.int64)
        partner_of = partner.astype(str).to_numpy(object)
        record_of = record.astype(str).to_numpy(object)
        for k, name in enumerate(names):
            mine = np.flatnonzero(partner_of == name)
            if len(mine):
                at = pops[k].rows_of(record_of[mine])
                local = np.searchsorted(rows[k], at)
                ok = (at >= 0) & (local < len(rows[k]))
                ok[ok] = rows[k][local[ok]] == at[ok]
                out[mine] = np.where(ok, offsets[k] + local, -1)
        return out
    a, b = member_of(edges.left_partner, edges.left_record), member_of(
        edges.right_partner, edges.right_record)
    if (a < 0).any() or (b < 0).any():
        raise StoreError(f"The store of '{agreement_id}' holds a link to a record it does "
                         f"not hold.")
    first, second = (np.minimum(position[a], position[b]),
                     np.maximum(position[a], position[b]))
    by = np.lexsort((second, first))  # a fixed edge order: the same edges, the same clusters
    clusters = greedy_clusters(source_of, np.where(position[a] < position[b], a, b)[by],
                               np.where(position[a] < position[b], b, a)[by],
                               edges.weight.to_numpy(float)[by],
                               edges.probability.to_numpy(float)[by],
                               within_source=(source_of[a] == source_of[b])[by])
    keys_before = np.concatenate([pop.link_keys[r] for pop, r in zip(pops, rows, strict=True)]
                                 ) if names else np.zeros(0, object)
    wanted = sorted({str(k) for k in keys_before.tolist() if k is not None}
                    | {k for d in deltas.values() for k in d.gone_keys})
    created = {}
    for chunk in _chunks(wanted):
        created.update({str(k): int(run) for k, run in store.query(
            f"SELECT link_key, created_run FROM link_keys WHERE agreement_id = ? AND "
            f"ended_run IS NULL AND link_key IN ({', '.join('?' * len(chunk))})",
            (agreement_id, *chunk))})
    gone = Counter(k for d in deltas.values() for k in d.gone_keys)
    return assign_keys(clusters.label, keys_before.tolist(), seq, created, gone,
                       lambda n: random_link_keys(n).tolist())


def _write_keys(store: Store, agreement_id: str, run_id: int,
                    deltas: dict[str, PartnerDelta], members: dict[str, np.ndarray],
                    assignment: KeyAssignment) -> dict[str, np.ndarray]:
    """Store the new and ended keys and the new keys of stored records; update each
    population's keys (the new records' rows are written with theirs by
    :func:`_write_records`, after this). Returns each partner's rows whose key is new or
    changed."""
    store.executemany("INSERT INTO link_keys (agreement_id, link_key, created_run) "
                      "VALUES (?, ?, ?)", [(agreement_id, k, run_id)
                                           for k in assignment.new_keys])
    store.executemany("UPDATE link_keys SET ended_run = ?, ended_event = ? WHERE "
                      "agreement_id = ? AND link_key = ?",
                      [(run_id, how, agreement_id, k) for k, how in assignment.ended.items()])
    at = 0
    updates = []
    rekeyed = {}
    for p in sorted(deltas):
        population, rows = deltas[p].population, members[p]
        keys = np.asarray(assignment.keys[at:at + len(rows)], dtype=object)
        at += len(rows)
        before = population.link_keys[rows]
        new = np.asarray([k is None for k in before.tolist()], bool)
        moved = ~new & (before != keys)
        rekeyed[p] = rows[new | moved]
        updates += [(k, agreement_id, p, r) for k, r in zip(
            keys[moved].tolist(), population.record_ids[rows[moved]].tolist(), strict=True)]
        population.link_keys[rows] = keys
    store.executemany("UPDATE records SET link_key = ? WHERE agreement_id = ? AND "
                      "partner = ? AND record_id = ?", updates)
    return rekeyed


def _write_history(store: Store, agreement_id: str, run_id: int,
                   assignment: KeyAssignment) -> None:
    store.executemany("INSERT INTO history (agreement_id, run_id, seq, event, link_key, "
                      "other_key, records) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      [(agreement_id, run_id, k, e.event, e.link_key, e.other_key, e.records)
                       for k, e in enumerate(assignment.events)])


def _summary(deltas: dict[str, PartnerDelta], assignment: KeyAssignment) -> dict[str, int]:
    events = Counter(e.event for e in assignment.events)
    return {"new": sum(len(d.new) for d in deltas.values()),
            "changed": sum(len(d.changed) for d in deltas.values()),
            "unchanged": sum(d.unchanged for d in deltas.values()),
            "removed": sum(len(d.gone_ids) for d in deltas.values()),
            **{k: events.get(k, 0) for k in COUNTS[4:]}}
