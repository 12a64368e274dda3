"""Test helpers: paths to the real data in ../shared, and small builders of stage inputs.

Without ../shared (a clone outside the team), whatever needs the data skips with one reason: importing SHARED,
SEEDS or CORPUS from here skips the importing module at collection, and the helpers that read the data skip the
test that calls them. With DOCPIPE_REQUIRE_SHARED=1 (set by .ci/run) the missing data is an error instead, so CI
never passes by skipping.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from schemas import BOILERPLATE_PAGES, INGESTED_FILES, reasons
from tasks._progress import current_step, listening
from tasks._shards import worker_processes
from tasks.history import History
from tasks.ingest import IngestConfig, ingest_dumps, ingest_stage
from tasks.sizes import Sizes
from tasks.strip_boilerplate import BoilerplateConfig, strip_boilerplate

ROOT = Path(__file__).resolve().parent.parent
_SHARED = Path(os.environ.get("DOCPIPE_SHARED", ROOT.parent / "shared"))
_DATA_PATHS = {"SHARED": _SHARED, "SEEDS": _SHARED / "seeds", "CORPUS": _SHARED / "corpus"}
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def need_shared() -> Path:
    """The ../shared folder; skips the calling test (or module, at collection) when it is absent."""
    if not (_DATA_PATHS["SEEDS"].is_dir() and _DATA_PATHS["CORPUS"].is_dir()):
        message = f"needs the test data in ../shared (not found at {_SHARED}; set DOCPIPE_SHARED)"
        if os.environ.get("DOCPIPE_REQUIRE_SHARED") == "1":
            pytest.fail(f"{message}, and DOCPIPE_REQUIRE_SHARED=1 forbids skipping", pytrace=False)
        pytest.skip(message, allow_module_level=True)
    return _SHARED


def __getattr__(name: str) -> Path:
    """SHARED, SEEDS and CORPUS: a module that imports one needs the data (PEP 562 module attribute)."""
    if name in _DATA_PATHS:
        need_shared()
        return _DATA_PATHS[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def seed_files() -> list[Path]:
    return sorted((need_shared() / "seeds").glob("*.txt"))


def seed_dir(tmp_path: Path) -> Path:
    """A raw folder holding a copy of the five seed pages."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in seed_files():
        shutil.copy(f, raw / f.name)
    return raw


def corpus_pages() -> list[dict]:
    with (need_shared() / "corpus" / "pages.jsonl").open() as fh:
        return [json.loads(line) for line in fh]


def corpus_labels() -> list[dict]:
    with (need_shared() / "corpus" / "labels.jsonl").open() as fh:
        return [json.loads(line) for line in fh]


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def ingest_in_shards(
    raw: Path, warehouse: Path, shard_bytes: int, out: Path, processes: int = 2, run_id: str = "night"
):
    """The flow's ingest stage on `processes` worker processes, against the warehouse's registry and tables (the
    caller runs a Prefect server: prefect_test_harness)."""
    with worker_processes(processes):
        history = History.latest(warehouse)
        return ingest_stage(raw, history, IngestConfig(), run_id, NOW, Sizes(shard_bytes=shard_bytes), out=out)


def ingest(raw: Path, run_id: str = "test-run", registry: pa.Table | None = None, **cfg):
    return ingest_dumps(
        raw, registry if registry is not None else INGESTED_FILES.empty(), IngestConfig(**cfg), run_id, NOW
    )


def write_jsonl_dump(raw: Path, records: list[dict]) -> Path:
    """`raw` (created) holding `records` as one JSON Lines dump, `dump.jsonl`."""
    raw.mkdir(parents=True)
    with (raw / "dump.jsonl").open("w") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    return raw


def clean(pages: pa.Table, samples: pa.Table | None = None, **cfg):
    return strip_boilerplate(
        pages, samples if samples is not None else BOILERPLATE_PAGES.empty(), BoilerplateConfig(**cfg)
    )


# ---- hostile input: one builder per bad-input kind (tests/tasks/test_ingest_bad_input.py, flows/test_bad_input.py)

Expected = tuple[dict[str, str], set[str]]  # (quarantined source_uri → reason, good source_uris of the same file)
_MB = 1_000_000


def good_text(i: int) -> str:
    """A short page whose every line is its own (no line repeats across pages, so none is template)."""
    return (
        f"Field report {i}: the office in district {i * 7 % 97} registered {i * 37 % 1000} arrivals.\n"
        f"Volunteers number {i * 11 % 89} this week, {i % 5 + 2} more than on day {i % 30 + 1}.\n"
        f"Reference {i:05d}-{i * 13 % 1009}: shelter capacity {i * 3 % 400 + 100} beds.\n"
    )


def good_line(i: int) -> str:
    return json.dumps({"url": f"https://good.example.org/report/{i}", "text": good_text(i)})


