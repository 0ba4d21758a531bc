"""Onboarding (`billplan generate`): what a vendor already holds, read back as plan charges.

found.py: the objects read, in the plan's terms; recognise.py: the charges that reproduce them;
write.py: the YAML fragments and their keys. compiler.operations.onboarding runs them.
"""
