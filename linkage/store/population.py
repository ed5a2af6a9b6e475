"""The stored population, column by column, and how an arriving extract differs from it.

A run needs, for every stored record, its id, the order it entered the store (``seq``),
its content fingerprint, its keyed blocking tokens and its link key: to tell new, changed,
unchanged and removed records apart, to find the stored records that can pair with a new
one, and to write every record's link key. Read row by row from the database that costs
seconds per million records, so the store also keeps each partner's population as a
**snapshot**: Arrow columns in a few blobs (``populations``), written by every run in its
transaction, next to the tables that stay the record of truth (``records``, ``clusters``).

A snapshot is used only when it was written by the agreement's latest run; otherwise (an
erasure since, or a store written by a run that did not keep one) it is rebuilt from the
tables, which gives the same population.

Within a run a partner's population is sorted by record id (so each record has a row, and
the links come out in the order files are written in); ``seq`` keeps the order records
entered the store, which is what clustering and key ages go by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

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
    blocking: np.ndarray     #: (n, passes) uint64: keyed blocking tokens (0: none)
    link_keys: np.ndarray    #: (n,) object: each record's link key (None: not yet given)

    def __len__(self) -> int:
        return len(self.record_ids)

    @classmethod
    def empty(cls, passes: int) -> PartnerPopulation:
        return cls(np.zeros(0, object), np.zeros(0, np.int64), np.zeros((0, 2), np.uint64),
                   np.zeros((0, passes), np.uint64), np.zeros(0, object))

    def rows_of(self, record_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """(k,) int64: each id's row (-1: not held). For a few ids: binary search."""
        ids = np.asarray(record_ids, dtype=object)
        if len(self) == 0 or len(ids) == 0:
            return np.full(len(ids), -1, np.int64)
        at = np.searchsorted(self.record_ids, ids)
        found = at < len(self)
        found[found] = self.record_ids[at[found]] == ids[found]
        return np.where(found, at, -1).astype(np.int64)

    def take(self, rows: np.ndarray) -> PartnerPopulation:
        return PartnerPopulation(self.record_ids[rows], self.seq[rows],
                                 self.fingerprint[rows], self.blocking[rows],
                                 self.link_keys[rows])


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
    stored records missing from ``source`` have left.
    """
    n_stored = len(stored)
    nothing = np.zeros(0, np.int64)
    if source is None:
        return PartnerDelta(stored, nothing, nothing, np.full(n_stored, -1, np.int64),
                            np.zeros(0, object), unchanged=n_stored)
    ids = np.asarray([str(x) for x in source.record_ids], dtype=object)
    index = pd.Index(ids, dtype=object)
    if index.has_duplicates:
        raise StoreError(f"Source '{source.partner}' holds a record id more than once.")
    prints = fingerprints(layout, source)
    keys = np.ascontiguousarray(source.blocking_keys, dtype=np.uint64).reshape(
        len(ids), len(layout.blocking))
    at = (pd.Index(stored.record_ids, dtype=object).get_indexer(index) if n_stored
          else np.full(len(ids), -1, np.int64))
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
    base = stored.take(kept)
    src_of_kept = np.full(n_stored, -1, np.int64)
    src_of_kept[at[held]] = held
    src_of_kept = src_of_kept[kept]
    rank_of_stored = np.full(n_stored, -1, np.int64)
    rank_of_stored[kept] = np.arange(len(kept))
    changed_ranks = rank_of_stored[at[changed_src]]
    base.fingerprint[changed_ranks] = prints[changed_src]
    base.blocking[changed_ranks] = keys[changed_src]
    by_id = arrived[np.argsort(ids[arrived], kind="stable")]
    fresh = PartnerPopulation(ids[by_id], next_seq + np.searchsorted(
        arrived, by_id).astype(np.int64), prints[by_id], keys[by_id],
        np.full(len(by_id), None, dtype=object))
    where = np.searchsorted(base.record_ids, fresh.record_ids) if len(base) else \
        np.zeros(len(by_id), np.int64)
    population = PartnerPopulation(
        np.insert(base.record_ids, where, fresh.record_ids),
        np.insert(base.seq, where, fresh.seq),
        np.insert(base.fingerprint, where, fresh.fingerprint, axis=0),
        np.insert(base.blocking, where, fresh.blocking, axis=0),
        np.insert(base.link_keys, where, fresh.link_keys))
    new_rows = where + np.arange(len(where))
    old_rows = np.delete(np.arange(len(population)), new_rows)  # the kept rows, in order
    source_row = np.full(len(population), -1, np.int64)
    source_row[old_rows] = src_of_kept
    source_row[new_rows] = by_id
    gone_keys = [str(k) for k in stored.link_keys[gone].tolist() if k is not None]
    return PartnerDelta(population, new_rows.astype(np.int64),
                        np.sort(old_rows[changed_ranks]).astype(np.int64), source_row,
                        stored.record_ids[gone], gone_keys,
                        unchanged=len(held) - len(changed_src))


# -- the snapshot ------------------------------------------------------------------------

def read_populations(store: Store, agreement_id: str, layout: Layout, last_run: int
                     ) -> dict[str, PartnerPopulation]:
    """Every partner's stored population: from the snapshot of run ``last_run`` if there
    is one, else rebuilt from the ``records`` and ``clusters`` tables."""
    rows = store.query("SELECT partner, part, run_id, data FROM populations WHERE "
                       "agreement_id = ? ORDER BY partner, part", (agreement_id,))
    if rows and all(int(r[2]) == last_run for r in rows):
        parts: dict[str, list[PartnerPopulation]] = {}
        for partner, _, _, data in rows:
            parts.setdefault(str(partner), []).append(_from_arrow(bytes(data), layout))
        return {p: _concat(x, len(layout.blocking)) for p, x in parts.items()}
    return _rebuild(store, agreement_id, layout)


def write_populations(store: Store, agreement_id: str, run_id: int,
                      populations: dict[str, PartnerPopulation]) -> None:
    """Replace the agreement's snapshot with ``populations`` (run ``run_id``'s)."""
    store.execute("DELETE FROM populations WHERE agreement_id = ?", (agreement_id,))
    rows = []
    for partner, population in sorted(populations.items()):
        for part, start in enumerate(range(0, max(len(population), 1), PART_ROWS)):
            chunk = population.take(np.arange(start, min(start + PART_ROWS,
                                                         len(population))))
            rows.append((agreement_id, partner, part, run_id, _to_arrow(chunk)))
    store.executemany("INSERT INTO populations (agreement_id, partner, part, run_id, data) "
                      "VALUES (?, ?, ?, ?, ?)", rows)


def _to_arrow(population: PartnerPopulation) -> bytes:
    columns = {"record_id": pa.array(population.record_ids, pa.string()),
               "seq": pa.array(population.seq, pa.int64()),
               "fingerprint_0": pa.array(population.fingerprint[:, 0], pa.uint64()),
               "fingerprint_1": pa.array(population.fingerprint[:, 1], pa.uint64()),
               **{f"blocking_{j}": pa.array(population.blocking[:, j], pa.uint64())
                  for j in range(population.blocking.shape[1])},
               "link_key": pa.array(population.link_keys, pa.string())}
    batch = pa.record_batch(list(columns.values()), names=list(columns))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def _from_arrow(data: bytes, layout: Layout) -> PartnerPopulation:
    passes = len(layout.blocking)
    try:
        table = pa.ipc.open_stream(data).read_all()
        def column(name: str) -> np.ndarray:
            return table.column(name).to_numpy()
        return PartnerPopulation(
            table.column("record_id").to_numpy().astype(object),
            column("seq").astype(np.int64),
            np.stack([column("fingerprint_0"), column("fingerprint_1")], axis=1
                     ).astype(np.uint64),
            np.stack([column(f"blocking_{j}") for j in range(passes)], axis=1
                     ).astype(np.uint64).reshape(table.num_rows, passes),
            table.column("link_key").to_numpy().astype(object))
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
                             np.concatenate([p.blocking for p in parts]),
                             np.concatenate([p.link_keys for p in parts]))


def _rebuild(store: Store, agreement_id: str, layout: Layout) -> dict[str, PartnerPopulation]:
    """The populations from the tables (a store without a current snapshot)."""
    rows = store.query("SELECT r.partner, r.record_id, r.seq, r.content_hash, r.blocking, "
                       "c.link_key FROM records r LEFT JOIN clusters c ON "
                       "c.agreement_id = r.agreement_id AND c.partner = r.partner AND "
                       "c.record_id = r.record_id WHERE r.agreement_id = ?", (agreement_id,))
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
            fingerprint_of_hex([str(h) for h in hashes]),
            blocking_matrix(layout, partner, [bytes(k) for k in keys]),
            np.asarray(link_keys, dtype=object))
        out[partner] = population.take(order)
    return out


def next_seq(populations: dict[str, PartnerPopulation]) -> int:
    """The ``seq`` the next new record gets."""
    return 1 + max((int(p.seq.max()) for p in populations.values() if len(p)), default=0)
