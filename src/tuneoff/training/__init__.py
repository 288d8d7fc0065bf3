"""Training: the one loop, its step (eager or captured), batching, scoring and the machine's fingerprint."""
