"""facegate engine: detection, alignment, embedding and matching, free of any GUI toolkit."""

__version__ = "0.1.0"
