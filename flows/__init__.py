"""Prefect flows, run bookkeeping and the `docpipe` CLI: wiring only, no data logic."""
