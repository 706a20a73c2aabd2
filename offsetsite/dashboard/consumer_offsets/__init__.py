"""The __consumer_offsets page: the groups' notebook, decoded."""
