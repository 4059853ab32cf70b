"""Weights on disk and on the Hub: weight folders, downloads and uploads, model cards, official checkpoints.

This layer reads and writes; it never builds a model by name (that is :func:`zoo_core.load_pretrained`).
"""

from .cards import (
    BASE_TAGS,
    HUB_DATASETS,
    LIBRARY_NAME,
    arxiv_ids,
    format_number,
    hub_dataset_id,
    paper_bibtex,
    parse_card,
    render_card,
)
from .download import WEIGHT_FILES, check_folder, check_repo_id, download, upload_folder
from .folders import (
    CARD_NAME,
    CONFIG_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    WeightFolder,
    check_layout,
    check_state_dict,
    config_from_bytes,
    load_state_dict_checked,
    model_config_dict,
    parameter_counts,
    read_config,
    read_folder,
    read_safetensors,
    save_pretrained,
    sha256_file,
    with_provenance,
)
from .network import DEFAULT_TIMEOUT_S, TIMEOUT_ENV, check_revision, hub_timeout
from .official import load_official, unwrap_state_dict
from .publish import card_for_repo, folder_card, staged_for_repo
from .schema import check_front_matter
from .sources import PACKAGE_SCHEME, is_source, package_source, parse_hub_source, resolve_source

__all__ = [
    "BASE_TAGS",
    "CARD_NAME",
    "CONFIG_NAME",
    "DEFAULT_TIMEOUT_S",
    "FORMAT_VERSION",
    "HUB_DATASETS",
    "LIBRARY_NAME",
    "PACKAGE_SCHEME",
    "TIMEOUT_ENV",
    "WEIGHTS_NAME",
    "WEIGHT_FILES",
    "WeightFolder",
    "arxiv_ids",
    "card_for_repo",
    "check_folder",
    "check_front_matter",
    "check_layout",
    "check_repo_id",
    "check_revision",
    "check_state_dict",
    "config_from_bytes",
    "download",
    "folder_card",
    "format_number",
    "hub_dataset_id",
    "hub_timeout",
    "is_source",
    "load_official",
    "load_state_dict_checked",
    "model_config_dict",
    "package_source",
    "paper_bibtex",
    "parameter_counts",
    "parse_card",
    "parse_hub_source",
    "read_config",
    "read_folder",
    "read_safetensors",
    "render_card",
    "resolve_source",
    "save_pretrained",
    "sha256_file",
    "staged_for_repo",
    "unwrap_state_dict",
    "upload_folder",
    "with_provenance",
]
