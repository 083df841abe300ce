"""Build the three-way fact / quotation / opinion corpus from the staged sources.

    python benchmarks/corpus.py [--shared ../shared] [--out build/corpus]

Reads the staged data in place (never copies it into the repo), labels every sentence per
/work/shared/LABELS.md, splits by document, writes ``{train,dev,test}.jsonl`` under ``--out``
and prints markdown tables of label counts and of the committed hand checks.
See benchmarks/data/README.md for the sources, rules and licences.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HAND_DATA = REPO / "benchmarks" / "data"
try:
    from factsift.segment import Sentence, annotate_spans, split_sentences
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO / "src"))
    from factsift.segment import Sentence, annotate_spans, split_sentences

SEED = 13
SPLITS = ("train", "dev", "test")
LABELS = ("fact", "quotation", "opinion")
# a quote mark: straight/typographic double quotes, guillemets, TeX quotes, an opening single
# quote, or a closing single quote right after punctuation ("... reject that.’")
QUOTE_MARK = re.compile(r"[\"“”«»„‘]|``|''|[.,!?]’")
QUOTED_SPAN = re.compile(r"\"([^\"]*)\"|“([^”]*)”|``(.*?)''|‘([^’]*)’")


@dataclass(frozen=True)
class Record:
    """One labeled sentence of the corpus, as written to JSONL (``split`` is not written)."""

    id: str
    source: str
    doc_id: str
    text: str
    raw_text: str
    context_before: str
    context_after: str
    label: str
    subset: str
    split: str

    def to_json(self) -> str:
        """The JSONL line for this record."""
        row = asdict(self)
        del row["split"]
        return json.dumps(row, ensure_ascii=False)


# ---------------------------------------------------------------- shared helpers


def stable_fraction(key: str) -> float:
    """A number in [0, 1) fixed by ``key`` and SEED (same on every machine and run)."""
    digest = hashlib.sha256(f"{SEED}:{key}".encode()).hexdigest()
    return int(digest[:12], 16) / 16**12


def split_by_hash(key: str) -> str:
    """80 / 10 / 10 train / dev / test by a stable hash of ``key`` (a document id)."""
    fraction = stable_fraction(key)
    return "train" if fraction < 0.8 else "dev" if fraction < 0.9 else "test"


def doc_records(
    source: str,
    doc_id: str,
    sentences: Sequence[Sentence],
    labels: Sequence[str | None],
    split: str,
    subset: str = "",
) -> list[Record]:
    """Records for the labeled sentences of one document; ``None`` labels are skipped but
    still serve as context for their neighbours."""
    records = []
    for index, (sentence, label) in enumerate(zip(sentences, labels, strict=True)):
        if label is None:
            continue
        before = sentences[index - 1].model_text if index > 0 else ""
        after = sentences[index + 1].model_text if index + 1 < len(sentences) else ""
        records.append(
            Record(
                id=f"{source}/{doc_id}#{index}",
                source=source,
                doc_id=doc_id,
                text=sentence.model_text,
                raw_text=sentence.text,
                context_before=before,
                context_after=after,
                label=label,
                subset=subset,
                split=split,
            )
        )
    return records


def isolated_record(source: str, sentence_id: str, text: str, label: str, split: str) -> Record:
    """A record for a sentence without document context (CheckThat, BABE)."""
    return Record(f"{source}/{sentence_id}", source, sentence_id, text, text, "", "", label, "", split)


def longest_quoted_words(text: str) -> int:
    """Word count of the longest balanced quoted span in ``text`` (0 if none)."""
    spans = ("".join(groups) for groups in QUOTED_SPAN.findall(text))
    return max((len(span.split()) for span in spans), default=0)


def read_tsv(path: Path, quoting: int = csv.QUOTE_NONE) -> list[dict[str, str]]:
    """Rows of a tab-separated file with a header; by default quote marks are kept verbatim."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=quoting))


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a committed comma-separated file with a header."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------- MPQA 1.2

