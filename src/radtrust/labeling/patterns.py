"""Phrase lists for the rule-based report labeler: finding mentions, negation/uncertainty cues, sections.

Everything here is plain data (regular-expression source strings); :mod:`radtrust.labeling.rules`
compiles it once, lazily. Patterns run on lower-cased text in which the de-identification mask ``XXXX``
has become the token ``xxxx``. The cue inventory follows NegEx (Chapman et al., 2001), NegBio (Peng et
al., 2018) and the CheXpert labeler (Irvin et al., 2019); phrase lists were written for chest radiograph
reports and checked on the Open-i development split only through aggregate scores.
"""

from __future__ import annotations

from dataclasses import dataclass


#: Up to ``n`` intervening words (including the ``xxxx`` mask), non-greedy.
def _gap(n: int) -> str:
    return rf"(?:[a-z0-9/'-]+[\s,]+){{0,{n}}}?"


_GAP2, _GAP3, _GAP4 = _gap(2), _gap(3), _gap(4)

# ---------------------------------------------------------------------------------------------------
# Concepts. A concept is finer than a vocabulary column: vocabularies map concepts onto their columns
# (e.g. CheXpert's "Lung Lesion" = mass + nodule + lesion; ChestX-ray14's "Effusion" = pleural +
# pericardial effusion).
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phrase:
    """One mention pattern: a regex source, the concepts it names, and an optional fixed value.

    ``fixed`` = 0 or -1 makes the phrase itself carry its polarity ("normal heart size" is a negative
    mention of cardiomegaly). ``clausal`` phrases contain their own subject and verb ("the heart is
    enlarged"): cues before them belong to another clause, so only cues inside the match count.
    """

    pattern: str
    concepts: tuple[str, ...]
    fixed: int | None = None
    clausal: bool = False
    #: "borderline heart size": a leaning, labelled like "likely" (see ``likely_as``).
    borderline: bool = False


_HEART = r"(?:heart|cardiac(?:\s+(?:silhouette|shadow|contour|size|outline))?)"
#: The heart and mediastinum seen as one outline. CheXpert files it under Enlarged Cardiomediastinum
#: (its mention list has "cardiomediastinum", "contour", "mediastinal silhouette"); Open-i's MeSH indexers
#: file an enlarged one under Cardiomegaly. Its own concept lets each vocabulary map it its way.
_CMS = r"(?:cardio-?mediastinal\s+(?:silhouette|contours?|shadow|outline)|cardiomediastinum)"
_ENLARGED = r"(?:enlarged|large|increased(?:\s+in\s+size)?)"
_NORMALISH = r"(?:(?:at\s+)?(?:the\s+)?(?:upper|high|top)\s+(?:limits?|range|end)?\s*(?:of\s+)?normal|normal|within\s+normal\s+limits|unremarkable|stable\s+and\s+normal|not\s+enlarged|upper\s+normal)"
_DEGREE = r"(?:(?:mild|mildly|moderate|moderately|marked|markedly|severe|severely|significant|significantly|slight|slightly|minimal|minimally|borderline|massive|massively|stable|stably|again|persistent|persistently|chronic|chronically|globally|xxxx)\s+)*"


