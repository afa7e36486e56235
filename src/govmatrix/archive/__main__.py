from govmatrix.archive.cli import app

app()
