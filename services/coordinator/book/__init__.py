"""The book: the coordinator's copy of every need and offer the parties published, kept to
their latest version (``service``), with the region and category filters every read uses
(``queries``)."""
