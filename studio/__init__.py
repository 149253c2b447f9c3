"""FireAct Studio: fine-tune language agents on teacher trajectories."""
