"""Wire models that more than one QA Hub service (or its clients) speak."""
