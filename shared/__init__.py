"""Cross-cutting parts every Meritloop service and the worker share."""
