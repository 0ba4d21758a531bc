"""What billplan's commands do, apart from how they are asked for and shown: one module per
operation (editing state, checking a saved plan ...). An operation returns values or raises an
error that says what to do; `compiler.cli` parses the arguments, calls it and picks the view.
"""
