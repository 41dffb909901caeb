"""anyppg.trainer: Net1D encoders, ECG-guided pretraining (DDP), window stores, linear probes (needs torch)."""
