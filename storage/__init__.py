"""The studio's DuckDB store: schema, migrations and the one API every stage writes through and every reader
reads through (named reads: no SQL outside this package). Imports the studio's base modules only (the data
migration that states stored episodes' outcomes reads the rule in `studio.outcomes`, as the Episode does)."""

from storage.store import Store, StoreError, StoreLockedError

__all__ = ["Store", "StoreError", "StoreLockedError"]
