"""Split text into sentences with exact character offsets and quote tracking.

Paragraphs
    Lines end at ``\n``, ``\r\n``, an old-Mac ``\r`` or U+2028. If the text has blank lines or
    U+2029 paragraph separators, paragraphs are separated by them and single line ends are hard
    wraps; otherwise every non-empty line is a paragraph. A sentence never crosses
    a paragraph. A bullet or numbered list line (``- ``, ``* ``, ``• ``, ``1. ``, ``2) ``)
    never shares a sentence with another line; its marker stays in its first sentence.

Sentence ends
    A sentence ends at a whitespace-delimited token ending in ``. ? ! …`` (closing quotes and
    brackets after the mark stay with the sentence), unless the next word starts lowercase
    (``“Why?” he asked.``) or the period belongs to an abbreviation: titles (``Mr.``, ``Gen.``)
    and ``e.g.``/``i.e.``/``vs.`` never end a sentence; ``No.`` and months do not before a
    number; ``a.m.``/``p.m.`` do before a capitalised word that is not a day, month or time
    zone; initials, ``U.S.``-style and company/street abbreviations (``Inc.``, ``St.``) only
    before a typical sentence opener (``The``, ``He``, ...). An ellipsis ends a sentence only
    before a capitalised word. Decimals, URLs and e-mails have no space after their dots. A
    sentence needs a letter or digit before it can end, so ``". . . We`` does not split. A
    zero-width space (U+200B) separates tokens like a space, and neither it nor a byte-order mark
    (U+FEFF) is ever part of a sentence's edges.

Language
    The rules are for English (and other space-separated Latin-script) text: CJK full stops
    (``。！？``) do not end sentences, since factsift's models are English-only.

Quotes
    Double quotes (``"``, ``“ ”``, ``« »``) are tracked across sentences and paragraphs. A
    straight ``"`` opens after a space, the start or opening punctuation and closes before a
    space, punctuation or the end; when context cannot tell, it toggles. Straight quotes do
    not nest, so an opening-looking ``"`` while one is open continues it. A paragraph that
    ends inside a quote continues it if the next paragraph starts with an opening mark (news
    convention for multi-paragraph quotes); otherwise the quote is closed at the paragraph
    end. A closing mark with no open quote is ignored. Single curly marks (‘ ’) never change
    the state: they are either apostrophes (``Japan’s``, ``’90s``) or nested inside a double
    quote, whose text is already quoted.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

__all__ = ["Sentence", "split_sentences", "annotate_spans"]

_OPENING_MARKS = "\"“«"
_OPENERS = "\"'“‘«([{"
_CLOSERS = "\"'”’»)]}"
_TERMINALS = ".?!…"
_OPEN_CONTEXT = "([{“‘«—–-/"
_CLOSE_CONTEXT = ".,;:!?)]}…”’»—–-/"

# Invisible characters that separate tokens (zero-width space) or sit at a file's start (BOM).
_INVISIBLE = "\u200b\ufeff"
_LINE_END_PATTERN = "(?:\r\n|\r(?!\n)|[\n\u2028])"
_LINE_END = re.compile(_LINE_END_PATTERN)
_BLANK_LINE = re.compile(f"{_LINE_END_PATTERN}[ \t\f\v]*{_LINE_END_PATTERN}|\u2029")
_NEWLINE = re.compile(f"{_LINE_END_PATTERN}|\u2029")
_TOKEN = re.compile(f"[^\\s{_INVISIBLE}]+")
_WORD = re.compile(r"[^\W\d_]+")
_WORD_CHARACTER = re.compile(r"\w")
_QUOTE_MARK = re.compile("[\"“”«»]")
_LIST_MARKER = re.compile(r"(?:[-*•]|\d{1,3}[.)])\s")
_DOTTED_ABBREVIATION = re.compile(r"(?:[^\W\d_]{1,2}\.)+[^\W\d_]{1,2}")

_TITLES = frozenset(
    "Mr Mrs Ms Mx Dr Prof Gen Sen Sens Rep Reps Gov Lt Col Capt Cmdr Sgt Maj Adm Rev Hon "
    "Pres Supt Messrs Mme Mssrs".split()
)
_NEVER_FINAL_LOWER = frozenset("e.g i.e cf vs v viz approx".split())
_BEFORE_NUMBER = frozenset(
    "No Nos no Vol Art Fig pp p Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec".split()
)
_FINAL_BEFORE_OPENER_ONLY = frozenset(
    "Inc Corp Co Ltd Bros Jr Sr St Ave Blvd Rd Mt Ft Dept Univ Assn Govt".split()
)
_CLOCK = frozenset("a.m p.m".split())
_AFTER_CLOCK = frozenset(
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday Mon Tue Tues Wed Thu Thurs Fri "
    "Sat Sun January February March April May June July August September October November "
    "December Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec ET EST EDT CT CST CDT MT MST "
    "PT PST PDT GMT UTC BST CET CEST JST IST HKT Eastern Central Mountain Pacific Greenwich".split()
)
_SENTENCE_OPENERS = frozenset(
    "The A An This That These Those It Its He She They We I You His Her Their Our My Your "
    "In On At By For From With Without To Of But And Or So Yet Nor However Meanwhile "
    "Moreover Furthermore Nevertheless Still Also Then Now Thus Hence Instead Indeed After "
    "Before When While If As Although Though Because Since Once Until Unless Some Many Most "
    "Much Few All Each Every No None Neither Both There Here What Why How Who Which Where "
    "Whether Last Next Earlier Later Yesterday Today Tomorrow According Such Other Another "
    "One Is Are Was Were Do Does Did Can Could Will Would Should Shares Officials".split()
)

_LOWER, _UPPER, _DIGIT, _OTHER = range(4)


@dataclass(frozen=True)
class Sentence:
    """One sentence of a text, pointing back into it, with its quotation context."""

    text: str
    start: int
    end: int
    paragraph: int
    starts_inside_quote: bool = False
    ends_inside_quote: bool = False
    quote_share: float = 0.0

    @property
    def model_text(self) -> str:
        """The text with synthetic quote marks so a quote cut by the sentence split is balanced."""
        text = self.text
        if self.starts_inside_quote and not text.startswith(tuple(_OPENING_MARKS)):
            text = "“" + text
        if self.ends_inside_quote:
            text += "”"
        return text

    def to_dict(self) -> dict:
        """The fields as a plain dict (``Sentence(**d)`` rebuilds the sentence)."""
        return asdict(self)


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences with exact offsets, paragraph index and quote flags."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    paragraphs = _paragraph_spans(text)
    spans = [span for start, end in paragraphs for span in _sentence_spans(text, start, end)]
    return _annotate(text, spans, paragraphs)


def annotate_spans(text: str, spans: Sequence[tuple[int, int]]) -> list[Sentence]:
    """Build one ``Sentence`` per given ``(start, end)`` span, with paragraph and quote context.

    Spans must be sorted and non-overlapping. Each is trimmed of surrounding whitespace; a
    whitespace-only span gives an empty sentence at its start, so the result always has one
    sentence per span.
    """
    trimmed: list[tuple[int, int]] = []
    previous_end = 0
    for start, end in spans:
        if not 0 <= start <= end <= len(text):
            raise ValueError(f"span ({start}, {end}) is not within the text of length {len(text)}")
        if start < previous_end:
            raise ValueError(f"span ({start}, {end}) overlaps or precedes the span ending at {previous_end}")
        previous_end = end
        trimmed.append(_strip_span(text, start, end) or (start, start))
    return _annotate(text, trimmed, _paragraph_spans(text))


def _strip_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``(start, end)`` narrowed to exclude surrounding whitespace; ``None`` if nothing is left."""
    while start < end and (text[start].isspace() or text[start] in _INVISIBLE):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _INVISIBLE):
        end -= 1
    return (start, end) if start < end else None


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Stripped ``(start, end)`` of each non-empty paragraph."""
    separator = _BLANK_LINE if _BLANK_LINE.search(text) else _NEWLINE
    bounds: list[tuple[int, int]] = []
    position = 0
    for match in separator.finditer(text):
        bounds.append((position, match.start()))
        position = match.end()
    bounds.append((position, len(text)))
    return [span for start, end in bounds if (span := _strip_span(text, start, end))]


def _units(text: str, start: int, end: int) -> Iterator[tuple[int, int, bool]]:
    """``(start, end, is_list_item)``: each list line, and each run of other lines, of a paragraph."""
    run_start: int | None = None
    run_end = start
    line_start = start
    while line_start < end:
        newline = _LINE_END.search(text, line_start, end)
        line_end = end if newline is None else newline.start()
        line = _strip_span(text, line_start, line_end)
        if line and _LIST_MARKER.match(text, line[0], line[1]):
            if run_start is not None:
                yield run_start, run_end, False
                run_start = None
            yield line[0], line[1], True
        elif line:
            run_start = line[0] if run_start is None else run_start
            run_end = line[1]
        line_start = end if newline is None else newline.end()
    if run_start is not None:
        yield run_start, run_end, False


def _sentence_spans(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Sentence spans of one paragraph."""
    for unit_start, unit_end, is_list_item in _units(text, start, end):
        tokens = _TOKEN.finditer(text, unit_start, unit_end)
        current = next(tokens)
        sentence_start = current.start()
        if is_list_item:  # the marker ("1.", "-") never ends the item's first sentence
            current = next(tokens, None)
            if current is None:
                yield sentence_start, unit_end
                continue
        has_word = False  # a sentence needs a word before it can end (not just '". . .')
        for following in tokens:
            has_word = has_word or _WORD_CHARACTER.search(current.group()) is not None
            if has_word and _ends_sentence(current.group(), following.group()):
                yield sentence_start, current.end()
                sentence_start = following.start()
                has_word = False
            current = following
        yield sentence_start, unit_end


