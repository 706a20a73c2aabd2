"""The lab: ticket checkers (simulated consumers) you can crash, the lesson and the room."""
