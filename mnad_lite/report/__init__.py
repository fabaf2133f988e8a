"""Reporting: the files (:mod:`.results`), text tables (:mod:`.tables`) and figures
(:mod:`.figures`) of an evaluation, and a study summary in words (:mod:`.study_text`).
Nothing here computes a score."""
