"""Training on a tiny random-weight BERT: loss, model directory, reloads, resume, labels, errors."""

from __future__ import annotations

import importlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import TRAIN_SENTENCES
from factsift.data import DataError, load_data
from factsift.evaluate import evaluate
from factsift.model import Classifier
from factsift.train import CHECKPOINT_DIR, TrainConfig, fit_temperature, train

# `import factsift.train` would give the function: factsift/__init__.py re-exports train()
train_module = importlib.import_module("factsift.train")


def fast_config(train_path, output, base, **overrides) -> TrainConfig:
    """Settings that let a 16-wide BERT learn 26 sentences in a few seconds on one core."""
    settings = dict(
        train=train_path, output=output, base_model=str(base), epochs=3, batch_size=8, learning_rate=5e-2,
        warmup_ratio=0.0, max_length=32, patience=10, checkpoint_steps=1000, device="cpu", progress=False,
        seed=7, context_window=0,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def rows_with_context() -> list[dict]:
    """The training sentences in one stream, each with its neighbours as context."""
    texts = [(t, label) for label, ts in TRAIN_SENTENCES.items() for t in ts]
    return [
        {"text": t, "label": label, "context_before": texts[i - 1][0] if i else "",
         "context_after": texts[i + 1][0] if i + 1 < len(texts) else ""}
        for i, (t, label) in enumerate(texts)
    ]


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(directory / "model.safetensors")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_encoder_dir):
    """One model trained with context from the tiny encoder, shared by the read-only tests below."""
    root = tmp_path_factory.mktemp("trained")
    rows = rows_with_context()
    train_path = write_jsonl(root / "train.jsonl", [r for i, r in enumerate(rows) if i % 5])
    dev_path = write_jsonl(root / "dev.jsonl", [r for i, r in enumerate(rows) if not i % 5])
    # 36 steps: enough for the tiny model to leave its ln(3) plateau (seed fixed, so the run is deterministic)
    config = fast_config(train_path, root / "model", tiny_encoder_dir, dev=dev_path, epochs=6, batch_size=4,
                         learning_rate=3e-2, warmup_ratio=0.1, context_window=1)
    return config, train(config)


# ---- one training run, inspected -------------------------------------------------------------
def test_loss_falls(trained):
    _, result = trained
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4, 5, 6]
    assert len(result.losses) == 6 * 6  # 24 sentences, batches of 4
    assert result.history[-1]["train_loss"] < 0.8 * result.history[0]["train_loss"]
    assert np.mean(result.losses[-6:]) < 0.8 * np.mean(result.losses[:6])


def test_model_directory_layout(trained):
    config, result = trained
    out = Path(config.output)
    assert result.output == out
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "factsift.json",
                 "evaluation.json", "README.md"):
        assert (out / name).is_file(), name
    assert not (out / CHECKPOINT_DIR).exists()
    hf_config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert hf_config["id2label"] == {"0": "fact", "1": "quotation", "2": "opinion"}
    assert hf_config["label2id"] == {"fact": 0, "quotation": 1, "opinion": 2}
    settings = json.loads((out / "factsift.json").read_text(encoding="utf-8"))
    assert settings["labels"] == ["fact", "quotation", "opinion"]
    assert settings["context_window"] == 1 and settings["max_length"] == 32
    assert 0.25 <= settings["temperature"] <= 8
    assert json.loads((out / "evaluation.json").read_text(encoding="utf-8")) == result.dev_report.to_dict()
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "pipeline_tag: text-classification" in card
    assert f"`{config.base_model}`" in card
    assert "(24 sentences); dev: `" in card and "(6 sentences)" in card
    assert f"| 6 | {result.history[5]['train_loss']:.4f} |" in card
    f1s = [h["dev_macro_f1"] for h in result.history]
    assert result.best_epoch == 1 + int(np.argmax(f1s))
    # the saved model is the best epoch's (temperature scaling never changes a prediction)
    assert result.dev_report.macro_f1 == f1s[int(result.best_epoch) - 1]


def test_reloaded_model_reproduces_the_dev_report(trained):
    """Same weights, same context inputs, same temperature: evaluate() gives evaluation.json again."""
    config, result = trained
    classifier = Classifier.from_pretrained(config.output, device="cpu")
    report = evaluate(classifier, load_data(config.dev))
    saved = json.loads((Path(config.output) / "evaluation.json").read_text(encoding="utf-8"))
    ece = saved.pop("expected_calibration_error")
    assert report.expected_calibration_error == pytest.approx(ece, abs=1e-5)
    assert {k: v for k, v in report.to_dict().items() if k != "expected_calibration_error"} == saved


