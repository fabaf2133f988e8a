"""The engine: configuration, checkpoints, runtime, training, inference, evaluation."""