MPQA_STRONG = frozenset({"medium", "high", "extreme"})
MPQA_ANN_LINE = re.compile(r"^(\d+)\t(\d+),(\d+)\t(\w+)\t(\S+)\t?(.*)$")
MPQA_ATTR = re.compile(r'([\w-]+)="([^"]*)"')
MPQA_DS = "GATE_direct-subjective"
MPQA_ES = "GATE_expressive-subjectivity"
MPQA_OSE = "GATE_objective-speech-event"
SENTENCE_CLOSERS = "\"'“”’)]} \t\n"
MPQA_HEADLINE_WORDS = 12


@dataclass(frozen=True)
class MpqaAnnotation:
    """One line of a gateman / gatesentences file: type, byte span and attributes."""

    kind: str
    start: int
    end: int
    attrs: dict[str, str]

    @property
    def source(self) -> tuple[str, ...]:
        """The nested source as a tuple of agent ids, e.g. ``("w", "saeed")``."""
        return tuple(part.strip() for part in self.attrs.get("nested-source", "").split(",") if part.strip())


def read_mpqa_annotations(path: Path) -> list[MpqaAnnotation]:
    """Parse an MPQA-format stand-off file (README section 7)."""
    annotations = []
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = MPQA_ANN_LINE.match(line)
        if not match:
            raise ValueError(f"{path}:{number}: not an MPQA annotation line: {line!r}")
        _, start, end, data_type, kind, attrs = match.groups()
        if data_type != "string":
            raise ValueError(f"{path}:{number}: data_type {data_type!r}, expected 'string'")
        annotations.append(MpqaAnnotation(kind, int(start), int(end), dict(MPQA_ATTR.findall(attrs))))
    return annotations


def is_writer_opinion(ann: MpqaAnnotation) -> bool:
    """A substantial writer-sourced subjective expression of medium or higher intensity."""
    return (
        ann.kind in (MPQA_DS, MPQA_ES)
        and ann.source == ("w",)
        and ann.attrs.get("intensity") in MPQA_STRONG
        and "insubstantial" not in ann.attrs
    )


def is_weak_writer_opinion(ann: MpqaAnnotation) -> bool:
    """A substantial writer-sourced subjective expression of low (or unmarked) intensity."""
    return (
        ann.kind in (MPQA_DS, MPQA_ES)
        and ann.source == ("w",)
        and ann.attrs.get("intensity") not in MPQA_STRONG
        and "insubstantial" not in ann.attrs
    )


def is_other_speech(ann: MpqaAnnotation) -> bool:
    """A speech event or direct private state whose source is someone other than the writer."""
    return ann.kind in (MPQA_DS, MPQA_OSE) and len(ann.source) > 1


def is_classic_subjective(ann: MpqaAnnotation) -> bool:
    """README section 4 (Riloff & Wiebe 2003) subjective-expression rule, voice-blind."""
    intensity = ann.attrs.get("intensity")
    if ann.kind == MPQA_DS:
        return intensity not in ("low", "neutral") and "insubstantial" not in ann.attrs
    return ann.kind == MPQA_ES and intensity != "low"


def is_mpqa_junk(sentence: Sentence) -> bool:
    """Headlines and meta lines left in the gate sentences: no lowercase word ("PRICES AND
    RATES", "Camp X-Ray Or Club Med?"), or short and without final punctuation ("Bush stands firm")."""
    words = re.findall(r"[A-Za-z]+", sentence.text)
    ends_sentence = sentence.text.rstrip(SENTENCE_CLOSERS)[-1:] in (".", "?", "!", ":")
    return not any(word.islower() for word in words) or (not ends_sentence and len(words) < MPQA_HEADLINE_WORDS)


NAMING_CUE = re.compile(r"(so-called|expression|term|word|phrase|slogan|dubbed|named|titled|headline)\W*$", re.I)


def is_name_or_term(text: str, start: int, quoted: str) -> bool:
    """A short quoted span that names or mentions rather than quotes: capitalised without
    closing punctuation ("Tortured", "Committee of 100"; not "Walk! Walk!") or after a naming
    cue (the so-called / the expression ...)."""
    is_title = quoted[:1].isupper() and quoted[-1] not in ",.!?"
    return is_title or NAMING_CUE.search(text[:start]) is not None


