"""Identity of a page: `doc_id` (canonical URL, else the file, else the body). Shared by strip_boilerplate (which
recognises a re-delivered record before stripping it) and dedupe; the body hash is `tasks._stage.content_hash`."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pc

from tasks._stage import normalise_host, normalise_hosts, sha256_hex

DOC_ID_HEX_CHARS = 32  # doc_id length (128 bits); DedupeConfig.id_hex_chars
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


def doc_id_for(
    url: str | None, body_hash: str | None, source_uri: str | None = None, hex_chars: int = DOC_ID_HEX_CHARS
) -> str | None:
    """Stable id: the canonical URL; else the file a one-page file came from (a re-scraped file with new text is
    an update); else (a JSON line or archive member without URL) the normalised body (None when `body_hash` is
    None: not known before the boilerplate is stripped)."""
    if url:
        key = "url:" + canonical_url(url)
    elif source_uri and "#" not in source_uri:
        key = "path:" + source_uri
    elif body_hash is None:
        return None
    else:
        key = "body:" + body_hash
    return sha256_hex(key)[:hex_chars]


def doc_ids(
    urls: pa.Array, hashes: list[str] | None, uris: pa.Array, hex_chars: int = DOC_ID_HEX_CHARS
) -> list[str | None]:
    """`doc_id_for` of every row: simple URLs canonicalised with Arrow kernels, the rest row by row (`hashes`
    None: body-identified rows get None)."""
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
    out: list[str | None] = []
    for i, key in enumerate(keys):
        if fast[i]:
            out.append(hashlib.sha256(key.encode()).hexdigest()[:hex_chars])
        else:
            out.append(doc_id_for(url_list[i], hashes[i] if hashes is not None else None, uris[i].as_py(), hex_chars))
    return out
