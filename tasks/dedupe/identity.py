"""Identity of a page: `doc_id` (canonical URL, else file, else body); the body hash is `tasks._stage.content_hash`."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pc

from tasks._stage import normalise_host, normalise_hosts, sha256_hex
from tasks.dedupe.config import DedupeConfig

# Plain http(s) URLs of printable ASCII without user info or IPv6 host: canonicalised by Arrow kernels; any
# other URL goes through canonical_url (urllib). test_dedupe.py checks both paths agree.
_SIMPLE_URL = (
    r"^(?P<scheme>[Hh][Tt][Tt][Pp][Ss]?)://(?P<host>[A-Za-z0-9_.-]+)(?::[0-9]*)?"
    r"(?P<path>/[!-\"$->@-~]*)?(?:\?(?P<query>[!-\"$-~]*))?(?:#[!-~]*)?$"
)


def canonical_url(url: str) -> str:
    parts = urlsplit(url.strip())
    host = normalise_host(parts.hostname or "")
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower() or "http", host, path, parts.query, ""))


def doc_id_for(url: str | None, body_hash: str, cfg: DedupeConfig, source_uri: str | None = None) -> str:
    """Stable id: the canonical URL; else the file a one-page file came from (a re-scraped file with new text is
    an update); else (a JSON line or archive member without URL) the normalised body."""
    if url:
        key = "url:" + canonical_url(url)
    elif source_uri and "#" not in source_uri:
        key = "path:" + source_uri
    else:
        key = "body:" + body_hash
    return sha256_hex(key)[: cfg.id_hex_chars]


def doc_ids(urls: pa.Array, hashes: list[str], uris: pa.Array, cfg: DedupeConfig) -> list[str]:
    """`doc_id_for` of every row: simple URLs canonicalised with Arrow kernels, the rest row by row."""
    m = pc.extract_regex(pc.fill_null(urls, ""), _SIMPLE_URL)
    host = normalise_hosts(m.field("host"))
    path = pc.utf8_rtrim(m.field("path"), "/")
    path = pc.if_else(pc.equal(path, ""), "/", path)
    query = m.field("query")
    query = pc.if_else(pc.equal(query, ""), "", pc.binary_join_element_wise("?", query, ""))
    keys = pc.binary_join_element_wise("url:", pc.utf8_lower(m.field("scheme")), "://", host, path, query, "")
    fast = pc.and_(m.is_valid(), pc.not_equal(host, "")).to_numpy(zero_copy_only=False)
    keys = keys.to_pylist()
    url_list = urls.to_pylist()
    out = []
    for i, key in enumerate(keys):
        if fast[i]:
            out.append(hashlib.sha256(key.encode()).hexdigest()[: cfg.id_hex_chars])
        else:
            out.append(doc_id_for(url_list[i], hashes[i], cfg, uris[i].as_py()))
    return out
