"""radtrust: private, fair and label-honest radiology AI."""

__version__ = "0.1.0"
