"""Review drafts: a first draft of a self-assessment or a manager review, each sentence citing its source."""
