"""The shipped word lists and patterns, one group per category of the design.

Everything here is matched by `classifiers.rules` as whole words against normalised text (see
`classifiers.text`): lower case, accents stripped, leetspeak and masks undone. So write entries in
plain lower case; `sh1t`, `S.H.I.T` and `sh*t` are found through `shit`.

Word entries: `word` matches the word and its plural; `word+` also matches the usual endings
(`fuck+` finds fucks, fucked, fucker, fucking, fuckin). Pattern entries are regular expressions
with non-capturing groups only.

Strength says how much one hit means on its own:
- STRONG: flags the category whatever the model says (a phone number is a phone number; a threat
  or a disclosure is worth a false alarm).
- MEDIUM: flags when there is no model; with a model it is evidence the model weighs, so that
  "fucking brilliant concert" or a parent quoting the abuse their child received can be let through.
- WEAK: evidence only.

Contains slurs and obscenities, necessarily: this is what the school needs to catch.
"""

from __future__ import annotations

from dataclasses import dataclass

# Bump when the lists change: it is part of every verdict's model version.
LEXICON_VERSION = "4"

STRONG = 1.0
MEDIUM = 0.7
WEAK = 0.4


@dataclass(frozen=True, slots=True)
class WordList:
    """Single words or fixed phrases; a hit reads 'word "f*ck" (abusive lexicon)'."""

    category: str
    label: str
    words: tuple[str, ...]
    strength: float
    # Print hits with letters hidden: alerts should not spell out slurs to every recipient.
    obscure: bool = False


@dataclass(frozen=True, slots=True)
class Pattern:
    """A regular expression over normalised text; a hit reads 'label "matched text"' or just the
    label when `quote` is False (personal data is not repeated in alerts)."""

    category: str
    label: str
    regex: str
    strength: float
    quote: bool = True
    # "folded" (disguises undone, URLs and e-mails replaced) or "plain" (as written, lower case).
    view: str = "folded"
    # Wrap in whole-word guards; off for patterns that carry their own (phone numbers, "?").
    bounded: bool = True
    # A quick regex that must find something in a text before the pattern is worth running on it.
    needs: str = ""


def words(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(",") if w.strip())


# --- abusive: insults, obscenity, harassment ------------------------------------------------------
# Order matters for masked words: "s**t" is read as the first listed word that fits.
PROFANITY = words("""
fuck+, fuk+, fck+, fcuk+, feck+, motherfucker+, muthafucka+, shit+, shite, bullshit+, cunt+,
twat+, wank+, wanker+, bitch+, bastard+, bollocks, bollox, arsehole+, asshole+, arse, dickhead+,
dick, prick+, knobhead+, knob, bellend+, tosser+, slag+, slut+, whore+, skank+, cock, cocksucker+,
tits, piss+, pissed, dipshit+, jackass, dumbass, fatass, douche+, douchebag+, scumbag+, scum,
shithead+, shitbag+, numpty, pillock, plonker, muppet, minger, mong, nonce, wazzock, gobshite+,
dickwad+, twatwaffle, wtf, stfu, gtfo, fml, mf, mofo, pussy, pussies
""")
INSULTS = words("""
idiot+, idiotic, moron+, moronic, imbecile+, cretin+, stupid, dumb, loser+, pathetic, ugly, fat
cow, fat pig, thick as, brain dead, waste of space, waste of oxygen, get a life, shut up, shut
your mouth, clown+, dimwit+, halfwit+, nitwit+, trash, garbage, vile, creep+, creepy, weirdo+,
freak+, sad act, lowlife, low life, scrounger+, chav+, gobby, nobhead+
""")

# --- hateful: racist, homophobic, transphobic, religious, disability hate ------------------------
SLURS = words("""
nigger+, nigga+, niggaz, nigguh, negro+, paki+, chink+, gook+, spic, wetback+, kike+, yid+, wog+,
golliwog+, coon+, sambo+, darkie+, jungle bunny, porch monkey, raghead+, towelhead+, sand nigger,
camel jockey, muzzie+, musloid+, gyppo+, gypo+, pikey+, fag+, faggot+, faggit+, dyke+, lesbo+,
homo, poof+, poofter+, batty boy, batty man, tranny+, trannie+, shemale+, he she, retard+,
retarded, spaz+, spazz+, spastic+, mongoloid+, window licker, rapefugee+, feminazi+, libtard+,
zionazi+
""")

