"""Finding vocabularies a labeler can emit, in the column order of their reference label files."""

from __future__ import annotations

from radtrust.errors import InputError

#: CheXpert's 14 observations (Irvin et al., 2019), in the order of the CheXpert label files.
CHEXPERT14: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)

#: ChestX-ray14's 14 findings (Wang et al., 2017) plus ``normal``, in the order of the Open-i gold
#: standard that NegBio was evaluated on (Peng et al., 2018).
CHESTXRAY14: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
    "normal",
)

VOCABULARIES: dict[str, tuple[str, ...]] = {"chexpert14": CHEXPERT14, "chestxray14": CHESTXRAY14}

#: Columns that summarise "nothing found" rather than name a finding; excluded from micro-averaged scores
#: where the literature excludes them (NegBio's Open-i figures exclude ``normal``).
SUMMARY_COLUMNS: frozenset[str] = frozenset({"normal", "No Finding"})


def get_vocabulary(name: str) -> tuple[str, ...]:
    """Return the findings of a named vocabulary, or raise a one-line user error."""
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key not in VOCABULARIES:
        raise InputError(f"unknown vocabulary '{name}': choose one of {', '.join(VOCABULARIES)}")
    return VOCABULARIES[key]
