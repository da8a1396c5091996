"""QA Hub metrics broker."""