def _size_phrases(subj: str, concept: str) -> tuple[Phrase, ...]:
    """Size statements about a cardiac outline ``subj``: borderline, enlarged, normal."""
    return (
        Phrase(
            rf"borderline\s+(?:enlarged\s+)?{subj}(?:\s+(?:size|enlargement))?|{subj}\s+(?:size\s+)?(?:(?:is|appears?|remains?|xxxx)\s+)?borderline(?:\s+in\s+size)?(?!\s+enlarge)|{subj}\s+(?:size\s+)?(?:is\s+)?(?:at\s+)?(?:the\s+)?upper\s+limits?\s+(?:of\s+)?normal\s+(?:or|to)\s+(?:borderline|mildly|slightly)\s+(?:enlarged|large)",
            (concept,),
            borderline=True,
        ),
        Phrase(
            rf"{subj}\s+(?:size\s+)?(?:(?:is|are|appears?|remains?|seems?|looks?|was|has|have|may\s+be|might\s+be|could\s+be|probably|possibly|likely|at|be|been|become|now|again|stable|stably|persistently|grossly|xxxx)\s+){{1,4}}{_DEGREE}{_ENLARGED}",
            (concept,),
            clausal=True,
        ),
        Phrase(rf"{subj}\s+(?:size\s+)?{_DEGREE}{_ENLARGED}", (concept,)),
        Phrase(rf"(?:enlarge(?:d|ment\s+of)|large|increased\s+size\s+of)\s+(?:the\s+)?{subj}|{subj}\s+enlargement", (concept,)),
        Phrase(rf"(?:normal|unremarkable|stable\s+normal|upper\s+normal)\s+(?:(?:and\s+)?(?:stable|unchanged)\s+)?{subj}(?:\s+(?:size|contours?|silhouette))?", (concept,), fixed=0),
        Phrase(
            rf"{subj}\s+(?:size\s+)?(?:(?:is|are|appears?|remains?|was|of|within|grossly|again|stable|and|mediastinal|contours?|size|silhouette|xxxx)\s+){{0,4}}{_NORMALISH}",
            (concept,),
            fixed=0,
            clausal=True,
        ),
    )


