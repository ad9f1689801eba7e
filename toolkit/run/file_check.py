"""`run.py --check`: the files a config names, read without a model: a pretrained LoRA's header,
then every dataset file. The dataset readers load torch; no model code, trainer or network
is imported (tests/test_dataset_check.py holds it)."""

from __future__ import annotations

from toolkit.dataset.check import check_datasets
from toolkit.lora.pretrained import check_pretrained_lora


def check_process(process_config) -> None:
    """Raise UserInputError (exit 2) naming the first bad file; print the datasets' findings."""
    check_pretrained_lora(process_config)
    check_datasets(process_config)
