"""Probes of the stepfunctions patches registered since patch_probes.py was split (see its docstring)."""
