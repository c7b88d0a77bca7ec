"""The people directory: people, managers, organisation units, bulk import."""
