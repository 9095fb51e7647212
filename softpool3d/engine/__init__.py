"""Training and evaluation machinery: distributed helpers, optimiser/schedule, checkpoints, meters,
the train loop and the multi-view evaluation."""
