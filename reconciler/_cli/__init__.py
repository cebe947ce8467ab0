"""The command line: the parser and `main` (`main`), one module per command (`commands/`),
and what only a terminal needs: logging setup, the progress line, the run lock, and the
reading helpers of `inspect`, `resolve` and `import` (`lookup`, `adopt`)."""