def has_quoted_content(sentence: Sentence) -> bool:
    """The sentence holds quoted words that may carry its content: a quote crossing its
    boundary, more than three quoted words, or a shorter quote that is not a name or term."""
    if sentence.starts_inside_quote or sentence.ends_inside_quote:
        return True
    for match in QUOTED_SPAN.finditer(sentence.text):
        quoted = "".join(group or "" for group in match.groups()).strip()
        if len(quoted.split()) > 3 or (quoted and not is_name_or_term(sentence.text, match.start(), quoted)):
            return True
    return False


def mpqa_label(sentence: Sentence, anns: Sequence[MpqaAnnotation]) -> str:
    """fact / quotation / opinion for one MPQA sentence from its expression-level annotations.

    Quotation: the sentence is mostly inside quote marks, or another source's speech event
    goes with quoted words that are not just a name or term. Without a speech event a short
    quote is a scare quote and the sentence is judged on the rest.
    """
    if any(is_writer_opinion(ann) for ann in anns):
        return "opinion"
    if sentence.quote_share >= 0.5:
        return "quotation"
    if any(is_other_speech(ann) for ann in anns) and has_quoted_content(sentence):
        return "quotation"
    return "fact"


def normalize_tex_quotes(text: str) -> tuple[str, list[int]]:
    """Replace TeX quotes (``, '') by “ ” (which the segmenter tracks); also return the new
    offset of every old offset 0..len(text)."""
    parts: list[str] = []
    offsets: list[int] = []
    index = 0
    while index < len(text):
        pair = text[index : index + 2]
        replacement = {"``": "“", "''": "”"}.get(pair)
        offsets += [len(parts)] * (2 if replacement else 1)
        parts.append(replacement or text[index])
        index += 2 if replacement else 1
    offsets.append(len(parts))
    return "".join(parts), offsets


def group_by_sentence(spans: Sequence[tuple[int, int]], anns: Iterable[MpqaAnnotation]) -> list[list[MpqaAnnotation]]:
    """The annotations whose start offset lies in each sentence span (zero-width ones at its start)."""
    groups: list[list[MpqaAnnotation]] = [[] for _ in spans]
    for ann in anns:
        for index, (start, end) in enumerate(spans):
            if start <= ann.start < end or ann.start == start:
                groups[index].append(ann)
                break
    return groups


def mpqa_doc(database: Path, doc_id: str) -> tuple[list[Sentence], list[list[MpqaAnnotation]]]:
    """The gate sentences of one document (in text order, TeX quotes normalised) with their
    annotations (grouped on the original byte spans)."""
    text = (database / "docs" / doc_id).read_bytes().decode("ascii", errors="strict")
    ann_dir = database / "man_anns" / doc_id
    spans = sorted(
        (ann.start, ann.end)
        for ann in read_mpqa_annotations(ann_dir / "gatesentences.mpqa.1.2")
        if ann.kind == "GATE_sentence"
    )
    for start, end in spans:
        if not 0 <= start < end <= len(text):
            raise ValueError(f"{ann_dir}/gatesentences.mpqa.1.2: span {start},{end} outside doc of {len(text)} bytes")
    normalized, offsets = normalize_tex_quotes(text)
    sentences = annotate_spans(normalized, [(offsets[start], offsets[end]) for start, end in spans])
    if len(sentences) != len(spans):
        raise ValueError(f"annotate_spans returned {len(sentences)} sentences for {len(spans)} spans in {doc_id}")
    return sentences, group_by_sentence(spans, read_mpqa_annotations(ann_dir / "gateman.mpqa.lre.1.2"))


def mpqa_doc_ids(database: Path) -> list[str]:
    """Ids ``parent/docleaf`` of all annotated documents, sorted."""
    return sorted(f"{path.parent.name}/{path.name}" for path in (database / "man_anns").glob("*/*") if path.is_dir())


