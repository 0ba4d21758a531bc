"""Views of Items and Plans for people (tables, text, markdown) and machines (JSON, CSV): items
(compiler.render.items), a plan (plan), a refresh-only plan (drift), the safe showing of
user text in all of them (safe), and the consoles and messages every command writes (terminal)."""