def _ends_sentence(token: str, next_token: str) -> bool:
    """Whether a sentence ends after ``token`` when ``next_token`` follows it."""
    core = token.rstrip(_CLOSERS)
    if not core or core[-1] not in _TERMINALS:
        return False
    stem = core.rstrip(_TERMINALS)
    punctuation = core[len(stem) :]
    follower_word = next_token.lstrip(_OPENERS)
    follower = _follower_kind(follower_word)
    if follower == _LOWER:
        return False
    if "?" in punctuation or "!" in punctuation:
        return True
    word = stem.lstrip(_OPENERS)
    if not word or "…" in punctuation or ".." in punctuation:  # ellipsis, also ". . ."
        return follower == _UPPER
    if word in _TITLES or word.lower() in _NEVER_FINAL_LOWER:
        return False
    if word in _BEFORE_NUMBER:
        return follower != _DIGIT
    next_word = _WORD.match(follower_word)
    next_word = next_word.group() if next_word else ""
    if word.lower() in _CLOCK:
        return follower == _UPPER and next_word not in _AFTER_CLOCK
    if (
        word in _FINAL_BEFORE_OPENER_ONLY
        or (len(word) == 1 and word.isupper())
        or _DOTTED_ABBREVIATION.fullmatch(word)
    ):
        return next_word in _SENTENCE_OPENERS
    return True


