"""Extract typed fields from clean pages.

In: stg_unique (schemas/stg_pages.py). Out: `documents` rows (kept), `projects`, `contacts` and `mentions`
rows in `outputs`. Quarantines: none (a field that cannot be parsed is null; validation decides what is fatal).
State: none. Sharded: `extract_stage` maps one task per shard of pages (tasks/_shards.py).

Rules live in one module per family: page_fields (title, doc_type, dateline, dates, e-mails), language (langdetect),
project_fields (IDF key/value pages), contact_fields (contact blocks), countries (names → ISO codes),
mentions (money, people counts, years with sentence offsets); records.py puts one page's rows together.
"""

from tasks._stage import lazy_exports
from tasks.extract.config import STAGE, ExtractConfig

# stage.py's names are imported on first use (tasks/_stage.lazy_exports)
__getattr__ = lazy_exports(__name__, "stage", ("extract_fields", "extract_fields_task", "extract_stage"))

__all__ = ["STAGE", "ExtractConfig", "extract_fields", "extract_fields_task", "extract_stage"]
