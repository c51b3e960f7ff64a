from consortia.cli.main import app

app()
