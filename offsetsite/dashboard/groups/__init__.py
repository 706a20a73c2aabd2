"""Group pages: members, lag and health, and the actions (consume, commit, reset, delete)."""
