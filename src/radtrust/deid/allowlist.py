"""What de-identification must leave alone: a curated radiology vocabulary and the shapes of clinical numbers.

Free-text reports are full of capitalised words that look like names (eponyms: Hodgkin, Kerley, Smith
fracture), devices named after people or firms (Foley, Swan-Ganz, Port-a-Cath) and numbers that look like
dates or identifiers (C5-6, 2/3, 10:30 axis, 3.2 x 1.1 cm). Over-scrubbing them destroys the clinical
content that a de-identified corpus exists for, so the recognizers consult this module before they flag a
span. The lists are plain data, lower-cased; the number shapes are compiled once at import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# ---------------------------------------------------------------------------------------------------
# Words. Three groups, because they are treated differently: a title ("Dr. Paget") or a credential
# ("Smith, MD") makes even an eponym a name, while a report word ("Findings", "Chest") never is one.
# ---------------------------------------------------------------------------------------------------

#: Eponyms and other person-derived terms of radiology. They look like surnames, so they only block
#: *weak* evidence (dictionary hits, Presidio's PERSON); a title or credential still wins.
EPONYMS: frozenset[str] = frozenset(
    """
    hodgkin hodgkin's non-hodgkin hodgkins paget paget's kerley hampton hampton's westermark fleischner pancoast
    chilaiditi morgagni bochdalek schmorl schmorl's baker baker's colles smith barton bennett monteggia galeazzi
    jefferson segond hill-sachs hill sachs bankart osgood-schlatter osgood schlatter perthes legg-calve-perthes
    legg calve wilms ewing ewing's kaposi kaposi's brodie brodie's charcot virchow virchow's luschka valsalva
    foley swan-ganz swan ganz hickman dobhoff dobbhoff greenfield harrington hounsfield cobb bosniak gleason
    salter-harris salter harris schatzki zenker zenker's meckel meckel's chiari dandy-walker dandy walker cooper
    cooper's graves graves' hashimoto hashimoto's crohn crohn's wegener wegener's swyer-james swyer james
    mounier-kuhn mounier kuhn kartagener löfgren lofgren caplan mendelson boerhaave mallory-weiss mallory weiss
    whipple nissen roux-en-y roux billroth hartmann hartmann's glenn fontan blalock-taussig blalock taussig
    norwood mustard ravitch nuss garden weber lisfranc jones maisonneuve tillaux pellegrini-stieda pellegrini
    stieda baastrup forestier scheuermann scheuermann's kümmell kummell modic tanner greulich-pyle greulich pyle
    groshong quinton permcath impella watchman mitraclip sapien corevalve heartmate lvad port-a-cath mediport
    medcomp powerport bard cordis amplatzer gianturco palmaz wallstent ivc kirschner steinmann rush ender
    gamma denis frankel asia garden pauwels neer hawkins sanders böhler bohler gissane chopart hoffa kager
    fong holt-oram holt oram marfan ehlers-danlos ehlers danlos turner down klinefelter noonan alport
    alzheimer alzheimer's parkinson parkinson's huntington huntington's creutzfeldt-jakob creutzfeldt jakob
    wernicke korsakoff guillain-barré guillain barré barre binswanger fahr moyamoya sturge-weber sturge
    von hippel-lindau hippel lindau tuberous bourneville recklinghausen arnold arnold-chiari galen
    sylvian sylvius monro magendie willis rolando rathke rathke's meyer broca wernicke's heschl
    virchow-robin robin dandy hirschsprung hirschsprung's peyer peyer's treitz oddi calot calot's
    morison morison's douglas retzius hunter hunter's alcock scarpa poupart gerota gerota's zuckerkandl
    bertin bellini henle malpighi tenon vater wirsung santorini glisson couinaud riedel riedel's
    spigelian spiegel spigelius klatskin caroli budd-chiari budd mirizzi bouveret rigler rigler's
    ogilvie ogilvie's menetrier ménétrier zollinger-ellison zollinger ellison barrett barrett's plummer-vinson
    plummer vinson killian killian-jamieson jamieson laimer cowden peutz-jeghers peutz jeghers gardner
    lynch turcot krukenberg meigs stein-leventhal leventhal asherman nabothian naboth
    bartholin bartholin's gartner skene skene's cowper cowper's littre peyronie peyronie's fournier
    wolffian müllerian mullerian mayer-rokitansky rokitansky rokitansky-aschoff aschoff kuster
    bezold citelli gradenigo mondini michel scheibe thornwaldt tornwaldt killian's waldeyer waldeyer's
    rosenmüller rosenmuller stensen stensen's wharton wharton's warthin warthin's kimura kikuchi castleman
    castleman's mikulicz sjögren sjogren sjögren's sjogren's riedel's de quervain quervain ludwig ludwig's
    lemierre pott pott's bezold's tolosa-hunt tolosa grisel hangman jefferson's clay-shoveler clay shoveler
    chance chance's holdsworth smith's goldman goldman's schober bechterew marie-strümpell strümpell
    tietze tietze's poland mondor mondor's swyer lhermitte romberg babinski hoover horner horner's
    adamkiewicz batson batson's hoffmann tinel phalen finkelstein guyon guyon's kienböck kienbock
    preiser terry-thomas terry thomas scapholunate stener bennett's rolando's galeazzi's essex-lopresti essex
    lopresti hill-sach kim trethowan perkins hilgenreiner shenton shenton's klein klein's ortolani barlow
    sever sever's freiberg freiberg's köhler kohler iselin haglund haglund's achilles thompson mulder
    morton morton's tarlov tarlov's bertolotti kümmel scheuermann's baastrup's kambin schmorl's
    grisel's wallerian waller langerhans kupffer disse cajal purkinje schwann schwann's merkel
    bowman bowman's gerdy gerdy's wrisberg humphry humphrey stieda's bennet hoffa's osgood's sinding-larsen
    sinding larsen johansson blount blount's ollier ollier's maffucci albright mccune-albright mccune
    jaffe-lichtenstein jaffe lichtenstein codman codman's erdheim-chester erdheim chester letterer-siwe
    letterer siwe hand-schüller-christian schüller schuller christian rosai-dorfman rosai dorfman
    askin askin's pancoast's horner homer wright wright's kernohan kernohan's duret duret's cushing
    cushing's conn conn's addison addison's nelson nelson's sheehan sheehan's simmonds rathke's
    fallot fallot's ebstein ebstein's eisenmenger eisenmenger's kawasaki kawasaki's takayasu takayasu's
    dressler dressler's löffler loffler libman-sacks libman sacks osler osler's janeway roth roth's
    stanford debakey de-bakey kommerell kommerell's scimitar raynaud raynaud's buerger buerger's leriche
    leriche's adamkiewicz's thebesian eustachian eustachio chiari's kerckring heister houston houston's
    gerlach kohlrausch bauhin auerbach meissner brunner brunner's lieberkühn lieberkuhn paneth kulchitsky
    hirano lewy pick pick's binswanger's marchiafava-bignami marchiafava bignami leigh leigh's canavan
    alexander krabbe pelizaeus-merzbacher pelizaeus merzbacher zellweger menkes wilson wilson's
    hallervorden-spatz hallervorden spatz fahr's gerstmann dejerine-sottas dejerine sottas charcot-marie-tooth
    marie tooth brown-séquard séquard sequard brown-sequard lambert-eaton eaton hoehn yahr
    richter richter's spigelian's littre's amyand amyand's de garengeot garengeot grynfeltt petit petit's
    morgagni's bochdalek's larrey larrey's hesselbach hesselbach's nuck nuck's
    tc-99m technetium gallium thallium indium xenon fdg psma dotatate mibg mag3 dtpa dmsa hida sestamibi
    tetrofosmin octreotide ioflupane datscan amyvid vizamyl neuraceq axumin pylarify
    omnipaque visipaque isovue optiray ultravist gadavist dotarem multihance eovist primovist magnevist
    prohance clariscan feraheme definity lumason optison gastrografin barium
    """.split()
)

#: Report words that can be title-cased (sentence starts, headers) but never name a person: anatomy,
#: findings, modalities, section headers, and the English words that open report sentences.
REPORT_WORDS: frozenset[str] = frozenset(
    """
    elevated wbc vhr pod hx sob cp
    findings finding impression impressions history indication indications technique techniques comparison
    comparisons conclusion conclusions recommendation recommendations procedure procedures exam examination
    study studies report reports addendum clinical information reason diagnosis diagnoses result results
    summary notes note opinion discussion interpretation preliminary final signed dictated transcribed
    attending resident fellow technologist tech sonographer radiologist physician provider referring
    ordering requesting patient pt name mrn dob sex gender age date time location room bed unit ward
    accession order encounter visit account department dept service floor
    radiology radiograph radiographs radiography imaging image images series view views frontal lateral
    pa ap portable upright supine decubitus oblique oblique axial coronal sagittal reformat reformats
    reformatted reconstruction reconstructions mpr mip 3d 2d ct cta ctv mr mri mra mrv mrcp pet pet/ct spect
    us ultrasound sonogram sonography doppler duplex echo echocardiogram xr x-ray xray cxr kub fluoroscopy
    fluoro mammogram mammography mammo tomosynthesis dbt dexa dxa bone scan scintigraphy nuclear medicine
    angiogram angiography venogram arteriogram myelogram arthrogram cholangiogram esophagram swallow
    enema contrast noncontrast non-contrast unenhanced enhanced enhancement iv oral intravenous
    without with and or of the a an in on at to for by from into onto over under per via vs versus
    no not none nor neither there these this that those it its is are was were be been being has have had
    do does did will would should could may might must can cannot shall also again otherwise however
    although though while when where which who whom whose what why how if then than so as such both
    each every all any some few many most more less least other another same different new old prior
    previous previously current currently recent recently interval today yesterday now since until after
    before during within without between among above below beneath behind around about across along
    overall otherwise additionally further furthermore moreover likewise similarly therefore thus hence
    please recommend recommended recommends suggest suggested suggests consider considered correlate
    correlation follow follow-up followup repeat rec advise advised see seen noted note notes
    unchanged stable improved improving worsened worsening increased increasing decreased decreasing
    new resolved resolving persistent persists redemonstrated re-demonstrated again grossly essentially
    normal abnormal unremarkable remarkable negative positive equivocal indeterminate suspicious benign
    malignant likely unlikely probable probably possible possibly questionable query suspected suspect
    consistent compatible concerning suggestive representing represents reflect reflects reflecting
    mild mildly moderate moderately severe severely marked markedly minimal minimally small smaller
    large larger tiny trace subtle slight slightly extensive diffuse diffusely focal focally multifocal
    patchy scattered bilateral bilaterally unilateral left right both central peripheral medial proximal
    distal anterior posterior superior inferior upper lower mid middle apical basal basilar dependent
    ventral dorsal cranial caudal cephalad rostral deep superficial internal external inner outer
    acute chronic subacute old healed healing early late
    chest thorax thoracic lung lungs pulmonary pleura pleural heart cardiac cardiomediastinal mediastinum
    mediastinal hilum hila hilar trachea tracheal bronchus bronchi bronchial airway airways lobe lobes
    lingula segment segments diaphragm diaphragms hemidiaphragm costophrenic angle angles aorta aortic
    arch pericardium pericardial abdomen abdominal pelvis pelvic liver hepatic spleen splenic pancreas
    pancreatic kidney kidneys renal adrenal adrenals gallbladder biliary bile duct ducts cbd bowel
    colon colonic rectum rectal stomach gastric duodenum duodenal jejunum ileum ileal appendix cecum
    sigmoid esophagus esophageal bladder prostate uterus uterine ovary ovaries ovarian adnexa adnexal
    cervix vagina testis testes scrotum scrotal peritoneum peritoneal retroperitoneum retroperitoneal
    mesentery mesenteric omentum vessels vascular artery arteries vein veins venous arterial portal
    brain cerebral cerebellum cerebellar brainstem ventricle ventricles ventricular sulci cortex cortical
    matter basal ganglia thalamus pons midbrain medulla skull calvarium sinus sinuses
    paranasal mastoid mastoids orbit orbits orbital sella pituitary neck cervical thyroid parotid
    submandibular larynx pharynx nasopharynx oropharynx hypopharynx spine spinal vertebra vertebrae
    vertebral disc discs disk disks foramen foramina foraminal canal cord thecal sac lumbar sacral sacrum
    coccyx shoulder humerus humeral elbow radius radial ulna ulnar wrist hand hands finger fingers
    thumb hip hips femur femoral knee knees patella tibia tibial fibula fibular ankle foot feet toe toes
    calcaneus talus bone bones osseous joint joints soft tissue tissues muscle muscles tendon tendons
    ligament ligaments cartilage meniscus labrum rib ribs clavicle scapula sternum breast breasts
    axilla axillary nipple nipples skin lymph node nodes nodal
    effusion effusions pneumothorax consolidation atelectasis opacity opacities infiltrate infiltrates
    edema nodule nodules mass masses lesion lesions cyst cysts tumor tumour neoplasm carcinoma cancer
    metastasis metastases metastatic lymphoma lymphadenopathy adenopathy fracture fractures dislocation
    subluxation hernia fibrosis emphysema pneumonia cardiomegaly calcification calcifications calcified
    thickening stenosis occlusion thrombus thrombosis embolus emboli embolism aneurysm dissection
    hemorrhage haemorrhage hematoma infarct infarction ischemia ischemic stroke collection abscess
    fluid air gas free obstruction dilatation dilation dilated distension distended narrowing
    degenerative degeneration spondylosis osteophyte osteophytes sclerosis sclerotic lytic blastic
    osteopenia osteoporosis arthritis arthropathy tear tears rupture sprain strain contusion
    granuloma granulomas scarring scar bullae bulla bleb blebs cavitation cavity bronchiectasis
    surgical postsurgical postoperative post-operative status post s/p changes change sequela sequelae
    device devices line lines tube tubes catheter catheters pacemaker pacer leads lead wire wires
    clip clips staples stent stents graft grafts prosthesis hardware screw screws plate plates rod rods
    drain drains port ports picc central ett endotracheal nasogastric ng og feeding chest tube sternotomy
    size shape contour contours margin margins density attenuation signal intensity echogenic
    hypoechoic hyperechoic anechoic isoechoic heterogeneous homogeneous solid cystic complex simple
    septated enhancing nonenhancing restricted diffusion adc dwi flair t1 t2 swi gre stir
    category assessment score grade stage type class level levels region regions area areas site sites
    position positions measurement measurements measuring measures measure diameter volume axis
    birads bi-rads lung-rads li-rads pi-rads ti-rads o-rads c-rads ni-rads cad-rads acr acr-tirads
    kinds kind total maximum minimum mean median average approximately approx about
    hospital hospitals clinic clinics facility facilities center centre institution institute office practice
    outside outpatient inpatient emergency urgent ed er icu micu sicu nicu picu ccu pacu or ward
    mental public behavioral occupational primary family internal pediatric paediatric interventional neuro
    neuroradiology musculoskeletal msk body cardiothoracic thoracic sports women's womens children's
    national international european world society guidelines guideline criteria protocol protocols college
    association consensus recommendations past electronically upright pain shortness breath cough fever trauma
    medical health care healthcare history radiological radiologic services service group team
    tel telephone phone ph cell mobile fax pager beeper email e-mail questions requisition accn acc accession
    ref id insurance member policy account encounter visit home work address facility dob birth ssn mrn csn
    fin npi read-back readback verbal compared comparing irregular eval diag screen bil lt rt recall additional
    needs incomplete rule personal transferred transfer referred admitted performed obtained acquired done
    presented films dated provided social security sarcoma leukemia myeloma melanoma adenoma hemangioma lipoma
    fibroadenoma papilloma angiomyolipoma mg linear distribution branching fine grouped amorphous pleomorphic
    calcification oval round circumscribed obscured microlobulated indistinct spiculated margins
    tolerated underwent reports reported states stated presents denies denied complains complained agrees agreed
    requests requested prefers preferred declined refused returns returned arrived
    pulmonology cardiology oncology neurology urology gastroenterology orthopedics orthopaedics dermatology
    nephrology endocrinology rheumatology hematology haematology obstetrics gynecology ob/gyn pediatrics
    psychiatry neurosurgery hepatology hospitalist oncologist cardiologist pulmonologist urologist neurologist
    gastroenterologist nephrologist endocrinologist rheumatologist hematologist obstetrician gynecologist
    pediatrician psychiatrist neurosurgeon intensivist anesthesia anesthesiology anesthesiologist pathology
    pathologist otolaryngology ent ophthalmology surgical surgeon's hospitalist's team stroke trauma code
    instructions education portal preparation positioning identification label labels incidental
    vitamin deficiency hepatitis cirrhosis diabetes hypertension hyperlipidemia copd asthma chf cad ckd esrd
    hiv aids tuberculosis tb sepsis infection infectious disease diseases syndrome syndromes disorder anemia
    pancreatitis cholecystitis appendicitis diverticulitis colitis enteritis gastritis esophagitis pyelonephritis
    nephrolithiasis cholelithiasis urolithiasis hydronephrosis ascites splenomegaly hepatomegaly steatosis
    pneumoperitoneum pneumomediastinum hemothorax hydropneumothorax empyema bronchitis bronchiolitis
    sarcoidosis silicosis asbestosis fibrotic interstitial alveolar airspace ground-glass groundglass nodular
    reticular reticulonodular honeycombing traction mosaic attenuation tree-in-bud cavitary miliary
    aortic mitral tricuspid pulmonic valve valves valvular coronary carotid vertebral basilar cerebral
    jugular subclavian brachiocephalic innominate azygos hemiazygos iliac femoral popliteal tibial renal
    mesenteric celiac hepatic splenic gastric superior inferior vena cava svc ivc pulmonary artery arteries
    embolic thrombotic occlusive stenotic patent patency aneurysmal ectatic tortuous dissecting
    ventricle atrium atrial septal septum myocardium myocardial endocardial epicardial pericardial
    lobar segmental subsegmental lingular apical basilar hilar perihilar parahilar subpleural subpleural
    costophrenic cardiophrenic retrocardiac retrosternal paratracheal subcarinal prevascular aortopulmonary
    supraclavicular infraclavicular axillary mediastinal hilar internal mammary cervical thoracic lumbar
    sacral coccygeal iliac inguinal pelvic retroperitoneal mesenteric periportal portacaval
    fracture dislocation avulsion compression burst wedge comminuted displaced nondisplaced angulated impacted
    pathologic stress insufficiency healing callus nonunion malunion union osteomyelitis osteonecrosis
    avascular necrosis sclerotic lucent lucency lytic blastic mixed expansile aggressive indolent
    enhancement washout arterial venous delayed portal equilibrium hepatobiliary phase phases
    biopsy-proven proven known suspected presumed probable possible likely unlikely favored favor
    consider considering correlate correlation clinical clinically recommended recommendation advised
    tech technique technically limited suboptimal adequate satisfactory diagnostic nondiagnostic
    contrast-enhanced noncontrast unenhanced precontrast postcontrast dynamic multiphase triphasic
    protocol protocols sequence sequences weighted coronal sagittal axial oblique reformatted
    pain tenderness swelling mass lump palpable discharge bleeding hematuria hemoptysis dyspnea dysphagia
    nausea vomiting diarrhea constipation fever chills weakness fatigue syncope dizziness headache seizure
    numbness tingling trauma fall collision accident injury injuries assault aaa
    mild moderate severe marked minimal trace small large tiny huge massive extensive
    mammographic sonographic cc mlo ml lm xccl spot magnification tangential implant displaced views only
    """.split()
)

#: Words that open report sentences in many templates and would otherwise pass a capitalised-word test;
#: kept apart from :data:`REPORT_WORDS` for readability and treated the same.
SENTENCE_WORDS: frozenset[str] = frozenset(
    """
    mass lesion heart lungs liver kidneys no there the a an this these both small large mild moderate
    severe stable unchanged interval new redemonstration again clear normal negative limited
    degraded motion artifact evaluation evaluated assessed visualized visualised identified demonstrated
    demonstrates shows showed show appears appear appearing present absent seen without within
    status post follow followed following call called calling contact contacted discuss discussed
    critical urgent emergent stat routine screening diagnostic surveillance staging restaging
    management treatment therapy radiation chemotherapy surgery resection biopsy aspiration
    ablation embolization drainage placement removal insertion exchange injection
    male female man woman boy girl infant neonate child adult elderly adolescent
    english spanish american
    """.split()
)

#: Roles, post-nominal descriptions and the words of a letter around a name ("Consultant Radiologist", "Dear
#: Dr X, Re: ...", "Yours sincerely"): never a person's name, so never part of a name span.
LETTER_WORDS: frozenset[str] = frozenset(
    """
    consultant consultants registrar registrars radiographer radiographers matron specialist specialists lecturer
    senior junior principal honorary locum associate assistant director clinical lead head department
    dear re yours sincerely faithfully regards kind thanks thank
    """.split()
)

#: Ordinary English words that are also first names or surnames (Frank, Grace, May, Young, Brown, Wall).
#: Like eponyms they block only weak evidence: "frank hemorrhage" stays, "Dr. Frank" is still a name.
NAMELIKE_WORDS: frozenset[str] = frozenset(
    """
    frank crystal crystals gene max mark marks ray rays grant will may chase lance guy bill dawn sandy penny
    hope faith grace joy summer autumn april june august march destiny melody misty ebony diamond amber
    jade holly ivy iris ruby pearl hazel olive rose violet sage forest rich best good key case long short
    little strong wall bass love house glass bird branch page hood horn stone moon bell ball cross black
    brown green white gray grey golden bright hale snow frost rush day fields field wood woods hill hall
    banks church price hunt hunter cook mason miles powers sharp moss gross wise young king head small
    ward wells english ann min
    """.split()
)

#: Reporting and classification systems; hyphen and case variants are normalised before lookup.
REPORTING_SYSTEMS: frozenset[str] = frozenset(
    "bi-rads lung-rads li-rads pi-rads ti-rads o-rads c-rads ni-rads cad-rads birads lungrads lirads pirads "
    "tirads orads crads nirads cadrads fleischner bosniak gleason tnm figo ann arbor lugano recist mrecist "
    "irecist percist deauville ct-sev ctsi balthazar atlanta aast nexus canadian wells caprini".split()
)

#: Words that may be title-cased in a report but never name a person (name-like words taken out).
CLINICAL_WORDS: frozenset[str] = (REPORT_WORDS | SENTENCE_WORDS | REPORTING_SYSTEMS | LETTER_WORDS) - NAMELIKE_WORDS

#: Every allow-listed word: these block weak evidence of a name.
ALLOW_WORDS: frozenset[str] = CLINICAL_WORDS | EPONYMS | NAMELIKE_WORDS

#: Words that follow an eponym in clinical use: "Smith fracture", "Baker cyst", "Foley catheter".
EPONYM_HEADS: frozenset[str] = frozenset(
    """
    fracture fractures lesion lesions disease syndrome sign signs lines line cyst cysts catheter catheters
    tube node nodes lymphoma sarcoma tumor tumour node nodes procedure operation repair shunt anastomosis
    pouch diverticulum diverticula malformation anomaly classification class grade grades score category
    criteria type types ligament ligaments hernia herniation nodes node units unit angle angles line
    space foramen canal fossa triangle fat pad valve fundoplication esophagectomy pancreaticoduodenectomy
    tear lesion defect deformity dislocation injury phenomenon effect maneuver manoeuvre filter rod rods
    stent stents valve port device pump system scale method point points bodies body duct ducts
    """.split()
)


@lru_cache(maxsize=8192)
def normalise(token: str) -> str:
    """The lookup form of a word: lower-case, curly apostrophes straightened, possessive and edge
    punctuation removed."""
    t = token.strip('.,;:()[]{}"').replace("’", "'").lower()
    if t.endswith("'s"):
        t = t[:-2]
    return t


def is_clinical_word(token: str) -> bool:
    """True for a report word that never names a person ("Findings", "Chest", "Mild")."""
    return normalise(token) in CLINICAL_WORDS


def is_allowed_word(token: str) -> bool:
    """True for any allow-listed word: report words and eponyms."""
    t = normalise(token)
    if t in ALLOW_WORDS:
        return True
    # hyphenated eponyms and compounds ("Osgood-Schlatter", "non-Hodgkin"): every part allowed
    parts = [p for p in re.split(r"[-/]", t) if p]
    return len(parts) > 1 and all(p in ALLOW_WORDS or p == "non" for p in parts)


# ---------------------------------------------------------------------------------------------------
# Number shapes. A weak candidate (a bare digit run, a Presidio hit) that overlaps one of these is dropped:
# measurements, clock-face positions, spine levels, ribs, series/image numbers, scores, times of day.
# Times of day are not identifiers under Safe Harbor (only dates more specific than the year are).
# ---------------------------------------------------------------------------------------------------

_NUM = r"(?<!\d)\d{1,5}(?:[.,]\d+)?"
_UNITS = (
    r"(?:(?i:mm|cm|km|ml|cc|dl|mg|mcg|kg|mgy|msv|kev|kvp)|m|l|L|µg|ug|g|mGy(?:[*·\-]cm)?|Gy|cGy|HU|kV|mAs|mA|"
    r"T|%|bpm|mmHg|units?|IU|mCi|MBq|GBq|sec|secs|seconds?|s|min|mins|minutes?|hrs?|hours?|days?|weeks?|wks?|"
    r"months?|mos?|years?|yrs?|French|Fr|F|gauge|G|mm/s|cm/s|m/s|mg/dL|mg/kg|mL/min|ml/min|mmol/L)"
)

# TNM staging: T2N1M0, pT1cN0, cT3N2bM1a, ypT0N0, T2 N1 M0 ("T2N 1M0" with its space is a postcode)
_TNM = r"(?<![A-Za-z0-9])(?:[cpyrau]{1,3})?T(?:[0-4][a-d]?|is|x)(?:\(m\)|\(\d\))?[ \t]?N(?:[0-3][a-c]?|x)(?:\(\w+\))?(?:[ \t]?M(?:[01][a-c]?|x))?(?![A-Za-z0-9])"

PROTECTED_PATTERNS: tuple[str, ...] = (
    # 3.4 x 2.1 x 1.9 cm, 12 mm, 345 mGy*cm, 4.5 cm/s
    rf"\b{_NUM}(?:\s*(?:x|×|by)\s*{_NUM}){{0,2}}\s*{_UNITS}(?![A-Za-z])",  # (no 6-digit "measurement": "20200816 MG")
    rf"\b{_NUM}\s*(?:x|×)\s*{_NUM}(?:\s*(?:x|×)\s*{_NUM})?\b",
    # dose and uptake read-outs
    rf"\b(?:SUV\s*(?:max|mean|peak)?|SUVmax|DLP|CTDI(?:vol)?|DAP|kVp|mAs|EF|LVEF|HU)\s*(?:of|[:=])?\s*{_NUM}",
    # clock-face positions and times of day
    r"\b\d{1,2}(?::[0-5]\d)?\s*o['’]?\s*clock\b",
    r"\b\d{1,2}:[0-5]\d(?::[0-5]\d)?\s*(?:[ap]\.?\s?m\.?\b|hours?|hrs|h\b|o['’]?clock|axis|position)?",
    r"\b\d{1,2}\s*[ap]\.?m\.?(?![a-z])",
    r"\b\d{4}\s*(?:hours|hrs|h)\b",
    # spine levels: C5-6, L4-L5, T12, S1, C2/3
    r"\b[CTLS]\d{1,2}(?:\s*[-–/]\s*[CTLS]?\d{1,2})?\b",
    # ribs and other ordinal anatomy: 4th-6th ribs, 2nd metatarsal
    r"\b\d{1,2}(?:st|nd|rd|th)(?:\s*(?:-|–|to|through|and)\s*\d{1,2}(?:st|nd|rd|th))?\s+"
    r"(?:(?:left|right|anterior|posterior|lateral|medial)\s+)?(?:ribs?|metatarsals?|metacarpals?|digits?|toes?|"
    r"fingers?|intercostal|costochondral|ventricle|percentile|trimester|decade|grade|degree|line|lumbar|"
    r"thoracic|cervical|sacral|compartment|segment|branch|order)",
    # series / image numbers
    r"\b(?:series|ser|se|image|images|img|im|slice|frame|cine|sequence)\s*[:#]?\s*\d+(?:\s*/\s*\d+)?"
    r"(?:\s*(?:,|and|&)?\s*(?:image|images|img|im)\s*[:#]?\s*\d+(?:\s*(?:-|/|to)\s*\d+)?)?",
    # reporting-system categories and scores
    r"\b(?:BI-?RADS|Lung-?RADS|LI-?RADS|PI-?RADS|TI-?RADS|O-?RADS|C-?RADS|NI-?RADS|CAD-?RADS)\s*"
    r"(?:category|cat\.?)?\s*[:#]?\s*\d[A-Ca-c]?(?:\s*/\s*[A-Z0-9]+)?",
    r"\b(?:category|cat\.?|grade|class|stage|type|score|level|zone|segment|BI-?RADS)\s*[:#]?\s*\d[A-Ca-c]?\b",
    r"\bGleason\s*(?:score\s*)?\d\s*\+\s*\d(?:\s*=\s*\d+)?",
    r"\b(?:Tc|F|I|Ga|In|Tl|Xe|Rb|Zr|Lu|Y|Ra)-?\d{2,3}m?\b",
    # ratios, fractions, percentages
    r"(?<![\d/.-])\d{1,3}\s*/\s*\d{1,3}(?![\d/.-])",
    r"\b\d+(?:\.\d+)?\s*%",
    # TNM staging
    _TNM,
    # drug doses and rates
    rf"\b{_NUM}\s*(?:mg|mcg|g|units?|mL|ml)\s*/\s*(?:kg|day|d|hr|h|min|m2|m²)\b",
)

# Case-insensitive ("4 O'CLOCK", "23 MM"): these shapes only ever veto weak evidence, never a cue-based hit.
_PROTECTED_RE = re.compile("|".join(f"(?:{p})" for p in PROTECTED_PATTERNS), re.IGNORECASE)


_CLINICAL_CODE_RE = re.compile(_TNM, re.IGNORECASE)


def inside_clinical_code(text: str, start: int, end: int) -> bool:
    """True if ``text[start:end]`` lies inside a clinical code that no identifier shape may claim: a TNM
    stage ("T2N1M0" is also the shape of a Canadian postcode, "T2N 1M0")."""
    return any(m.start() <= start and end <= m.end() for m in _CLINICAL_CODE_RE.finditer(text, max(0, start - 12), min(len(text), end + 12)))


def protected_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Character ranges of clinical number shapes in ``text`` (or in ``text[start:end]``), sorted."""
    end = len(text) if end is None else end
    return [m.span() for m in _PROTECTED_RE.finditer(text, start, end) if m.end() > m.start()]


