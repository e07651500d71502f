"""Probes of the lambda patches registered since patch_probes.py was split (see its docstring)."""
