"""Reporting: the files (:mod:`.results`), text tables (:mod:`.tables`) and figures
(:mod:`.figures`) of an evaluation, a study summary in words (:mod:`.study_text`) and the
numbers others published (:mod:`.published`). Nothing here computes a score."""