PHRASES: tuple[Phrase, ...] = (
    # -- overlapping or multi-concept phrases first: the alternation takes the first that matches --
    # Open-i's indexers keep hydropneumothorax apart from effusion and pneumothorax; CheXpert counts both.
    Phrase(r"hydro-?pneumothora\w*", ("hydropneumothorax",)),
    Phrase(r"peri-?cardial\s+(?:effusions?|fluid)", ("pericardial_effusion",)),
    Phrase(r"(?:subcutaneous|soft[\s-]+tissues?|chest\s+wall|mediastinal|subcutaneous\s+soft\s+tissue)\s+emphysema", ("subcut_emphysema",)),
    Phrase(
        r"(?:pleural|pleuro)(?:[\s-]+(?:parenchymal|based|apical|\w+al))?[\s-]+(?:thicken\w*|reaction|fibrosis|capping)|(?:apical|biapical)\s+(?:pleural\s+)?(?:thickening|capping|caps?)\b|thicken\w*\s+(?:of\s+)?(?:the\s+)?(?:\w+\s+){0,2}pleura\b|thickened\s+(?:\w+\s+){0,2}pleura\w*|(?:fissural|fissure)\s+thickening|thickening\s+(?:of|in|along)\s+(?:the\s+)?(?:\w+\s+){0,2}fissures?",
        ("pleural_thickening",),
    ),
    Phrase(r"pleural\s+(?:plaques?|calcifications?)|calcified\s+pleural\s+plaques?|fibrothorax|(?:pleural|pleuro)(?:[\s-]+(?:parenchymal|based|apical))?[\s-]+scar\w*", ("pleural_other",)),
    Phrase(r"(?:hiatal|hiatus|diaphragmatic|bochdalek|morgagni|paraesophageal|para-esophageal)\s+hernia\w*|hernia\w*\s+(?:of\s+the\s+)?(?:stomach|bowel|diaphragm)|hernia\b|herniation", ("hernia",)),
    # Open-i's indexers do not index "nodular opacity" as a nodule (a nodule is named as such); CheXpert
    # lists "nodular density/opacity" under Lung Lesion. Its own concept lets each vocabulary map it.
    Phrase(r"nodular\s+(?:opacit\w*|densit\w*|infiltrat\w*|consolidat\w*|shadows?|foci|focus)", ("nodular_opacity",)),
    Phrase(r"cystic\s+fibrosis|soft[\s-]+tissues?\s+(?:edema|swelling)|(?:ankle|leg|extremity|facial|scalp|subcutaneous)\s+edema", ("other",)),
    Phrase(r"mass[\s-]?like\s+(?:opacit\w*|densit\w*|consolidat\w*|lesion)", ("mass", "opacity")),
    # -- cardiac size --
    *_size_phrases(_HEART, "cardiomegaly_h"),
    Phrase(r"cardiomegal\w*|cardiomeglay|cariomegaly|enlarged\s+heart|increase\w*\s+(?:in\s+)?(?:the\s+)?(?:heart|cardiac)\s+size", ("cardiomegaly_h",)),
    *_size_phrases(_CMS, "cm_silhouette"),
    Phrase(
        r"(?:widen\w*|enlarge\w*|prominen\w*)\s+(?:of\s+)?(?:the\s+)?(?:superior\s+)?mediastin\w*|mediastin\w*\s+(?:silhouette\s+|contours?\s+)?(?:(?:is|are|appears?|remains?|xxxx)\s+)?(?:not\s+)?(?:\w+ly\s+)?(?:widen\w*|enlarge\w*)",
        ("enlarged_cm",),
    ),
    # "Normal mediastinal contours", "the mediastinum is unremarkable": a statement that it is not enlarged.
    Phrase(
        r"(?:normal|unremarkable)\s+(?:superior\s+)?mediastin\w*(?:\s+(?:contours?|silhouette|width|structures))?|mediastin\w*\s+(?:(?:contours?|silhouette|width|structures)\s+)?(?:(?:is|are|appears?|remains?|xxxx)\s+){0,2}(?:normal|within\s+normal\s+limits|unremarkable|stable)\b",
        ("enlarged_cm",),
        fixed=0,
    ),
    # -- single findings --
    Phrase(
        r"atel[aeiou]?[ckt]\w*|atelectasis|(?:subsegmental|bibasilar|basilar|bibasal|basal|lingular|rml|rll|lll|rul|lul)\s+collapse|(?:lob(?:e|ar)|lung|segmental)\s+collapse|collapsed?\s+(?:of\s+)?(?:the\s+)?(?:\w+\s+){0,4}(?:lobes?|lungs?)\b",
        ("atelectasis",),
    ),
    Phrase(
        r"(?:pleural\s+)?(?:effusi\w*|effuson\w*|effusoin\w*|efusion\w*|effsuion\w*|efffusion\w*)|pleural\s+fluid|fluid\s+(?:with)?in\s+the\s+(?:\w+\s+){0,2}pleural\s+spaces?|hydrothora\w*",
        ("effusion",),
    ),
    Phrase(r"infiltrat\w*|infitrat\w*|infilrat\w*", ("infiltration",)),
    Phrase(r"mass(?:es)?\b(?!\s+effect)|mass-like|masslike", ("mass",)),
    Phrase(r"tumou?r\w*|neoplas\w*|carcinoma\w*|malignan\w*|cancer\w*|metasta\w*|lymphoma\w*", ("lesion",)),
    Phrase(r"(?:micro|fibro|reticulo)?nodul\w*|nodlue\w*", ("nodule",)),
    Phrase(r"(?:broncho)?pneumon(?:ia|iae|ic|ias)\b|pnuemonia|pneumoni\b|penumonia|\bpna\b", ("pneumonia",)),
    Phrase(r"infecti\w*|infectious\s+process", ("infection",)),
    Phrase(r"pneumothora\w*|pnuemothora\w*|pneumothroa\w*|pneumthora\w*|\bptx\b", ("pneumothorax",)),
    Phrase(r"consolidat\w*|consoldiat\w*|consolidaton", ("consolidation",)),
    Phrase(r"(?:pulmonary\s+)?o?edema\w*|odema", ("edema",)),
    Phrase(
        r"(?:congestive\s+)?heart\s+failure|\bchf\b|(?:pulmonary\s+)?(?:vascular|venous)\s+congestion|pulmonary\s+congestion|vascular\s+(?:indistinctness|engorgement)|cephalization", ("congestion",)
    ),
    Phrase(r"emphysem\w*|emphysym\w*|emphsyem\w*", ("emphysema",)),
    Phrase(r"(?:pulmonary|interstitial|lung)\s+fibros\w*|fibros[ie]s\b|fibrotic|fibrosis", ("fibrosis",)),
    Phrase(r"fractur\w*|\bfx\b|fractrue\w*", ("fracture",)),
    Phrase(
        r"opaci\w*|densit(?:y|ies)|air[\s-]?space\s+(?:disease|process)|ground[\s-]?glass|haz(?:y|iness)|reticula\w*|interstitial\s+(?:markings?|prominence|pattern|disease|lung\s+disease|changes?|thickening)|(?:parenchymal|lung|pulmonary)\s+scar\w*|scar(?:s|ring)?\b|cicatri\w*|increased\s+(?:interstitial\s+)?markings",
        ("opacity",),
    ),
    Phrase(r"lesions?\b|cavitar\w*|cavitation|cavity", ("lesion",)),
    Phrase(
        r"pace(?:maker|r)s?\b|\bicd\b|\baicd\b|defibrillator|catheters?\b|\bpicc(?:\s+line)?\b|port-?a-?cath|portacath|(?:power|chest|central|venous)\s+port\b|tubes?\b|(?:central|venous|picc|arterial|jugular|subclavian|femoral|dialysis|midline|ij)\s+(?:\w+\s+)?lines?\b|lines\s+and\s+tubes|swan[\s-]ganz|(?:sternotomy|sternal|cerclage)\s+wires?|leads?\b|stents?\b|valve\s+(?:replacement|prosthesis)|prosthetic\s+(?:\w+\s+)?valve|(?:cardiac|medical|implanted|support)\s+devices?|lines?\s*(?:/|and|or)\s*tubes?|\bett\b|\bcvc\b|\bngt\b|\bogt\b|dobhoff|drains?\b|coils?\b|(?:endotracheal|tracheostomy|et|ng|og|nasogastric|orogastric|feeding)\s+tubes?",
        ("devices",),
    ),
    # Other abnormalities: not labels of either vocabulary, but they keep "normal" at 0.
    Phrase(
        r"granulom\w*|calcifi\w*|calcinosis|scolios\w*|kyphos\w*|kyphotic|degenerat\w*|spondylo\w*|osteophyt\w*|arthrit\w*|arthropath\w*|tortu\w*|atherosclero\w*|ectasia|ectatic|aneurysm\w*|hyperinfla\w*|hyperexpan\w*|over-?inflat\w*|over-?expan\w*|hyperlucen\w*|\bcopd\b|chronic\s+obstructive|low\s+lung\s+volumes?|(?:lung\s+volumes\s+are|volumes\s+are)\s+low|hypoinfla\w*|hypoventila\w*|eventration|elevat\w*\s+(?:of\s+the\s+)?(?:\w+\s+)?(?:hemi-?)?diaphragm|(?:hemi-?)?diaphragm\w*\s+(?:is\s+)?elevat\w*|flatten\w*|deformit\w*|lucenc\w*|sternotomy|surgical\s+clips?|clips?\b|post-?surgical|postoperative|post-?operative|status\s+post|\bs/p\b|cabg|bronchiectas\w*|blunt\w*|adenopathy|lymphadenopathy|bullae|bullous|bulla\b|cysts?\b|cystic|mastectom\w*|cholecystectom\w*|pectus|thicken\w*|prominen\w*|fullness|widen\w*|enlarge\w*|loss\s+of\s+(?:height|volume)|volume\s+loss|compression|wedg\w*|osteopen\w*|osteopor\w*|sclero\w*|demineraliz\w*|hardware|fusion|screws?\b|plate\b|abnormal\w*|foreign\s+bod\w*|shrapnel|bullet|mild\s+changes|chronic\s+(?:lung|changes|disease|interstitial)",
        ("other",),
    ),
)

