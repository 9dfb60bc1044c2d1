"""The actor runtime: signals, actors, neurons, services and the runtime that wires them.

The public names are re-exported from :mod:`hal9`; import them from there.
"""
