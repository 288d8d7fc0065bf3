"""Run: the tournament and its executors (this process, a local pool, Ray), a job's lifecycle, tuning
trials, checks before training, interrupts and predictions from a finished run."""
