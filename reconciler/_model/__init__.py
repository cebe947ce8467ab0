"""The values every stage shares, with no I/O: OCI media types, digests, descriptors and
manifests (`oci`), registry and repository names (`names`), references as people type them
(`refs`), platforms and containerd's matching (`platforms`), semantic versions (`semver`), floating
aliases' tag matching (`track`), JSON text as `json.dumps(indent=2)` writes it, faster
(`jsontext`)."""
