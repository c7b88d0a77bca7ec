"""Temporal workflows and activities that orchestrate the review cycle."""
