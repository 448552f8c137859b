"""Jobs: the kinds the API accepts, the states a job passes through, and who runs which kind.

One definition for the API (validation, OpenAPI), the CLI (its choices), the crawler and agents (what they pick
up from the COMMANDS topic) and the stream workers (a finished job is never set back to running).
"""

from __future__ import annotations

KINDS = ("move", "warm", "crawl", "trash", "restore", "purge")
STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")  # final: no later event changes a finished job

CRAWLER_KINDS = ("crawl", "move", "trash", "restore", "purge")  # run by the crawler service
AGENT_KINDS = ("warm",)  # run by the node agents

# The deletion job of marked files (api/trash.py submits them, crawler/trash.py runs them): "trash" moves the files
# to a trash directory on their own backend, "restore" moves them back, "purge" removes expired trash directories.
TRASH_KINDS = ("trash", "restore", "purge")