# ---------------------------------------------------------------------------------------------------
# Vocabularies: concept -> columns.
# ---------------------------------------------------------------------------------------------------

#: Concepts whose positive mention makes each ChestX-ray14 column positive (Wang et al., 2017). The
#: Open-i gold standard maps MeSH "Pleural Effusion" and "Pericardial Effusion" both to Effusion.
CHESTXRAY14_MAP: dict[str, tuple[str, ...]] = {
    "Atelectasis": ("atelectasis",),
    "Cardiomegaly": ("cardiomegaly_h", "cm_silhouette"),
    "Effusion": ("effusion", "pericardial_effusion"),
    "Infiltration": ("infiltration",),
    "Mass": ("mass",),
    "Nodule": ("nodule",),
    "Pneumonia": ("pneumonia",),
    "Pneumothorax": ("pneumothorax",),
    "Consolidation": ("consolidation",),
    "Edema": ("edema",),
    "Emphysema": ("emphysema",),
    "Fibrosis": ("fibrosis",),
    "Pleural_Thickening": ("pleural_thickening",),
    "Hernia": ("hernia",),
}

#: CheXpert's observations (Irvin et al., 2019) in terms of the same concepts.
CHEXPERT14_MAP: dict[str, tuple[str, ...]] = {
    "Enlarged Cardiomediastinum": ("enlarged_cm", "cm_silhouette"),
    "Cardiomegaly": ("cardiomegaly_h",),
    "Lung Opacity": ("opacity", "infiltration"),
    "Lung Lesion": ("mass", "nodule", "nodular_opacity", "lesion"),
    "Edema": ("edema", "congestion"),
    "Consolidation": ("consolidation",),
    "Pneumonia": ("pneumonia", "infection"),
    "Atelectasis": ("atelectasis",),
    "Pneumothorax": ("pneumothorax", "hydropneumothorax"),
    "Pleural Effusion": ("effusion", "hydropneumothorax"),
    "Pleural Other": ("pleural_thickening", "pleural_other"),
    "Fracture": ("fracture",),
    "Support Devices": ("devices",),
}