def _follower_kind(word: str) -> int:
    """Classify the word after a candidate sentence end by its first character."""
    if not word:
        return _OTHER
    first = word[0]
    if first.islower():
        return _UPPER if len(word) > 1 and word[1].isupper() else _LOWER  # "iPhone" opens a sentence
    if first.isupper():
        return _UPPER
    if first.isdigit() or first in "$€£¥":
        return _DIGIT
    return _OTHER


def _quoted_regions(text: str, paragraphs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint ``(start, end)`` regions inside quotation marks, marks included."""
    regions: list[tuple[int, int]] = []
    open_marks: list[str] = []
    straight_open = 0
    region_start = 0
    previous_end = 0
    for start, end in paragraphs:
        continuation = -1
        if open_marks:
            if text[start] in _OPENING_MARKS:
                continuation = start
            else:
                regions.append((region_start, previous_end))
                open_marks.clear()
                straight_open = 0
        for match in _QUOTE_MARK.finditer(text, start, end):
            position = match.start()
            if position == continuation:
                continue
            mark = match.group()
            if mark == '"':
                opens = _straight_quote_opens(text, position, start, end, straight_open > 0)
                if opens and straight_open:
                    continue  # straight quotes do not nest: this one continues the open quote
            else:
                opens = mark in "“«"
            if opens:
                if not open_marks:
                    region_start = position
                open_marks.append(mark)
                straight_open += mark == '"'
            elif open_marks:
                straight_open -= open_marks.pop() == '"'
                if not open_marks:
                    regions.append((region_start, position + 1))
        previous_end = end
    if open_marks:
        regions.append((region_start, previous_end))
    return regions


def _straight_quote_opens(text: str, position: int, start: int, end: int, one_is_open: bool) -> bool:
    """Whether the ``"`` at ``position`` (in paragraph ``start:end``) opens a quote."""
    before = text[position - 1] if position > start else ""
    after = text[position + 1] if position + 1 < end else ""
    before_is_gap = not before or before.isspace()
    after_is_gap = not after or after.isspace()
    looks_opening = (before_is_gap or before in _OPEN_CONTEXT) and not after_is_gap
    looks_closing = (after_is_gap or after in _CLOSE_CONTEXT) and not before_is_gap
    if looks_opening != looks_closing:
        return looks_opening
    return not one_is_open


def _nonspace_count(text: str, start: int, end: int) -> int:
    return len("".join(text[start:end].split()))


def _annotate(text: str, spans: list[tuple[int, int]], paragraphs: list[tuple[int, int]]) -> list[Sentence]:
    """Sentences for sorted, disjoint, stripped spans: paragraph index and quote context."""
    regions = _quoted_regions(text, paragraphs)
    paragraph_starts = [start for start, _ in paragraphs]
    sentences: list[Sentence] = []
    first_region = 0
    for start, end in spans:
        while first_region < len(regions) and regions[first_region][1] <= start:
            first_region += 1
        starts_inside = first_region < len(regions) and regions[first_region][0] < start
        ends_inside = False
        quoted = 0
        index = first_region
        while index < len(regions) and regions[index][0] < end:
            region_start, region_end = regions[index]
            quoted += _nonspace_count(text, max(region_start, start), min(region_end, end))
            ends_inside = region_end > end
            index += 1
        visible = _nonspace_count(text, start, end)
        sentences.append(
            Sentence(
                text=text[start:end],
                start=start,
                end=end,
                paragraph=max(bisect_right(paragraph_starts, start) - 1, 0),
                starts_inside_quote=starts_inside,
                ends_inside_quote=ends_inside,
                quote_share=quoted / visible if visible else 0.0,
            )
        )
    return sentences