# A group of people hate speech is aimed at, for the phrase patterns below.
_GROUPS = (r"(?:muslims?|moslems?|islam|jews?|jewish people|blacks?|black people|whites?|asians?|"
           r"immigrants?|migrants?|foreigners?|refugees?|asylum seekers?|gays?|gay people|"
           r"lesbians?|homosexuals?|queers?|trans people|transgenders?|trannies|gypsies|"
           r"travellers|pakistanis?|indians?|africans?|arabs?|mexicans?|romanians?|poles|polish|"
           r"eastern europeans|christians?|hindus?|sikhs?|women|females|disabled people|autistic "
           r"(?:kids|children|people)|sen kids|niggers?|niggas?|pakis?)")

# --- the patterns ---------------------------------------------------------------------------------
_I_WILL = r"(?:i|we|im|i'm|ill|i'll|we'll|were|we're|gonna|going to|will|am going to|gunna)"
_PEOPLE = (r"(?:you|u|ya|yous|youse|him|her|them|that teacher|the teacher|teachers?|the head|"
           r"the headteacher|your head|mr \w++|mrs \w++|miss \w++|ms \w++|sir|miss|staff|kids|"
           r"children|pupils|students|everyone|every one of you|all of you|your kids|"
           r"the lot of you)")
_VIOLENCE = (r"(?:kill|murder|stab|shank|shoot|slash|batter|beat(?: the shit out of)?|smash|"
             r"punch|deck|lamp|knock out|bang out|bottle|glass|strangle|hurt|burn|rape|"
             r"sort out|do in|end|break (?:your|his|her) (?:legs?|neck|jaw|face))")
_WEAPON = r"(?:gun|knife|knives|blade|machete|bomb|weapon|shotgun|rifle|acid|petrol|axe|hammer)s?"
_SCHOOL = r"(?:school|the gates|the school gates|the playground|the classroom|class|assembly|there)"
_CHILD = (r"(?:my (?:son|daughter|boy|girl|child|kid|lad|little one|youngest|eldest)|he|she|they|"
          r"my friend|a (?:child|pupil|girl|boy)|this child|the child|[a-z]++ in (?:year|y) ?\d+)")
_ADULT = (r"(?:dad|mum|mam|mom|stepdad|step dad|stepmum|step mum|uncle|auntie|aunt|brother|"
          r"sister|grandad|grandpa|nan|his dad|her dad|his mum|her mum|their dad|their mum|"
          r"mums? boyfriend|mums? partner|her boyfriend|a man|an adult|someone|a teacher|"
          r"the teacher|coach)")
_STAFF = (r"(?:teachers?|the teacher|a teacher|that teacher|one of (?:the|your) teachers|sir|"
          r"mr \w++|mrs \w++|miss \w++|ms \w++|the head|headteacher|head teacher|"
          r"deputy head|teaching assistant|ta|dinner lady|dinner ladies|lunchtime supervisor|"
          r"(?:pe |football |swimming |rugby )?coach|caretaker|member of staff|staff member|"
          r"supply teacher|form tutor|tutor|senco)")
_PUPILS = (r"(?:my (?:son|daughter|child|kid|boy|girl|lad|little one|youngest|eldest)|him|her|"
           r"them|a (?:child|pupil|boy|girl|kid|student)|the (?:children|kids|pupils|students|"
           r"girls|boys)|children|kids|pupils|students|girls|boys|year \d+s?|[a-z]++ in year \d+)")
_SOON = r"(?: today| tomorrow| this week| next week| all week| on (?:mon|tues|wednes|thurs|fri)day)"
_ABSENTEE = (r"(?:he|she|they|[a-z]++|my (?:son|daughter|boy|girl|child|kids?|lad|little one|"
             r"youngest|eldest|twins))")