def touches_protected(text: str, start: int, end: int) -> bool:
    """True if ``text[start:end]`` overlaps a clinical number shape; looks only at a window around it."""
    return any(s < end and start < e for s, e in protected_spans(text, max(0, start - 40), min(len(text), end + 40)))


class AllowList:
    """The curated vocabulary plus a user's extra terms.

    Extra terms are matched case-insensitively, as words or as whole phrases; a single-word term is also
    added to the word list, so "Smithson" protects the token wherever it occurs.
    """

    def __init__(self, extra: Iterable[str] = ()) -> None:
        terms = [t.strip() for t in extra if t and t.strip()]
        self.extra_words: frozenset[str] = frozenset(normalise(t) for t in terms if " " not in t)
        self.extra_phrases: frozenset[str] = frozenset(" ".join(t.lower().split()) for t in terms)
        alternatives = [r"\s+".join(map(re.escape, p.split())) for p in sorted(self.extra_phrases, key=len, reverse=True)]
        self._phrase_re = re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE) if alternatives else None
        #: words the recognizers' pre-screen has found can start nothing under this list (filled by
        #: ``recognizers._nothing_to_find``; a set difference then screens a sentence at C speed)
        self.screened_words: set[str] = set()

    def is_allowed_word(self, token: str) -> bool:
        """An allow-listed word, curated or the user's."""
        return normalise(token) in self.extra_words or is_allowed_word(token)

    def is_clinical_word(self, token: str) -> bool:
        """A word that never names a person; the user's extra terms count as such."""
        return normalise(token) in self.extra_words or is_clinical_word(token)

    def user_spans(self, text: str) -> list[tuple[int, int]]:
        """Occurrences of the user's extra terms in ``text``: never removed."""
        if self._phrase_re is None:
            return []
        return [m.span() for m in self._phrase_re.finditer(text)]
