"""Probes of the dynamodb patches registered since patch_probes.py was split (see its docstring)."""
