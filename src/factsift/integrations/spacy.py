"""The ``factsift`` spaCy pipeline component.

    nlp = spacy.blank("en")
    nlp.add_pipe("factsift", config={"model": None, "batch_size": 32})   # no factsift import needed
    doc = nlp(text)
    [(span.text, span.label_, span._.factsift_scores) for span in doc.spans["factsift"]]

spaCy finds the factory through the ``spacy_factories`` entry point of the factsift package.
The component labels ``doc.text`` with factsift's own quote-aware sentence splitter: one span per
factsift sentence in ``doc.spans["factsift"]``, the label as the span label and every label's score in
``span._.factsift_scores``, as in the JSONL records (``writers.sentence_records``). It leaves ``doc.sents`` and the tokens as they are, so it sits beside any
sentence splitter of the pipeline.

Offsets: a span's ``start_char``/``end_char`` equal factsift's ``start``/``end`` wherever those fall on
token boundaries. factsift splits sentences only at whitespace and spaCy's tokenizers never put
whitespace inside a token, so with them that is always the case. A boundary can fall inside a token
only when a component merges tokens (``doc.retokenize().merge``) or a custom tokenizer keeps spaces
in tokens; the span is then widened to the whole token (spaCy's ``alignment_mode="expand"``), so no
sentence text is lost, and the two neighbouring spans share that token.

``nlp.pipe(texts, batch_size=n)`` labels each batch of ``n`` documents with one
``Classifier.label_texts`` call, which batches sentences across those documents (``batch_size`` in the
config is the model's batch of sentences).

Saving: ``nlp.to_disk`` stores the config, not the weights: ``model`` is a reference (a model
directory or Hub id, or null for the shipped model) that ``spacy.load`` loads again, so give an
absolute path. A model that is not there stops ``spacy.load`` with a ModelLoadError naming it.

``DocBin`` keeps the spans and their labels; the scores are a custom attribute, kept only with
``DocBin(store_user_data=True)`` as for any spaCy extension.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import minibatch

from factsift import Classifier, ModelLoadError
from factsift.integrations.loading import load_classifier
from factsift.writers import sentence_records

SPANS_KEY = "factsift"
SCORES_ATTRIBUTE = "factsift_scores"

if not Span.has_extension(SCORES_ATTRIBUTE):
    Span.set_extension(SCORES_ATTRIBUTE, default=None)


class FactsiftComponent:
    """Writes one labelled span per factsift sentence into ``doc.spans["factsift"]``."""

    def __init__(self, classifier: Classifier, batch_size: int = 32):
        self.classifier = classifier
        self.batch_size = batch_size

    def __call__(self, doc: Doc) -> Doc:
        return next(self.pipe([doc]))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        """Label ``batch_size`` documents at a time with one ``label_texts`` call."""
        for batch in minibatch(docs, size=batch_size):
            documents = self.classifier.label_texts([doc.text for doc in batch], batch_size=self.batch_size)
            for doc, sentences in zip(batch, documents):
                spans = []
                for record in sentence_records("", sentences):
                    span = doc.char_span(record["start"], record["end"], label=record["label"], alignment_mode="expand")
                    span._.set(SCORES_ATTRIBUTE, record["scores"])
                    spans.append(span)
                doc.spans[SPANS_KEY] = spans
                yield doc


@Language.factory("factsift", default_config={"model": None, "batch_size": 32})
def make_factsift(nlp: Language, name: str, model: str | None, batch_size: int) -> FactsiftComponent:
    """The factory behind ``nlp.add_pipe("factsift")``: ``model`` is a model directory or Hub id
    (None: the shipped model), ``batch_size`` the model's batch of sentences."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"factsift component {name!r}: batch_size must be a whole number >= 1, got {batch_size!r}")
    try:
        classifier = load_classifier(model)
    except ModelLoadError as error:
        raise ModelLoadError(f"factsift component {name!r}: {error}") from error
    return FactsiftComponent(classifier, batch_size)