def build_mpqa(shared: Path) -> tuple[list[Record], Counter[tuple[str, str]], set[str]]:
    """MPQA records, counts of (derived label, classic subjective/objective) for comparison, and the
    ids of "fact" sentences with a weak writer expression, which are kept as context only."""
    database = shared / "data" / "mpqa_1_2" / "database"
    records: list[Record] = []
    comparison: Counter[tuple[str, str]] = Counter()
    context_only: set[str] = set()
    for doc_id in mpqa_doc_ids(database):
        sentences, groups = mpqa_doc(database, doc_id)
        labels: list[str | None] = []
        for sentence, anns in zip(sentences, groups, strict=True):
            if is_mpqa_junk(sentence):
                labels.append(None)
                continue
            label = mpqa_label(sentence, anns)
            classic = "subjective" if any(is_classic_subjective(ann) for ann in anns) else "objective"
            comparison[label, classic] += 1
            # a "fact" carrying a weak writer expression is unsure either way: context only
            if label == "fact" and any(map(is_weak_writer_opinion, anns)):
                context_only.add(f"mpqa/{doc_id}#{len(labels)}")
                label = None
            labels.append(label)
        records += doc_records("mpqa", doc_id, sentences, labels, split_by_hash(doc_id))
    return records, comparison, context_only


# ---------------------------------------------------------------- CheckThat! 2025 English

CHECKTHAT = "checkthat2025_en"
CHECKTHAT_DEV_SHARE = 0.15
QUOTE_DECISIONS = HAND_DATA / "quote_decisions.csv"


def read_quote_decisions(path: Path, source: str) -> dict[str, str]:
    """sentence_id -> fact/quotation from the committed hand decisions for ``source``."""
    decisions = {}
    for number, row in enumerate(read_csv(path), 2):
        if row["source"] != source:
            continue
        if row["label"] not in ("fact", "quotation"):
            raise ValueError(f"{path}:{number}: label {row['label']!r} is not fact or quotation")
        if row["sentence_id"] in decisions:
            raise ValueError(f"{path}:{number}: sentence_id {row['sentence_id']!r} decided twice")
        decisions[row["sentence_id"]] = row["label"]
    return decisions


def unescape_csv_quotes(text: str) -> str:
    """Undo CSV escaping left in some TSV cells: ``\"\"\"I was just drowning.\"\"\"`` -> ``"I was just drowning."``."""
    if len(text) >= 2 and text[0] == text[-1] == '"' and '""' in text:
        return text[1:-1].replace('""', '"')
    return text


def read_checkthat(path: Path) -> list[dict[str, str]]:
    """CheckThat rows with the CSV escaping of quote marks undone in ``sentence``."""
    return [{**row, "sentence": unescape_csv_quotes(row["sentence"])} for row in read_tsv(path)]


def checkthat_label(row: dict[str, str], decisions: dict[str, str], where: str) -> str:
    """SUBJ -> opinion; OBJ -> fact, or the hand decision when the sentence has a quote mark."""
    if row["label"] == "SUBJ":
        return "opinion"
    if row["label"] != "OBJ":
        raise ValueError(f"{where}: label {row['label']!r} is not OBJ or SUBJ")
    if not QUOTE_MARK.search(row["sentence"]):
        return "fact"
    if row["sentence_id"] not in decisions:
        raise ValueError(f"{where}: OBJ sentence {row['sentence_id']} has a quote mark but no row in {QUOTE_DECISIONS}")
    return decisions[row["sentence_id"]]


def stratified_dev(ids_by_label: dict[str, list[str]], share: float, seed: int) -> set[str]:
    """A seeded ``share`` of each label's ids (sorted first, so the draw is deterministic)."""
    rng = random.Random(seed)
    dev: set[str] = set()
    for label in sorted(ids_by_label):
        ids = sorted(ids_by_label[label])
        rng.shuffle(ids)
        dev.update(ids[: round(share * len(ids))])
    return dev


def build_checkthat(shared: Path) -> list[Record]:
    """CheckThat train_en -> 85/15 train/dev (stratified, seed 13); dev_en -> test."""
    folder = shared / "data" / "checkthat2025_en"
    decisions = read_quote_decisions(QUOTE_DECISIONS, CHECKTHAT)
    labeled: dict[str, list[tuple[dict[str, str], str]]] = {}
    for name in ("train_en", "dev_en"):
        path = folder / f"{name}.tsv"
        labeled[name] = [
            (row, checkthat_label(row, decisions, f"{path}:{number}"))
            for number, row in enumerate(read_checkthat(path), 2)
        ]
    used = {row["sentence_id"] for rows in labeled.values() for row, _ in rows}
    if stale := sorted(set(decisions) - used):
        raise ValueError(f"{QUOTE_DECISIONS}: decisions for unknown {CHECKTHAT} sentence ids {stale[:5]}")
    by_label: dict[str, list[str]] = {}
    for row, label in labeled["train_en"]:
        by_label.setdefault(label, []).append(row["sentence_id"])
    dev = stratified_dev(by_label, CHECKTHAT_DEV_SHARE, SEED)
    records = [
        isolated_record(CHECKTHAT, row["sentence_id"], row["sentence"], label, "dev" if row["sentence_id"] in dev else "train")
        for row, label in labeled["train_en"]
    ]
    records += [isolated_record(CHECKTHAT, row["sentence_id"], row["sentence"], label, "test") for row, label in labeled["dev_en"]]
    return records


