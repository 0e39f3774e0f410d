"""Read models: folds over the JetStream log, applied exactly once through tracking recorders."""
