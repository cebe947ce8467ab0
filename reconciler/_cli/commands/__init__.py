"""The commands of `reconcile`, one module each; `_cli/main.py` parses arguments and
imports the one module it calls, so that `--help` loads none of them.

- `run`: the main command, `reconcile [-f FILE] [--dry-run] ...`: plan and apply;
- `apply`: a plan saved with `--dry-run --plan-out`, rechecked, then written (its run is
  `run`'s; the module holds the plan file's side);
- `validate`: check config files offline;
- `inspect`: show the manifest at a reference;
- `resolve`: which child a machine of a platform pulls;
- `import`: the manifests.yaml entries that reproduce existing indexes (module `import_`);
- `schema`: JSON Schemas of the config, of the JSON report and of the plan file.

`remote` holds what `inspect`, `resolve` and `import` share: registry settings from `-f FILE`
or `./manifests.yaml`, and a client for the reference's registry. Each command returns an exit
code; none of them parses arguments or decides colours or terminals.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_CONFIG", "EXIT_CHANGES", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK"]

DEFAULT_CONFIG = Path("manifests.yaml")  # the config file a command reads unless told

EXIT_OK, EXIT_FAILED, EXIT_CHANGES = 0, 1, 2
EXIT_INTERRUPTED = 130
