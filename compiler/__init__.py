"""billplan: billing plans as code, compiled to PSA vendors' APIs."""

__version__ = "0.1.0"
