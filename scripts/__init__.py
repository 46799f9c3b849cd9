"""The project's code: thin typer CLIs that project.yml runs as `python -m scripts.NAME`, over small
functions the tests import. `custom_functions.py` is the exception: `spacy package --code` copies it
flat into the wheel, so it imports nothing from here.
"""
