"""The studio in the browser: a Gradio UI over the stages, served with read-only dashboard links.

`server.create_app(store)` builds the ASGI app and `server.serve(...)` runs it (`python launch.py`). The tabs
(`recipes_tab`, `runs_tab`, `trajectories_tab`, `dashboards_tab`) only build components and call `views`
(plain data from the store), `schema_form` (the form derived from the Recipe schema) and `jobs` (the queue).
"""
