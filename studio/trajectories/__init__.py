"""Trajectories as data: the `Episode`/`Step` types and the ReAct text they parse from (`episode`), trajectory
files users bring or take away (`files`: imported records scored by the score function the caller hands in), and
which trajectories become training examples (`selection`). Imports tasks, recipe and the base modules (the outcome
rule is `studio.outcomes`); storage keeps these types."""
