"""Every PostgreSQL advisory lock WarpDrive takes, and the order in which they may be taken.

The ids are arbitrary constants (four ASCII letters each, so they show readably in ``pg_locks``); what
matters is that every process uses the same one, hence this single home. Two-key locks take the id as
their first key and ``hashtext(<name>)`` as their second.

Order: a transaction that holds several takes them in this order, never backwards, so no two
WarpDrive transactions wait on each other in a cycle.

1. ``BACKEND_LOCK`` (two keys, per backend, in backend-name order): listing batches exclusive, access
   batches shared (streams/ownership.py ``lock_backends``).
2. ``OWNERSHIP_LOCK``: batches shared, a ``reown`` exclusive (streams/ownership.py).
3. The history source locks (per imported log file, ``hashtextextended('history:' || source, 0)``, in
   key order; streams/history.py): computed, not listed here.
4. ``GROWTH_LOCK`` (two keys, per ``backend/team``, in key order; streams/rollups.py ``write_deltas``).
5. ``MARK_SIZES_LOCK`` (deletion_marks.size_bytes): stream batches shared (streams/marks.py), the API
   exclusive while marking (api/marks.py, where it is the only lock held).
6. ``TREE_STALE_LOCK``: batches shared while applying tree deltas, exclusive while moving the stale-sort
   boundary (streams/tree.py).
7. ``QUOTA_LOCK``: last in a batch's transaction, when quotas are evaluated (streams/quotas.py).

Held alone, in a transaction of their own (no other advisory lock before or after):
``QUOTA_PUBLISH_LOCK`` (streams/quotas.py, the quota outbox publisher), ``MEMBERSHIP_LOCK``
(streams/membership.py, the membership publisher), ``PUBLISH_LOCK`` (api/commands.py, the command outbox
publisher). Session-level, held alone across transactions: ``MIGRATION_LOCK_ID`` (schemas/db.py) and
``CRAWL_LOCK`` (two keys, per backend; crawler/lock.py).
"""

from __future__ import annotations

BACKEND_LOCK = 0x57446662  # "WDfb"
OWNERSHIP_LOCK = 0x57447277  # "WDrw"
GROWTH_LOCK = 0x57446772  # "WDgr"
MARK_SIZES_LOCK = 0x57446D6B  # "WDmk"
TREE_STALE_LOCK = 0x57447374  # "WDst"
QUOTA_LOCK = 0x57447175  # "WDqu"

QUOTA_PUBLISH_LOCK = 0x57447170  # "WDqp"
MEMBERSHIP_LOCK = 0x5744746D  # "WDtm"
PUBLISH_LOCK = 0x57446370  # "WDcp"
MIGRATION_LOCK_ID = 0x57617270  # "Warp"
CRAWL_LOCK = 0x43726177  # "Craw"

# In the order above; a unit test keeps the ids distinct.
ALL = {name: value for name, value in globals().items() if name.endswith(("_LOCK", "_LOCK_ID"))}
