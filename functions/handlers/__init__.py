"""One module per entry point: each webhook, the worker, each job. They wire the core
(`functions`) to the outside systems (`integrations`)."""
from functions import tokens
from integrations import secrets

tokens.secret_source = secrets.get   # signed links use the signing key from SSM in AWS
