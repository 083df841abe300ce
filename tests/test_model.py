"""Classifier on a tiny random-weight model: batching order, offsets, context, loading errors."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import EXAMPLE, LABELS
from factsift.model import Classifier, ModelLoadError

# deliberately unsorted lengths, so length-sorted batches mix up the order
SENTENCES = [
    "Prices rose.",
    "The ministry said on Tuesday that exports to the European Union rose by four percent in March.",
    "“No,” he said.",
    "This is, frankly, an absurd and reckless decision by a government that has lost its way entirely.",
    "It rained.",
    "Officials said the bridge would reopen next week after repairs.",
    "Voters deserve better.",
]


@pytest.fixture(scope="module")
def sharp(varied_classifier) -> Classifier:
    """A tiny classifier whose scores differ clearly between sentences and contexts."""
    return varied_classifier


def with_temperature(classifier: Classifier, temperature: float) -> Classifier:
    return Classifier(classifier.backend, classifier.tokenizer, replace(classifier.settings, temperature=temperature),
                      classifier.source)


def with_window(classifier: Classifier, window: int) -> Classifier:
    return Classifier(classifier.backend, classifier.tokenizer, replace(classifier.settings, context_window=window),
                      classifier.source)


def assert_rows_close(batched: list[dict], single: list[dict]) -> None:
    assert len(batched) == len(single)
    for got, want in zip(batched, single):
        assert list(got) == list(want) == LABELS
        assert list(got.values()) == pytest.approx(list(want.values()), abs=1e-4)


def rows_differ(first: list[dict], second: list[dict]) -> bool:
    return any(abs(a[label] - b[label]) > 1e-2 for a, b in zip(first, second) for label in LABELS)


# ---- predictions -------------------------------------------------------------------------------
def test_batched_predictions_keep_input_order(sharp):
    single = [sharp.predict_proba([s])[0] for s in SENTENCES]
    batched = sharp.predict_proba(SENTENCES, batch_size=3)
    assert_rows_close(batched, single)
    # the sentences really do score differently, so a mix-up would show
    assert len({round(row["fact"], 2) for row in single}) == len(SENTENCES)
    assert sharp.predict(SENTENCES, batch_size=2) == [max(r, key=r.get) for r in single]
    assert all(sum(row.values()) == pytest.approx(1.0) for row in batched)


def test_batched_predictions_with_context_keep_input_order(sharp):
    before = ["Earlier text."] + SENTENCES[:-1]
    after = SENTENCES[1:] + ["Later text."]
    single = [sharp.predict_proba([s], [b], [a])[0] for s, b, a in zip(SENTENCES, before, after)]
    assert_rows_close(sharp.predict_proba(SENTENCES, before, after, batch_size=3), single)


def test_rows_without_context_score_the_same_in_a_mixed_batch(sharp):
    before = ["", "Some text before.", "", "", "Text.", "", ""]
    single = [sharp.predict_proba([s], [b], [""])[0] for s, b in zip(SENTENCES, before)]
    assert_rows_close(sharp.predict_proba(SENTENCES, before, [""] * len(SENTENCES), batch_size=8), single)


def test_context_changes_the_scores(sharp):
    alone = sharp.predict_proba(["Prices rose."])
    framed = sharp.predict_proba(["Prices rose."], ["“It is a disaster,” she said."], ["Nobody cared."])
    assert rows_differ(alone, framed)


def test_a_model_trained_on_sentences_alone_ignores_given_context(sharp):
    sentence_only = with_window(sharp, 0)
    framed = sentence_only.predict_proba(["Prices rose."], ["“It is a disaster,” she said."], ["Nobody cared."])
    assert_rows_close(framed, sentence_only.predict_proba(["Prices rose."]))
    assert rows_differ(framed, sharp.predict_proba(["Prices rose."], ["“It is a disaster,” she said."], ["Nobody cared."]))


def test_context_window_decides_the_neighbours_in_label_text(sharp):
    text = "Prices rose. “It is a disaster,” she said. Nobody cared. The end came soon."
    windows = [[r.scores for r in with_window(sharp, w).label_text(text)] for w in (0, 1, 2)]
    sentences = [r.text for r in sharp.label_text(text)]
    assert len(sentences) == 4
    # window 0 scores each sentence alone, as predict_proba without context does
    assert_rows_close(windows[0], sharp.predict_proba(sentences))
    # window 1 gives each sentence its direct neighbours
    before, after = [""] + sentences[:-1], sentences[1:] + [""]
    assert_rows_close(windows[1], sharp.predict_proba(sentences, before, after))
    # window 2 sees further, so the scores change again
    assert rows_differ(windows[2], windows[1])


def test_empty_input(sharp):
    assert sharp.predict([]) == []
    assert sharp.predict_proba([]) == []


def test_label_text_offsets_round_trip_on_the_example(tiny_classifier):
    text = EXAMPLE.read_text(encoding="utf-8")
    results = tiny_classifier.label_text(text)
    assert len(results) > 20
    previous_end = 0
    for result in results:
        assert text[result.start : result.end] == result.text
        assert result.start >= previous_end and result.text.strip() == result.text
        previous_end = result.end
        assert result.label in LABELS and result.label == max(result.scores, key=result.scores.get)
        assert result.score == result.scores[result.label]
        assert sum(result.scores.values()) == pytest.approx(1.0)
        assert json.loads(json.dumps(result.to_dict()))["text"] == result.text
    # the sentences cover all of the text but whitespace
    covered = "".join(text[r.start : r.end] for r in results)
    assert "".join(covered.split()) == "".join(text.split())


def test_save_and_reload_predicts_identically(tiny_classifier, tmp_path):
    saved = tiny_classifier.save_pretrained(tmp_path / "copy")
    again = Classifier.from_pretrained(saved, device="cpu")
    assert again.labels == tiny_classifier.labels and again.settings == tiny_classifier.settings
    assert again.predict_proba(SENTENCES) == tiny_classifier.predict_proba(SENTENCES)


# ---- argument errors ---------------------------------------------------------------------------
def test_a_str_instead_of_a_list(tiny_classifier):
    with pytest.raises(TypeError, match="got a single str"):
        tiny_classifier.predict("Prices rose.")
    with pytest.raises(TypeError, match="got a single str"):
        tiny_classifier.predict_proba("Prices rose.")


def test_bad_sentences_and_context(tiny_classifier):
    with pytest.raises(TypeError, match=r"sentences\[1\] must be a str, got int 3"):
        tiny_classifier.predict(["ok", 3])
    with pytest.raises(ValueError, match=r"context_before \(1\) and context_after \(2\) must match .* \(2\)"):
        tiny_classifier.predict(["a", "b"], ["x"], ["y", "z"])


@pytest.mark.parametrize("batch_size", [0, -1])
def test_bad_batch_size(tiny_classifier, batch_size):
    with pytest.raises(ValueError, match=f"batch_size must be >= 1, got {batch_size}"):
        tiny_classifier.predict(["a"], batch_size=batch_size)


def test_bad_device_and_backend(tiny_model_dir):
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu' or 'cuda"):
        Classifier.from_pretrained(tiny_model_dir, device="gpu")
    with pytest.raises(ValueError, match="backend must be 'auto', 'torch' or 'onnx', got 'tensorflow'"):
        Classifier.from_pretrained(tiny_model_dir, backend="tensorflow")


# ---- loading errors ----------------------------------------------------------------------------
@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    return shutil.copytree(tiny_model_dir, tmp_path / "model")


def test_missing_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        Classifier.from_pretrained(tmp_path / "nowhere")


def test_directory_without_config(model_copy):
    (model_copy / "config.json").unlink()
    with pytest.raises(ModelLoadError, match="has no config.json"):
        Classifier.from_pretrained(model_copy)


def test_a_file_instead_of_a_directory(model_copy):
    with pytest.raises(ModelLoadError, match="is a file"):
        Classifier.from_pretrained(model_copy / "config.json")


def test_corrupt_config(model_copy):
    (model_copy / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="cannot load model"):
        Classifier.from_pretrained(model_copy)


def test_corrupt_factsift_json(model_copy):
    (model_copy / "factsift.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="factsift.json: not valid JSON"):
        Classifier.from_pretrained(model_copy)


def test_labels_disagreeing_with_config(model_copy):
    settings = json.loads((model_copy / "factsift.json").read_text(encoding="utf-8"))
    settings["labels"] = ["fact", "opinion", "quotation"]
    (model_copy / "factsift.json").write_text(json.dumps(settings), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="disagree with config.json id2label"):
        Classifier.from_pretrained(model_copy)


def test_corrupt_weights(model_copy):
    (model_copy / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="cannot load model weights"):
        Classifier.from_pretrained(model_copy)


def test_bare_encoder_has_no_classification_head(tiny_encoder_dir):
    with pytest.raises(ModelLoadError, match="no trained classification head"):
        Classifier.from_pretrained(tiny_encoder_dir)


def test_probabilities_follow_the_temperature(tiny_classifier):
    hot = Classifier(tiny_classifier.backend, tiny_classifier.tokenizer,
                     replace(tiny_classifier.settings, temperature=2.0))
    base = np.array(list(tiny_classifier.predict_proba(["Prices rose."])[0].values()))
    scaled = np.array(list(hot.predict_proba(["Prices rose."])[0].values()))
    expected = np.sqrt(base) / np.sqrt(base).sum()  # softmax(z / 2) from softmax(z)
    assert scaled == pytest.approx(expected, abs=1e-6)


# ---- hardening (issue 11) ----------------------------------------------------------------------
def test_a_model_folder_without_its_tokenizer_files_does_not_load(model_copy):
    for name in ("tokenizer.json", "vocab.txt"):
        (model_copy / name).unlink(missing_ok=True)
    with pytest.raises(ModelLoadError, match="the tokenizer has 5 tokens but config.json has vocab_size 30,522"):
        Classifier.from_pretrained(model_copy)


def test_a_tokenizer_that_knows_no_word_does_not_load(model_copy):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(specials + [f"zz{i}" for i in range(30522 - len(specials))])}
    words = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    (model_copy / "tokenizer.json").unlink()
    PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(model_copy)
    with pytest.raises(ModelLoadError, match="every word of a test sentence an unknown token"):
        Classifier.from_pretrained(model_copy)


@pytest.fixture
def hub(monkeypatch):
    """Hub settings as the loader reads them: online, but at a local port where nothing listens."""
    import socket

    from huggingface_hub import constants

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    return constants


def test_a_name_that_is_no_folder_fails_fast_when_the_hub_is_unreachable(hub, tmp_path, monkeypatch):
    import time

    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match="no local folder 'my-model' and the Hub is unreachable .*does not answer"):
        Classifier.from_pretrained("my-model")
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match=r"no local folder 'my-model' and the Hub is unreachable \(offline mode"):
        Classifier.from_pretrained("my-model")
    assert time.monotonic() - started < 5


def test_an_unreadable_model_file_is_named_as_permission_denied(model_copy, monkeypatch):
    import os

    readable = os.access
    def access(path, mode) -> bool:
        return Path(path).name != "model.safetensors" and readable(path, mode)

    monkeypatch.setattr(os, "access", access)
    with pytest.raises(ModelLoadError, match="permission denied reading model.safetensors"):
        Classifier.from_pretrained(model_copy)


def test_saved_files_get_the_default_permissions(tiny_classifier, tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        saved = tiny_classifier.save_pretrained(tmp_path / "saved")
    finally:
        os.umask(umask)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in saved.iterdir()}
    assert modes["model.safetensors"] == 0o644 and set(modes.values()) == {0o644}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.label_texts("one text"), "texts must be an iterable of str, got str 'one text'"),
        (lambda c: c.label_texts({"a": "b"}), "texts must be an iterable of str, got dict"),
        (lambda c: c.label_texts(None), "texts must be an iterable of str, got NoneType None"),
        (lambda c: c.label_texts(["x"], batch_size="8"), "batch_size must be a positive int, got str '8'"),
        (lambda c: c.predict({"Prices rose.": 1}), "sentences must be a list of str, got dict"),
        (lambda c: c.predict(None), "sentences must be a list of str, got NoneType None"),
        (lambda c: c.predict(s for s in ["a"]), "sentences must be a list of str, got generator"),
        (lambda c: c.predict(["a"], context_before="x"), "context_before must be a list of str, got a single str 'x'"),
        (lambda c: c.predict_proba(["a"], context_after=[None]), r"context_after\[0\] must be a str, got NoneType"),
        (lambda c: c.predict(["a"], batch_size="8"), "batch_size must be a positive int, got str '8'"),
        (lambda c: c.predict_proba(["a"], batch_size=True), "batch_size must be a positive int, got bool True"),
    ],
)
def test_arguments_are_checked_when_called_naming_parameter_and_value(tiny_classifier, call, message):
    with pytest.raises(TypeError, match=message):
        call(tiny_classifier)  # label_texts is lazy, yet fails here, before anything is iterated


def test_other_sequences_of_str_are_accepted(tiny_classifier):
    expected = tiny_classifier.predict(["Prices rose.", "It rained."])
    assert tiny_classifier.predict(("Prices rose.", "It rained.")) == expected
    assert tiny_classifier.predict(np.array(["Prices rose.", "It rained."])) == expected
    texts = (text for text in ["One. Two.", "Three."])  # label_texts takes any iterable, lazily
    assert [len(sentences) for sentences in tiny_classifier.label_texts(texts)] == [2, 1]


def test_prose_that_mentions_tags_is_labelled_but_an_html_page_is_not(tiny_classifier):
    prose = "Every web page is built from tags. A paragraph starts with <p> and ends with </p>."
    assert [s.text for s in tiny_classifier.label_text(prose)][0] == "Every web page is built from tags."
    page = "<div><p>News of the day.</p><p>More news.</p></div>"
    with pytest.raises(ValueError, match="mostly markup.*allow_markup=True"):
        tiny_classifier.label_text(page)
    with pytest.raises(ValueError, match="HTML markup '<html'"):
        tiny_classifier.label_text("<!DOCTYPE html>\n<html><body>Hi.</body></html>")
    assert [s.text for s in tiny_classifier.label_text(page, allow_markup=True)] == [
        "<div><p>News of the day.</p><p>More news.</p></div>"
    ]


def test_a_hub_id_in_the_cache_loads_from_it_when_offline(hub, tiny_model_dir, tmp_path, monkeypatch):
    repo = tmp_path / "hub" / "models--someone--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd", encoding="utf-8")
    snapshot = shutil.copytree(tiny_model_dir, repo / "snapshots" / "0123abcd")
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    classifier = Classifier.from_pretrained("someone/tiny", device="cpu")
    assert classifier.source == str(snapshot) and classifier.labels == LABELS
