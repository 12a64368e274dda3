"""Pipeline stages: one module per stage, each a pure function over Arrow data plus a thin Prefect task."""
