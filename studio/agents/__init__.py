"""Agents: prompting methods, the episode loop and the trajectory type."""
