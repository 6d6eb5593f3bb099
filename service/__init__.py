"""BentoML entry point (see service.py and bentofile.yaml)."""
