"""The owner's config (config.py: what whoever starts the studio declared) and the checks that keep a recipe
inside it (checks.py). Base layer: imports only studio.errors and studio.paths, so the recipe schema can call
it while validating."""