def test_reload_predicts_identically_with_classifier_and_pipeline(trained):
    from transformers import pipeline

    config, _ = trained
    sentences = ["The ministry said exports rose.", "“We will win,” he said.", "This is absurd.", "Rates fell."]
    first = Classifier.from_pretrained(config.output, device="cpu")
    second = Classifier.from_pretrained(config.output, device="cpu")
    assert first.predict_proba(sentences) == second.predict_proba(sentences)

    temperature = first.settings.temperature
    scorer = pipeline("text-classification", model=str(config.output), device="cpu", top_k=None)
    for sentence, ours, theirs in zip(sentences, first.predict_proba(sentences), scorer(sentences)):
        theirs = {row["label"]: row["score"] for row in theirs}
        assert max(theirs, key=theirs.get) == max(ours, key=ours.get)
        # the pipeline skips the temperature: log p_pipeline = T * log p_factsift + constant
        shift = [np.log(theirs[label]) - temperature * np.log(ours[label]) for label in first.labels]
        assert np.ptp(shift) < 1e-4, sentence


def test_the_best_epoch_is_saved_not_the_last(tmp_path, tiny_encoder_dir, train_file, monkeypatch):
    scripted_f1 = iter([0.3, 0.9, 0.5])  # epoch 2 is best; epoch 3 is worse but not enough to stop
    real_report, snapshots = train_module.compute_report, []

    def scripted_report(*args, **kwargs):
        report = real_report(*args, **kwargs)
        return replace(report, macro_f1=next(scripted_f1, report.macro_f1))

    def snapshot(checkpoint, model, *args):
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return real_save(checkpoint, model, *args)

    real_save = train_module._save_checkpoint
    monkeypatch.setattr(train_module, "compute_report", scripted_report)
    monkeypatch.setattr(train_module, "_save_checkpoint", snapshot)
    result = train(fast_config(train_file, tmp_path / "out", tiny_encoder_dir, epochs=3))
    assert result.best_epoch == 2 and len(snapshots) == 3  # one checkpoint per epoch end
    saved = weights(result.output)
    assert all(torch.equal(saved[name], snapshots[1][name]) for name in saved)
    assert not all(torch.equal(saved[name], snapshots[2][name]) for name in saved)


# ---- labels ----------------------------------------------------------------------------------
def subjectivity_file(path: Path) -> Path:
    rows = [{"text": t, "label": "SUBJ" if label == "opinion" else "OBJ"}
            for label, ts in TRAIN_SENTENCES.items() for t in ts]
    return write_jsonl(path, rows)


def test_own_labels_and_label_map(tmp_path, tiny_encoder_dir):
    data = subjectivity_file(tmp_path / "subj.jsonl")
    own = train(fast_config(data, tmp_path / "own", tiny_encoder_dir, epochs=1))
    assert own.labels == ["OBJ", "SUBJ"]
    assert Classifier.from_pretrained(own.output, device="cpu").labels == ["OBJ", "SUBJ"]
    mapped = train(fast_config(data, tmp_path / "mapped", tiny_encoder_dir, epochs=1,
                               label_map="OBJ=fact,SUBJ=opinion"))
    assert mapped.labels == ["fact", "opinion"]
    assert mapped.dev_report.opinion_vs_rest_macro_f1 is not None


def test_continue_from_a_factsift_model_adds_a_label(tmp_path, tiny_model_dir):
    rows = [{"text": t, "label": label} for label, ts in TRAIN_SENTENCES.items() if label != "quotation" for t in ts]
    rows += [{"text": f"Satire number {i}: the minister ate the budget.", "label": "satire"} for i in range(6)]
    result = train(fast_config(write_jsonl(tmp_path / "d.jsonl", rows), tmp_path / "out", tiny_model_dir, epochs=1))
    assert result.labels == ["fact", "quotation", "opinion", "satire"]  # old order kept, new label appended
    classifier = Classifier.from_pretrained(result.output, device="cpu")
    assert classifier.labels == result.labels
    assert set(classifier.predict_proba(["A sentence."])[0]) == set(result.labels)


