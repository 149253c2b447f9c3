"""Agents: the prompting methods (`prompts`, `tool_prompts`), the episode machinery both formats share (`loop`:
OpenEpisodes, the Episode, time and cost sharing, scoring) and each format's step (`react_step`, `tool_step`).
Imports llm, tools, tasks, trajectories and scoring (the loop scores each answer)."""