def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(path, "w") as tf:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tf.addfile(info, io.BytesIO(data) if info.isfile() else None)


def _tar_info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def _warc(path: Path, records: list[tuple[str, str, bytes]]) -> list[int]:
    """A plain WARC of (record type, content type, payload) records; returns each record's byte offset."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    offsets = []
    for i, (rec_type, ctype, body) in enumerate(records):
        offsets.append(buf.tell())
        url = f"https://good.example.org/warc/{i}"
        if rec_type == "revisit":
            record = writer.create_revisit_record(url, "sha1:AAAA", url, "2026-01-01T00:00:00Z")
        else:
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            record = writer.create_warc_record(url, rec_type, payload=io.BytesIO(body), http_headers=http)
        writer.write_record(record)
    path.write_bytes(buf.getvalue())
    return offsets


def _link_to_file_outside(raw: Path, outside: Path) -> Expected:
    (outside / "secret.txt").write_text("root:x:0:0:root:/root:/bin/bash\nTop secret outside the raw folder.\n")
    (raw / "secret.txt").symlink_to(outside / "secret.txt")
    return {"secret.txt": reasons.INGEST_LINK}, set()


def _link_to_folder_outside(raw: Path, outside: Path) -> Expected:
    (outside / "tree").mkdir()
    (outside / "tree" / "page.txt").write_text(good_text(900))
    (raw / "mounted").symlink_to(outside / "tree", target_is_directory=True)
    return {"mounted": reasons.INGEST_LINK}, set()


def _link_inside_raw(raw: Path, outside: Path) -> Expected:
    (raw / "real.txt").write_text(good_text(901))
    (raw / "alias.txt").symlink_to("real.txt")
    return {"alias.txt": reasons.INGEST_LINK}, {"real.txt"}


def _dangling_link(raw: Path, outside: Path) -> Expected:
    (raw / "gone.txt").symlink_to(outside / "never-written.txt")
    return {"gone.txt": reasons.INGEST_LINK}, set()


def _fifo(raw: Path, outside: Path) -> Expected:
    os.mkfifo(raw / "pipe.jsonl")  # opening it for reading would block a naive reader for ever
    return {"pipe.jsonl": reasons.INGEST_SPECIAL_FILE}, set()


def _name_not_utf8(raw: Path, outside: Path) -> Expected:
    (raw / os.fsdecode(b"caf\xe9-report.txt")).write_text(good_text(902))
    return {"caf%E9-report.txt": reasons.INGEST_BAD_NAME}, set()


def _tar_member_name_not_utf8(raw: Path, outside: Path) -> Expected:
    _tar(
        raw / "names.tar",
        [
            (_tar_info(os.fsdecode(b"r\xe9sum\xe9.txt")), good_text(903).encode()),
            (_tar_info("ok.txt"), good_text(923).encode()),
        ],
    )
    return {"names.tar#member=r%E9sum%E9.txt": reasons.INGEST_BAD_NAME}, {"names.tar#member=ok.txt"}


def _tar_links(raw: Path, outside: Path) -> Expected:
    _tar(
        raw / "links.tar",
        [
            (_tar_info("a.txt"), good_text(904).encode()),
            (_tar_info("hard.txt", tarfile.LNKTYPE, "a.txt"), b""),
            (_tar_info("passwd.txt", tarfile.SYMTYPE, "/etc/passwd"), b""),
        ],
    )
    rejects = {"links.tar#member=hard.txt": reasons.INGEST_LINK, "links.tar#member=passwd.txt": reasons.INGEST_LINK}
    return rejects, {"links.tar#member=a.txt"}


def _tar_devices(raw: Path, outside: Path) -> Expected:
    null = _tar_info("dev/null.txt", tarfile.CHRTYPE)
    null.devmajor, null.devminor = 1, 3
    _tar(
        raw / "devices.tar",
        [
            (null, b""),
            (_tar_info("dev/pipe.txt", tarfile.FIFOTYPE), b""),
            (_tar_info("ok.txt"), good_text(905).encode()),
        ],
    )
    rejects = {
        "devices.tar#member=dev/null.txt": reasons.INGEST_SPECIAL_FILE,
        "devices.tar#member=dev/pipe.txt": reasons.INGEST_SPECIAL_FILE,
    }
    return rejects, {"devices.tar#member=ok.txt"}


def _zip_symlink_member(raw: Path, outside: Path) -> Expected:
    link = zipfile.ZipInfo("passwd.txt")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    _zip(raw / "links.zip", [(link, b"/etc/passwd"), ("ok.txt", good_text(906).encode())])
    return {"links.zip#member=passwd.txt": reasons.INGEST_LINK}, {"links.zip#member=ok.txt"}


def _member_paths_escape(raw: Path, outside: Path) -> Expected:
    _zip(raw / "escape.zip", [("../up.txt", b"x"), ("ok.txt", good_text(907).encode())])
    _tar(raw / "escape.tar", [(_tar_info("/etc/cron.d/job.txt"), b"x"), (_tar_info("ok.txt"), good_text(908).encode())])
    rejects = {
        "escape.zip#member=../up.txt": reasons.INGEST_UNSAFE_PATH,
        "escape.tar#member=/etc/cron.d/job.txt": reasons.INGEST_UNSAFE_PATH,
    }
    return rejects, {"escape.zip#member=ok.txt", "escape.tar#member=ok.txt"}


def _page_text_over_max_text_chars(raw: Path, outside: Path) -> Expected:
    (raw / "long.txt").write_text("word " * 600_000)  # 3 million characters on one line
    return {"long.txt": reasons.INGEST_TEXT_TOO_LONG}, set()


def _page_over_max_record_bytes(raw: Path, outside: Path) -> Expected:
    with (raw / "huge.txt").open("w") as fh:  # 30 MB on one line
        for _ in range(30):
            fh.write("word " * (_MB // 5))
    return {"huge.txt": reasons.INGEST_TOO_LARGE}, set()


def _json_line_50mb_string(raw: Path, outside: Path) -> Expected:
    with (raw / "big-string.jsonl").open("w") as fh:
        fh.write(good_line(910) + '\n{"url": "https://good.example.org/big", "text": "')
        for _ in range(50):
            fh.write("x" * _MB)
        fh.write('"}\n' + good_line(911) + "\n")
    lines = {"big-string.jsonl#line=1", "big-string.jsonl#line=3"}
    return {"big-string.jsonl#line=2": reasons.INGEST_TOO_LARGE}, lines


def _json_line_text_over_max_text_chars(raw: Path, outside: Path) -> Expected:
    long = json.dumps({"url": "https://good.example.org/long", "text": "word " * 600_000})
    (raw / "long-text.jsonl").write_text("\n".join([good_line(912), long, good_line(913)]) + "\n")
    lines = {"long-text.jsonl#line=1", "long-text.jsonl#line=3"}
    return {"long-text.jsonl#line=2": reasons.INGEST_TEXT_TOO_LONG}, lines


def _warc_revisit(raw: Path, outside: Path) -> Expected:
    offsets = _warc(raw / "revisit.warc", [("response", "text/plain", good_text(914).encode()), ("revisit", "", b"")])
    return {f"revisit.warc#offset={offsets[1]}": reasons.INGEST_WARC_REVISIT}, {f"revisit.warc#offset={offsets[0]}"}


def _pdf_in_warc(raw: Path, outside: Path) -> Expected:
    records = [("response", "application/pdf", b"%PDF-1.7\n..."), ("response", "text/plain", good_text(915).encode())]
    offsets = _warc(raw / "mixed.warc", records)
    return {f"mixed.warc#offset={offsets[0]}": reasons.INGEST_UNSUPPORTED_MEDIA}, {f"mixed.warc#offset={offsets[1]}"}


def _gzip_of_binary(raw: Path, outside: Path) -> Expected:
    (raw / "data.jsonl.gz").write_bytes(gzip.compress(bytes(range(256)) * 64))  # valid gzip, binary inside
    return {"data.jsonl.gz": reasons.INGEST_BINARY}, set()


def _zero_length_members(raw: Path, outside: Path) -> Expected:
    _zip(raw / "zero.zip", [("empty.txt", b""), ("ok.txt", good_text(916).encode())])
    _tar(raw / "zero.tar", [(_tar_info("empty.txt"), b""), (_tar_info("ok.txt"), good_text(917).encode())])
    rejects = {"zero.zip#member=empty.txt": reasons.INGEST_EMPTY, "zero.tar#member=empty.txt": reasons.INGEST_EMPTY}
    return rejects, {"zero.zip#member=ok.txt", "zero.tar#member=ok.txt"}


def _empty_file(raw: Path, outside: Path) -> Expected:
    (raw / "empty.html").write_bytes(b"")
    return {"empty.html": reasons.INGEST_EMPTY}, set()


def _binary_file(raw: Path, outside: Path) -> Expected:
    (raw / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(4096))
    return {"image.txt": reasons.INGEST_BINARY}, set()


def _bad_json_lines(raw: Path, outside: Path) -> Expected:
    lines = [good_line(918), "{broken", "[1, 2]", json.dumps({"url": "https://good.example.org/x", "title": "t"})]
    (raw / "bad.jsonl").write_text("\n".join([*lines, good_line(919)]) + "\n")
    rejects = {
        "bad.jsonl#line=2": reasons.INGEST_BAD_JSON,
        "bad.jsonl#line=3": reasons.INGEST_BAD_JSON,
        "bad.jsonl#line=4": reasons.INGEST_NO_TEXT,
    }
    return rejects, {"bad.jsonl#line=1", "bad.jsonl#line=5"}


def _truncated_gzip(raw: Path, outside: Path) -> Expected:
    data = gzip.compress("".join(good_text(i) for i in range(920, 960)).encode())
    (raw / "cut.txt.gz").write_bytes(data[: len(data) // 2])  # a page cut in half is no page (lines of a cut
    return {"cut.txt.gz": reasons.INGEST_TRUNCATED}, set()  # JSONL stay: test_ingest_formats.py)


def _archive_bombs(raw: Path, outside: Path) -> Expected:
    (raw / "bomb.txt.gz").write_bytes(gzip.compress(b"a" * (3 * _MB)))  # ratio ~1000 > max_expansion_ratio
    nested = good_text(960).encode()
    for _ in range(6):
        nested = gzip.compress(nested)
    (raw / "deep.txt.gz").write_bytes(nested)  # six gzip layers > max_nesting_depth
    return {"bomb.txt.gz": reasons.INGEST_ARCHIVE_BOMB, "deep.txt.gz": reasons.INGEST_ARCHIVE_BOMB}, set()


def _zip_inside_gzip(raw: Path, outside: Path) -> Expected:
    _zip(outside / "inner.zip", [("ok.txt", good_text(961).encode())])
    (raw / "inner.zip.gz").write_bytes(gzip.compress((outside / "inner.zip").read_bytes()))
    return {"inner.zip.gz": reasons.INGEST_UNREADABLE}, set()


BAD_INPUT_KINDS = {
    f.__name__.lstrip("_"): f
    for f in (
        _link_to_file_outside,
        _link_to_folder_outside,
        _link_inside_raw,
        _dangling_link,
        _fifo,
        _name_not_utf8,
        _tar_member_name_not_utf8,
        _tar_links,
        _tar_devices,
        _zip_symlink_member,
        _member_paths_escape,
        _page_text_over_max_text_chars,
        _page_over_max_record_bytes,
        _json_line_50mb_string,
        _json_line_text_over_max_text_chars,
        _warc_revisit,
        _pdf_in_warc,
        _gzip_of_binary,
        _zero_length_members,
        _empty_file,
        _binary_file,
        _bad_json_lines,
        _truncated_gzip,
        _archive_bombs,
        _zip_inside_gzip,
    )
}


def build_bad_inputs(raw: Path, outside: Path, kinds: list[str] | None = None) -> Expected:
    """Writes the named kinds (default: all) under `raw` (targets of links under `outside`); what to expect."""
    rejects: dict[str, str] = {}
    pages: set[str] = set()
    for name in kinds or BAD_INPUT_KINDS:
        kind_rejects, kind_pages = BAD_INPUT_KINDS[name](raw, outside)
        rejects |= kind_rejects
        pages |= kind_pages
    return rejects, pages


def tree_snapshot(root: Path) -> dict[str, tuple]:
    """Mode, size and mtime of every entry under `root` (links as themselves): to show a run wrote nothing there."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.join(dirpath, name)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def with_column(pages: pa.Table, name: str, values: list) -> pa.Table:
    """`pages` with column `name` replaced by `values` (strings)."""
    return pages.set_column(pages.schema.get_field_index(name), name, pa.array(values, pa.string()))


