"""The one seam to the outside world. Importing the package loads nothing: its modules are
imported by name, so that the pure stages can import the protocol's value types without
loading the HTTP stack.

    interface   the `Registry` protocol the stages hold (reads, writes, deletes)
    registries  `Registries`: the client of each host in one run
    http        the OCI distribution client (ECR composes `ecr` for its own API)
    settings    per-host settings, built by the config
"""
