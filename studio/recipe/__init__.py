"""Recipes: the typed `Recipe` schema (`schema`), its YAML I/O and error messages (`io`), and the fingerprint
that says which settings each stage's output depends on (`fingerprint`). Imports only tasks and the base
modules (errors, paths, files)."""
