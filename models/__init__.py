"""Model provenance and building: pinned registry packages, converters, manifests, trained artefacts."""