def propose_quote_decisions(shared: Path, path: Path) -> int:
    """Write rule proposals (with text, for reading) for OBJ sentences with quote marks that
    have no hand decision yet; returns how many. The proposals are a reading aid only."""
    decided = read_quote_decisions(QUOTE_DECISIONS, CHECKTHAT) if QUOTE_DECISIONS.exists() else {}
    rows = []
    for name in ("train_en", "dev_en"):
        for row in read_checkthat(shared / "data" / "checkthat2025_en" / f"{name}.tsv"):
            if row["label"] == "OBJ" and QUOTE_MARK.search(row["sentence"]) and row["sentence_id"] not in decided:
                proposal = "quotation" if longest_quoted_words(row["sentence"]) > 3 else "fact"
                rows.append({"source": CHECKTHAT, "sentence_id": row["sentence_id"], "label": proposal, "text": row["sentence"]})
    write_atomically(path, csv_text(rows, ["source", "sentence_id", "label", "text"]))
    return len(rows)


# ---------------------------------------------------------------- PolNeAR

POLNEAR_LABELS = {"direct_quote": "quotation", "indirect_or_other_attribution": "fact"}
POLNEAR_PER_CLASS = {"train": 1000, "dev": 150, "test": 150}


def sample_polnear(rows: Sequence[dict[str, str]]) -> set[tuple[str, str]]:
    """(article, sent_idx) of a seeded sample: POLNEAR_PER_CLASS rows of each class per split."""
    chosen: set[tuple[str, str]] = set()
    rng = random.Random(SEED)
    for split, per_class in POLNEAR_PER_CLASS.items():
        for status in sorted(POLNEAR_LABELS):
            pool = sorted((row["article"], row["sent_idx"]) for row in rows if row["split"] == split and row["quote_status"] == status)
            rng.shuffle(pool)
            chosen.update(pool[:per_class])
    return chosen


def polnear_article(root: Path, split: str, article: str, rows: Sequence[dict[str, str]]) -> list[Sentence]:
    """The derived sentences of one article (sorted by offset) with quote state over the whole article."""
    path = root / "data" / split / "text" / f"{article}.txt"
    text = path.read_text(encoding="utf-8")
    spans = [(int(row["start"]), int(row["end"])) for row in rows]
    for row, (start, end) in zip(rows, spans, strict=True):
        if text[start:end].split() != row["text"].split():
            raise ValueError(f"{path}: span {start},{end} (sent_idx {row['sent_idx']}) does not match the tsv text {row['text'][:60]!r}")
    return annotate_spans(text, spans)


def is_fragment(text: str) -> bool:
    """A splitter leftover such as ".''" or "(D-Conn.)": fewer than three words."""
    return len(re.findall(r"[A-Za-z]+", text)) < 3


def build_polnear(shared: Path) -> list[Record]:
    """A class-balanced sample of direct-quote (quotation) and indirect-attribution (fact)
    sentences on the official splits, with whole-article context."""
    root = shared / "data" / "polnear"
    rows = read_tsv(root / "polnear_sentences_derived.tsv", quoting=csv.QUOTE_MINIMAL)  # written CSV-escaped
    chosen = sample_polnear(rows)
    articles: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows:
        articles.setdefault((row["split"], row["article"]), []).append(row)
    records: list[Record] = []
    for (split, article), article_rows in sorted(articles.items()):
        if not any((article, row["sent_idx"]) in chosen for row in article_rows):
            continue
        article_rows = sorted(article_rows, key=lambda row: int(row["start"]))
        sentences = polnear_article(root, split, article, article_rows)
        labels = [
            POLNEAR_LABELS[row["quote_status"]] if (article, row["sent_idx"]) in chosen and not is_fragment(row["text"]) else None
            for row in article_rows
        ]
        records += doc_records("polnear", article, sentences, labels, split)
    return records


