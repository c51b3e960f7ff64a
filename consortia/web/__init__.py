"""Web pages for people (Jinja2 + htmx), served by the node."""
