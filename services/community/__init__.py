"""The community service: villages and cooperatives, their produce lots and their needs."""
