"""Page generators for the docs site (``python docs/generate.py``): references from the code, results from results/."""
