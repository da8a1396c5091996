"""Custom kinds: registered by an admin, written by teams other than TF-A through the same envelope."""