def test_a_plain_classifier_with_another_head_size_gets_a_fresh_head(tmp_path, tiny_model_dir):
    plain = shutil.copytree(tiny_model_dir, tmp_path / "plain")
    (plain / "factsift.json").unlink()  # a Hugging Face classifier with 3 outputs, not a factsift model
    result = train(fast_config(subjectivity_file(tmp_path / "subj.jsonl"), tmp_path / "out", plain, epochs=1))
    assert result.labels == ["OBJ", "SUBJ"]
    assert weights(result.output)["classifier.weight"].shape == (2, 16)


def test_grown_head_keeps_trained_rows(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    old = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).classifier
    labels = ["fact", "quotation", "opinion", "satire"]
    model = train_module._load_model(str(tiny_model_dir), labels, ["fact", "quotation", "opinion"])
    head = model.classifier
    assert head.out_features == 4 and model.config.num_labels == 4
    assert model.config.id2label == dict(enumerate(labels))
    assert torch.equal(head.weight[:3], old.weight) and torch.equal(head.bias[:3], old.bias)
    assert head.bias[3] == 0 and 0 < head.weight[3].std() < 0.1
    assert model(input_ids=torch.tensor([[101, 2023, 102]])).logits.shape == (1, 4)


def test_dev_label_unknown_to_training_names_the_row(tmp_path, tiny_encoder_dir, train_file):
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"text": "A.", "label": "fact"}, {"text": "B.", "label": "satire"}])
    with pytest.raises(DataError, match=r"dev\.jsonl:2: label 'satire' is unknown to the training data"):
        train(fast_config(train_file, tmp_path / "out", tiny_encoder_dir, dev=dev))
    assert not (tmp_path / "out").exists()  # data errors come before any output is made


# ---- class weights, context ------------------------------------------------------------------
def test_class_weights_balance_the_loss(tmp_path, tiny_encoder_dir, monkeypatch):
    rows = [{"text": t, "label": "fact"} for t in TRAIN_SENTENCES["fact"] + TRAIN_SENTENCES["quotation"][:2]]
    rows += [{"text": t, "label": "opinion"} for t in TRAIN_SENTENCES["opinion"][:4]]
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"text": "A.", "label": "fact"}, {"text": "B.", "label": "opinion"}])
    seen = []
    original = torch.nn.CrossEntropyLoss

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weight"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.nn, "CrossEntropyLoss", spy)
    config = fast_config(write_jsonl(tmp_path / "d.jsonl", rows), tmp_path / "out", tiny_encoder_dir, dev=dev, epochs=1)
    train(config)
    # 16 sentences: 12 fact, 4 opinion -> n / (labels * count)
    assert seen[0].tolist() == pytest.approx([16 / (2 * 12), 16 / (2 * 4)])


def test_data_without_context_saves_window_zero(tmp_path, tiny_encoder_dir, train_file):
    with pytest.warns(UserWarning, match="saved with context_window=0"):
        result = train(fast_config(train_file, tmp_path / "out", tiny_encoder_dir, epochs=1, context_window=2))
    assert result.context_window == 0
    assert Classifier.from_pretrained(result.output, device="cpu").settings.context_window == 0


def test_progress_bar_and_epoch_lines(tmp_path, tiny_encoder_dir, train_file, capsys):
    train(fast_config(train_file, tmp_path / "out", tiny_encoder_dir, epochs=1, progress=True))
    err = capsys.readouterr().err
    assert "training" in err and "epoch 1: train loss" in err


# ---- output directory ------------------------------------------------------------------------
def test_refuses_to_overwrite_a_non_empty_output(tmp_path, tiny_encoder_dir, train_file):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not empty; pass overwrite=True"):
        train(fast_config(train_file, out, tiny_encoder_dir, epochs=1))
    assert (out / "keep.txt").read_text() == "precious"
    train(fast_config(train_file, out, tiny_encoder_dir, epochs=1, overwrite=True))
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()


def test_overwrite_never_deletes_the_inputs(tmp_path, tiny_encoder_dir, train_file):
    out = tmp_path / "out"
    out.mkdir()
    inside = out / "train.jsonl"
    inside.write_bytes(train_file.read_bytes())
    with pytest.raises(ValueError, match="overwrite would delete .*train.jsonl"):
        train(fast_config(inside, out, tiny_encoder_dir, epochs=1, overwrite=True))
    assert inside.is_file()


