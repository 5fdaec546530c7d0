"""The recognition core: landmarks, alignment, quality, the descriptor, the pipeline and 1:N matching."""
