"""Where submissions run: a bubblewrap sandbox per submission, dropped privileges,
the fork server that imports torch once, and the runner that executes notebooks."""
