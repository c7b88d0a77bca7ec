"""Review configuration: rating scales, templates, the formula language and scoring."""
