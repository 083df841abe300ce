"""LabelQueue: one worker labels the texts of concurrent requests together, each gets its own back."""

from __future__ import annotations

import pytest

from factsift.serve.batcher import LabelQueue

TEXTS = [f"Item {i} costs {i} euros. “It is a bargain,” he said. Buy it." for i in range(10)]


@pytest.fixture
def calls(monkeypatch, varied_classifier) -> list[int]:
    """Counts the texts in each ``label_texts`` call of the classifier."""
    counts: list[int] = []
    original = type(varied_classifier).label_texts

    def label_texts(self, texts, **options):
        texts = list(texts)
        counts.append(len(texts))
        return original(self, texts, **options)

    monkeypatch.setattr(type(varied_classifier), "label_texts", label_texts)
    return counts


def test_requests_waiting_together_share_one_label_texts_call(varied_classifier, calls):
    expected = [varied_classifier.label_text(text) for text in TEXTS]
    calls.clear()
    labeller = LabelQueue(varied_classifier, gather_seconds=0.5)
    try:
        futures = [labeller.submit([text]) for text in TEXTS[:4]] + [labeller.submit(TEXTS[4:])]
        results = [future.result(timeout=60) for future in futures]
    finally:
        labeller.close()
    assert calls == [len(TEXTS)]
    got = [document for result in results for document in result]
    assert [[(s.start, s.end, s.label) for s in d] for d in got] == [[(s.start, s.end, s.label) for s in d] for d in expected]


def test_a_cancelled_request_is_not_labelled(varied_classifier, calls):
    labeller = LabelQueue(varied_classifier, gather_seconds=0.5)
    try:
        cancelled = labeller.submit(["Gone before it was labelled."])
        assert cancelled.cancel()
        kept = labeller.submit(TEXTS[:2])
        assert len(kept.result(timeout=60)) == 2
    finally:
        labeller.close()
    assert calls == [2]


def test_a_failure_reaches_every_request_of_the_batch_and_the_worker_goes_on(varied_classifier):
    labeller = LabelQueue(varied_classifier, gather_seconds=0.5)
    try:
        good, bad = labeller.submit(TEXTS[:1]), labeller.submit([None])
        for future in (good, bad):
            with pytest.raises(TypeError, match="expected str"):
                future.result(timeout=60)
        assert len(labeller.submit(TEXTS[:1]).result(timeout=60)) == 1
    finally:
        labeller.close()


def test_close_finishes_queued_requests(varied_classifier):
    labeller = LabelQueue(varied_classifier)
    futures = [labeller.submit([text]) for text in TEXTS]
    labeller.close()
    assert all(len(future.result(timeout=0)) == 1 for future in futures)
