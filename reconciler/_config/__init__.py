"""The file: its models and rules (`models`), YAML loading with lines for errors
(`yamlsource`), choosing aliases by `--only` and `--shard` (`selection`) and the file's JSON
Schema (`schema`)."""
