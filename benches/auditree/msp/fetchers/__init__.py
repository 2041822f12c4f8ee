"""Fetchers: copy the generated vendor answers into the locker."""
