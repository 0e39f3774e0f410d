"""The trading kernel: single writers of the ledger's aggregates, ports (clock, ids, bus) and the
deterministic step shared by the JetStream runner and the in-process log (docs: /work/shared/docs/kernel.md)."""
