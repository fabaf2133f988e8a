"""Reporting: the files (:mod:`.results`), text tables (:mod:`.tables`) and figures
(:mod:`.figures`) of an evaluation. Nothing here computes a score."""
