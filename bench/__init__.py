"""The reconciler benchmark: `make bench` and `make bench-scale` (see BENCHMARKS.md).

Modules: `seed` (what the registry holds), `measure` (child processes measured with wait4),
`floor` (bare HTTP clients, the floor for a Python client), `loops` (one command-line tool
over every alias, one alias at a time), `dockerloop` (the reference workflow) and `peers`
(crane, regctl, oras, manifest-tool) on it, `report` (tables, Markdown, JSON) and `run` (the
command line that wires them).
"""
