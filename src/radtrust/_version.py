"""The package version, at the bottom of the layers so that any module can stamp it on what it writes."""

__version__ = "0.1.0"
