"""LoRA fine-tuning of the student on stored trajectories; runs in a worker process."""
