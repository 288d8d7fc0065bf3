"""Verdict: statistics, the leaderboard's rules and its rows, read from a run folder. Torch-free."""
