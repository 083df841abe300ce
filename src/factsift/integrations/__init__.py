"""factsift inside other libraries: spaCy (``spacy``), pandas (``frames``) and 🤗 datasets
(``hf_datasets``).

Each integration is a thin layer over ``Classifier.label_texts`` and ``writers.sentence_records``;
nothing in the core library imports them, except ``Classifier.label_dataset`` (``hf_datasets``).
"""
