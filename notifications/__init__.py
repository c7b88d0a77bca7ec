"""E-mail notifications: consumes the reviews' task and gate events, sends mail over SMTP (docs/notifications.md)."""
