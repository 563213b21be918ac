"""Training: losses, pairs and their registration, the simulator's calibration, the loop and the fine-tune job."""
