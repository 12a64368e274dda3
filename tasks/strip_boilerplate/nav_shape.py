"""Navigation-shape evidence (issue #18): the leading/trailing block of a page whose lines look like navigation.

A line is *nav-shaped* when it reads like a menu label: short, no sentence punctuation, opening with a capital
(or a letter of a script without case), not a date. It is an *anchor* (strong evidence) when it is also a
navigation word or phrase of a small multilingual vocabulary (home, menu, news, press, about us… in en, fr,
es, pt, ar, ru; never a site's or an organisation's name), a language switcher, a breadcrumb or a bar of short
items between separators (`|`, `>`, `»`, `/`), a label glued to its own teaser ("Our WorkAs the leading…", how
scrapers flatten a mega-menu panel), the duplicate of the line above (a dropdown's label repeated), a cookie
notice, or a line seen on at least two of the group's sampled pages.

The block is the run of lines at the top (or, walking up, at the bottom) made of template lines (frequent on the
sampled pages), nav-shaped lines and anchors. It is navigation only when page text follows it, and it holds a
self-evident line (a separator bar, a breadcrumb, a cookie notice) or at least `min_nav_block_lines` text lines,
one of them an anchor or a template line: a nav-shaped line alone (a heading, a listing's title) is never
removed. Walking from the top, the block's last line is the page's
title, and kept, when it is a plain nav-shaped line (no anchor) of at least `min_nav_title_words` words (or
right above prose); then one anchor right above that heading is enough ("Press centre" over a press release's
headline). A *section label* is an anchor naming a part of the site (news, press centre, about us…, not "Read
more" or "Share"). From the top, the block may open with a *banner*: sentences (at most `max_banner_words`
words in all) such as a site notice ("We're building a new …"); they go with the block only when it holds a
section label, so a listing's first teaser over its "Read more" and a lead sentence over a `| a | b |` table
stay.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable

from tasks._stage import normalise_text
from tasks.strip_boilerplate.config import BoilerplateConfig

# Navigation words and phrases, case-folded (compared accent-blind; one language a line; en, fr, es, pt, ar, ru).
# Section labels name a part of the site: one of them alone, right above a page's heading, is the section the page
# sits in ("Press centre" over a press release), not its title.
_SECTION_VOCABULARY = """
    home|homepage|news|latest news|news releases|newsroom|press|press release|press releases|press centre
    |press center|press room|media|media centre|media center|media centre and news|news and media|news and stories
    |stories|about|about us|who we are|what we do|our work|where we work|careers|jobs|partnerships|partners
    |publications|resources|events
    |accueil|actualités|nouvelles|presse|communiqué|communiqués|communiqué de presse|communiqués de presse
    |salle de presse|médias|espace médias|à propos|qui sommes-nous|qui sommes nous|ce que nous faisons|notre travail
    |inicio|noticias|prensa|comunicado|comunicados|comunicado de prensa|comunicados de prensa|sala de prensa|medios
    |acerca de|sobre nosotros|quiénes somos|qué hacemos|nuestro trabajo
    |início|notícias|imprensa|sala de imprensa|sobre|sobre nós|quem somos|o que fazemos|nosso trabalho
    |الرئيسية|الصفحة الرئيسية|أخبار|الأخبار|المركز الإعلامي|بيان صحفي|بيانات صحفية|من نحن
    |главная|новости|пресс-центр|пресс-релиз|пресс-релизы|медиа|о нас|кто мы|наша работа
"""
# Other navigation: actions, page tools, teaser links, language names (a teaser's "Read more" is no section).
_ACTION_VOCABULARY = """
    main menu|menu|navigation|search|share|share this|share this page|print|email|e-mail|contact|contact us
    |contacts|get involved|take action|donate|donate now|work with us|skip to content|skip to main content
    |skip navigation|sign in|log in|login|subscribe|follow us|sitemap|site map|back|next|previous|contents
    |table of contents|back to top|top|more|read more|privacy|privacy policy|terms of use|cookies|accept|accept all
    |français|english|español|português|العربية|русский|中文|deutsch|italiano
    |rechercher|recherche|partager|contactez-nous|agir|engagez-vous|faire un don|aller au contenu|suivant|précédent
    |sommaire
    |buscar|búsqueda|compartir|contacto|contáctenos|actúa|participa|dona|ir al contenido|siguiente|anterior
    |pesquisar|partilhar|compartilhar|contato|ir para o conteúdo|próximo
    |بحث|شارك|مشاركة|اتصل بنا|القائمة|التالي|السابق
    |меню|поиск|поделиться|контакты|далее|назад
