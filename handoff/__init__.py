"""The analysts' hand-off (not a stage): table versions and complete runs, exports, diffs between runs, run
reports and the analysts' DuckDB file. Reads the warehouse (tasks/_warehouse.py), writes only derived files
(exports, reports, analyst.duckdb), never a table. Layers: schemas ← tasks ← handoff ← flows."""
