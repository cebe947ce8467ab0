"""The commands of `reconcile`, one module each; `cli.py` parses arguments and calls them.

- `run`: the main command, `reconcile [-f FILE] [--dry-run] ...`: plan and apply;
- `validate`: check config files offline;
- `inspect`: show the manifest at a reference;
- `resolve`: which child a machine of a platform pulls;
- `import`: the manifests.yaml entries that reproduce existing indexes (module `import_`);
- `schema`: JSON Schemas of the config and of the JSON report.

`remote` holds what `inspect`, `resolve` and `import` share: registry settings from `-f FILE`
or `./manifests.yaml`, and a client for the reference's registry. Each command returns an exit
code; none of them parses arguments or decides colours or terminals.
"""

from __future__ import annotations

__all__ = ["EXIT_CHANGES", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK"]

EXIT_OK, EXIT_FAILED, EXIT_CHANGES = 0, 1, 2
EXIT_INTERRUPTED = 130
