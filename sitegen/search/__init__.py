"""Search: the shared text analysis (``analysis``), the Whoosh index written at build time
(``index``), the read-only query side used by the CLI and the server (``query``), and the
static client-side index (``static``)."""
