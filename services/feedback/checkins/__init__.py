"""1:1 check-ins: a manager and a report meeting on a recurring series (docs/feedback.md)."""
