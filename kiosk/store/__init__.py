"""The encrypted gallery store: the only code that touches SQLCipher, and where its keys come from."""
