"""Tests for factsift.segment: offsets, sentence ends, paragraphs, lists and quote tracking."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from factsift.segment import Sentence, annotate_spans, split_sentences

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "examples" / "commentary_taiwan.txt"


def texts(text: str) -> list[str]:
    return [sentence.text for sentence in split_sentences(text)]


def flags(text: str) -> list[tuple[bool, bool]]:
    return [(s.starts_inside_quote, s.ends_inside_quote) for s in split_sentences(text)]


def assert_well_formed(text: str, sentences: list[Sentence]) -> None:
    """Offsets round-trip, order, stripping, nothing lost, and consistent quote flags."""
    previous_end, previous_paragraph = 0, 0
    for sentence in sentences:
        assert text[sentence.start : sentence.end] == sentence.text
        assert sentence.text and sentence.text == sentence.text.strip()
        assert sentence.start >= previous_end
        assert sentence.paragraph >= previous_paragraph
        assert 0.0 <= sentence.quote_share <= 1.0
        previous_end, previous_paragraph = sentence.end, sentence.paragraph
    assert "".join("".join(s.text.split()) for s in sentences) == "".join(text.split())
    if sentences:
        assert not sentences[0].starts_inside_quote and not sentences[-1].ends_inside_quote
    for before, after in zip(sentences, sentences[1:]):
        assert before.ends_inside_quote == after.starts_inside_quote


# --- offsets and robustness -----------------------------------------------------------------


def test_example_file_round_trips_with_one_paragraph_per_line() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    sentences = split_sentences(text)
    assert_well_formed(text, sentences)
    assert sentences[0].text.startswith("In an interview with Tass news agency")
    assert sentences[4].text == "Read the original article here"
    assert sentences[4].paragraph == 1
    assert {s.paragraph for s in sentences} == set(range(len(text.strip().splitlines())))


_FRAGMENTS = [
    "word", "Word", "U.S.", "Mr.", "p.m.", "J.", "9.4%", "$3.5", "...", "…", ".", "?", "!", "?!",
    "“", "”", '"', "‘", "’", "«", "»", "Japan’s", ",”", ".”", "?\"", "(", ")", "- ", "1. ",
    "e.g.", "example.com.", " ", " ", " ", "  ", "\t", "\n", "\n", "\n\n", "\r\n", " \n \n",
]


@pytest.mark.parametrize("seed", range(40))
def test_random_mixed_text_is_well_formed(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(0, 400)))
    sentences = split_sentences(text)
    assert_well_formed(text, sentences)
    assert annotate_spans(text, [(s.start, s.end) for s in sentences]) == sentences


@pytest.mark.parametrize("text", ["", " ", "\n\n \t\n", "\r\n"])
def test_empty_or_whitespace_text_has_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


def test_one_megabyte_in_linear_time() -> None:
    rng = random.Random(0)
    paragraphs = EXAMPLE.read_text(encoding="utf-8").splitlines()
    text = "\n".join(rng.choice(paragraphs) for _ in range(1_500))[:1_000_000]
    started = time.perf_counter()
    sentences = split_sentences(text)
    assert time.perf_counter() - started < 2.0
    assert len(sentences) > 5_000
    assert sentences[-1].end == len(text.rstrip())


@pytest.mark.parametrize("text", ["“" * 200_000, '"' * 200_000, "." * 200_000 + "x", "a. " * 70_000, "x" * 200_000])
def test_pathological_input_stays_fast(text: str) -> None:
    started = time.perf_counter()
    assert_well_formed(text, split_sentences(text))
    assert time.perf_counter() - started < 1.0


# --- sentence ends --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # abbreviations and titles
        ("U.S. President Joe Biden met Mr. Xi on Wednesday. They spoke for hours.",
         ["U.S. President Joe Biden met Mr. Xi on Wednesday.", "They spoke for hours."]),
        ("Gen. Mark Milley warned Sen. Tom Cotton and Rep. Nancy Mace. Gov. Ron Li agreed.",
         ["Gen. Mark Milley warned Sen. Tom Cotton and Rep. Nancy Mace.", "Gov. Ron Li agreed."]),
        ("Mrs. Ito, Ms. Kay, Dr. Park and Prof. Lee met at St. Paul’s. It rained.",
         ["Mrs. Ito, Ms. Kay, Dr. Park and Prof. Lee met at St. Paul’s.", "It rained."]),
        ("Acme Inc. said profits at Smith & Co. Ltd. fell. The U.K. and U.N. were silent.",
         ["Acme Inc. said profits at Smith & Co. Ltd. fell.", "The U.K. and U.N. were silent."]),
        ("Apple Inc. Chief Executive Tim Cook spoke. He smiled.",
         ["Apple Inc. Chief Executive Tim Cook spoke.", "He smiled."]),
        ("The plant moved to the U.S. The jobs did not.", ["The plant moved to the U.S.", "The jobs did not."]),
        ("Robert Downey Jr. and Acme Corp. agreed. Costs, fees, etc. rose. Fruit, nuts, etc. The list grew.",
         ["Robert Downey Jr. and Acme Corp. agreed.", "Costs, fees, etc. rose.", "Fruit, nuts, etc.", "The list grew."]),
        ("Some sectors, e.g. energy, gained; others, i.e. tech, fell. Smith vs. Jones is next.",
         ["Some sectors, e.g. energy, gained; others, i.e. tech, fell.", "Smith vs. Jones is next."]),
        ("Talks resume on Jan. 15 and Sept. 3, in room No. 5. The vote is in Oct. Few expect a deal.",
         ["Talks resume on Jan. 15 and Sept. 3, in room No. 5.", "The vote is in Oct.", "Few expect a deal."]),
        # initials
        ("J. K. Rowling and George W. Bush met. They talked.", ["J. K. Rowling and George W. Bush met.", "They talked."]),
        ("We switched to Plan B. The road was closed.", ["We switched to Plan B.", "The road was closed."]),
        # a.m. / p.m.
        ("The vote closed at 5 p.m. The next day, results came in.",
         ["The vote closed at 5 p.m.", "The next day, results came in."]),
        ("It happened at 6:40 a.m. Tuesday near the station. Police came at 7 a.m. EST.",
         ["It happened at 6:40 a.m. Tuesday near the station.", "Police came at 7 a.m. EST."]),
        ("Polls close at 8 p.m. local time. Trading resumed at 9 a.m. Shares jumped.",
         ["Polls close at 8 p.m. local time.", "Trading resumed at 9 a.m.", "Shares jumped."]),
        # decimals, money, versions, URLs, e-mails
        ("Spending rose 9.4% to $3.5 billion. Version 2.13.0 shipped. Rates are 0.25 points higher.",
         ["Spending rose 9.4% to $3.5 billion.", "Version 2.13.0 shipped.", "Rates are 0.25 points higher."]),
        ("See https://www.example.org/a/b.pdf?x=1. Write to news@example.com. See example.com/news for more.",
         ["See https://www.example.org/a/b.pdf?x=1.", "Write to news@example.com.", "See example.com/news for more."]),
        # ellipses, ?! and !!
        ("Well... maybe. Prices rose... Investors fled. It was… unprecedented. And then . . . Nothing.",
         ["Well... maybe.", "Prices rose...", "Investors fled.", "It was… unprecedented.", "And then . . .", "Nothing."]),
        ("Is this the end?! Hardly. Nobody knows!! But watch out!", ["Is this the end?!", "Hardly.", "Nobody knows!!", "But watch out!"]),
        ('He read it aloud. ". . . We have seen cases," it said. ... And then it ended.',
         ["He read it aloud.", '". . . We have seen cases," it said.', "... And then it ended."]),
        ("Why now? 2024 was calm. It rose in 2019. 2020 was worse.",
         ["Why now?", "2024 was calm.", "It rose in 2019.", "2020 was worse."]),
        # closing marks stay with their sentence; a lowercase attribution continues it
        ("“Why?” he asked. “Stop!” She ran. He called it “a disaster.” Aides agreed. (It has appealed.) Fine.",
         ["“Why?” he asked.", "“Stop!”", "She ran.", "He called it “a disaster.”", "Aides agreed.", "(It has appealed.)", "Fine."]),
        ("“We will act. Nothing will stop us,” he said. iPhone sales fell.",
         ["“We will act.", "Nothing will stop us,” he said.", "iPhone sales fell."]),
    ],
)
def test_sentence_ends(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


@pytest.mark.xfail(strict=True, reason="known weakness: U.S./U.N. before a capitalised non-opener word does not split")
def test_dotted_abbreviation_ending_a_sentence_before_a_name() -> None:
    assert texts("The truce was brokered by the U.N. Fighting resumed.") == [
        "The truce was brokered by the U.N.",
        "Fighting resumed.",
    ]


# --- paragraphs and lists -------------------------------------------------------------------


def test_blank_lines_make_paragraphs_and_single_newlines_are_hard_wraps() -> None:
    text = "The bank raised rates on\nThursday. The move\nwas expected.\n\n\nThe currency\nbarely moved.\n"
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "The bank raised rates on\nThursday.",
        "The move\nwas expected.",
        "The currency\nbarely moved.",
    ]
    assert [s.paragraph for s in sentences] == [0, 0, 1]
    assert_well_formed(text, sentences)


def test_without_blank_lines_every_line_is_a_paragraph_and_no_sentence_crosses_it() -> None:
    text = "Russia vows to back China\r\nMoscow’s pledge raises eyebrows\nBy Jane Doe"
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == ["Russia vows to back China", "Moscow’s pledge raises eyebrows", "By Jane Doe"]
    assert [s.paragraph for s in sentences] == [0, 1, 2]


def test_a_whitespace_only_line_is_a_blank_line() -> None:
    text = "Russia vows to back China\nMoscow’s pledge raises eyebrows\r\n \t\r\nBy Jane Doe"
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == ["Russia vows to back China\nMoscow’s pledge raises eyebrows", "By Jane Doe"]
    assert [s.paragraph for s in sentences] == [0, 1]


def test_list_lines_are_their_own_sentences_and_keep_their_marker() -> None:
    text = "The plan:\n\n- a ceasefire\n* talks\n• aid\n1. Secure the border.\n2) hold elections\nThen it ends.\nIt ends."
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "The plan:",
        "- a ceasefire",
        "* talks",
        "• aid",
        "1. Secure the border.",
        "2) hold elections",
        "Then it ends.",
        "It ends.",
    ]
    assert [s.paragraph for s in sentences] == [0, 1, 1, 1, 1, 1, 1, 1]


# --- quotes ---------------------------------------------------------------------------------


def test_multi_sentence_quote_flags_and_share() -> None:
    text = "“We will act. It is an ultimatum. Nothing will stop us,” he said. Then he left."
    sentences = split_sentences(text)
    assert flags(text) == [(False, True), (True, True), (True, False), (False, False)]
    assert [s.quote_share for s in sentences[:2]] == [1.0, 1.0]
    assert sentences[2].quote_share == pytest.approx(len("Nothingwillstopus,”") / len("Nothingwillstopus,”hesaid."))
    assert sentences[3].quote_share == 0.0


def test_straight_quotes_open_and_close_by_context() -> None:
    text = '"Stop the war. Bring them home," they chanted. He bought a 5" screen. "Why?" she asked. "No."'
    assert texts(text) == ['"Stop the war.', 'Bring them home," they chanted.', 'He bought a 5" screen.', '"Why?" she asked.', '"No."']
    assert flags(text) == [(False, True), (True, False), (False, False), (False, False), (False, False)]


def test_a_missing_straight_closing_quote_does_not_leak_past_the_next_straight_quote() -> None:
    text = 'He said "we will go. Then she said "no way" and left. Later he returned.'
    assert flags(text) == [(False, True), (True, False), (False, False)]


def test_guillemets_and_nested_single_quotes() -> None:
    text = "The poster read «Freedom now. Peace now.» “We said ‘no deal.’ They did not listen,” he said."
    assert flags(text) == [(False, True), (True, False), (False, True), (True, False)]


def test_apostrophes_never_open_a_quote() -> None:
    text = "Japan’s posture changed in the ’90s. It’s a familiar line. The allies’ plan failed. ‘Tis odd."
    assert all(s.quote_share == 0.0 for s in split_sentences(text))
    assert flags(text) == [(False, False)] * 4


def test_multi_paragraph_quote_reopened_at_each_paragraph_continues() -> None:
    text = "The statement read:\n“First, we condemn it. We mean it.\n“Second, we act.\n\"Third, we wait,\" it said.\nDone."
    sentences = split_sentences(text)
    assert flags(text) == [(False, False), (False, True), (True, True), (True, True), (True, False), (False, False)]
    assert [s.paragraph for s in sentences] == [0, 1, 1, 2, 3, 4]
    assert sentences[3].quote_share == 1.0


def test_unclosed_quote_resets_at_a_paragraph_not_starting_with_an_opening_mark() -> None:
    text = "Protesters shouted “Down with the government. Now.\nPolice detained 40 people. “Fine,” one said."
    sentences = split_sentences(text)
    assert flags(text) == [(False, True), (True, False), (False, False), (False, False)]
    assert sentences[2].quote_share == 0.0
    assert sentences[3].quote_share > 0.0


def test_stray_closing_mark_is_ignored() -> None:
    text = "The plan is dead,” one diplomat said. Talks resume in May. “Good,” she said."
    sentences = split_sentences(text)
    assert flags(text) == [(False, False)] * 3
    assert [s.quote_share for s in sentences[:2]] == [0.0, 0.0]
    assert sentences[2].quote_share > 0.0


def test_model_text_balances_quotes_without_doubling_a_reopening_mark() -> None:
    text = "“We will act. Nothing will stop us. We are ready.\n“Any attack will fail,” he said."
    assert [s.model_text for s in split_sentences(text)] == [
        "“We will act.”",
        "“Nothing will stop us.”",
        "“We are ready.”",
        "“Any attack will fail,” he said.",
    ]
    plain = split_sentences("He left.")[0]
    assert plain.model_text == plain.text == "He left."


def test_to_dict_round_trips() -> None:
    for sentence in split_sentences("“We act. Now,” he said."):
        assert Sentence(**sentence.to_dict()) == sentence


# --- annotate_spans -------------------------------------------------------------------------


def test_annotate_spans_keeps_given_boundaries_trims_them_and_tracks_quotes() -> None:
    text = "He said “we will act, Mr. Smith. We are ready” and left.\n\nNext paragraph.  "
    spans = [(0, 26), (26, 57), (57, 58), (58, len(text))]
    sentences = annotate_spans(text, spans)
    assert [s.text for s in sentences] == ["He said “we will act, Mr.", "Smith. We are ready” and left.", "", "Next paragraph."]
    assert [(s.start, s.end) for s in sentences] == [(0, 25), (26, 56), (57, 57), (58, 73)]
    assert [(s.starts_inside_quote, s.ends_inside_quote) for s in sentences] == [
        (False, True), (True, False), (False, False), (False, False)
    ]
    assert [s.paragraph for s in sentences] == [0, 0, 0, 1]


@pytest.mark.parametrize("spans", [[(5, 3)], [(0, 10), (5, 12)], [(0, 999)], [(-1, 2)]])
def test_annotate_spans_rejects_bad_spans(spans: list[tuple[int, int]]) -> None:
    with pytest.raises(ValueError, match="span"):
        annotate_spans("A short text. Another one.", spans)


def test_annotate_spans_on_no_spans() -> None:
    assert annotate_spans("Some text.", []) == []


# ---- Unicode breaks (issue 11) -------------------------------------------------------------------
def test_a_zero_width_space_after_a_sentence_end_splits_and_stays_outside() -> None:
    text = "Prices rose.\u200bThe bank acted! \u200bWhy?\u200bNobody knows."
    assert [s.text for s in split_sentences(text)] == ["Prices rose.", "The bank acted!", "Why?", "Nobody knows."]


@pytest.mark.parametrize(
    "text", ["First one.\u2029Second one.", "First one.\r\rSecond one.", "First one.\rSecond one."],
    ids=["U+2029", "CR CR", "CR"],
)
def test_paragraph_separators_and_old_mac_line_ends_start_paragraphs(text: str) -> None:
    sentences = split_sentences(text)
    assert [(s.text, s.paragraph) for s in sentences] == [("First one.", 0), ("Second one.", 1)]
    assert all(text[s.start : s.end] == s.text for s in sentences)


def test_crlf_and_cr_hard_wraps_stay_inside_a_paragraph() -> None:
    for end in ("\r\n", "\r", "\u2028"):
        text = f"A wrapped{end}line.{end}{end}Next one."
        assert [(s.text, s.paragraph) for s in split_sentences(text)] == [
            (f"A wrapped{end}line.", 0), ("Next one.", 1)
        ]


def test_a_byte_order_mark_is_never_part_of_a_sentence() -> None:
    sentences = split_sentences("\ufeffFirst one. Second one.")
    assert [(s.text, s.start) for s in sentences] == [("First one.", 1), ("Second one.", 12)]


def test_cjk_full_stops_do_not_end_sentences_factsift_is_for_english() -> None:
    assert [s.text for s in split_sentences("今天下雨。明天晴。")] == ["今天下雨。明天晴。"]


def test_a_single_str_is_required() -> None:
    with pytest.raises(TypeError, match="text must be a str, got list"):
        split_sentences(["One.", "Two."])
