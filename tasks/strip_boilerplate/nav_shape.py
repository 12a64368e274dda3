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
title, and kept, when it is a plain nav-shaped line (no anchor) of at least `min_nav_title_words` words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from tasks._stage import normalise_text
from tasks.strip_boilerplate.config import BoilerplateConfig

# Navigation words and phrases, case-folded, accents kept (one language a line; en, fr, es, pt, ar, ru).
_NAV_VOCABULARY = """
    home|homepage|main menu|menu|navigation|search|share|share this|share this page|print|email|e-mail|contact
    |contact us|contacts|news|latest news|news releases|newsroom|press|press release|press releases|press centre
    |press center|press room|media|media centre|media center|media centre and news|news and media|news and stories
    |stories|about|about us|who we are|what we do|our work|where we work|get involved|take action|donate|donate now
    |work with us|careers|jobs|partnerships|partners|publications|resources|events|skip to content
    |skip to main content|skip navigation|sign in|log in|login|subscribe|follow us|sitemap|site map|back|next
    |previous|contents|table of contents|back to top|top|more|read more|privacy|privacy policy|terms of use|cookies
    |accept|accept all|français|english|español|português|العربية|русский|中文|deutsch|italiano
    |accueil|rechercher|recherche|partager|contactez-nous|actualités|nouvelles|presse|communiqué|communiqués
    |communiqué de presse|communiqués de presse|salle de presse|médias|espace médias|à propos|qui sommes-nous
    |qui sommes nous|ce que nous faisons|notre travail|agir|engagez-vous|faire un don|aller au contenu|suivant
    |précédent|sommaire
    |inicio|buscar|búsqueda|compartir|contacto|contáctenos|noticias|prensa|comunicado|comunicados
    |comunicado de prensa|comunicados de prensa|sala de prensa|medios|acerca de|sobre nosotros|quiénes somos
    |qué hacemos|nuestro trabajo|actúa|participa|dona|ir al contenido|siguiente|anterior
    |início|pesquisar|partilhar|compartilhar|contato|notícias|imprensa|sala de imprensa|sobre|sobre nós|quem somos
    |o que fazemos|nosso trabalho|ir para o conteúdo|próximo
    |الرئيسية|الصفحة الرئيسية|بحث|شارك|مشاركة|اتصل بنا|أخبار|الأخبار|المركز الإعلامي|بيان صحفي|بيانات صحفية|من نحن
    |القائمة|التالي|السابق
    |главная|меню|поиск|поделиться|контакты|новости|пресс-центр|пресс-релиз|пресс-релизы|медиа|о нас|кто мы
    |наша работа|далее|назад
"""


def _folded(text: str) -> str:
    """Case-folded, whitespace collapsed, accents dropped (menus write "Quienes somos" and "Quiénes somos")."""
    decomposed = unicodedata.normalize("NFKD", normalise_text(text))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_NAV_PHRASES = frozenset(_folded(phrase) for phrase in _NAV_VOCABULARY.split("|") if phrase.strip())
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
# of its own: vocabulary, switcher, breadcrumb, glued teaser, cookie notice, seen on two pages), template.
NONE, NAV, DUPLICATE, STRONG, TEMPLATE, SELF_EVIDENT = range(6)  # SELF_EVIDENT: a bar, breadcrumb, cookie notice


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
    head, label = _folded(line), _folded(_label(above))
    return len(label) >= 3 and head.startswith(label) and len(head) > len(label) and head[len(label)].isalnum()


def line_evidence(line: str, above: str | None, seen_twice: bool, cfg: BoilerplateConfig) -> int:
    """The navigation evidence of `line` (NONE, NAV, DUPLICATE or STRONG), given the text line above it and
    whether it is on two of the group's sampled pages."""
    text = _label(line)
    if _BREADCRUMB.match(text) or (_COOKIE.search(text) and len(text.split()) <= cfg.max_cookie_words):
        return SELF_EVIDENT
    if _is_separated_bar(text, cfg):
        return SELF_EVIDENT
    if _glued_to(line, above):
        return STRONG
    if not is_nav_shaped(line, cfg):
        return NONE
    if seen_twice or _is_vocabulary(text):
        return STRONG
    return DUPLICATE if above is not None and normalise_text(line) == normalise_text(above) else NAV


def _text_above(lines: list[str], i: int, is_trivial: Callable[[str], bool]) -> str | None:
    """The nearest text line above line `i` (letter-free lines skipped), if any within a few lines."""
    for j in range(i - 1, max(i - 4, -1), -1):
        if not is_trivial(lines[j]):
            return lines[j]
    return None


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
    own included)."""
    members: list[tuple[int, int]] = []  # (index, evidence)
    follower = None  # the first line past the block
    for i in order:
        if is_trivial(lines[i]):
            continue
        above = _text_above(lines, i, is_trivial)
        evidence = TEMPLATE if is_template(i) else line_evidence(lines[i], above, seen_twice(i), cfg)
        if evidence == NONE:
            follower = lines[i]
            break
        members.append((i, evidence))
    if follower is None:
        return set()  # nothing but navigation-like lines: no evidence of where the page's text is
    if from_top:
        _drop_heading(members, lines, follower, cfg)
    if any(e == SELF_EVIDENT for _, e in members):
        return {i for i, _ in members}
    if len(members) < cfg.min_nav_block_lines or all(e in (NAV, DUPLICATE) for _, e in members):
        return set()
    return {i for i, _ in members}


def _drop_heading(members: list[tuple[int, int]], lines: list[str], follower: str, cfg: BoilerplateConfig) -> None:
    """Keep the page's heading out of a leading block: its last line when it is a plain label (no anchor, no
    bullet) of at least `min_nav_title_words` words or right above prose (a heading, not a crumb above the
    title), with the copy of it printed right above."""
    if not members or _BULLET.match(lines[members[-1][0]]):
        return
    if len(lines[members[-1][0]].split()) < cfg.min_nav_title_words and not _PROSE.search(follower):
        return
    if members[-1][1] == NAV:
        members.pop()
    elif members[-1][1] == DUPLICATE and len(members) >= 2 and members[-2][1] == NAV:
        del members[-2:]
