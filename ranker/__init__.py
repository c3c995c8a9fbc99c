"""The ranker: events, user profiles, the attention model and the ranking service."""
