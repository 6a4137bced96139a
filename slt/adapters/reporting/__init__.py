"""Reports rendered to files (Markdown, HTML, PNG) and the SQLite report store."""
