"""Synthetic cohorts for demos, tests and benchmarks: chest and mammography reports, mammography films and
de-identification corpora with planted identifiers.

This package sits above the core: it may import any layer below it, and nothing in the core imports it, so
no generator can leak into a pipeline that reads a user's data. No generator takes a parameter fitted on
real patient data.
"""
