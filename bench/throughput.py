"""Run the node throughput benchmark: ``python bench/throughput.py [-n 50000] [--json]``.

The same as ``consortia bench``; kept here so benchmarks live together under bench/.
"""

from consortia.cli.main import app

if __name__ == "__main__":
    app(["bench", *__import__("sys").argv[1:]])