def test_resume_without_a_checkpoint(tmp_path, tiny_encoder_dir, train_file):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(fast_config(train_file, tmp_path / "out", tiny_encoder_dir, resume=True))


@pytest.mark.parametrize(("name", "value"), [("epochs", 0), ("batch_size", 2.5), ("learning_rate", 0),
                                             ("context_window", -1), ("warmup_ratio", 1.0), ("dev_fraction", 0)])
def test_bad_parameters_are_named(tmp_path, train_file, name, value):
    config = fast_config(train_file, tmp_path / "out", "unused", **{name: value})
    with pytest.raises(ValueError, match=f"{name} must"):
        train(config)


# ---- resume and determinism ------------------------------------------------------------------
def interrupt_at_step(monkeypatch, step: int) -> None:
    """Raise KeyboardInterrupt when training step ``step`` is about to update the weights."""
    original, calls = torch.nn.utils.clip_grad_norm_, []

    def clip(*args, **kwargs):
        calls.append(1)
        if len(calls) == step:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)


def test_resume_after_interruption_matches_an_uninterrupted_run(
    tmp_path, tiny_encoder_dir, train_file, tokenizer, monkeypatch
):
    # 24 train sentences in batches of 8: 3 steps an epoch; checkpoints after steps 2, 3 (epoch end), 4, 6 (end)
    settings = dict(epochs=2, checkpoint_steps=2)
    whole = train(fast_config(train_file, tmp_path / "whole", tiny_encoder_dir, **settings))

    with monkeypatch.context() as patch:
        interrupt_at_step(patch, 4)  # the last checkpoint is the end of epoch 1
        with pytest.raises(KeyboardInterrupt):
            train(fast_config(train_file, tmp_path / "cut", tiny_encoder_dir, **settings))
    checkpoint = tmp_path / "cut" / CHECKPOINT_DIR
    assert (checkpoint / "latest").read_text().strip() == "step-00000003"
    with pytest.raises(FileExistsError):
        train(fast_config(train_file, tmp_path / "cut", tiny_encoder_dir, **settings))

    with monkeypatch.context() as patch:
        interrupt_at_step(patch, 2)  # resumed at step 4 (checkpoint, mid-epoch), cut in step 5
        with pytest.raises(KeyboardInterrupt):
            train(fast_config(train_file, tmp_path / "cut", tiny_encoder_dir, resume=True, **settings))
    assert (checkpoint / "latest").read_text().strip() == "step-00000004"
    assert sorted(p.name for p in checkpoint.iterdir()) == ["best-epoch-1", "latest", "step-00000004"]

    resumed = train(fast_config(train_file, tmp_path / "cut", tiny_encoder_dir, resume=True, **settings))
    assert resumed.losses == whole.losses
    assert resumed.history == whole.history
    expected, actual = weights(whole.output), weights(resumed.output)
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[name], actual[name]) for name in expected)
    assert not checkpoint.exists()
    # the tokenizer comes from the base model, not from the (tokenizer-less) checkpoint
    sentence = "“We will win,” she said."
    assert (Classifier.from_pretrained(resumed.output, device="cpu").tokenizer(sentence)["input_ids"]
            == tokenizer(sentence)["input_ids"])


def test_resume_refuses_changed_settings(tmp_path, tiny_encoder_dir, train_file, monkeypatch):
    settings = dict(epochs=2, checkpoint_steps=2)
    with monkeypatch.context() as patch:
        interrupt_at_step(patch, 4)
        with pytest.raises(KeyboardInterrupt):
            train(fast_config(train_file, tmp_path / "out", tiny_encoder_dir, **settings))
    # the seed also changes the dev split, hence the data
    with pytest.raises(ValueError, match="resume: data, learning_rate, seed differ"):
        train(fast_config(train_file, tmp_path / "out", tiny_encoder_dir, resume=True, seed=8, learning_rate=1e-3,
                          **settings))


