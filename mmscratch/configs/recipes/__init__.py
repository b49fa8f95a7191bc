"""The from-scratch recipe in MMEngine's pure-Python config format (see ``gn.py``)."""
