"""The linkage unit's store: encoded sources, models, links and stable link keys, run after run.

>>> from linkage.store import open_store, link_into_store   # doctest: +SKIP
>>> with open_store("linkage-unit.sqlite") as store:        # doctest: +SKIP
...     run = link_into_store(store, "first-1000-days", sources)

:func:`open_store` opens a SQLite file (the embedded default) or a ``postgresql://`` URL;
:func:`link_into_store` links whatever extracts arrived into it (:mod:`.incremental`),
giving clusters stable random link keys (:mod:`.keys`). See ``docs/store.md``.
"""

from linkage.store.db import SCHEMA_VERSION, Store, StoreError, open_store
from linkage.store.incremental import StoreRun, link_into_store
from linkage.store.keys import Event, KeyAssignment, assign_keys

__all__ = [
    "SCHEMA_VERSION",
    "Event",
    "KeyAssignment",
    "Store",
    "StoreError",
    "StoreRun",
    "assign_keys",
    "link_into_store",
    "open_store",
]
