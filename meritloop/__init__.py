"""The composition root: the `meritloop` command, the launcher and the demo data.

The only package that knows every part (services, workflows, shared); nothing imports it
except tests and benchmarks.
"""
