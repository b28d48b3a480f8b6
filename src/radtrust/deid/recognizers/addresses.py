"""ADDRESS: street addresses, PO boxes, city-state-ZIP tails and postcodes of the US, UK, Canada,
Australia and continental Europe, and places after a residence cue ("lives in")."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from radtrust.deid.allowlist import AllowList, normalise, touches_protected
from radtrust.deid.bounds import ABBREVIATIONS, bound
from radtrust.deid.recognizers.base import LO, MEDIUM, STRONG, UP, Candidate, Doc, cue_regex, matches_at
from radtrust.deid.recognizers.dates import MONTH_NAME_RE
from radtrust.deid.recognizers.ids import DOB_CUE_RE, ID_CUE_RE, RECORD_NUMBER_RE
from radtrust.deid.recognizers.names import TITLE_WORDS, token_spans, token_text

_STATE_ABBR = (
    r"AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|"
    r"OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP|FM|MH|PW|AA|AE|AP"
)
_STATE_NAMES = (
    "Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii Idaho Illinois Indiana "
    "Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan Minnesota Mississippi Missouri Montana Nebraska "
    "Nevada Ohio Oklahoma Oregon Pennsylvania Tennessee Texas Utah Vermont Virginia Washington Wisconsin Wyoming"
).split() + [
    "New Hampshire",
    "New Jersey",
    "New Mexico",
    "New York",
    "North Carolina",
    "North Dakota",
    "Rhode Island",
    "South Carolina",
    "South Dakota",
    "West Virginia",
    "Puerto Rico",
    "District of Columbia",
]
_STATE_FULL = "|".join(n.replace(" ", r"[ \t]+") for n in sorted(_STATE_NAMES, key=len, reverse=True))
#: Street types: the USPS list (Publication 28, appendix C1), with plurals and common abbreviations.
_STREET_TYPES = (
    "Alley Avenue Branch Bridge Brook Burg Bypass Camp Canyon Cape Causeway Center Circle Cliff Club Common Corner "
    "Course Court Cove Creek Crescent Crest Crossing Crossroad Curve Dale Dam Divide Drive Estate Expressway Extension "
    "Fall Ferry Field Flat Ford Forest Forge Fork Fort Freeway Garden Gateway Glen Green Grove Harbor Haven Heights "
    "Highway Hill Hollow Inlet Island Isle Junction Key Knoll Lake Land Landing Lane Light Loaf Lock Lodge Loop Mall "
    "Manor Meadow Mews Mill Mission Motorway Mount Mountain Neck Orchard Oval Overpass Park Parkway Pass Passage Path "
    "Pike Pine Place Plain Plaza Point Port Prairie Radial Ramp Ranch Rapid Rest Ridge River Road Route Row Rue Run "
    "Shoal Shore Skyway Spring Spur Square Station Stravenue Stream Street Summit Terrace Throughway Trace Track "
    "Trafficway Trail Tunnel Turnpike Underpass Union Valley Via Viaduct View Village Ville Vista Walk Wall Way Well "
    "Close Gate Wharf Quay Yard Embankment Parade Promenade Broadway Boulevard Esplanade"
).split()
#: Australia Post's street types (AS/NZS 4819) beyond the USPS list, less those that are also report words
#: ("2 Left Lower ...", "the Upper ...", "Line", "Edge", "End").
_AU_STREET_TYPES = (
    "Access Alleyway Amble Anchorage Approach Arcade Artery Bend Brace Brae Brow Byway Centreway Chase Circlet "
    "Circuit Circus Colonnade Concourse Copse Corso Courtyard Crossway Cruiseway Cul-de-sac Dell Deviation Driveway "
    "Fairway Firetrail Footway Foreshore Frontage Gap Glade Grange Gully Highroad Interchange Intersection Laneway Lees "
    "Link Lookout Meander Mew Nook Outlook Parklands Pathway Piazza Plateau Pocket Quad Quadrangle Quadrant Ramble "
    "Reserve Retreat Ride Ridgeway Rise Riverway Riviera Roadside Roadway Ronde Rosebowl Rotary Siding Strand Subway "
    "Tarn Thoroughfare Tollway Tor Towers Trailer Trunkway Vale Villas Wade Walkway Wynd"
).split()
_STREET_TYPES = _STREET_TYPES + _AU_STREET_TYPES + ["Service Way", "Fire Track", "State Highway"]
_STREET_ABBR = "St Ave Av Rd Blvd Dr Ln Ct Pl Ter Pkwy Hwy Cir Sq Trl Cres Expy Fwy Tpke Rte Ctr Xing Plz Hts Jct Mtn".split()
_STREET_WORDS = {w + s for w in _STREET_TYPES for s in ("", "s", "es") if s != "es" or w.endswith(("s", "x", "ch", "sh"))} | set(_STREET_ABBR)
_STREET_SUFFIX = r"(?:" + "|".join(sorted(_STREET_WORDS | {w.upper() for w in _STREET_WORDS}, key=len, reverse=True)) + r")\.?"
# a place word may be hyphenated and accented ("Neu-Ulm", "Traore-sur-Chevalier", "Saint-Étienne")
_PLACE_WORD = rf"[{UP}][{LO}]+(?:-(?:[{LO}]+-)*[{UP}][{LO}]+)*"
_CITY = rf"{_PLACE_WORD}(?:[ \t.]+(?:(?:upon|on|under|next[ \t]+the)[ \t]+)?{_PLACE_WORD}){{0,2}}|[A-Z]{{2,}}(?:[ \t]+[A-Z]{{2,}}){{0,2}}"
_ZIP = r"\d{5}(?:-\d{4})?"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ \t]*\d[A-Z]{2}"
_CA_POSTCODE = r"[A-Z]\d[A-Z][ \t]?\d[A-Z]\d"
_UNIT = r"(?:,?[ \t]*(?:Apt|Apartment|Suite|Ste|Unit|Bldg|Building|Floor|Fl|Room|Rm|Flat|Studio|APT|SUITE|UNIT|#)\.?[ \t]*#?[ \t]*[A-Za-z0-9-]+)"
_UNIT_WORDS = ("Flat", "Studio", "Apartment", "Apt", "Unit", "Suite", "FLAT", "STUDIO", "APT", "UNIT", "SUITE")
# "Flat 2, 10 High St", and without the comma before a street number: "Apt. 959 472 Edgar Crest", "Unit 06 79 ..."
_UNIT_BEFORE = rf"(?:(?:{'|'.join(_UNIT_WORDS)})\.?[ \t]*[A-Za-z0-9-]+(?:[ \t]*[,\n][ \t]*|[ \t]+(?=\d)))"
#: Australian states and territories (with their four-digit postcode) and Canadian provinces (with theirs)
_AU_STATE = r"NSW|VIC|QLD|SA|WA|TAS|NT|ACT|Vic|Qld|Tas"
_AU_POSTCODE = r"\d{4}(?![\w])"
_CA_PROVINCE = r"AB|BC|MB|NB|NL|NS|NT|NU|ON|PE|QC|SK|YT"
_STATE_ZIP = (
    rf"(?:(?:{_AU_STATE})[ \t]+{_AU_POSTCODE}|(?:{_CA_PROVINCE})[ \t]+{_CA_POSTCODE}(?![\w])"
    rf"|(?:(?:{_STATE_ABBR})(?![\w])|{_STATE_FULL})(?:[ \t]*,?[ \t]*{_ZIP})?)"
)
# After a street: the city with its state, postcode or both; or, without either, a city that closes the
# clause ("5088 Linda Passage, Port Zachary." / "...; " / line end): a street number, a street type and a
# comma before it are evidence enough.
_CITY_STATE_TAIL = (
    rf"(?:,?[ \t]*(?:{_CITY}),?[ \t]*{_STATE_ZIP}"
    rf"|,?[ \t]*(?:{_CITY}),?[ \t]*(?:{_UK_POSTCODE}|{_CA_POSTCODE})(?![\w])"
    rf"|,[ \t]*(?:{_CITY})(?=[ \t]*(?:[.;,)\n]|$)|[ \t]+[a-z]))?"
)
_STREET_NAME = (
    rf"(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?[ \t]+)?(?:(?:\d{{1,3}}(?:st|nd|rd|th)|[A-Z][A-Za-z'’-]*|[A-Z][a-z]{{0,2}}\.)[ \t]+){{1,4}}"
    rf"{_STREET_SUFFIX}(?![\w])(?:[ \t]+(?:N|S|E|W|NE|NW|SE|SW)\.?(?![\w]))?"
)
# 1234 Oak Street, 55 W. 3rd Ave, Apt 4B, Springfield, IL 62704
_STREET_RE = re.compile(rf"(?<![\w.,/-])\d{{1,6}}[A-Za-z]?(?:[-/]\d{{1,4}})?[ \t]+{_STREET_NAME}{_UNIT}?{_CITY_STATE_TAIL}")
# UK: "Flat 6⏎Christian Roads, Trevormouth SP8P 4NY", "Flat 2, 10 High Street, Leeds LS1 4AB"
_UNIT_STREET_RE = re.compile(rf"(?<![\w.,/-]){_UNIT_BEFORE}(?:\d{{1,6}}[A-Za-z]?(?:[-/]\d{{1,4}})?[ \t]+)?{_STREET_NAME}{_UNIT}?{_CITY_STATE_TAIL}")
_UNIT_TRIGGERS = frozenset(w.lower() for w in _UNIT_WORDS[:6])
_PO_BOX_TRIGGERS = frozenset(("p", "po", "pob", "post"))
_PO_BOX_RE = re.compile(rf"(?<![\w])(?i:p\.?[ \t]*o\.?[ \t]*box|pob|post[ \t]+office[ \t]+box)[ \t]*#?[ \t]*\d+{_CITY_STATE_TAIL}")
# Springfield, IL 62704 / Springfield, Illinois / IL 62704 / London SW1A 1AA / K1A 0B1
_CITY_STATE_RE = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            rf"(?<![\w])(?:{_CITY}),[ \t]*(?:(?:{_STATE_ABBR})[ \t]+{_ZIP}|(?:{_STATE_FULL})(?:[ \t]+{_ZIP})?)(?![\w])",
            rf"(?<![\w])(?:{_STATE_ABBR}|{_STATE_FULL})[ \t]+{_ZIP}(?![\w])",
        )
    )
)
_POSTCODE_RE = re.compile(rf"(?<![\w])(?:(?:{_CITY}),?[ \t]+)?(?:{_UK_POSTCODE}|{_CA_POSTCODE})(?![\w])")
_STATE_TRIGGERS = frozenset(n.split()[0].lower() for n in _STATE_NAMES)
# "Address: ..." / "Home: ..." up to the end of the field (line end, "|", or a wide gap)
_ADDRESS_CUES, _ADDRESS_TRIGGERS = cue_regex(
    (
        r"patient[ \t]+address",
        r"home[ \t]+address",
        r"mailing[ \t]+address",
        r"street[ \t]+address",
        r"current[ \t]+address",
        r"permanent[ \t]+address",
        "address",
        "home",
        "residence",
        r"lives[ \t]+at",
        r"resides[ \t]+at",
        r"residing[ \t]+at",
    )
)
# The cue's value runs to the end of its field (a line end, "|" or a wide gap) but never past the end of
# its sentence or the longest address: on a one-line report the findings follow on the same line.
_ADDRESS_CUE_RE = re.compile(rf"(?<![\w]){_ADDRESS_CUES}[ \t]*[:#-][ \t]*(?=[^\s|])")
_FIELD_END_RE = re.compile(r"[ \t]{2,}|[ \t]*[|\n]|[ \t]*$")
_LOWER_WORD_RE = re.compile(r"(?<![\w'’-])[a-z]{2,}(?![\w'’-])")
# Continental Europe writes the house number after the street and the postcode before the city
# ("Ziegertallee 57/75, 05806 Meppen", "Via Roma 12, 00184 Roma", "Calle Mayor 5, 28013 Madrid",
# "Karlijnboulevard 97, 7230 IV Gapinge"); France puts the number first ("4, avenue Michele Sauvage, 37819
# Traore-sur-Chevalier"). Found from the postcode: a 4- or 5-digit run after a comma, a city after it, and a
# street with a house number right before the comma.
# postcodes: 5 digits (DE FR IT ES), 4 digits and 2 letters (NL), 4 digits (BE AT CH DK), with a 3-digit
# tail (PL "00-238", PT "1100-053", BR "01310-100")
_EU_POSTCODE_CITY_RE = re.compile(rf"(?:\d{{5}}(?:-\d{{3}})?|\d{{4}}-\d{{3}}|\d\d-\d{{3}}|\d{{4}}(?:[ \t]?[A-Z]{{2}})?)[ \t]+{_PLACE_WORD}(?:[ \t]+{_PLACE_WORD}){{0,2}}(?![\w-])")
_HOUSE_NO = r"\d{1,5}[a-zA-Z]?(?:[-/]\d{1,5}[a-zA-Z]?)?"
_EU_STREET_WORD = rf"[{UP}][{UP}{LO}'’.-]*"
_EU_LOWER = r"(?:de|del|della|di|da|do|dos|das|du|des|la|le|les|l['’]|d['’]|der|den|van|am|an|im|zum|zur|y|e)"
_EU_STREET_BEFORE_RE = re.compile(
    rf"(?<![\w.,/-])(?:{_EU_STREET_WORD}(?:[ \t]+(?:{_EU_LOWER}[ \t]+)*{_EU_STREET_WORD}){{0,3}}[ \t]+{_HOUSE_NO}"
    rf"|{_HOUSE_NO}(?:[ \t]*(?:bis|ter))?,?[ \t]+(?:[{LO}][{LO}.-]+[ \t]+)?(?:{_EU_LOWER}[ \t]*)*{_EU_STREET_WORD}"
    rf"(?:[ \t]+(?:{_EU_LOWER}[ \t]+)*{_EU_STREET_WORD}){{0,3}})[ \t]*,[ \t]*\Z"
)
# "lives at 12 Oak St, Springfield", "resides in New Johnburgh": the place after a residence cue runs to the end
# of its clause; a lower-case word ends it unless it belongs to an address ("4, avenue ...", "Traore-sur-Mer")
_RESIDENCE_TRIGGERS = frozenset("lives resides residing living resident".split())
_RESIDENCE_RE = re.compile(rf"(?<![\w])(?i:lives|resides|residing|living|resident)[ \t]+(?:at|in|on|of)[ \t]+(?=[\d{UP}])")
_ADDRESS_LOWER = frozenset(
    "rue avenue boulevard bd av chemin allée allee impasse quai route cours passage place square voie via viale piazza corso "
    "calle avenida plaza paseo carrer rua straße strasse weg gasse allee platz ring de del della di da do dos das du des "
    "la le les sur sous en et der den van von am an im zum zur bei y e apt apartment unit suite flat".split()
)
_CLAUSE_END_RE = re.compile(r"[;:()\n]|[ \t]+[-–][ \t]|[ \t]{2,}|\.(?=[ \t]+[A-Z])")
# a label before the value of "Address:" is no part of it ("Home address: postcode TF15 1EW")
_ADDRESS_LABEL_RE = re.compile(r"(?i:post[ \t]*code|postal[ \t]+code|zip(?:[ \t]*code)?)[ \t]*[:#]?[ \t]*")
# "ZIP code 01001", "Postcode: SW1A 1AA", "postal code K1A 0B1": a postcode standing alone after its own cue,
# with no street or city to find it from; the value must have a postcode's shape (a bare "zip 5" is no code)
_POSTCODE_CUES, _POSTCODE_TRIGGERS = cue_regex((r"zip(?:[ \t]*code)?", r"post[ \t]*code", r"postal[ \t]+code"))
_POSTCODE_CUE_RE = re.compile(
    rf"(?<![\w]){_POSTCODE_CUES}[ \t]*(?:[:#=-][ \t]*|(?i:is|was)[ \t]+)?"
    rf"((?:{_ZIP}|{_UK_POSTCODE}|{_CA_POSTCODE}|\d{{4}}(?:[ \t]?[A-Z]{{2}})?|\d{{2,5}}-\d{{3}}))(?![\w-])"
)
PLACE_PREFIXES = frozenset("new north south east west lake port mount fort saint st upper lower great old san santa los las el la".split())


def _street_abbreviation(text: str, dot: int) -> bool:
    """True when the period at ``dot`` closes an abbreviation of an address ("St.", "Apt.", "Radelstr."), not a
    postcode or a word ("... WF8P 0SR. FINDINGS")."""
    i = dot
    while i > 0 and text[i - 1].isalpha():
        i -= 1
    word = text[i:dot].lower()
    return bool(word) and (i == 0 or not text[i - 1].isalnum()) and (word in ABBREVIATIONS or word.endswith("str"))


def _addresses(doc: Doc, allow: AllowList) -> Iterator[Candidate]:
    text = doc.text
    m: re.Match[str] | None  # loop matches and optional ones alike
    n = len(text)
    found: list[tuple[int, int]] = []
    for m in matches_at(_STREET_RE, text, (s for s, e in doc.digits if e - s <= 6)):
        # "0715 hours ...", "4 o'clock ...": a protected number shape is no street number, unless a city
        # follows the street ("30/4 Martinez Brow, Stevensside")
        if "," in m.group() or not touches_protected(text, m.start(), m.start() + 1):
            found.append(m.span())
    found.extend(m.span() for m in matches_at(_UNIT_STREET_RE, text, doc.at(_UNIT_TRIGGERS)))
    found.extend(m.span() for m in matches_at(_PO_BOX_RE, text, doc.at(_PO_BOX_TRIGGERS)))
    windows = [(max(0, s - 60), min(n, e + 6)) for s, e in doc.digits if e - s == 5]
    windows += [(max(0, p - 40), min(n, p + 50)) for p in doc.at(_STATE_TRIGGERS)]
    for ws, we in windows:
        found.extend(m.span() for m in _CITY_STATE_RE.finditer(text, ws, we))
    for s, e in doc.digits:
        # a postcode digit sits next to capitals: "SW1A 1AA", "B4J 8LU", "K1A 0B1"
        if e - s <= 2 and ((s > 0 and text[s - 1].isupper()) or text[e : e + 2].isupper()):
            found.extend(m.span() for m in _POSTCODE_RE.finditer(text, max(0, s - 45), min(n, e + 6)))
    for s, e in doc.digits:
        if (e - s in (4, 5) or (e - s == 2 and re.match(r"-\d{3}(?!\d)", text[e : e + 5]))) and text[max(0, s - 2) : s].rstrip(" \t").endswith(","):
            m = _EU_POSTCODE_CITY_RE.match(text, s)
            b = _EU_STREET_BEFORE_RE.search(text, max(0, s - 80), s) if m is not None else None
            if m is not None and b is not None:
                street = [w for w in (token_text(text, t) for t in token_spans(text, b.start(), b.end())) if len(w) > 1]
                city = [token_text(text, t) for t in token_spans(text, s, m.end())]
                # the street and the city each need a word that is no report word ("Grade 3, 1234 Units" is none)
                if (
                    any(not allow.is_allowed_word(w) and w.lower() not in _ADDRESS_LOWER for w in street)
                    and any(not allow.is_allowed_word(w) for w in city)
                    and not any(MONTH_NAME_RE.fullmatch(w) for w in street + city)
                ):
                    found.append((b.start(), m.end()))
    for s, e in sorted(set(found)):
        # a city after the street's comma must be a place, not report words ("12 Main Street, Mild cardiomegaly")
        comma = text.rfind(",", s, e)
        if comma > s:
            tail = [token_text(text, t) for t in token_spans(text, comma, e)]
            if tail and not any(ch.isdigit() for ch in text[comma:e]) and all(allow.is_clinical_word(w) for w in tail) and normalise(tail[0]) not in PLACE_PREFIXES:
                e = comma
        # "Mild ... SW1A 1AA"-style leading words: start at the first non-report word
        toks = token_spans(text, s, e)
        while (
            toks
            and toks[0][0] == s
            and not text[s].isdigit()
            and (allow.is_clinical_word(token_text(text, toks[0])) or token_text(text, toks[0]).lower() in TITLE_WORDS)
            and token_text(text, toks[0]) not in _UNIT_WORDS
            and text[toks[0][1] : toks[0][1] + 1] in (" ", "\t", ",", "\n")
            and normalise(token_text(text, toks[0])) not in PLACE_PREFIXES
        ):
            nxt = re.search(r"[^\s,]", text[toks[0][1] : e])
            if not nxt:
                break
            s = toks[0][1] + nxt.start()
            toks = token_spans(text, s, e)
        yield Candidate(s, e, "ADDRESS", MEDIUM)
    for m in matches_at(_POSTCODE_CUE_RE, text, doc.at(_POSTCODE_TRIGGERS)):
        yield Candidate(m.start(1), m.end(1), "ADDRESS", STRONG)
    for m in matches_at(_RESIDENCE_RE, text, doc.at(_RESIDENCE_TRIGGERS)):
        s = m.end()
        c = _CLAUSE_END_RE.search(text, s)
        while c is not None and c.group() == "." and _street_abbreviation(text, c.start()):
            c = _CLAUSE_END_RE.search(text, c.end())  # "12 St. Kilda Rd", "Apt. 4"
        e = bound(text, s, c.start() if c else n, "ADDRESS")
        for t in re.finditer(rf"(?<![\w'’-])[{LO}][{LO}'’]*(?![\w'’-])", text[s:e]):
            if t.group() in ("upon", "on") and re.match(rf"[ \t]+[{UP}]", text[s + t.end() : s + t.end() + 2]):
                continue  # "Stoke on Trent", "Kingston upon Thames"
            if t.group() not in _ADDRESS_LOWER:
                e = s + t.start()
                break
        value = text[s:e].rstrip(" \t.,;:")
        words = [token_text(text, t) for t in token_spans(text, s, s + len(value))]
        if value and not (words and all(allow.is_allowed_word(w) or w.lower() in _ADDRESS_LOWER for w in words)) and not re.fullmatch(_STATE_FULL, value):
            yield Candidate(s, s + len(value), "ADDRESS", MEDIUM)
    for m in matches_at(_ADDRESS_CUE_RE, text, doc.at(_ADDRESS_TRIGGERS)):
        s = m.end()
        label = _ADDRESS_LABEL_RE.match(text, s)
        if label is not None and label.end() > s:
            s = label.end()
        e = bound(text, s, _FIELD_END_RE.search(text, s).start(), "ADDRESS")  # type: ignore[union-attr]  # the pattern matches at the end of the text
        # the next field's label ends it: "Address: 1 Elm St. John Smith MRN 10000000 Bilateral ..."
        for tok in token_spans(text, s, e):
            if tok[0] > s and (ID_CUE_RE.match(text, tok[0]) or DOB_CUE_RE.match(text, tok[0])):
                e = tok[0]
                break
        r = RECORD_NUMBER_RE.search(text, s, e)
        e = r.start() if r is not None and r.start() > s else e
        # a lower-case report word ends the address where no punctuation does ("... LS1 4AB lungs clear")
        for t in _LOWER_WORD_RE.finditer(text, s, e):
            if allow.is_clinical_word(t.group()):
                e = t.start()
                break
        value = text[s:e].rstrip(" .,;")
        # an address has a number or a capitalised word; "Home: n/a" or "Address: unknown" has neither
        if value and (any(ch.isdigit() for ch in value) or value[0].isupper()) and not allow.is_clinical_word(value):
            yield Candidate(s, s + len(value), "ADDRESS", STRONG)


@dataclass(frozen=True)
class AddressRecognizer:
    """ADDRESS: streets, PO boxes, cities with their state or postcode."""

    kinds = ("ADDRESS",)

    def find(self, doc: Doc, allow: AllowList, found: Sequence[Candidate]) -> Iterator[Candidate]:
        return _addresses(doc, allow)