# ---------------------------------------------------------------------------------------------------
# Cues. Pre-cues are looked for between the start of the clause and a mention (the nearest one wins);
# post-cues right after a mention (or after the last of a coordinated list of mentions).
# ---------------------------------------------------------------------------------------------------

#: "no change in X" and friends: the cue word is there but X is asserted.
PSEUDO_NEGATION = (
    r"\bno\s+(?:\w+\s+){0,2}?(?:change|changes|increase|progression|worsening|improvement|decrease|difference)\b",
    r"\bwithout\s+(?:\w+\s+){0,2}?(?:change|changes|increase|progression|worsening)\b",
    r"\bnot\s+(?:\w+\s+)?(?:changed|increased|worsened|improved|only)\b",
    r"\bno\s+longer\s+(?:\w+\s+){0,2}?(?:enlarged|increasing)",
    r"\bgram[\s-]negative\b",
)

#: Hedges: the radiologist neither asserts nor denies (CheXpert's "uncertain").
UNCERTAINTY_PRE = (
    r"\b(?:cannot|can\s+not|can't|could\s+not|unable\s+to|difficult\s+to|not\s+possible\s+to)\s+(?:be\s+)?(?:entirely\s+|completely\s+|definitely\s+|totally\s+)?(?:exclude|excluded|rule\s+out|ruled\s+out|r/o|differentiate|distinguish|evaluate)\b",
    r"\b(?:exclude|rule\s+out|r/o|evaluate\s+for|assess\s+for|question\s+of|questionable|questionably)\b",
    r"(?:^|\s)\?+\s*$|(?:^|\s)\?+(?=\s*[a-z])",
    r"\b(?:possible|possibly|possibility\s+of|perhaps|suspect(?:ed)?|suspicious\s+(?:for|of)|concern(?:ing)?\s+for|worrisome\s+for|may|might|could|suggest\w*|indeterminate|equivocal|versus|vs\.?|differential|raise\w*\s+(?:the\s+)?(?:possibility|concern|question)|maybe|uncertain|unclear|question|considerations?|not\s+(?:entirely\s+)?(?:certain|clear)|cannot\s+be\s+determined|questioned)\b",
)

