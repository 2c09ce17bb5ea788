"""Keep the outputs in the executed notebooks that the book publishes.

With ``execute_notebooks: cache``, myst-nb 1.4 renders a page from the outputs in
jupyter-cache but writes ``_build/jupyter_execute/<page>.ipynb`` from the notebook
*before* they were merged in, so a page whose execution came from the cache gets
an output-less notebook. That file is what the theme's ".ipynb" download button
offers (copied to ``_sources``) and what the tests read. This extension writes the
notebook again, with the cached outputs, right after myst-nb has read the page.
"""

from pathlib import Path

import nbformat
from jupyter_cache import get_cache


def restore_outputs(app, doctree):
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{app.env.docname}.ipynb"
    if not executed.is_file():
        return
    notebook = nbformat.read(executed, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if not code or any(cell.outputs for cell in code):
        return
    cache_path = app.config.nb_execution_cache_path or Path(app.outdir).parent / ".jupyter_cache"
    try:
        _, merged = get_cache(cache_path).merge_match_into_notebook(notebook)
    except KeyError:  # not in the cache: nothing to restore
        return
    nbformat.write(merged, executed)


def setup(app):
    app.connect("doctree-read", restore_outputs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
