"""The project file: models, loading with ${ENV} expansion, and precise errors."""

from weir.project.base import COLUMN_TYPES
from weir.project.loader import PROJECT_FILE, Problem, ProjectFileError, parse_project_text
from weir.project.ml_config import TrainConfig
from weir.project.model import (
    CheckConfig,
    ProjectConfig,
    duckdb_type,
)
from weir.project.project import Project, SqlModelFile, find_project_file, load_project
from weir.project.scaffold import scaffold_project
from weir.project.sources import (
    SOURCE_KINDS,
    FileSource,
    HttpSource,
    Source,
    SourceSettings,
    SqlSource,
)

__all__ = [
    "COLUMN_TYPES",
    "PROJECT_FILE",
    "SOURCE_KINDS",
    "CheckConfig",
    "FileSource",
    "HttpSource",
    "Problem",
    "Project",
    "ProjectConfig",
    "ProjectFileError",
    "Source",
    "SourceSettings",
    "SqlModelFile",
    "SqlSource",
    "TrainConfig",
    "duckdb_type",
    "find_project_file",
    "load_project",
    "parse_project_text",
    "scaffold_project",
]