def test_resume_after_early_stop_does_not_train_on(tmp_path, tiny_encoder_dir, train_file, monkeypatch):
    # a learning rate too small to change predictions: no dev gain after epoch 1, so patience 1 stops at 2
    settings = dict(epochs=4, patience=1, learning_rate=1e-12)

    def interrupted_finish(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(train_module, "_finish", interrupted_finish)
        with pytest.raises(KeyboardInterrupt):
            train(fast_config(train_file, tmp_path / "out", tiny_encoder_dir, **settings))
    result = train(fast_config(train_file, tmp_path / "out", tiny_encoder_dir, resume=True, **settings))
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert len(result.losses) == 6 and result.best_epoch == 1


# ---- temperature -------------------------------------------------------------------------------
@pytest.mark.parametrize("true_temperature", [0.5, 2.0, 4.0])
def test_fit_temperature_recovers_a_known_temperature(true_temperature):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20000, 3))
    scaled = logits / true_temperature
    probabilities = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    gold = np.array([rng.choice(3, p=row) for row in probabilities])
    assert fit_temperature(logits, gold) == pytest.approx(true_temperature, rel=0.04)


def test_fit_temperature_edge_cases():
    # confidently wrong rows must not be capped: huge logits stay finite and push T up
    logits = np.array([[400.0, 0.0], [0.0, 400.0], [400.0, 0.0], [0.0, 400.0]])
    assert fit_temperature(logits, np.array([0, 1, 1, 0])) == pytest.approx(8.0, rel=0.01)
    # no errors on dev: nothing to calibrate against
    assert fit_temperature(np.array([[2.0, 0.0], [0.0, 3.0]]), np.array([0, 1])) == 1.0
    with pytest.raises(ValueError, match="need logits"):
        fit_temperature(np.zeros((2, 2)), np.array([0]))


def test_context_dropout_blanks_a_reproducible_share_of_neighbours():
    from factsift.train import _without_some_context

    examples = [(f"Sentence {i}.", "Before.", "After.") for i in range(2000)]
    first = _without_some_context(examples, 0.5, (13, 0, 7))
    assert first == _without_some_context(examples, 0.5, (13, 0, 7))
    assert first != _without_some_context(examples, 0.5, (13, 0, 8))
    blanked = sum(before == after == "" for _, before, after in first)
    assert 900 < blanked < 1100
    assert [text for text, _, _ in first] == [text for text, _, _ in examples]
    assert _without_some_context(examples, 0.0, (13, 0, 7)) == examples


def test_context_dropout_must_be_a_share(tmp_path, train_file):
    with pytest.raises(ValueError, match="context_dropout must be in"):
        train(TrainConfig(train=train_file, output=tmp_path / "m", context_dropout=1.0))


# ---- hardening (issue 11) ----------------------------------------------------------------------
def test_data_with_a_single_label_is_refused(tmp_path, tiny_encoder_dir):
    rows = [{"text": t, "label": "fact"} for t in TRAIN_SENTENCES["fact"]]
    with pytest.raises(DataError, match=r"at least 2 labels.*only one label: 'fact' \(\d+\)"):
        train(fast_config(write_jsonl(tmp_path / "one.jsonl", rows), tmp_path / "out", tiny_encoder_dir))
    assert not (tmp_path / "out").exists()


def test_a_base_model_without_its_tokenizer_is_refused(tmp_path, tiny_encoder_dir, train_file):
    from factsift.model import ModelLoadError

    base = shutil.copytree(tiny_encoder_dir, tmp_path / "base")
    for name in ("tokenizer.json", "vocab.txt"):
        (base / name).unlink(missing_ok=True)
    with pytest.raises(ModelLoadError, match="the tokenizer has 5 tokens"):
        train(fast_config(train_file, tmp_path / "out", base))
    assert not (tmp_path / "out").exists()


def test_model_files_are_readable_by_others(tmp_path, tiny_encoder_dir, train_file):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        result = train(fast_config(train_file, tmp_path / "out", tiny_encoder_dir, epochs=1))
    finally:
        os.umask(umask)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in result.output.iterdir()}
    assert modes["model.safetensors"] == 0o644 and set(modes.values()) == {0o644}, modes


def test_interruption_before_the_first_checkpoint_does_not_offer_resume(
    tmp_path, tiny_encoder_dir, train_file, monkeypatch, capsys
):
    from factsift.train import has_checkpoint

    interrupt_at_step(monkeypatch, 2)
    output = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        train(fast_config(train_file, output, tiny_encoder_dir, progress=True))
    err = capsys.readouterr().err
    assert "before the first checkpoint" in err and "resume=True" not in err
    assert not has_checkpoint(output) and not any(output.iterdir())  # a plain rerun starts again
    (output / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError, match=r"pass overwrite=True \(--overwrite\) to replace it$"):
        train(fast_config(train_file, output, tiny_encoder_dir))
