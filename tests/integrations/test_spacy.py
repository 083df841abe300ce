"""The factsift spaCy component on a blank English pipeline (real spaCy, tiny random model)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

spacy = pytest.importorskip("spacy")

from spacy.tokens import DocBin  # noqa: E402

from factsift import ModelLoadError  # noqa: E402
from factsift.integrations.spacy import SPANS_KEY  # noqa: E402
from factsift.writers import sentence_records  # noqa: E402

COUNCIL = ("The council voted 7-2 to close the library. “We had no choice,” the mayor said. "
           "It is a shameful decision.")
TEXTS = [
    COUNCIL,
    "Prices rose 3% in May. This is a disaster.",
    "",
    "He said: “We will win. Nobody can stop us.” That seems unlikely.\n\nThe vote is on Sunday.",
    "Officials met on Tuesday.",
]


def blank_pipeline(model, **config):
    nlp = spacy.blank("en")
    nlp.add_pipe("factsift", config={"model": None if model is None else str(model), **config})
    return nlp


def spans_of(doc):
    return [(s.start_char, s.end_char, s.label_, s._.factsift_scores) for s in doc.spans[SPANS_KEY]]


def factsift_spans(classifier, text):
    """(start, end, label, scores) of the JSONL records of ``text``."""
    return [(r["start"], r["end"], r["label"], r["scores"]) for r in sentence_records("", classifier.label_text(text))]


@pytest.fixture(scope="module")
def nlp(tiny_model_dir):
    return blank_pipeline(tiny_model_dir)


def test_add_pipe_finds_the_factory_without_importing_factsift(tiny_model_dir):
    script = textwrap.dedent(f"""
        import sys, spacy
        assert "factsift" not in sys.modules
        nlp = spacy.blank("en")  # spaCy imports the factories of the spacy_factories entry points
        nlp.add_pipe("factsift", config={{"model": {str(tiny_model_dir)!r}}})
        doc = nlp({COUNCIL!r})
        print([span.label_ for span in doc.spans["factsift"]])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert len(eval(result.stdout)) == 3


def test_one_span_per_factsift_sentence_with_its_label_scores_and_offsets(varied_classifier, varied_model_dir):
    nlp = blank_pipeline(varied_model_dir)
    for text in TEXTS:
        doc = nlp(text)
        assert spans_of(doc) == factsift_spans(varied_classifier, text)
        assert [span.text for span in doc.spans[SPANS_KEY]] == [s.text for s in varied_classifier.label_text(text)]


def test_a_boundary_inside_a_token_widens_the_span_to_the_whole_token(nlp):
    text = "The talks failed. Both sides left. Nothing was agreed."
    doc = nlp.make_doc(text)
    with doc.retokenize() as retokenizer:  # as a component merging a matched phrase might
        retokenizer.merge(doc[2:5])
    assert doc[2].text == "failed. Both"
    first, second, third = nlp.get_pipe("factsift")(doc).spans[SPANS_KEY]
    assert first.text == "The talks failed. Both"
    assert second.text == "failed. Both sides left."
    assert first[-1].i == second[0].i == 2  # the neighbours share the token
    assert (third.start_char, third.end_char) == (text.index("Nothing"), len(text))  # aligned: exact


def test_the_pipeline_keeps_its_own_sentence_splitter(tiny_model_dir):
    text = "Markets fell today; traders were nervous. “We sold everything,” one said."
    plain = spacy.blank("en")
    plain.add_pipe("sentencizer", config={"punct_chars": [";"]})
    with_factsift = blank_pipeline(tiny_model_dir)
    with_factsift.add_pipe("sentencizer", config={"punct_chars": [";"]}, first=True)
    doc = with_factsift(text)
    assert [s.text for s in doc.sents] == [s.text for s in plain(text).sents]
    assert len(list(doc.sents)) == 2 and len(doc.spans[SPANS_KEY]) == 2
    assert doc.spans[SPANS_KEY][0].text == "Markets fell today; traders were nervous."


def test_nlp_pipe_labels_each_batch_of_documents_with_one_label_texts_call(nlp, tiny_classifier, monkeypatch):
    component = nlp.get_pipe("factsift")
    calls = []
    label_texts = component.classifier.label_texts

    def counting_label_texts(texts, **options):
        calls.append((len(texts), options))
        return label_texts(texts, **options)

    monkeypatch.setattr(component.classifier, "label_texts", counting_label_texts)
    docs = list(nlp.pipe(TEXTS, batch_size=2))
    assert calls == [(2, {"batch_size": 32}), (2, {"batch_size": 32}), (1, {"batch_size": 32})]
    for doc, text in zip(docs, TEXTS):  # batch-mates may move scores in the last float digits
        assert [span[:3] for span in spans_of(doc)] == [span[:3] for span in factsift_spans(tiny_classifier, text)]
        scores = [score for span in spans_of(doc) for score in span[3].values()]
        expected = [score for span in factsift_spans(tiny_classifier, text) for score in span[3].values()]
        assert scores == pytest.approx(expected, abs=1e-5)


def test_to_disk_and_spacy_load_give_the_same_spans_and_keep_the_model_as_a_reference(nlp, tmp_path, tiny_model_dir):
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == ["factsift"]
    assert loaded.get_pipe_config("factsift")["model"] == str(tiny_model_dir)
    assert not list((tmp_path / "pipeline").rglob("*.safetensors"))  # weights are referenced, not copied
    for text in TEXTS:
        assert spans_of(loaded(text)) == spans_of(nlp(text))


def test_spacy_load_names_a_missing_model(tmp_path, tiny_model_dir):
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    blank_pipeline(model).to_disk(tmp_path / "pipeline")
    shutil.rmtree(model)
    with pytest.raises(ModelLoadError, match=f"factsift component 'factsift': model directory '{model}' does not exist"):
        spacy.load(tmp_path / "pipeline")


def test_spans_survive_docbin_and_scores_need_user_data(nlp):
    docs = list(nlp.pipe(TEXTS))
    plain, with_user_data = DocBin(docs=docs), DocBin(docs=docs, store_user_data=True)
    vocab = spacy.blank("en").vocab
    for restored, original in zip(DocBin().from_bytes(plain.to_bytes()).get_docs(vocab), docs):
        assert [span[:3] for span in spans_of(restored)] == [span[:3] for span in spans_of(original)]
        assert all(span._.factsift_scores is None for span in restored.spans[SPANS_KEY])
    restored = list(DocBin().from_bytes(with_user_data.to_bytes()).get_docs(vocab))
    assert [spans_of(doc) for doc in restored] == [spans_of(doc) for doc in docs]


def test_a_batch_size_below_one_is_refused(tiny_model_dir):
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1, got 0"):
        blank_pipeline(tiny_model_dir, batch_size=0)


@pytest.mark.shipped
def test_the_shipped_model_labels_the_council_example_and_round_trips(tmp_path):
    nlp = blank_pipeline(None)
    doc = nlp(COUNCIL)
    assert [(span.text, span.label_) for span in doc.spans[SPANS_KEY]] == [
        ("The council voted 7-2 to close the library.", "fact"),
        ("“We had no choice,” the mayor said.", "quotation"),
        ("It is a shameful decision.", "opinion"),
    ]
    nlp.to_disk(tmp_path / "pipeline")
    assert spans_of(spacy.load(tmp_path / "pipeline")(COUNCIL)) == spans_of(doc)
