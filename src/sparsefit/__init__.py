"""sparsefit."""
