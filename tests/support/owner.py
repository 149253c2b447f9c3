"""The owner's config a test declares: the built-in one with some declarations changed."""

from __future__ import annotations


def owner_config(**changes: object):
    """The built-in owner's config with some declarations changed (`scorers=`, `endpoints=` as
    {name: Endpoint}, `model_roots=`, `allow_downloads=`, `data_roots=`), for a test that declares them."""
    import dataclasses

    from studio.owner.config import load_config

    built_in = load_config(None)
    if "endpoints" in changes:  # declared beside the built-in ones, as a config file's are
        changes["endpoints"] = built_in.endpoints | changes["endpoints"]
    return dataclasses.replace(built_in, **changes)
