"""The engine: configuration (:mod:`.config`), checkpoints (:mod:`.checkpoint`), where
tensors run (:mod:`.runtime`), training (:mod:`.train`) and inference (:mod:`.inference`).
"""
