"""Report: report.html and report.md drawn from a run folder's results and board. Torch-free."""