PATTERNS: tuple[Pattern, ...] = (
    # threat ---------------------------------------------------------------------------------------
    Pattern("threat", "threat phrase",
            rf"{_I_WILL} (?:\w++ )?(?:fucking |come (?:down|round|up) (?:there )?(?:and )?)?"
            r"(?:kill|murder|stab|shoot|shank|slash|strangle|bomb|rape|batter) "
            r"(?:you|u|ya|yous|youse|that teacher|the teacher|teachers|the head|the headteacher|"
            r"your head|mr \w++|mrs \w++|miss \w++|ms \w++|staff|kids|children|pupils|students|"
            r"everyone|all of you|the lot of you|your kids)", STRONG),
    Pattern("threat", "threat phrase",
            rf"{_I_WILL} (?:\w++ )?{_VIOLENCE} {_PEOPLE}", MEDIUM),
    Pattern("threat", "weapon + school",
            rf"(?:bring|brings|bringing|brought|take|taking|carry|carrying|have|got) (?:a |my |his "
            rf"|her |some )?{_WEAPON} (?:in|into|to|at|up|round|near|outside) (?:the )?{_SCHOOL}",
            STRONG),
    Pattern("threat", "attack on the school",
            r"(?:shoot|shooting|bomb|bombing|blow up|blowing up|burn down|burning down|torch|"
            r"attack|storm|smash up|trash) (?:up )?(?:the|that|your|this) (?:school|staff ?room|"
            r"office|gates|place|building)|(?:burn|burning|blow|blowing|shoot|shooting|smash|"
            r"smashing) "
            r"(?:the|that|your|this) (?:school|place|building) (?:down|up)|"
            r"(?:school|place) (?:will|is going to|is gonna) "
            r"(?:burn|go up|get (?:it|what it deserves))", STRONG),
    Pattern("threat", "threat phrase",
            r"(?:know|found out|find out) where (?:you|u|she|he|they|the head|the teacher|"
            r"teachers?|mr \w++|mrs \w++|miss \w++) (?:lives?|live)|watch (?:your|ur|his|her) "
            r"(?:back|kids|children)|(?:you|u|she|he|they|the head)(?:'ll| will| are going to|"
            r"re gonna|'re gonna) (?:regret|pay for) (?:this|it|that)|(?:you're|youre|you are|ur|"
            r"you r|he's|she's|hes|shes) (?:dead|finished|a dead man|getting it|gonna get it)|"
            r"(?:wait|waiting) for (?:you|him|her|them|that teacher|the head|mr \w++|mrs \w++|"
            r"miss \w++) (?:outside|at|after)|(?:hope|wish) (?:you|u|she|he|they|the teacher|"
            r"the head|that teacher|your kids?) (?:die|dies|gets? (?:hit|hurt|killed|stabbed|"
            r"raped)|rots?)|deserves? to (?:die|be shot|be stabbed|be hurt|get hurt|be raped)|"
            r"(?:someone|somebody) (?:should|needs to|ought to|will|is going to) (?:kill|shoot|"
            r"stab|hurt|batter|do in|sort out) (?:you|him|her|them|that|the)|"
            r"(?:you|they|he|she) (?:won't|will not|wont) (?:be|feel) safe|"
            r"(?:burn|torch) (?:your|his|her|their) (?:house|car)|kys|kill yourself|"
            r"go (?:and )?die|drink bleach", STRONG),
    # Intimidation by routine: when and where someone will be alone.
    Pattern("threat", "knows when someone is alone",
            r"(?:walks|leaves|finishes|gets home|locks up|parks|drives home|jogs|runs|cycles|"
            r"waits|is|gets in|gets out)\b[^.!?\n]{0,60}\b(?:on (?:his|her|their) own|"
            r"by (?:him|her)self|all alone|alone|in the dark|nobody around|no one around)|"
            r"(?:know|knows|seen|clocked|watched) (?:where|when|what time|which way) (?:she|he|"
            r"they|mr \w++|mrs \w++|miss \w++|ms \w++|the head|your (?:wife|husband|kids?|"
            r"son|daughter)) (?:walks|leaves|parks|goes|gets|lives|drops|picks)", MEDIUM),
    # British idioms of violence against someone: "wants her face rearranging", "kick his head in",
    # "put him in hospital".
    Pattern("threat", "violence idiom",
            r"rearrang(?:e|es|ed|ing) (?:your|his|her|their|ur|ya) (?:face|teeth)|"
            r"(?:face|faces|teeth) (?:rearranging|rearranged)|"
            r"(?:kick|kicking|smash|smashing|cave|knock) (?:your|his|her|their|ur|ya) "
            r"(?:head|face|teeth) in|"
            rf"{_I_WILL} (?:\w++ )?(?:put|send) (?:you|him|her|them|u) (?:in|into) (?:hospital|a&e|"
            r"intensive care|a wheelchair)", STRONG),
    # safeguarding ---------------------------------------------------------------------------------
    Pattern("safeguarding", "disclosure",
            rf"{_ADULT} (?:hits|hit|beats|beat|punches|punched|kicks|kicked|touches|touched|"
            r"hurts|hurt|slaps|slapped|chokes|choked|burns|burnt|burned|locks|locked|starves|"
            r"threatens|threatened|molests|molested|abuses|abused|grabs|grabbed|shouts at|"
            r"screams at) (?:me|him|her|them|us|my (?:son|daughter|kids?|child|sister|brother))|"
            r"(?:touched|touching|touches) (?:me|him|her) (?:inappropriately|down there|where)",
            STRONG),
    # Keeping Children Safe in Education, part four: allegations that a member of staff harmed a
    # child or behaves inappropriately with children go to the head (or the chair of governors),
    # not the police by default; the alert's advice depends on this reason's wording.
    Pattern("safeguarding", "allegation about staff",
            rf"{_STAFF} (?:\w++ )?(?:grabbed|grabs|grabbing|grab|shoved|shoves|shoving|pushed|"
            r"pushes|dragged|drags|dragging|hit|hits|hitting|slapped|slaps|smacked|smacks|kicked|"
            r"kicks|hurt|hurts|pinned|pins|restrained|shook|shakes|threw|throws|manhandled|"
            r"manhandles|choked|chokes|locked|locks|touched|touches|touching|kissed|kisses|"
            r"gropes?|groped|put (?:his|her|their) hands on|puts (?:his|her|their) hands on|"
            r"messaged|messages|messaging|dms|dmed|dm'd|texts|texted|texting|snapchats|"
            r"snapchatted|follows|followed|filmed|films|photographed|photographs|bruised) "
            rf"{_PUPILS}|{_STAFF} (?:is|was|has been|keeps|kept|always|gets|got) (?:\w++ )?"
            r"(?:inappropriate|creepy|too (?:close|friendly|touchy|handsy)|touchy|handsy) "
            r"(?:with|around|towards|to) (?:the )?(?:kids|children|girls|boys|pupils|students|"
            r"my (?:son|daughter|child|kid))|"
            rf"{_STAFF} (?:\w++ )?(?:gives|gave|giving|offers|offered|offering) "
            r"(?:the )?(?:girls|boys|pupils|kids|students|children|her|him) "
            r"(?:lifts|a lift|gifts|presents|money|vapes|alcohol|cigarettes)", STRONG),
    Pattern("safeguarding", "self-harm or suicide",
            r"(?:kill|killing|hurt|hurting|cut|cutting|harm|harming|hang|hanging) (?:myself|"
            r"himself|herself|themselves)|self[ -]?harm(?:ing)?|suicid(?:e|al)|"
            r"(?:want|wants|wanted|wanting) to (?:die|end it|not be here|disappear)|"
            r"(?:don't|doesn't|dont|doesnt|do not|does not) want to (?:live|be alive|be here "
            r"anymore)|(?:took|taken|take) an overdose|overdos(?:e|ed|ing)|end (?:my|his|her) life|"
            r"better off dead|no reason to live", STRONG),
    # Indirect ways young people say it: no word of death or harm in them.
    Pattern("safeguarding", "self-harm or suicide",
            r"(?:nobody|no one|no-one|noone|no1) (?:would|will|'d|wud|wld) (?:even )?(?:notice|"
            r"miss me|care|miss (?:him|her))(?: if (?:i|he|she) (?:was|were|wasn't|wasnt|"
            r"weren't|werent|disappeared|died|was gone|wasn't here))?|"
            r"(?:everyone|everybody|they)(?:'d| would| will) be better off without me|"
            r"(?:don't|dont|do not) want to wake up|wish (?:i|he|she) (?:wasn't|wasnt|weren't|"
            r"werent|was never|had never been) (?:here|alive|born)", STRONG),
    Pattern("safeguarding", "self-harm or suicide",
            r"(?:can't|cant|cannot) (?:do|take|cope with) (?:this|it|life) any ?more|"
            r"(?:hiding|hide|covering|cover) (?:the |my |his |her )?(?:cuts|scars|marks)|"
            r"(?:not|stopped|isn't|isnt) eating (?:at all|for days|anything)", MEDIUM),
    Pattern("safeguarding", "welfare concern",
            r"(?:not|isn't|isnt|never|hasn't|hasnt) (?:safe|been fed|eating|fed) (?:at home|"
            r"there)|(?:scared|afraid|frightened|terrified) (?:to go|of going) home|"
            r"(?:no|not enough) (?:food|heating|electric) (?:at home|in the house)|"
            r"(?:left|leaves|home) alone (?:all|every|at night|overnight|for days)|"
            r"(?:bruises|bruising|black eye|marks) (?:on|all over) (?:him|her|his|her|their)|"
            r"(?:groom|grooming|groomed)|(?:sexual(?:ly)?|physical(?:ly)?|emotional(?:ly)?) "
            r"(?:abuse|abused|assault|assaulted)|(?:sent|send|sending|asked for|asking for|"
            r"asks for) (?:him|her|me|them|kids|girls|boys)? ?(?:nudes|naked (?:pictures|pics|"
            r"photos)|pics of (?:herself|himself))|(?:being|been|was|is) (?:bullied|abused|"
            r"neglected|exploited|radicali[sz]ed)|(?:bullying|bullies) (?:my|him|her|them)|"
            r"county lines|forced (?:into )?marriage|fgm|(?:ran|run|running) away from home|"
            r"(?:hasn't|hasnt|has not|haven't|didn't|didnt|did not) (?:come|been|gone) home|"
            r"(?:drunk|high|off (?:his|her|their) face) (?:every|all the time|at home)|"
            r"(?:stranger|a man|a van|a car|an adult) (?:approached|following|followed|talking to|"
            r"tried to (?:take|grab|get))|(?:is|she's|he's|shes|hes) (?:pregnant|being hit)",
            STRONG),
    # hateful ------------------------------------------------------------------------------------
    Pattern("hateful", "hate phrase",
            rf"(?:all|these|those|bloody|fucking|filthy|dirty|fuckin) {_GROUPS} (?:are|should|"
            r"need|must|ought|deserve|want|can|will|ruin|ruining|taking|take over|get out|go back)|"
            rf"(?:dirty|filthy|stupid|bloody|fucking|disgusting|smelly) {_GROUPS}|"
            rf"(?:i|we) (?:hate|despise|can't stand|cant stand) {_GROUPS}|"
            rf"{_GROUPS} (?:are|is) (?:animals|vermin|scum|disgusting|filth|parasites|subhuman|"
            r"a disease|a plague|cockroaches|rats)|go back to (?:your|their|his|her) (?:own )?"
            r"(?:country|countries)|go back (?:home )?to (?:africa|pakistan|india|poland|romania|"
            r"where (?:you|they|he|she) (?:came|come) from)|send (?:them|'em|em) (?:all )?back|"
            r"deport (?:them|'em|the lot)|(?:that's|thats|so|how|sounds|is) gay|"
            rf"no {_GROUPS} (?:allowed|welcome)|(?:ban|get rid of|kick out) (?:all )?(?:the )?"
            rf"{_GROUPS}", MEDIUM),
    # abusive ------------------------------------------------------------------------------------
    Pattern("abusive", "insult",
            r"(?:you|u|ya|she|he|they|that teacher|the head|your head|mr \w++|mrs \w++|miss \w++|"
            r"ms \w++) (?:are|is|r|'re|re|'s|s|=) (?:a |an |such an? |an absolute |a complete |"
            r"a total |a fucking |the biggest )?(?:\w++ )?(?:idiot|moron|twat|cunt|prick|dick|"
            r"wanker|knob|bitch|cow|pig|joke|clown|loser|snake|witch|dinosaur|slag|slut|whore|"
            r"scum|disgrace|waste of space|nasty piece of work|tosser|bellend|bully|"
            r"fat|ugly|thick|stupid|dumb|disgusting|vile|useless)s?", MEDIUM),
    # personal_data -------------------------------------------------------------------------------
    Pattern("personal_data", "phone number",
            r"(?<![\d+])(?:\+44 ?\(?0?\)?|0044 ?|\(?0)(?:\d[ \-]?){9,10}(?!\d)|"
            r"(?<![\d+])\+\d{1,3}[ \-]?\d{2,4}(?:[ \-]?\d){6,9}(?!\d)", STRONG, quote=False,
            view="plain", bounded=False, needs=r"\d"),
    Pattern("personal_data", "e-mail address",
            r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}", STRONG, quote=False,
            view="plain", needs=r"@[a-z0-9-]+\."),
    Pattern("personal_data", "postcode",
            r"(?<![a-z0-9])[a-z]{1,2}\d[a-z\d]? ?\d[abd-hjlnp-uw-z]{2}(?![a-z0-9])", STRONG,
            quote=False, view="plain", needs=r"\d"),
    Pattern("personal_data", "home address",
            r"(?<![\d])\d{1,4}[a-z]?,? (?:[a-z']++ ){1,3}(?:road|rd|street|st|avenue|ave|close|"
            r"lane|ln|drive|crescent|cres|grove|terrace|gardens|mews|walk|rise|way|place|court|"
            r"view|row|square|parade|hill)(?![a-z])|(?:lives?|living|staying) (?:at|on) "
            r"(?:number |no\.? )?\d{1,4}", STRONG, quote=False, view="plain", needs=r"\d"),
    # absence ------------------------------------------------------------------------------------
    Pattern("absence", "absence phrase",
            rf"{_ABSENTEE} (?:won't|wont|will not|isn't|isnt|is not|wasn't|wasnt|was not|won't "
            r"be|will not be|can't|cant|cannot|not) (?:be )?(?:in|in school|at school|coming in|"
            rf"coming to school|coming into school|attending|going in|going to school)"
            rf"(?:{_SOON})?(?![a-z])|"
            rf"{_ABSENTEE} (?:is|'s|s|was|are|will be|has been|have been) (?:off|absent|off school|"
            r"off sick|poorly|ill|unwell|sick|ill in bed|in hospital|at home (?:poorly|ill|sick|"
            r"unwell))(?:{_SOON}| with|\b)|"
            rf"off (?:school |sick )?(?:today|tomorrow|this week|poorly|ill|sick)|"
            r"(?:keeping|kept|keep|keeps) (?:him|her|them|my \w++|the kids|[a-z]++) (?:off|home|at "
            r"home|off school|out of school)|(?:call|calling|ring|ringing|phone|phoning) (?:him|"
            r"her|them|my \w++|[a-z]++) in sick|(?:report|reporting|notify|notifying|log|logging) "
            r"(?:an |his |her |their |my \w++'?s? )?absence|absent (?:today|tomorrow|this week)|"
            r"(?:term[ -]?time holiday|holiday in term(?: time)?|taking (?:him|her|them|the kids) "
            r"out of school)", MEDIUM),
    Pattern("absence", "illness or appointment",
            r"(?:sickness|vomiting|d ?& ?v|d and v|diarrh(?:o)?ea|chicken ?pox|"
            r"high temp(?:erature)?|fever|tummy bug|sick bug|stomach bug|covid|conjunctivitis|"
            r"head lice|nits|tonsillitis|"
            r"flu|hand foot and mouth|(?:doctors?|dentist|hospital|gp|orthodontist) appointment)",
            WEAK),
    # media --------------------------------------------------------------------------------------
    Pattern("media", "media enquiry",
            r"(?:i'm|i am|im|we're|we are) (?:a |an )?(?:journalist|reporter|producer|researcher|"
            r"correspondent|editor)s?|(?:journalist|reporter|producer|correspondent|editor) "
            r"(?:at|for|with|from) |newsdesk|news desk|press office|press officer|"
            r"(?:media|press) (?:enquiry|inquiry|enquiries|inquiries|request)|"
            r"(?:for|on|in) (?:a|an|our|my|the) (?:story|article|piece|feature|report|segment|"
            r"programme|documentary|news item|news report|bulletin)|"
            r"(?:comment|statement|response) (?:from|for) (?:the school|the head|the headteacher|"
            r"you|your school)|(?:request|requesting|like|love|welcome|seeking) (?:a |your )?"
            r"(?:comment|statement)|on (?:the )?record|(?:we're|we are|i'm|i am|im) (?:running|"
            r"writing|doing|working on|putting together) (?:a |an )?(?:story|piece|article|"
            r"feature|report)|(?:bbc|itv|sky news|channel [45]|daily mail|mail online|the sun|"
            r"the mirror|the guardian|the times|the telegraph|the independent|evening standard|"
            r"evening news|local paper|newspaper|the echo|the gazette|the chronicle|the argus|"
            r"the herald|the post|radio \w++|tv station|press association|reach plc|"
            r"local democracy reporter)(?![a-z])", MEDIUM),
    # question -----------------------------------------------------------------------------------
    Pattern("question", "question mark", r"\?", MEDIUM, quote=False, view="plain",
            bounded=False, needs=r"\?"),
    Pattern("question", "question wording",
            r"(?<![a-z0-9])(?:(?:^|[.!\n] *)(?!what an? |how dare|how (?:lovely|amazing|"
            r"wonderful|proud|sad|awful|brilliant|fantastic|great|nice|cute|sweet|kind|dare)\b)(?:when|what|where|"
            r"who|why|how|which|is there|are there|is it|are they|are we|are you|can|could|will|"
            r"would|does|do|did|has|have|should|any ?one know|anybody know|any idea|any news) "
            r"|(?:does|do) (?:any ?one|anybody|someone|somebody) know|(?:please )?(?:can|could) "
            r"(?:someone|somebody|you) (?:tell|let|advise|confirm|explain)|(?:please )?(?:let me|"
            r"let us) know|(?:i'm|i am|im|just) wondering (?:if|whether|when|what|why|how)|"
            r"(?:i|we) (?:need|want) to know)", MEDIUM, quote=False, view="plain", bounded=False),
    # praise -------------------------------------------------------------------------------------
    Pattern("praise", "praise phrase",
            r"well done|congratulations|congrats|thank you|thanks (?:so much|to|for|again)|"
            r"(?:so|very|really|dead|incredibly|immensely|extremely) proud|proud of|"
            r"great (?:job|work|effort|day|event|show|performance|team|school|teachers|staff)|"
            r"keep up the (?:good|great|amazing|fantastic) work|credit to|shout ?out to|kudos|"
            r"bravo|what a (?:fantastic|brilliant|lovely|great|wonderful|amazing|fab|fabulous|"
            r"superb|cracking|smashing)|(?:best|lovely|fantastic|brilliant|amazing|wonderful|"
            r"great) (?:school|teachers?|staff|head|headteacher)|(?:can't|cannot|cant) thank "
            r"(?:you|them|the staff) enough|smashed it|killing it|killed it|sick performance|"
            r"absolute (?:credit|star|legends?)|legends?|superstars?|so grateful|"
            r"(?:amazing|brilliant|fantastic|wonderful|fabulous|superb|outstanding|incredible|"
            r"lovely|beautiful|stunning|fab|magic|magical|inspiring|inspirational)(?![a-z])",
            MEDIUM),
    # disparaging --------------------------------------------------------------------------------
    Pattern("disparaging", "criticism",
            r"disgrace(?:ful)?|shambles|shambolic|appalling|shocking|incompetent|incompetence|"
            r"useless|pathetic|(?:a|an absolute|total|complete) joke|beyond a joke|rubbish|awful|"
            r"terrible|dreadful|worst (?:school|teachers?|head|headteacher|academy)|"
            r"negligen(?:t|ce)|"
            r"cover(?:ed|ing)? (?:it )?up|cover-up|complain(?:t|ts|ed|ing)?|(?:report|reporting|"
            r"reported) (?:you|the school|this|them|it) to (?:ofsted|the council|the la|the police|"
            r"the governors|the local authority|the dfe)|unacceptable|ridiculous|"
            r"(?:nobody|no one|noone) (?:listens|cares|does anything|bothered)|not good enough|"
            r"let (?:us|my \w++|them|the kids|the children|down)|failing (?:school|our kids|"
            r"the kids|children)|lazy (?:teachers?|staff|head)|should be sacked|"
            r"(?:should|ought to) be ashamed|ashamed of (?:yourselves|the school|you)|"
            r"waste of (?:time|money)|clueless|"
            r"do nothing|does nothing|did nothing|never (?:listen|answer|reply|respond)|"
            r"(?:no|zero) (?:communication|support|discipline)|fobbed off|favouritism|"
            r"(?:fuming|livid|disgusted|furious|appalled|horrified)", MEDIUM),
    # spam -----------------------------------------------------------------------------------------
    Pattern("spam", "spam pattern",
            r"(?:buy|get|cheap|real|instant) (?:\d+k? )?(?:followers|likes|views|subscribers)|"
            r"(?:follow|followers) (?:for|4) (?:follow|followers)|f4f|l4l|"
            r"(?:free|win|won|claim) (?:an? |your |a free )?(?:iphone|ipad|macbook|gift ?card|"
            r"voucher|prize|cash|[£$]\d+|\d+ ?(?:pounds|dollars))|giveaway|"
            r"click (?:the |this |my )?link|link in (?:my )?bio|check (?:out )?my (?:profile|page|"
            r"bio|channel)|(?:dm|message|inbox|whatsapp|telegram) (?:me|us) (?:for|to|now|on)|"
            r"crypto|bitcoin|btc|forex|binary options|nft|(?:investment|trading) (?:platform|"
            r"opportunity|expert|account manager)|(?:earn|make) [£$]?\d+[k,]?\d* (?:a|per|"
            r"every) (?:day|week|hour)|work from home|promo code|discount code|onlyfans|"
            r"(?:hot|sexy) (?:singles|girls)|(?:your|this) (?:page|account) "
            r"(?:has been|will be|is) "
            r"(?:suspended|disabled|restricted|deleted|reported)|(?:verify|confirm) (?:your )?"
            r"(?:page|account)|copyright (?:infringement|violation)|meta (?:support|team)|"
            r"100% (?:free|guaranteed|legit)|(?:hacked|recover) (?:account|accounts)|"
            r"(?:loan|loans) (?:approved|available)|sugar (?:daddy|mummy|mommy)", MEDIUM),
)

