"""Reading a spec: safe YAML with positions, composition (include, blocks, extends, sweeps), `--set`, validation.

Imports yaml, pydantic and `schemas`; never TensorFlow.
"""
