"""The studio's DuckDB store: schema, migrations and the one API every stage writes through."""

from storage.store import Store, StoreError, StoreLockedError

__all__ = ["Store", "StoreError", "StoreLockedError"]