# Word lists: profanity and slurs are MEDIUM (the model may let quoted abuse through; with no
# model they flag); insults are WEAK (they need a target to be abuse).
WORD_LISTS: tuple[WordList, ...] = (
    WordList("abusive", "abusive lexicon", PROFANITY, MEDIUM, obscure=True),
    WordList("abusive", "insult lexicon", INSULTS, WEAK),
    WordList("hateful", "hate lexicon", SLURS, MEDIUM, obscure=True),
)

# Phrases that look like trouble to a word filter and are not. Matched as whole words; removed
# before the abusive, hateful and threat rules look at a text (and before the model reads it).
ALLOWLIST = words("""
scunthorpe, penistone, cockermouth, cockfosters, clitheroe, shitterton, twatt, lightwater, dick
whittington, moby dick, dick king-smith, philip dick, spotted dick, cocker spaniel, killing it,
killed it, kill it, killing them, killin it, absolutely killing it, smashed it, smashing it, smash
it, sick performance, sick goal, sick skills, so sick, well sick, shooting hoops, shoot hoops,
shot hoops, shooting practice, photo shoot, shoot me an email, shoot me a message, shot at goal,
shots on target, dying to, to die for, dying of laughter, die laughing, dead proud, dead good,
dead excited, dead chuffed, bombed it, the bomb, da bomb, blow away, blew us away, blown away,
knock em dead, knock them dead, break a leg, kill time, killing time, murder mystery, fight for,
fighting fit, fag end, gaydon, hard as nails, knock out round, knockout round, beat them, beating
them, beat us, beat the odds, beat the record, battered fish, battered sausage, faggots and peas,
bangers, knob of butter, cock-a-doodle-doo, great tits, blue tits
""")
