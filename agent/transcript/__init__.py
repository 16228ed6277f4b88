"""Transcripts: the event union, the conversation log, derived state, files, redaction."""
