"""Pipelines that put the engine and the reports together: an evaluation with its files
(:mod:`.evaluation`), studies over grids of variants and seeds (:mod:`.study`) and the
demo (:mod:`.demo`)."""
