"""Erasure and objection in the store: remove everything held under one link key.

The records (with their link keys) and their links (edges) go; the key is ended with the
event ``erased``, and the run is recorded (kind ``erasure``) with counts only. A provider
must also stop sending the person (its opt-out list at ``encode``), or the record returns
as new at its next extract.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from linkage.store.db import Store, StoreError


def erase_link_key(store: Store, agreement_id: str, link_key: str, *,
                   before_commit: Callable[[dict[str, int]], None] | None = None
                   ) -> dict[str, int]:
    """Remove every record under ``link_key``; return the count per partner. One
    transaction: ``before_commit(counts)`` (e.g. the audit entry) runs before it commits."""
    with store.transaction(lock=agreement_id):
        # (a scan: the store keeps no index on link keys, which every run would pay for)
        held = store.query("SELECT partner, record_id FROM records WHERE agreement_id = ? "
                           "AND link_key = ?", (agreement_id, link_key))
        if not held:
            raise StoreError("The store holds no record under that link key; nothing to "
                             "erase.")
        for partner, record in held:
            store.execute("DELETE FROM records WHERE agreement_id = ? AND partner = ? "
                          "AND record_id = ?", (agreement_id, partner, record))
            store.execute("DELETE FROM edges WHERE agreement_id = ? AND ((left_partner = ? "
                          "AND left_record = ?) OR (right_partner = ? AND right_record = ?))",
                          (agreement_id, partner, record, partner, record))
        # the population snapshot no longer matches; the next run rebuilds it
        store.execute("DELETE FROM populations WHERE agreement_id = ?", (agreement_id,))
        counts: dict[str, int] = {}
        for partner, _ in held:
            counts[str(partner)] = counts.get(str(partner), 0) + 1
        run_id = int(store.query("SELECT COALESCE(MAX(run_id), 0) FROM runs WHERE "
                                 "agreement_id = ?", (agreement_id,))[0][0]) + 1
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        store.execute("INSERT INTO runs (agreement_id, run_id, started, finished, kind, "
                      "summary) VALUES (?, ?, ?, ?, ?, ?)",
                      (agreement_id, run_id, now, now, "erasure",
                       json.dumps({"erased_records": len(held)})))
        store.execute("UPDATE link_keys SET ended_run = ?, ended_event = ? WHERE "
                      "agreement_id = ? AND link_key = ?",
                      (run_id, "erased", agreement_id, link_key))
        store.execute("INSERT INTO history (agreement_id, run_id, seq, event, link_key, "
                      "other_key, records) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (agreement_id, run_id, 0, "erased", link_key, None, len(held)))
        if before_commit is not None:
            before_commit(counts)
    return counts
