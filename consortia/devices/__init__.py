"""Reference devices for type examination: a barcode payment terminal and a wallet app that
pass the conformance suites, each with switchable deliberate faults that fail one item apiece
(docs/conformance.md)."""
