"""The stored population, column by column, and how an arriving extract differs from it.

A run needs, for every stored record, its id, the order it entered the store (``seq``),
its content fingerprint and its link key: to tell new, changed, unchanged and removed
records apart, and to write every record's link key. Read row by row from the database
that costs seconds per million records, so the store also keeps each partner's population
as a **snapshot**: Arrow columns in a few blobs (``populations``), written by every run in
its transaction, next to the table that stays the record of truth (``records``). The
keyed blocking tokens, which find the stored records that can pair with a new one, are
not in it: a full extract brings them all again, and for a partner that sent nothing (or
a partial extract) :func:`fill_blocking` reads them from ``records``.

A run writes either the whole snapshot or, while the changes since the last whole one stay
under :data:`COMPACT_SHARE` of the population, a journal of its changes. A reader applies
the journals to the last whole snapshot; when they do not reach the agreement's latest
run (an erasure since, which deletes the snapshot) it rebuilds the population from
``records`` instead, and the next run writes it whole.

Within a run a partner's population is sorted by record id (so each record has a row, and
the links come out in the order files are written in); ``seq`` keeps the order records
entered the store, which is what clustering and key ages go by.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.contracts import EncodedSource
from linkage.store.db import Store, StoreError
from linkage.store.rows import Layout, blocking_matrix, fingerprint_of_hex, fingerprints

#: Records per snapshot blob (both databases refuse values over 1 GB; 500,000 records of
#: the example schema take about 60 MB).
PART_ROWS = 500_000


@dataclass
class PartnerPopulation:
    """One partner's current records, sorted by record id."""

    record_ids: np.ndarray   #: (n,) object: str, ascending
    seq: np.ndarray          #: (n,) int64: the order records entered the store
    fingerprint: np.ndarray  #: (n, 2) uint64: content fingerprints (rows.fingerprints)
    link_keys: np.ndarray    #: (n,) object: each record's link key (None: not yet given)
    #: (n, passes) uint64 keyed blocking tokens (0: none); None until a run needs them
    #: (the snapshot leaves them out: a full extract brings them all again)
    blocking: np.ndarray | None = None
    ids_arrow: pa.Array | None = None  #: ``record_ids`` as Arrow strings, when at hand

    def __len__(self) -> int:
        return len(self.record_ids)

    @classmethod
    def empty(cls, passes: int) -> PartnerPopulation:
        return cls(np.zeros(0, object), np.zeros(0, np.int64), np.zeros((0, 2), np.uint64),
                   np.zeros(0, object), np.zeros((0, passes), np.uint64),
                   pa.array([], pa.string()))

    def arrow_ids(self) -> pa.Array:
        if self.ids_arrow is None:
            self.ids_arrow = pa.array(self.record_ids, pa.string())
        return self.ids_arrow

    def rows_of(self, record_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """(k,) int64: each id's row (-1: not held). A few ids: a binary search each among
        the sorted ids; many: a hash lookup of every population id among the asked ones,
        in Arrow (no Python object per stored record either way)."""
        ids = np.asarray(record_ids, dtype=object)
        if len(self) == 0 or len(ids) == 0:
            return np.full(len(ids), -1, np.int64)
        if len(ids) * 64 < len(self):
            at = np.searchsorted(self.record_ids, ids)
            found = at < len(self)
            found[found] = self.record_ids[at[found]] == ids[found]
            return np.where(found, at, -1).astype(np.int64)
        asked, inverse = np.unique(ids.astype(str), return_inverse=True)
        where = pc.index_in(self.arrow_ids(), value_set=pa.array(asked, pa.string()))
        position = where.fill_null(-1).to_numpy()
        rows = np.flatnonzero(position >= 0)
        found_at = np.full(len(asked), -1, np.int64)
        found_at[position[rows]] = rows
        return found_at[inverse.reshape(-1)]

    def take(self, rows: np.ndarray) -> PartnerPopulation:
        return PartnerPopulation(
            self.record_ids[rows], self.seq[rows], self.fingerprint[rows],
            self.link_keys[rows], None if self.blocking is None else self.blocking[rows],
            None if self.ids_arrow is None else self.ids_arrow.take(pa.array(rows)))


@dataclass
class PartnerDelta:
    """How a partner's arriving extract changes its population (rows of ``population``)."""

    population: PartnerPopulation       #: the population after this run
    new: np.ndarray                     #: (k,) rows of records new to the store
    changed: np.ndarray                 #: (k,) rows of records whose content changed
    source_row: np.ndarray              #: (n,) int64: each row's row in the extract (-1)
    gone_ids: np.ndarray                #: (g,) object: records that left the store
    gone_keys: list[str] = field(default_factory=list)  #: their link keys
    unchanged: int = 0

    @property
    def delta(self) -> np.ndarray:
        """Rows new or changed in this run, ascending."""
        return np.union1d(self.new, self.changed).astype(np.int64)


def diff(stored: PartnerPopulation, source: EncodedSource | None, layout: Layout,
         next_seq: int, *, full_extract: bool) -> PartnerDelta:
    """The partner's population after ``source`` arrives (None: nothing arrived from it).

    New records get ``seq`` from ``next_seq`` on, in the extract's order. ``full_extract``:
    stored records missing from ``source`` have left. The blocking keys of the result are
    known when ``source`` is a full extract or the stored ones were (else None).
    """
    n_stored = len(stored)
    nothing = np.zeros(0, np.int64)
    if source is None:
        return PartnerDelta(stored, nothing, nothing, np.full(n_stored, -1, np.int64),
                            np.zeros(0, object), unchanged=n_stored)
    ids, ids_arrow = _id_columns(source)
    prints = fingerprints(layout, source)
    keys = np.ascontiguousarray(source.blocking_keys, dtype=np.uint64).reshape(
        len(ids), len(layout.blocking))
    at = (pc.index_in(ids_arrow, value_set=stored.arrow_ids()).fill_null(-1).to_numpy()
          .astype(np.int64) if n_stored else np.full(len(ids), -1, np.int64))
    _refuse_repeats(source.partner, ids, at, n_stored)
    arrived = np.flatnonzero(at < 0)
    held = np.flatnonzero(at >= 0)
    differs = (stored.fingerprint[at[held]] != prints[held]).any(axis=1)
    changed_src = held[differs]
    seen = np.zeros(n_stored, bool)
    seen[at[held]] = True
    keep = seen if full_extract else np.ones(n_stored, bool)
    kept = np.flatnonzero(keep)
    gone = np.flatnonzero(~keep)
    # the stored records that stay, updated where changed; then the new ones merged in
    base = (stored.take(kept) if len(gone) else
            dataclasses.replace(stored, fingerprint=stored.fingerprint.copy()))
    src_of_kept = np.full(n_stored, -1, np.int64)
    src_of_kept[at[held]] = held
    src_of_kept = src_of_kept[kept]
    rank_of_stored = np.full(n_stored, -1, np.int64)
    rank_of_stored[kept] = np.arange(len(kept))
    changed_ranks = rank_of_stored[at[changed_src]]
    base.fingerprint[changed_ranks] = prints[changed_src]
    by_id = arrived[np.argsort(ids[arrived], kind="stable")]
    fresh = PartnerPopulation(ids[by_id], next_seq + np.searchsorted(arrived, by_id),
                              prints[by_id], np.full(len(by_id), None, dtype=object),
                              None if full_extract else keys[by_id],
                              ids_arrow.take(pa.array(by_id)))
    population, new_rows = _insert_sorted(base, fresh)
    old_rows = np.delete(np.arange(len(population)), new_rows)  # the kept rows, in order
    source_row = np.full(len(population), -1, np.int64)
    source_row[old_rows] = src_of_kept
    source_row[new_rows] = by_id
    if full_extract:  # every record arrived: its keys too
        population.blocking = keys[source_row]
    elif population.blocking is not None:
        population.blocking[old_rows[changed_ranks]] = keys[changed_src]
    gone_keys = [str(k) for k in stored.link_keys[gone].tolist() if k is not None]
    return PartnerDelta(population, new_rows,
                        np.sort(old_rows[changed_ranks]).astype(np.int64), source_row,
                        stored.record_ids[gone], gone_keys,
                        unchanged=len(held) - len(changed_src))


def _id_columns(source: EncodedSource) -> tuple[np.ndarray, pa.Array]:
    """The extract's record ids as str objects and as Arrow strings; refuses a missing
    one (repeats: :func:`_refuse_repeats`)."""
    ids = np.asarray(source.record_ids, dtype=object)
    if len(ids) and pd.api.types.infer_dtype(ids, skipna=False) != "string":
        ids = np.asarray([str(x) for x in ids.tolist()], dtype=object)  # (not all str)
    arrow = pa.array(ids, pa.string())
    if arrow.null_count:
        raise StoreError(f"Source '{source.partner}' holds a record without an id.")
    return ids, arrow


def _refuse_repeats(partner: str, ids: np.ndarray, at: np.ndarray, n_stored: int) -> None:
    """A record id sent twice either maps twice to one stored record or is new twice."""
    held = at[at >= 0]
    twice = (np.bincount(held, minlength=n_stored) > 1).any() if len(held) else False
    new = ids[at < 0]
    if twice or len(pd.unique(new)) != len(new):
        raise StoreError(f"Source '{partner}' holds a record id more than once.")


def fill_blocking(store: Store, agreement_id: str, layout: Layout, delta: PartnerDelta,
                  partner: str, source: EncodedSource | None) -> np.ndarray:
    """The population's blocking keys (n, passes), read from the store where the run did
    not bring them (a partner that sent nothing, or a partial extract)."""
    population = delta.population
    if population.blocking is None:
        rows = store.query("SELECT record_id, blocking FROM records WHERE agreement_id = ? "
                           "AND partner = ?", (agreement_id, partner))
        blocking = np.zeros((len(population), len(layout.blocking)), np.uint64)
        if rows:
            ids, keys = zip(*rows, strict=True)
            at = pc.index_in(pa.array([str(r) for r in ids], pa.string()),
                             value_set=population.arrow_ids()).fill_null(-1).to_numpy()
            found = at >= 0
            blocking[at[found]] = blocking_matrix(layout, partner, [bytes(k) for k in keys]
                                                  )[found]
        sent = np.flatnonzero(delta.source_row >= 0)
        if source is not None and len(sent):
            blocking[sent] = np.ascontiguousarray(source.blocking_keys, dtype=np.uint64
                                                  )[delta.source_row[sent]]
        population.blocking = blocking
    return population.blocking


# -- the snapshot ------------------------------------------------------------------------

#: A run rewrites the whole snapshot (compacts it) once the changes journaled since the
#: last full write reach this share of the population; otherwise it appends a journal.
COMPACT_SHARE = 0.1


@dataclass(frozen=True)
class StoredPopulations:
    """What :func:`read_populations` found: the populations, and how many journaled rows
    were applied on top of the last full snapshot (0: none, or rebuilt)."""

    partners: dict[str, PartnerPopulation]
    journaled: int
    rebuilt: bool = False  #: made from the tables: the next write must be a full one


@dataclass(frozen=True)
class Journal:
    """One partner's changes in a run: rows of the population now new or different (id,
    seq, fingerprint or link key) and the ids that left."""

    rows: np.ndarray     #: (k,) rows of the population after the run
    removed: np.ndarray  #: (g,) object: record ids no longer held


def read_populations(store: Store, agreement_id: str, layout: Layout, last_run: int
                     ) -> StoredPopulations:
    """Every partner's stored population as of run ``last_run``: its last full snapshot
    with the journals of later runs applied, or, when they do not reach ``last_run``,
    rebuilt from the ``records`` table."""
    rows = store.query("SELECT partner, part, run_id, data FROM populations WHERE "
                       "agreement_id = ? ORDER BY partner, part", (agreement_id,))
    by_partner: dict[str, list[tuple[int, int, bytes]]] = {}
    for partner, part, run, data in rows:
        by_partner.setdefault(str(partner), []).append((int(part), int(run), bytes(data)))
    out, journaled = {}, 0
    for partner, held in by_partner.items():
        base = [(run, data) for part, run, data in held if part >= 0]
        journals = sorted((run, data) for part, run, data in held if part < 0)
        runs = {run for run, _ in base}
        if len(runs) != 1 or [r for r, _ in journals] != list(range(min(runs) + 1,
                                                                     last_run + 1)):
            return StoredPopulations(_rebuild(store, agreement_id, layout), 0, True)
        population = _concat([_from_arrow(data) for _, data in base], len(layout.blocking))
        if journals:
            population, applied = _apply(population, [_journal_frame(d) for _, d in journals])
            journaled += applied
        out[partner] = population
    if not out and last_run:
        return StoredPopulations(_rebuild(store, agreement_id, layout), 0, True)
    return StoredPopulations(out, journaled)


def write_populations(store: Store, agreement_id: str, run_id: int,
                      populations: dict[str, PartnerPopulation],
                      journals: dict[str, Journal] | None = None) -> None:
    """Store run ``run_id``'s populations: in full (``journals`` None: every part of the
    agreement replaced), or as each partner's journal of changes (every partner gets one,
    empty or not, so that a reader can tell the chain is whole)."""
    if journals is None:
        store.execute("DELETE FROM populations WHERE agreement_id = ?", (agreement_id,))
        rows = []
        for partner, population in sorted(populations.items()):
            for part, start in enumerate(range(0, max(len(population), 1), PART_ROWS)):
                chunk = population.take(np.arange(start, min(start + PART_ROWS,
                                                             len(population))))
                rows.append((agreement_id, partner, part, run_id, _to_arrow(chunk)))
    else:
        rows = [(agreement_id, partner, -run_id, run_id,
                 _to_arrow(populations[partner].take(journal.rows)
                           if partner in populations else
                           PartnerPopulation.empty(0), journal.removed))
                for partner, journal in sorted(journals.items())]
    store.executemany("INSERT INTO populations (agreement_id, partner, part, run_id, data) "
                      "VALUES (?, ?, ?, ?, ?)", rows)


def _journal_frame(data: bytes) -> pd.DataFrame:
    try:
        return pa.ipc.open_stream(data).read_all().to_pandas()
    except (pa.ArrowException, KeyError, ValueError) as error:
        raise StoreError(f"The store's population journal cannot be read "
                         f"({type(error).__name__}): the store is damaged.") from None


def _apply(population: PartnerPopulation, frames: list[pd.DataFrame]
           ) -> tuple[PartnerPopulation, int]:
    """``population`` with the journals ``frames`` (oldest first) applied; and how many
    journaled rows there were."""
    journal = pd.concat(frames, ignore_index=True)
    last = journal.drop_duplicates("record_id", keep="last")
    at = population.rows_of(last.record_id.to_numpy(object))
    present = last.removed.to_numpy(bool) == False  # noqa: E712 (a numpy mask)
    update = present & (at >= 0)
    rows = at[update]
    population.seq[rows] = last.seq.to_numpy(np.int64)[update]
    population.fingerprint[rows, 0] = last.fingerprint_0.to_numpy(np.uint64)[update]
    population.fingerprint[rows, 1] = last.fingerprint_1.to_numpy(np.uint64)[update]
    population.link_keys[rows] = last.link_key.to_numpy(object)[update]
    drop = at[~present & (at >= 0)]
    kept = np.delete(np.arange(len(population)), drop) if len(drop) else None
    base = population if kept is None else population.take(kept)
    fresh = last[present & (at < 0)].sort_values("record_id", kind="stable")
    ids = fresh.record_id.to_numpy(object)
    merged, _ = _insert_sorted(base, PartnerPopulation(
        ids, fresh.seq.to_numpy(np.int64),
        np.stack([fresh.fingerprint_0.to_numpy(np.uint64),
                  fresh.fingerprint_1.to_numpy(np.uint64)], axis=1),
        fresh.link_key.to_numpy(object)))
    return merged, len(journal)


def _insert_sorted(base: PartnerPopulation, fresh: PartnerPopulation
                   ) -> tuple[PartnerPopulation, np.ndarray]:
    """``base`` with the records of ``fresh`` (sorted by id, none of them in ``base``)
    merged in by id, and the rows they took. Blocking keys are merged when both have
    them (else None)."""
    where = np.searchsorted(base.record_ids, fresh.record_ids) if len(base) else \
        np.zeros(len(fresh), np.int64)
    n = len(base) + len(fresh)
    new_rows = (where + np.arange(len(where))).astype(np.int64)
    take_from = np.empty(n, np.int64)  # each row's place among (base, then fresh)
    take_from[np.delete(np.arange(n), new_rows)] = np.arange(len(base))
    take_from[new_rows] = len(base) + np.arange(len(fresh))
    blocking = None
    if base.blocking is not None and fresh.blocking is not None:
        blocking = np.insert(base.blocking, where, fresh.blocking, axis=0)
    return PartnerPopulation(
        np.insert(base.record_ids, where, fresh.record_ids),
        np.insert(base.seq, where, fresh.seq),
        np.insert(base.fingerprint, where, fresh.fingerprint, axis=0),
        np.insert(base.link_keys, where, fresh.link_keys),
        blocking,
        pa.concat_arrays([base.arrow_ids(), fresh.arrow_ids()]).take(pa.array(take_from))
    ), new_rows


def _to_arrow(population: PartnerPopulation, removed: np.ndarray | None = None) -> bytes:
    """Arrow IPC bytes of the population's columns; ``removed`` (a journal): ids that
    left, as extra rows flagged ``removed``."""
    gone = np.zeros(0, object) if removed is None else np.asarray(removed, dtype=object)
    k = len(gone)
    columns = {"record_id": pa.concat_arrays([population.arrow_ids(),
                                              pa.array(gone, pa.string())]),
               "seq": pa.array(np.r_[population.seq, np.zeros(k, np.int64)], pa.int64()),
               "fingerprint_0": pa.array(np.r_[population.fingerprint[:, 0],
                                               np.zeros(k, np.uint64)], pa.uint64()),
               "fingerprint_1": pa.array(np.r_[population.fingerprint[:, 1],
                                               np.zeros(k, np.uint64)], pa.uint64()),
               "link_key": pa.array(np.r_[population.link_keys,
                                          np.full(k, None, dtype=object)], pa.string()),
               "removed": pa.array(np.r_[np.zeros(len(population), bool),
                                         np.ones(k, bool)], pa.bool_())}
    batch = pa.record_batch(list(columns.values()), names=list(columns))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def _from_arrow(data: bytes) -> PartnerPopulation:
    try:
        table = pa.ipc.open_stream(data).read_all()
        def column(name: str) -> np.ndarray:
            return table.column(name).to_numpy()
        ids = table.column("record_id").combine_chunks()
        return PartnerPopulation(
            ids.to_numpy(zero_copy_only=False).astype(object), column("seq").astype(np.int64),
            np.stack([column("fingerprint_0"), column("fingerprint_1")], axis=1
                     ).astype(np.uint64),
            table.column("link_key").to_numpy().astype(object), None, ids)
    except (pa.ArrowException, KeyError, ValueError) as error:
        raise StoreError(f"The store's population snapshot cannot be read "
                         f"({type(error).__name__}): the store is damaged.") from None


def _concat(parts: list[PartnerPopulation], passes: int) -> PartnerPopulation:
    if not parts:
        return PartnerPopulation.empty(passes)
    if len(parts) == 1:
        return parts[0]
    return PartnerPopulation(np.concatenate([p.record_ids for p in parts]),
                             np.concatenate([p.seq for p in parts]),
                             np.concatenate([p.fingerprint for p in parts]),
                             np.concatenate([p.link_keys for p in parts]), None,
                             pa.concat_arrays([p.arrow_ids() for p in parts]))


def _rebuild(store: Store, agreement_id: str, layout: Layout) -> dict[str, PartnerPopulation]:
    """The populations from the tables (a store without a current snapshot)."""
    rows = store.query("SELECT partner, record_id, seq, content_hash, blocking, link_key "
                       "FROM records WHERE agreement_id = ?", (agreement_id,))
    by_partner: dict[str, list[tuple[object, ...]]] = {}
    for r in rows:
        by_partner.setdefault(str(r[0]), []).append(r)
    out = {}
    for partner, held in by_partner.items():
        _, ids, seq, hashes, keys, link_keys = zip(*held, strict=True)
        record_ids = np.asarray([str(x) for x in ids], dtype=object)
        order = np.argsort(record_ids, kind="stable")
        population = PartnerPopulation(
            record_ids, np.asarray(seq, np.int64),
            fingerprint_of_hex([str(h) for h in hashes]), np.asarray(link_keys, dtype=object),
            blocking_matrix(layout, partner, [bytes(k) for k in keys]))
        out[partner] = population.take(order)
    return out


def next_seq(populations: dict[str, PartnerPopulation]) -> int:
    """The ``seq`` the next new record gets."""
    return 1 + max((int(p.seq.max()) for p in populations.values() if len(p)), default=0)