#: Strong hedges ("likely atelectasis", "probable pneumonia", "borderline"): CheXpert calls them
#: uncertain; readers (and MeSH indexers on Open-i) act on them as findings. :class:`~radtrust.labeling.rules.RuleLabeler` chooses via ``likely_as``.
LIKELY_PRE = (r"\b(?:most\s+(?:suggestive|indicative)\s+of|likely|most\s+likely|probable|probably|presumably|presumed|favou?r|favou?ring|borderline|mildly\s+borderline)\b",)

#: Assertions of a diagnosis from the appearance ("opacity consistent with pneumonia"): positive in the
#: CheXpert labeler unless a hedge comes with them ("may be consistent with"). They are cues all the same,
#: because they close the scope of an earlier negation ("no effusion; opacity consistent with pneumonia").
ASSERTION_PRE = (r"\b(?:(?:most\s+)?(?:consistent|compatible)\s+with|in\s+keeping\s+with|(?:most\s+)?characteristic\s+of|diagnostic\s+of)\b",)

#: Negation cues before a mention.
NEGATION_PRE = (
    r"\b(?:no|not|without|absent|absence\s+of|negative\s+for|free\s+of|clear\s+of|resolution\s+of|resolved|removal\s+of|removed|interval\s+removal|nor|neither|never|none|denies|excluding|ruled\s+out|rules\s+out|no\s+longer|cleared|lack\s+of|lacks)\b",
)

#: Negation cues right after a mention ("effusion is not seen", "pneumonia has resolved").
NEGATION_POST = (
    r"^[\s,]*(?:(?:is|are|was|were|has|have|had|been|being|be|now|seen|identified|noted|of|the|previously|xxxx)\s+)*(?:not|no\s+longer|nowhere)\s+(?:\w+\s+)?(?:seen|identified|present|visuali[sz]ed|appreciated|evident|demonstrated|detected|noted|shown|observed|apparent|visible|identifiable|definite|convincingly|clearly|well\s+seen|discernible|appreciable|there|enlarged|found)\b",
    r"^[\s,]*(?:(?:is|are|was|were|has|have|had|been|now|completely|nearly|almost|since|interval|the|previously|seen|xxxx)\s+)*(?:resolved|cleared|removed|absent|disappeared|gone|no\s+longer\s+present|unlikely|excluded|ruled\s+out)\b",
    r"^[\s,]*(?:(?:is|are|was|were|has|have|had|been)\s+)?(?:negative|normal|within\s+normal\s+limits)\b",
    # A list header answered in the negative: "LINES/TUBES: None."
    r"^\s*:\s*(?:none|negative|absent)\b",
)

#: A location between a mention and its post-cue ("nodule in the left upper lobe cannot be excluded").
POST_LOCATIVE = r"^\s+(?:in|at|within|involving|along|of|over)\s+(?:the\s+|both\s+)?(?:(?:right|left|r|l|bilateral|upper|lower|middle|mid|medial|lateral|anterior|posterior|inferior|superior|peripheral|central|basilar|apical)\s+){0,3}(?:lobes?|lung\s+bases?|lungs?|bases?|apex|apices|hemithorax|midlungs?|zones?|fields?|segments?|lingula|rml|rll|lll|rul|lul|hil(?:um|a)|perihilar\s+regions?|regions?|areas?|sides?)\b"

