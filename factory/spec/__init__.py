"""Reading a spec, one concern per module; imports flow down this list, never up:

- `loader`: the Python API (`load`, `load_spec`): read, `--set`, compose, validate, errors located.
- `overrides`: `--set key.path=value` on the file as written.
- `compose`: composition of one file; `sweeps`, `extends` (extends and edits), `blocks`, `files`
  (included files and names): its parts.
- `shorthand`: `Dense: 64` spelled out as `Dense: {units: 64}`.
- `yaml_reader`: safe YAML with positions; `document`: the one positioned-data type.

Imports yaml, pydantic and `schemas`; never TensorFlow.
"""
