"""Gallery as code: a YAML file declares who may pass; plan shows the change, apply makes it."""
