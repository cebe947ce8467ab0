"""What a run shows, from its report, with no I/O: text for people (`render`), Markdown for
review (`markdown`), the JSON document and its schema (`jsonreport`), Prometheus metrics
(`metrics`, and writing its file in one rename)."""
