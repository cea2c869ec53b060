"""The secrets a project holds, so every message about it can be cleaned of them.

They are found in the validated configuration, not in the environment: a value is a secret
by where it stands (a URL's password, a header, a bearer token, a query parameter, the
pseudonymisation key), whether it came from `${ENV}` or was written in the file.
"""

from __future__ import annotations

from weir.core.secrets import CREDENTIAL_NAME, Secrets, url_secrets
from weir.project.model import ProjectConfig
from weir.project.sources import HttpSource, SqlSource


def project_secrets(config: ProjectConfig) -> Secrets:
    """Every secret of the project file, in all the forms a message may show it."""
    urls = [config.catalog.url]
    if config.openlineage is not None:
        urls.append(config.openlineage.url)
    if config.mlflow is not None:
        urls.append(config.mlflow.tracking_uri)
    found = Secrets.of([config.governance.key])
    for source in config.sources.values():
        if isinstance(source, SqlSource | HttpSource):
            urls.append(source.url)
        if isinstance(source, HttpSource):
            found |= http_secrets(source)
    for url in urls:
        if url:
            found |= url_secrets(url)
    return found


def http_secrets(source: HttpSource) -> Secrets:
    """An HTTP source's bearer token, URL password, and the headers and query parameters
    named like credentials (the source's own messages hide every header and parameter; a
    project-wide list holds only these, or `status: closed` would hide every 'closed')."""
    named = [
        value
        for name, value in [*source.headers.items(), *source.params.items()]
        if CREDENTIAL_NAME.search(name)
    ]
    return url_secrets(source.url) | Secrets.of([*named, source.bearer_token])