# ---------------------------------------------------------------- BABE (SG2)

BABE_LABELS = {"Entirely factual": "fact", "Expresses writer’s opinion": "opinion"}
BABE_CAP = 1500  # corpus v1's sample; corpus v2 takes every usable row (--babe-cap 0)
BABE_TOPIC_ALIASES = {"blm": "black lives matter", "vaccines": "vaccine", "gun-control": "gun control"}
BABE_HELD_OUT_SHARE = 0.1


def babe_rows(path: Path) -> list[tuple[str, str, str]]:
    """(text, label, topic) of the usable BABE rows: fact or writer-opinion, one sentence, no
    quote marks, first occurrence of each text, topic aliases merged."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    usable: dict[str, tuple[str, str, str]] = {}
    for number, row in enumerate(rows, 2):
        if "label_opinion" not in row or row["text"] is None:
            raise ValueError(f"{path}:{number}: malformed row {row!r:.80}")
        text = row["text"].strip()
        label = BABE_LABELS.get(row["label_opinion"])
        if label and text not in usable and not QUOTE_MARK.search(text) and len(split_sentences(text)) == 1:
            usable[text] = (text, label, BABE_TOPIC_ALIASES.get(row["topic"], row["topic"]))
    return list(usable.values())


def topic_splits(topic_sizes: Counter[str]) -> dict[str, str]:
    """Whole topics to test, then dev, until each holds BABE_HELD_OUT_SHARE of the rows; the rest train."""
    total = sum(topic_sizes.values())
    filled = {"test": 0, "dev": 0}
    assignment = {}
    for topic in sorted(topic_sizes, key=stable_fraction):
        split = next((name for name in ("test", "dev") if filled[name] < BABE_HELD_OUT_SHARE * total), "train")
        filled[split] = filled.get(split, 0) + topic_sizes[topic]
        assignment[topic] = split
    return assignment


def build_babe(shared: Path, cap: int = 0) -> list[Record]:
    """A seeded sample of at most ``cap`` single-sentence BABE rows (0: all), split by topic."""
    rows = sorted(babe_rows(shared / "data" / "babe" / "final_labels_SG2.csv"))
    random.Random(SEED).shuffle(rows)
    rows = rows[:cap] if cap else rows
    splits = topic_splits(Counter(topic for _, _, topic in rows))
    return [
        isolated_record("babe", hashlib.sha1(text.encode()).hexdigest()[:12], text, label, splits[topic])
        for text, label, topic in rows
    ]


# ---------------------------------------------------------------- commentary (in-domain, LABELS.md)

COMMENTARY_LABELS = {"fact", "quotation", "opinion"}


def read_commentary_pages(path: Path) -> dict[str, list[dict]]:
    """doc_id -> rows in page order (sent_id) of a commentary_*.jsonl file; errors name the line."""
    pages: dict[str, list[dict]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        if row.get("label") not in COMMENTARY_LABELS | {"skip"} or not isinstance(row.get("text"), str):
            raise ValueError(f"{path}:{number}: bad row (label {row.get('label')!r})")
        pages.setdefault(row["doc_id"], []).append(row)
    return {doc_id: sorted(rows, key=lambda row: row["sent_id"]) for doc_id, rows in pages.items()}


def commentary_page(rows: Sequence[dict]) -> tuple[str, list[tuple[int, int]]]:
    """A page's text (its sentences joined by a space, as commentary_dev's PROVENANCE says to
    rebuild documents) and each sentence's span in it."""
    spans, position = [], 0
    for row in rows:
        spans.append((position, position + len(row["text"])))
        position += len(row["text"]) + 1
    return " ".join(row["text"] for row in rows), spans


def build_commentary(shared: Path) -> list[Record]:
    """commentary_train pages, split 80/10/10 by page; quote state runs across the whole page and
    ``skip`` rows stay as context only."""
    pages = read_commentary_pages(shared / "data" / "commentary_train" / "commentary_train.jsonl")
    records: list[Record] = []
    for doc_id, rows in sorted(pages.items()):
        text, spans = commentary_page(rows)
        labels = [None if row["label"] == "skip" else row["label"] for row in rows]
        records += doc_records("commentary", doc_id, annotate_spans(text, spans), labels, split_by_hash(doc_id))
    return records


