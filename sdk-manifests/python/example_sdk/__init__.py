"""A stand-in Python SDK, shipped as a wheel into the example container."""

__version__ = "0.1.0"
