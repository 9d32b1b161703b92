"""Sphinx configuration of npconv's API reference, built from the docstrings.

Build: python -m sphinx -W -b html docs/api build/docs   (warnings are errors in CI)
"""
import npconv

project = "npconv"
author = "the npconv authors"
copyright = "2026, the npconv authors"
release = version = npconv.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]

# Google-style sections; "Shape" is npconv's (as torch's docstrings have it).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = ["Shape"]
napoleon_use_rtype = False
napoleon_use_ivar = True   # Attributes as a field list beside Parameters

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
# the argument forms shown by their names, as the docstrings describe them
autodoc_type_aliases = {name: name for name in (
    "ArrayLike", "DTypeLike", "Padding", "PaddingMode", "Size", "Ints", "Pairs")}

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
html_theme_options = {"page_width": "1100px", "body_max_width": "none"}
