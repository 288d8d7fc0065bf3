"""Store: the run folder. Its layout, lock, manifest and the self-describing files in it. Torch-free."""