"""


_normalised = functools.lru_cache(maxsize=1 << 12)(normalise_text)  # a page asks for a line and the one above


def _fold(text: str) -> str:
    """Case-folded, whitespace collapsed, accents dropped (menus write "Quienes somos" and "Quiénes somos")."""
    decomposed = unicodedata.normalize("NFKD", normalise_text(text))
    return decomposed if decomposed.isascii() else decomposed.translate(_NOT_COMBINING)


_folded = functools.lru_cache(maxsize=1 << 14)(_fold)  # menu lines recur on every page of a site
_SPACE = re.compile(r"\s")


def _folded_head(line: str, n: int) -> str:
    """`_folded(line)`, or a prefix of it at least `n` characters long: the fold of the line up to a whitespace
    character (normalising, case folding, collapsing whitespace and dropping accents never reach across one)."""
    cut = _SPACE.search(line, 2 * n + 16) if len(line) > 4 * n + 64 else None
    if cut is not None and line[cut.start()].isspace():
        head = _fold(line[: cut.start()])
        if len(head) >= n:
            return head
    return _folded(line)


class _NotCombining(dict):
    """`str.translate` table dropping combining characters, filled as characters are met."""

    def __missing__(self, code: int) -> int | None:
        self[code] = None if unicodedata.combining(chr(code)) else code
        return self[code]


_NOT_COMBINING = _NotCombining()


def _phrases(vocabulary: str) -> frozenset[str]:
    return frozenset(_folded(phrase) for phrase in vocabulary.split("|") if phrase.strip())


_SECTION_PHRASES = _phrases(_SECTION_VOCABULARY)
_NAV_PHRASES = _SECTION_PHRASES | _phrases(_ACTION_VOCABULARY)
_LANGUAGE_CODES = frozenset(["en", "fr", "es", "pt", "ar", "ru", "zh", "de", "it", "ja", "ko"])
_BREADCRUMB = re.compile(
    r"^\W*(you are here|vous êtes ici|usted está aquí|está aquí|você está aqui|вы здесь|أنت هنا)", re.IGNORECASE
)
_COOKIE = re.compile(r"\bcookies?\b|témoins|куки|ملفات تعريف الارتباط", re.IGNORECASE)
_SEPARATOR = re.compile(r"\s+[|>»›/·]\s+")
_BULLET = re.compile(r"^\s*[-–—•·▪*]\s+")
_SENTENCE_END = re.compile(r"[.!?;:,…]\s*$|[.!?]\s+\S")
_MONTH_OR_DATE = re.compile(
    r"\b\d{1,2}[./-]\d{1,2}\b|\b(january|february|march|april|june|july|august|september|october|november"
    r"|december|janvier|février|avril|juin|juillet|août|septembre|octobre|novembre|décembre|enero|febrero|marzo"
    r"|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre)\b",
    re.IGNORECASE,
)
_PROSE = re.compile(r"[.!?…][\"'”’»)]*\s*$|[.!?]\s+[A-Z]")  # a line that ends (or holds the end of) a sentence
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_DIGIT = re.compile(r"\d")

# A line's navigation evidence: none, nav-shaped only, the duplicate of a nav-shaped line above, strong (an anchor
# of its own: vocabulary, switcher, glued teaser, seen on two pages), a section label (an anchor naming a part of
# the site), template, self-evident (a bar, breadcrumb, cookie notice), a banner sentence (above a block only).
NONE, NAV, DUPLICATE, STRONG, TEMPLATE, SELF_EVIDENT, SECTION, BANNER = range(8)
ANCHORS = frozenset([STRONG, TEMPLATE, SELF_EVIDENT, SECTION])


def _label(line: str) -> str:
    """The line without a leading bullet, whitespace collapsed."""
    return " ".join(_BULLET.sub("", line).split())


def _opens_like_a_label(text: str) -> bool:
    first = _LETTER.search(text)
    if first is None:
        return False
    ch = first.group()
    return ch.isupper() or not ch.islower()  # a capital, or a script without case (Arabic, CJK)


def is_nav_shaped(line: str, cfg: BoilerplateConfig) -> bool:
    """Short label: at most `max_nav_words` words and `max_nav_chars` characters, no sentence punctuation, opens
    with a capital (or an uncased letter), more letters than digits, not a date."""
    text = _label(line)
    words = text.split()
    if not words or len(words) > cfg.max_nav_words or len(text) > cfg.max_nav_chars:
        return False
    if _SENTENCE_END.search(text) or _MONTH_OR_DATE.search(text):
        return False
    return _opens_like_a_label(text) and len(_LETTER.findall(text)) > len(_DIGIT.findall(text))


def _is_section_label(text: str) -> bool:
    return _folded(text).strip(" -–—:·|»>") in _SECTION_PHRASES


def _is_vocabulary(text: str) -> bool:
    norm = _folded(text).strip(" -–—:·|»>")
    if norm in _NAV_PHRASES:
        return True
    tokens = [t for t in re.split(r"[\s|/·,]+", norm) if t]
    return len(tokens) >= 2 and all(t in _NAV_PHRASES or t in _LANGUAGE_CODES for t in tokens)  # a language bar


def _is_separated_bar(text: str, cfg: BoilerplateConfig) -> bool:
    """Short labels between separators: a menu bar or a breadcrumb ("Home > News > Africa")."""
    parts = _SEPARATOR.split(text)
    return len(parts) >= 2 and all(len(p.split()) <= cfg.max_short_line_words and is_nav_shaped(p, cfg) for p in parts)


def _glued_to(line: str, above: str | None) -> bool:
    """A label printed again at the start of its teaser, without a space ("Who we are" → "WHO WE AREThe …")."""
    if not above:
        return False
    label = _folded(_label(above))
    if len(label) < 3:
        return False
    head = _folded_head(line, len(label) + 1)  # a long line is folded only as far as the label reaches
    return head.startswith(label) and len(head) > len(label) and head[len(label)].isalnum()


def line_evidence(line: str, above: str | None, seen_twice: Callable[[], bool], cfg: BoilerplateConfig) -> int:
    """The navigation evidence of `line` (NONE, NAV, DUPLICATE, STRONG, SECTION or SELF_EVIDENT), given the text
    line above it and whether it is on two of the group's sampled pages (asked only when that decides: the
    re-strip reaches the pages that asked, model.twice_key)."""
    text = _label(line)
    if _BREADCRUMB.match(text) or (_COOKIE.search(text) and len(text.split()) <= cfg.max_cookie_words):
        return SELF_EVIDENT
    if _is_separated_bar(text, cfg):
        return SELF_EVIDENT
    if _glued_to(line, above):
        return STRONG
    if not is_nav_shaped(line, cfg):
        return NONE
    if _is_section_label(text):
        return SECTION
    if _is_vocabulary(text) or seen_twice():
        return STRONG
    return DUPLICATE if above is not None and _normalised(line) == _normalised(above) else NAV


def _text_above(lines: list[str], i: int, is_trivial: Callable[[str], bool]) -> str | None:
    """The nearest text line above line `i` (letter-free lines skipped), if any within a few lines."""
    for j in range(i - 1, max(i - 4, -1), -1):
        if not is_trivial(lines[j]):
            return lines[j]
    return None


def _is_banner_line(line: str, words_before: int, cfg: BoilerplateConfig) -> bool:
    """A site notice's sentence: not label-shaped, ends like a sentence, and the leading sentences stay within
    `max_banner_words` words."""
    return bool(_PROSE.search(line)) and words_before + len(line.split()) <= cfg.max_banner_words


def nav_block(
    lines: list[str],
    order: Iterable[int],
    is_template: Callable[[int], bool],
    seen_twice: Callable[[int], bool],
    is_trivial: Callable[[str], bool],
    cfg: BoilerplateConfig,
    from_top: bool,
) -> set[int]:
    """Indices of the navigation block met walking `order` (see the module docstring); empty when there is none.
    `is_template`: the line is frequent on the sampled pages; `seen_twice`: it is on two of them (the page's
    own included). From the top, the block may open with a banner: short sentences (a site notice) count as
    navigation only when the block under them holds a section label."""
    members: list[tuple[int, int]] = []  # (index, evidence)
    follower = None  # the first line past the block
    banner_words = 0
    opens_page = from_top  # no member yet but banner lines
    for i in order:
        if is_trivial(lines[i]):
            continue
        if is_template(i):
            evidence = TEMPLATE
        else:
            evidence = line_evidence(lines[i], _text_above(lines, i, is_trivial), functools.partial(seen_twice, i), cfg)
        if evidence == NONE and opens_page and _is_banner_line(lines[i], banner_words, cfg):
            banner_words += len(lines[i].split())
            evidence = BANNER
        if evidence == NONE:
            follower = lines[i]
            break
        members.append((i, evidence))
        opens_page = opens_page and evidence == BANNER
    if follower is None:
        return set()  # nothing but navigation-like lines: no evidence of where the page's text is
    has_heading = from_top and _drop_heading(members, lines, follower, cfg)
    return {i for i, _ in members} if _is_navigation(members, has_heading, cfg) else set()


def _is_navigation(members: list[tuple[int, int]], has_heading: bool, cfg: BoilerplateConfig) -> bool:
    """Whether the block (its heading dropped) is navigation: a self-evident line, or at least
    `min_nav_block_lines` lines with an anchor, or a lone anchor right above the page's heading. A banner counts
    only above a section label (a separator bar may be a table's first row under a lead sentence)."""
    below = [e for _, e in members if e != BANNER]
    if not below or (len(below) < len(members) and SECTION not in below):
        return False
    if SELF_EVIDENT in below:
        return True
    if not ANCHORS & set(below):
        return False
    return len(below) >= cfg.min_nav_block_lines or has_heading


def _drop_heading(members: list[tuple[int, int]], lines: list[str], follower: str, cfg: BoilerplateConfig) -> bool:
    """Keep the page's heading out of a leading block: its last line when it is a plain label (no anchor, no
    bullet) of at least `min_nav_title_words` words or right above prose (a heading, not a crumb above the
    title), with the copy of it printed right above. True when a heading was dropped."""
    if not members or _BULLET.match(lines[members[-1][0]]):
        return False
    if len(lines[members[-1][0]].split()) < cfg.min_nav_title_words and not _PROSE.search(follower):
        return False
    if members[-1][1] == NAV:
        members.pop()
        return True
    if members[-1][1] == DUPLICATE and len(members) >= 2 and members[-2][1] == NAV:
        del members[-2:]
        return True
    return False
