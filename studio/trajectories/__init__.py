"""Trajectories as data: the `Episode`/`Step` types and the ReAct text they parse from (`episode`), trajectory
files users bring or take away (`files`), and which trajectories become training examples (`selection`).
Imports tasks, recipe and the base modules; storage keeps these types."""
