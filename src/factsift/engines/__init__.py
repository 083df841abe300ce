"""Label document batches on one machine, on Ray or on Spark, all through :func:`core.label_batch`.

``factsift.engines.ray`` and ``factsift.engines.spark`` import their engine lazily; install them
with ``pip install 'factsift[ray]'`` or ``'factsift[spark]'``.
"""
