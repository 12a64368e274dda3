"""extract's map task (tasks/_shards.py): one shard of the night's pages into its part file of each output folder.
No Prefect here: a local worker process running it imports this module and what extraction needs."""

from __future__ import annotations

from pathlib import Path

from tasks._shards import Shard, fault_drill
from tasks._spill import SpillWriter, part_file
from tasks.extract.config import STAGE, ExtractConfig
from tasks.extract.records import OUTPUTS, extract_batch


def output_folders(out: Path) -> list[Path]:
    """Where the sharded stage writes each of OUTPUTS (documents: out/kept)."""
    return [Path(out) / "kept", *(Path(out) / "outputs" / t.name for t in OUTPUTS[1:])]


def extract_shard(shard: Shard, cfg: ExtractConfig, out: Path) -> dict[str, int]:
    """Extract one shard into its part file of each output folder; returns the rows written per table."""
    fault_drill(STAGE, shard)
    folders = output_folders(out)
    writers = [SpillWriter(part_file(f, shard.index), t) for f, t in zip(folders, OUTPUTS, strict=True)]
    for batch in shard.batches():
        for writer, part in zip(writers, extract_batch(batch, cfg), strict=True):
            writer.write(part)
    return {t.name: w.close().num_rows for t, w in zip(OUTPUTS, writers, strict=True)}
