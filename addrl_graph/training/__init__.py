"""Training runs: the trainer, its run folder, comparisons and hyper-parameter search."""
