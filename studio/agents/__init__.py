"""Agents: the prompting methods (`prompts`) and the episode loop (`loop`) that drives a model and a tool
through one question. Imports llm, tools, tasks, trajectories."""
