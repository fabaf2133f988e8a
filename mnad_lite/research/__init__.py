"""Research tools beside the reproduction: studies over grids of variants and seeds
(:mod:`.study`), their records and selection (:mod:`.records`, :mod:`.select`), test-time
probes (:mod:`.probe`), the summaries in words and the README/notebook refreshers
(:mod:`.text`) and the numbers others published (:mod:`.published`).

The core (:mod:`mnad_lite` without its ``research``, ``alerts``, ``course`` and ``cli``
subpackages) never imports this package."""
