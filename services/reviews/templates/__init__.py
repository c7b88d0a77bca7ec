"""Review configuration: rating scales, review templates, the score formula language and scoring."""
