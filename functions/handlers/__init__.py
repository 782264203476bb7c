"""One module per entry point: each webhook, the worker, each job. They wire the core
(`functions`) to the outside systems (`integrations`)."""
