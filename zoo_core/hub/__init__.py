"""Weights on disk and on the Hub: weight folders, downloads and uploads, model cards, official checkpoints.

This layer reads and writes; it never builds a model by name (that is :func:`zoo_core.load_pretrained`).
"""

from .cards import BASE_TAGS, LIBRARY_NAME, paper_bibtex, parse_card, render_card
from .download import WEIGHT_FILES, check_folder, check_repo_id, download, upload_folder
from .folders import (
    CARD_NAME,
    CONFIG_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    WeightFolder,
    check_state_dict,
    load_state_dict_checked,
    model_config_dict,
    parameter_counts,
    read_config,
    read_folder,
    read_safetensors,
    save_pretrained,
    sha256_file,
)
from .official import load_official, unwrap_state_dict
from .sources import PACKAGE_SCHEME, is_source, package_source, resolve_source

__all__ = [
    "BASE_TAGS",
    "CARD_NAME",
    "CONFIG_NAME",
    "FORMAT_VERSION",
    "LIBRARY_NAME",
    "PACKAGE_SCHEME",
    "WEIGHTS_NAME",
    "WEIGHT_FILES",
    "WeightFolder",
    "check_folder",
    "check_repo_id",
    "check_state_dict",
    "download",
    "is_source",
    "load_official",
    "load_state_dict_checked",
    "model_config_dict",
    "package_source",
    "paper_bibtex",
    "parameter_counts",
    "parse_card",
    "read_config",
    "read_folder",
    "read_safetensors",
    "render_card",
    "resolve_source",
    "save_pretrained",
    "sha256_file",
    "unwrap_state_dict",
    "upload_folder",
]
