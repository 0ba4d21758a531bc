"""What billplan's commands do, apart from how they are asked for and shown: one module per
operation (making a plan, applying one, editing state, checking a saved plan, serving the
sandbox). An operation returns values or raises an error that says what to do, and shows what
happens on the way through a view it is given; `compiler.cli` parses the arguments, calls it
and picks the view (compiler.render).
"""
