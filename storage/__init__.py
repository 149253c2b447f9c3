"""The studio's DuckDB store: schema, migrations and the one API every stage writes through and every reader
reads through (named reads: no SQL outside this package). Imports the studio's base modules only, and for the
one data migration that recomputes stored episodes' outcomes, the trajectories' own rule."""

from storage.store import Store, StoreError, StoreLockedError

__all__ = ["Store", "StoreError", "StoreLockedError"]
