"""The read side: scores with intervals, comparisons and outcome counts (`insight`), dashboards and share
pages, text reports, the rounds table and experiment tracking. Reads the store; imports recipe, trajectories
and storage, never the stages (they import it)."""
