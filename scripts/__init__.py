"""The project's code: thin typer CLIs that project.yml runs as `python -m scripts.NAME`, over small
functions the tests import. `ner_model/` is the model's code, which the package step copies flat into
the wheel: its modules import each other relatively and nothing else from here.

`python -m scripts.STEP` imports this package while sys.argv[0] is still "-m" (CPython sets it so while
it finds the module): the step's imports then run without the garbage collector, and `cli.run` turns it
back on with the imported stack frozen (scripts/cli.py says why). Nothing here changes what a step writes.
"""

import sys

if sys.argv[:1] == ["-m"]:
    import gc

    gc.disable()
