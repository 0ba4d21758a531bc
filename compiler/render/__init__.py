"""Views of Items and Plans for people (tables) and machines (JSON, CSV)."""
