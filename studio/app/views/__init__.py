"""What the studio's tabs show, as plain data read from the store, the recipes folders and the job queue: one
module per tab (recipes, runs, trajectories, dashboards, playground), beside the studio's state (`state`) and the
Markdown helpers they share (`markdown`).

No Gradio here. Every function takes the `Studio` and returns lists, dicts or text; the `*_tab.py` builders only
build components and wire their events to these. Model text is returned as it is: the tabs show it in text
components (never as HTML), and Markdown built here escapes it. Imports the stages and results below the studio.
"""
