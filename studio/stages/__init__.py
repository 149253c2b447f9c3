"""The stages a recipe runs, each a plain function of (Recipe, Store) returning data: generate (or import)
trajectories, train, evaluate, rounds, export, with the pipeline that runs them in order, the estimate of
what a run will cost, and the playground. `runs` holds what they share (finding the run to resume, progress),
`runner` builds every agent's episode runner. Imports everything below it, never app or cli."""
