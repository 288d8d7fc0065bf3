"""tuneoff: fair, reproducible tournaments of fine-tuning strategies for text classifiers."""

__version__ = "0.2.0"
