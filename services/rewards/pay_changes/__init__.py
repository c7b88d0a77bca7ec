"""Approved merit increases written back as compensation records from an effective date."""