def night_two_of(night_one: pa.Table, n_again: int, edited: int, copies_of: str) -> tuple[pa.Table, pa.Table]:
    """A second night: night one's first `n_again` pages again, the `edited`-th of them with a paragraph added
    (an update), and the pages whose URL contains `copies_of` (mirror copies, to be re-delivered elsewhere)."""
    again = night_one.slice(0, n_again)
    texts = again.column("text").to_pylist()
    texts[edited] += "\nA paragraph added after the first publication, long enough to change the body's hash."
    copies = night_one.filter(pc.match_substring(pc.fill_null(night_one.column("url"), ""), copies_of))
    return with_column(again, "text", texts), copies


@contextmanager
def records_by_step() -> Iterator[list[tuple[str | None, int]]]:
    """The records a stage reports to the run's progress in the block, in order, under the name of the step open
    when it reported them (None: none)."""
    seen: list[tuple[str | None, int]] = []
    with listening(lambda n: seen.append((getattr(current_step(), "name", None), n))):
        yield seen


def step_totals(seen: list[tuple[str | None, int]]) -> list[tuple[str | None, int]]:
    """`records_by_step`'s records summed over each run of one step: [(step, records)]."""
    return [(name, sum(n for _, n in group)) for name, group in itertools.groupby(seen, key=lambda s: s[0])]
