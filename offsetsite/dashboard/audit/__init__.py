"""The audit log page and its CSV export."""
