"""Views of Items and Plans for people (tables, text, markdown) and machines (JSON, CSV): items
(compiler.render.items), a plan (plan), a refresh-only plan (drift), and the safe showing of
user text in all of them (safe)."""
