"""NEFTune Studio trainer: instruction tuning with NEFTune (Jain et al. 2023, arXiv 2310.05914)."""

__version__ = "0.1.0"