def normalized(text: str) -> str:
    """Lower-cased words only: the key two copies of one sentence share."""
    return " ".join(re.findall(r"\w+", text.lower()))


def drop_leaks(records: Sequence[Record], held_out_texts: Iterable[str]) -> tuple[list[Record], Counter[tuple[str, str]]]:
    """Train records whose text also appears in a dev/test split or in ``held_out_texts``
    (commentary_dev) removed; returns the kept records and (source, label) counts of those dropped."""
    held_out = {normalized(text) for text in held_out_texts}
    held_out |= {normalized(record.raw_text) for record in records if record.split != "train"}
    kept, dropped = [], Counter()
    for record in records:
        if record.split == "train" and normalized(record.raw_text) in held_out:
            dropped[record.source, record.label] += 1
        else:
            kept.append(record)
    return kept, dropped


def repeated_train(records: Sequence[Record], source: str, weight: int) -> list[Record]:
    """Extra copies (ids suffixed ``~2``, ``~3``...) of ``source``'s train records, ``weight`` in all."""
    return [replace(record, id=f"{record.id}~{copy}") for copy in range(2, weight + 1)
            for record in records if record.source == source and record.split == "train"]


def commentary_dev_texts(shared: Path) -> list[str]:
    """Every sentence of commentary_dev (selection only: never trained on)."""
    pages = read_commentary_pages(shared / "data" / "commentary_dev" / "commentary_dev.jsonl")
    return [row["text"] for rows in pages.values() for row in rows]


# ---------------------------------------------------------------- hand-written hard cases

HARD_CASES = HAND_DATA / "hard_cases.jsonl"


def build_hard_cases(path: Path) -> list[Record]:
    """The team's hand-written documents: even-numbered to train, odd-numbered to test."""
    records: list[Record] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        doc = json.loads(line)
        sentences = split_sentences(doc["text"])
        if len(sentences) != len(doc["labels"]):
            raise ValueError(f"{path}:{number}: {doc['doc_id']} has {len(doc['labels'])} labels for {len(sentences)} sentences")
        if bad := sorted(set(doc["labels"]) - set(LABELS)):
            raise ValueError(f"{path}:{number}: {doc['doc_id']} has unknown labels {bad}")
        split = "train" if int(doc["doc_id"].rsplit("-", 1)[1]) % 2 == 0 else "test"
        records += doc_records("hard", doc["doc_id"], sentences, doc["labels"], split, f"hard:{doc['category']}")
    return records


# ---------------------------------------------------------------- writing and reporting


def csv_text(rows: Sequence[dict[str, str]], fields: Sequence[str]) -> str:
    """Rows as CSV text with a header."""
    lines = [",".join(fields)]
    for row in rows:
        lines.append(",".join(csv_field(row[field]) for field in fields))
    return "\n".join(lines) + "\n"


