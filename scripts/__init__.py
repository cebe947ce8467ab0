"""Scripts the repository's GitHub Action (`/action.yml`) runs on a runner.

Each is a standalone program using Python's standard library only, so a runner needs nothing
but a Python and this repository; the tests import them as `scripts.NAME`.
"""
