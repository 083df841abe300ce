"""One worker thread owns the classifier; requests that wait together are labelled in one batch.

Each request puts its texts on a queue and gets a future. The worker takes everything waiting
(after a short gather window, so requests that arrive together share a batch), calls
``Classifier.label_texts`` once on all of it, and hands each request its own documents back.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from factsift.model import Classifier

# How long the worker waits for more requests once one has arrived, and when it stops waiting.
GATHER_SECONDS = 0.004
GATHER_MAX_TEXTS = 256


@dataclass
class _Job:
    texts: list[str]
    future: Future = field(default_factory=Future)


class LabelQueue:
    """Label texts on one worker thread, batching the texts of concurrent requests together."""

    def __init__(
        self, classifier: Classifier, batch_size: int = 32, max_chars: int | None = None,
        gather_seconds: float = GATHER_SECONDS,
    ):
        self.classifier, self.batch_size, self.max_chars = classifier, batch_size, max_chars
        self.gather_seconds = gather_seconds
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="factsift-labeller", daemon=True)
        self._worker.start()

    def submit(self, texts: list[str]) -> Future:
        """A future of ``texts``' labelled sentences, one list per text, in order.

        The texts must already pass ``inputs.check_text``: one bad text would fail its batch-mates.
        """
        job = _Job(texts)
        self._jobs.put(job)
        return job.future

    def close(self) -> None:
        """Finish the jobs already queued, then stop the worker."""
        self._jobs.put(None)
        self._worker.join()

    def _run(self) -> None:
        while True:
            jobs = self._gather()
            live = [job for job in jobs if job is not None and job.future.set_running_or_notify_cancel()]
            if live:
                self._label(live)
            if None in jobs:
                return

    def _gather(self) -> list[_Job | None]:
        """The next job, and any that arrive within the gather window (up to GATHER_MAX_TEXTS texts)."""
        jobs = [self._jobs.get()]
        texts = len(jobs[0].texts) if jobs[0] is not None else 0
        deadline = time.monotonic() + self.gather_seconds
        while jobs[-1] is not None and texts < GATHER_MAX_TEXTS:
            try:
                job = self._jobs.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            jobs.append(job)
            texts += len(job.texts) if job is not None else 0
        return jobs

    def _label(self, jobs: list[_Job]) -> None:
        texts = [text for job in jobs for text in job.texts]
        try:
            documents = list(self.classifier.label_texts(texts, batch_size=self.batch_size, max_chars=self.max_chars))
        except Exception as error:  # noqa: BLE001 - handed to every waiting request, never lost
            for job in jobs:
                job.future.set_exception(error)
            return
        start = 0
        for job in jobs:
            job.future.set_result(documents[start : start + len(job.texts)])
            start += len(job.texts)