def csv_field(value: str) -> str:
    """One CSV field, quoted when needed."""
    if any(ch in value for ch in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def write_splits(records: Sequence[Record], out: Path) -> None:
    """``{train,dev,test}.jsonl`` under ``out``, one record per line, in build order."""
    ids = Counter(record.id for record in records)
    if duplicates := [key for key, count in ids.items() if count > 1]:
        raise ValueError(f"duplicate record ids: {duplicates[:5]}")
    for split in SPLITS:
        lines = [record.to_json() for record in records if record.split == split]
        write_atomically(out / f"{split}.jsonl", "".join(line + "\n" for line in lines))


def count_table(records: Sequence[Record]) -> str:
    """Markdown table of label counts per source and split."""
    counts = Counter((record.source, record.split, record.label) for record in records)
    sources = list(dict.fromkeys(record.source for record in records))
    lines = ["| source | split | " + " | ".join(LABELS) + " | total |", "|---|---|" + "---:|" * (len(LABELS) + 1)]
    for source in [*sources, "**all**"]:
        for split in SPLITS:
            row = [sum(n for (s, sp, lab), n in counts.items() if sp == split and lab == label and source in (s, "**all**")) for label in LABELS]
            if sum(row):
                lines.append(f"| {source} | {split} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    return "\n".join(lines)


def dropped_table(dropped: Counter[tuple[str, str]]) -> str:
    """Markdown table of train records dropped as leaks, by source and label."""
    lines = ["| source | " + " | ".join(LABELS) + " |", "|---|" + "---:|" * len(LABELS)]
    for source in sorted({source for source, _ in dropped}):
        lines.append(f"| {source} | " + " | ".join(str(dropped[source, label]) for label in LABELS) + " |")
    return "\n".join(lines)


def comparison_table(comparison: Counter[tuple[str, str]]) -> str:
    """Markdown cross-table of the derived MPQA label against the README section 4 rule."""
    lines = ["| derived \\ classic | subjective | objective |", "|---|---:|---:|"]
    for label in LABELS:
        lines.append(f"| {label} | {comparison[label, 'subjective']} | {comparison[label, 'objective']} |")
    return "\n".join(lines)


def check_table(records: Sequence[Record], paths: Sequence[Path], context_only: set[str]) -> str:
    """Markdown table: agreement of the current derived labels with committed hand labels
    (``id, derived_label, my_label, note`` files); ``stale`` counts rows whose derived label changed,
    and rows whose sentence is now left unlabelled (``context_only`` ids) are counted apart."""
    labels = {record.id: record.label for record in records}
    lines = ["| hand check | n | agree | agreement | stale | now context only |", "|---|---:|---:|---:|---:|---:|"]
    for path in paths:
        rows = read_csv(path)
        if unknown := [row["id"] for row in rows if row["id"] not in labels and row["id"] not in context_only]:
            raise ValueError(f"{path}: ids not in the corpus: {unknown[:5]}")
        rows_in = [row for row in rows if row["id"] in labels]
        agree = sum(labels[row["id"]] == row["my_label"] for row in rows_in)
        stale = sum(labels[row["id"]] != row["derived_label"] for row in rows_in)
        lines.append(f"| {path.name} | {len(rows_in)} | {agree} | {agree / len(rows_in):.1%} | {stale} | "
                     f"{len(rows) - len(rows_in)} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared folder holding data/")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "corpus", help="output folder for the JSONL splits")
    parser.add_argument("--commentary-weight", type=int, default=2,
                        help="write each commentary train sentence N times (in-domain up-weighting; dev/test once)")
    parser.add_argument("--babe-cap", type=int, default=0, help="sample at most N BABE rows (0: all usable rows)")
    parser.add_argument(
        "--propose-quotes",
        action="store_true",
        help=f"only write rule proposals for undecided CheckThat quote sentences to OUT/quote_proposals.csv (for {QUOTE_DECISIONS.name})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Build the corpus and print the tables."""
    args = parse_args(argv)
    if not (args.shared / "data").is_dir():
        raise SystemExit(f"--shared {args.shared}: no data/ folder there")
    if args.propose_quotes:
        count = propose_quote_decisions(args.shared, args.out / "quote_proposals.csv")
        print(f"{count} undecided sentences -> {args.out / 'quote_proposals.csv'}")
        return
    mpqa, comparison, mpqa_context_only = build_mpqa(args.shared)
    records = [
        *mpqa,
        *build_checkthat(args.shared),
        *build_polnear(args.shared),
        *build_babe(args.shared, args.babe_cap),
        *build_commentary(args.shared),
        *build_hard_cases(HARD_CASES),
    ]
    records, dropped = drop_leaks(records, commentary_dev_texts(args.shared))
    records += repeated_train(records, "commentary", args.commentary_weight)
    write_splits(records, args.out)
    print(count_table(records))
    print("\nTrain sentences dropped because their text is in a dev/test split or commentary_dev:\n")
    print(dropped_table(dropped))
    print("\nMPQA derived label vs README section 4 subjective rule (sentences):\n")
    print(comparison_table(comparison))
    print()
    print(f"\nMPQA 'fact' sentences with a weak writer expression, kept as context only: {len(mpqa_context_only)}\n")
    print(check_table(records, sorted(HAND_DATA.glob("*_label_check.csv")), mpqa_context_only))


if __name__ == "__main__":
    main()
