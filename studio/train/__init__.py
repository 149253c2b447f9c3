"""LoRA fine-tuning of the student in a worker process (`python -m studio.train RUN_DIR`): model loading,
masks, batches, loss, the loop and multi-device groups. The train stage (`studio.stages.train`) starts it."""
