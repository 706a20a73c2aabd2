"""The overview page: every topic and group at a glance, with summary cards."""