#: A colon that does not end a sentence: a list header answered in one word ("LINES/TUBES: None.").
COLON_ANSWER = r"\s*(?:none|negative|absent)\b"

#: Hedges right after a mention ("effusion cannot be excluded", "atelectasis is suspected").
UNCERTAINTY_POST = (
    r"^[\s,]*(?:(?:is|are|was|were|has|have|not|be|been|now|also|the)\s+)*(?:cannot|can\s+not|can't|could\s+not|not)\s+(?:be\s+)?(?:entirely\s+|completely\s+|definitely\s+|totally\s+)?(?:excluded|ruled\s+out|eliminated)\b",
    # "opacity, possibly pneumonia" hedges the pneumonia, not the opacity; "effusion, possibly." hedges it.
    r"^[\s,]*(?:(?:is|are|was|were|has|have|be|been|also|the)\s+)*(?:(?:possible|possibly)(?:\s+(?:present|seen|noted|identified))?(?=\s*(?:[,.;:?]|$|(?:but|though|although|however)\b))|suspected|questioned|questionable|considered|not\s+(?:entirely\s+)?excluded|in\s+question|a\s+consideration|(?:a\s+)?differential|uncertain|suggested|a\s+possibility)\b",
    r"^\s*\?",
    r"^[\s,]*(?:(?:is|are|was|were|has|have|be|been|also)\s+)?(?:not|less)\s+(?:entirely\s+)?(?:certain|clear|likely\s+but)\b",
    # "fibrosis, may be due to radiation" hedges the cause, not the finding.
    r"^[\s,]*(?:(?:is|are|was|were)\s+)?(?:could|may|might)\s+(?:be|have|also|represent)\b(?!\s+(?:due|related|secondary|from)\b)",
)

#: Cues that make a mention not about the current image at all (history, indication phrasing).
IGNORE_PRE = (r"\b(?:history\s+of|hx\s+of|h/o|known\s+history|risk\s+of|risk\s+for|at\s+risk)\b",)

#: Words that end a cue's scope: contrast, exception and relative clauses.
SCOPE_BREAK = (
    r"\b(?:but|however|although|though|whereas|yet|except|apart\s+from|aside\s+from|other\s+than|besides|with\s+the\s+exception\s+of|which|that\s+(?:is|are|may|might|could)|while|now|then|otherwise|also|additionally|nonetheless|though)\b",
    r",\s*(?:and\s+)?(?:there|the|this|these|it|they|which)\b",
    r"\b(?:and|with)\s+(?:there|the|this|these|a|an)\b",
)

#: A finite verb also ends a negation's scope ("no effusion is seen, atelectasis ..."), but not a
#: hedge's ("unclear whether this is cardiomegaly or effusion").
VERB_BREAK = r"\b(?:is|are|was|were|has|have|had|remains?|appears?|demonstrates?|shows?|seen|noted|identified|present)\b"

#: Connectors allowed between the mentions of a coordinated list ("no X, Y or Z").
COORDINATION_GAP = r"^[\s,/]*(?:(?:and|or|nor|and/or|versus|vs\.?|with|including|as\s+well\s+as|plus)\b[\s,]*)?(?:(?!(?:is|are|was|were|has|have|had|be|been|seen|noted|identified|present|there|which|that|but|however|except|in|at|on|within|of\s+the)\b)[a-z0-9'-]+[\s,/-]*){0,4}$"

#: Section headers in free text; only findings/impression-like sections make labels.
SECTION_HEADER = r"(?:^|(?<=[\s.;]))(?P<name>findings?|impressions?|conclusions?|summary|opinion|diagnosis|indications?|clinical\s+(?:history|indications?|information|data|details)|(?:medical\s+)?history|reason\s+for\s+(?:exam(?:ination)?|study|request)|comparisons?|technique|examination|exam|procedure)\s*:"
LABELLED_HEADERS = ("finding", "impression", "conclusion", "summary", "opinion", "diagnosis")
