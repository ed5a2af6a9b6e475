"""Name tables for the synthetic cohort.

Where the frequencies come from: the English given-name weights are rounded counts shaped
after the published ranks of the Office for National Statistics "Baby names in England
and Wales" releases (2019-2022), kept to the top of each list; the family-name weights are
shaped after the relative order of the commonest surnames in England and Wales. The other
origins (Welsh, Scottish, Irish, South Asian, Polish, Romanian, Nigerian, Somali, Arabic,
Chinese) use short hand-made lists of common names with descending weights. The numbers
are approximations chosen to give realistic skew (the ten commonest given names cover
roughly a tenth of children), not a copy of any data set. See ``docs/synthetic-cohort.md``.

Each table is ``"Name:weight Name:weight ..."``; a weight is a relative count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Share of families by origin of their names (sums to 1).
ORIGIN_WEIGHTS: dict[str, float] = {
    "english": 0.70, "welsh": 0.03, "scottish": 0.03, "irish": 0.03, "south_asian": 0.09,
    "polish": 0.03, "romanian": 0.02, "nigerian": 0.025, "somali": 0.015, "arabic": 0.015,
    "chinese": 0.015,
}

_GIVEN_MALE = {
    "english": """Noah:4525 Oliver:4167 George:4141 Arthur:3766 Leo:3465 Harry:3167 Oscar:2834
        Archie:2831 Henry:2710 Theodore:2679 Freddie:2643 Jack:2615 Charlie:2536 Theo:2475
        Alfie:2400 Jacob:2286 Thomas:2249 Finley:2214 Arlo:2200 William:2100 Lucas:2100
        Roman:2000 Tommy:1950 Isaac:1900 Teddy:1850 Alexander:1800 Luca:1700 Edward:1700
        James:1650 Joshua:1600 Albie:1550 Elijah:1500 Max:1500 Reuben:1400 Mason:1400
        Sebastian:1350 Rory:1300 Jude:1300 Louie:1250 Benjamin:1250 Ethan:1200 Adam:1200
        Hugo:1150 Joseph:1150 Reggie:1100 Ronnie:1100 Louis:1050 Frankie:1000 Daniel:950
        Samuel:950 Ezra:900 Toby:900 Harrison:850 Zachary:800 Dylan:800 Jaxon:750 Ollie:700
        Riley:700 Jenson:650 Stanley:650 Bobby:600 Jayden:600 Carter:550 Michael:550
        Matthew:500 Jake:500 Nathan:450 Tyler:450 Kai:400 Jasper:400 Felix:400 Caleb:350
        Otis:350 Ralph:300 Rowan:300 Brody:250 Kian:250 Connor:250 Logan:250 Harley:200""",
    "welsh": "Osian:30 Dylan:25 Elis:22 Gruffudd:18 Cai:18 Tomos:16 Rhys:15 Iwan:12 Morgan:10 Owain:10",
    "scottish": "Callum:30 Angus:20 Fraser:20 Euan:18 Hamish:15 Lewis:15 Finlay:14 Ruaridh:10 Alasdair:8",
    "irish": "Cian:30 Oisín:25 Seán:25 Ciarán:20 Pádraig:12 Darragh:15 Fionn:15 Conor:18 Cathal:10",
    "south_asian": """Muhammad:90 Mohammed:45 Mohammad:25 Ayaan:20 Ibrahim:25 Yusuf:22 Zayn:20
        Rayyan:15 Hamza:20 Aarav:15 Arjun:12 Ishaan:8 Vihaan:6 Harjit:5 Zain:15 Ali:12""",
    "polish": "Jakub:30 Kacper:22 Szymon:20 Filip:20 Mikołaj:18 Wojciech:12 Antoni:15 Jan:15 Aleksander:14",
    "romanian": "Andrei:30 Ștefan:22 David:25 Luca:20 Matei:18 Alexandru:16 Gabriel:14 Ionuț:10",
    "nigerian": "Chinedu:20 Oluwaseun:18 Tobiloba:15 Emeka:15 Ayodele:12 David:20 Daniel:18 Tobi:10 Olumide:10",
    "somali": "Abdirahman:25 Abdullahi:22 Mohamed:35 Hassan:18 Ahmed:18 Abdi:15 Yusuf:12 Ayub:10",
    "arabic": "Omar:30 Ali:25 Yusuf:25 Adam:22 Khalid:12 Ibrahim:18 Zakaria:12 Karim:10 Youssef:10",
    "chinese": "Wei:20 Hao:18 Jun:18 Yi:15 Chen:12 Ethan:15 Lucas:12 Ryan:10 Zihan:10 Haoran:10",
}

_GIVEN_FEMALE = {
    "english": """Olivia:3649 Amelia:3164 Isla:2683 Ava:2576 Ivy:2245 Freya:2187 Lily:2182
        Florence:2180 Mia:2168 Willow:2067 Rosie:1900 Sophia:1850 Isabella:1800 Grace:1800
        Daisy:1750 Sienna:1700 Poppy:1650 Elsie:1600 Emily:1600 Ella:1550 Evelyn:1500
        Phoebe:1450 Sofia:1400 Evie:1400 Charlotte:1350 Harper:1300 Millie:1250 Matilda:1250
        Maya:1200 Sophie:1150 Alice:1150 Emilia:1100 Isabelle:1100 Ruby:1050 Luna:1050
        Maisie:1000 Aria:1000 Penelope:950 Mila:950 Bonnie:900 Eva:900 Hallie:850 Eliza:850
        Ada:800 Violet:800 Esme:800 Arabella:750 Imogen:750 Jessica:700 Delilah:700
        Eleanor:650 Elizabeth:650 Margot:600 Robyn:600 Harriet:550 Chloe:550 Layla:500
        Hollie:500 Katie:450 Lola:450 Megan:400 Beatrice:400 Thea:400 Orla:350 Nancy:350
        Edith:300 Iris:300 Martha:300 Zoe:250 Rose:250 Holly:250 Leah:250 Lucy:200""",
    "welsh": "Ffion:25 Seren:25 Cerys:20 Megan:20 Alys:18 Mali:18 Nia:16 Efa:14 Lowri:12 Gwen:10",
    "scottish": "Ailsa:20 Eilidh:25 Isla:25 Kirsty:12 Morag:6 Catriona:10 Skye:15 Iona:15 Mhairi:10",
    "irish": "Niamh:30 Aoife:28 Siobhán:18 Saoirse:22 Róisín:18 Caoimhe:12 Clodagh:10 Sinéad:12 Orla:15",
    "south_asian": """Aisha:30 Ayesha:20 Fatima:35 Zara:25 Maryam:30 Anaya:15 Inaya:18
        Priya:10 Aaliyah:15 Simran:8 Hafsa:12 Zainab:18 Khadija:12 Amira:10""",
    "polish": "Zuzanna:25 Zofia:25 Julia:22 Maja:20 Lena:20 Wiktoria:16 Małgorzata:8 Hanna:15 Alicja:12",
    "romanian": "Ioana:25 Maria:28 Elena:22 Ana:20 Sofia:20 Bianca:15 Andreea:14 Ștefania:8",
    "nigerian": "Adaeze:15 Chiamaka:15 Folake:10 Ngozi:10 Temitope:15 Oluwatoyin:10 Precious:15 Favour:15 Blessing:12",
    "somali": "Hodan:20 Fadumo:18 Hibo:15 Khadija:20 Amina:25 Sahra:15 Ifrah:12 Ayaan:10",
    "arabic": "Layla:25 Noor:22 Mariam:25 Huda:15 Salma:15 Yasmin:18 Jana:15 Lina:12",
    "chinese": "Mei:18 Ying:15 Jing:15 Xinyi:12 Yutong:10 Emily:15 Chloe:12 Zoe:10 Hui:8",
}

_FAMILY = {
    "english": """Smith:650 Jones:420 Williams:330 Taylor:320 Brown:300 Davies:250 Evans:200
        Wilson:200 Thomas:190 Johnson:190 Roberts:180 Robinson:170 Thompson:170 Wright:160
        Walker:160 White:155 Edwards:150 Hughes:145 Green:145 Hall:140 Lewis:135 Harris:135
        Clarke:130 Jackson:125 Wood:125 Turner:120 Martin:120 Cooper:115 Hill:115 Ward:110
        Morris:110 Moore:110 Clark:105 Lee:105 King:100 Baker:100 Harrison:95 Morgan:95
        Allen:95 James:90 Scott:90 Phillips:90 Watson:85 Davis:85 Parker:85 Price:80
        Bennett:80 Young:80 Griffiths:75 Mitchell:75 Kelly:75 Cook:75 Carter:70
        Richardson:70 Bailey:70 Collins:70 Bell:65 Shaw:65 Murphy:65 Miller:65 Cox:60
        Richards:60 Marshall:60 Anderson:60 Simpson:55 Ellis:55 Adams:55 Wilkinson:50
        Foster:50 Chapman:50 Powell:50 Webb:45 Rogers:45 Gray:45 Mason:45 Hunt:45
        Campbell:40 Matthews:40 Owen:40 Palmer:40 Holmes:40 Mills:35 Barnes:35 Knight:35
        Lloyd:35 Butler:35 Russell:30 Barker:30 Fisher:30 Stevens:30 Jenkins:30 Murray:30
        Dixon:30 Harvey:25 Armstrong:25 Pearson:25 Fletcher:25 Hudson:20 Spencer:20""",
    "welsh": "Jones:40 Davies:30 Williams:28 Evans:25 Thomas:22 Roberts:18 Hughes:15 Lewis:14 Rees:12 Pritchard:8 Llewellyn:6",
    "scottish": "MacDonald:20 McDonald:15 Campbell:18 Stewart:16 Robertson:15 Murray:12 MacLeod:10 Fraser:10 Ross:10 Reid:10",
    "irish": "Murphy:25 Kelly:22 O'Brien:18 O'Sullivan:15 Byrne:14 Ryan:14 O'Connor:12 Walsh:12 McCarthy:10 Doyle:10",
    "south_asian": """Khan:60 Patel:55 Hussain:45 Ahmed:40 Ali:38 Begum:30 Singh:30 Kaur:15
        Shah:20 Akhtar:15 Iqbal:14 Mahmood:12 Rahman:14 Islam:10 Sharma:10 Chowdhury:10
        Miah:10 Uddin:8""",
    "polish": "Nowak:25 Kowalski:20 Wiśniewski:15 Wójcik:14 Kowalczyk:13 Kamiński:12 Lewandowski:12 Zieliński:10 Szymański:10 Woźniak:10",
    "romanian": "Popescu:25 Ionescu:20 Popa:18 Pop:15 Radu:15 Dumitru:14 Stan:12 Stoica:10 Gheorghe:10 Munteanu:10",
    "nigerian": "Okafor:20 Adeyemi:18 Okonkwo:15 Adebayo:15 Oluwole:12 Eze:12 Nwosu:10 Balogun:10 Ogunleye:8 Abiodun:8",
    "somali": "Mohamed:30 Ahmed:25 Hassan:20 Ali:20 Abdi:18 Omar:15 Farah:15 Ibrahim:12 Warsame:10 Osman:10",
    "arabic": "Al-Sayed:15 Haddad:15 Hassan:18 Khalil:14 Mansour:12 Nasser:12 Saleh:12 Hamdan:8 Aziz:10 El-Amin:8",
    "chinese": "Wang:20 Li:20 Zhang:18 Liu:15 Chen:18 Yang:12 Huang:10 Zhao:8 Wu:8 Zhou:8 Chan:12 Wong:12 Lam:8",
}

#: Nicknames and short forms used as preferred names or in place of the given name.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Will", "Billy"), "Alexander": ("Alex", "Xander"), "Thomas": ("Tom", "Tommy"),
    "James": ("Jamie", "Jim"), "Joshua": ("Josh",), "Samuel": ("Sam", "Sammy"),
    "Benjamin": ("Ben", "Benji"), "Daniel": ("Dan", "Danny"), "Edward": ("Ed", "Eddie", "Teddy"),
    "Henry": ("Harry", "Hal"), "Theodore": ("Theo", "Teddy"), "Oliver": ("Ollie", "Olly"),
    "Joseph": ("Joe", "Joey"), "Zachary": ("Zach", "Zac"), "Harrison": ("Harry",),
    "Jacob": ("Jake",), "Matthew": ("Matt",), "Michael": ("Mike", "Mikey"),
    "Frederick": ("Freddie", "Fred"), "Sebastian": ("Seb",), "Reuben": ("Reu",),
    "Isabella": ("Bella", "Izzy"), "Isabelle": ("Izzy", "Belle"), "Elizabeth": ("Lizzie", "Beth"),
    "Charlotte": ("Lottie", "Charlie"), "Amelia": ("Millie", "Mia"), "Olivia": ("Liv", "Livvy"),
    "Sophia": ("Sophie",), "Evelyn": ("Evie",), "Florence": ("Flo", "Florrie"),
    "Matilda": ("Tilly",), "Eleanor": ("Ellie", "Nell"), "Penelope": ("Penny",),
    "Jessica": ("Jess",), "Arabella": ("Bella",), "Harriet": ("Hattie",),
    "Muhammad": ("Mo",), "Mohammed": ("Mo",), "Abdirahman": ("Abdi",), "Oluwaseun": ("Seun",),
    "Tobiloba": ("Tobi",), "Chinedu": ("Chi",), "Zuzanna": ("Zuza",), "Wojciech": ("Wojtek",),
    "Aleksander": ("Olek",), "Małgorzata": ("Gosia",), "Alexandru": ("Alex",),
    "Ștefan": ("Stefan",), "Temitope": ("Tope",), "Oluwatoyin": ("Toyin",),
    "Abdullahi": ("Abdi",), "Catriona": ("Cat",), "Gruffudd": ("Gruff",),
}

#: Spelling and phonetic variants: a record may carry any name of the same group.
VARIANT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Muhammad", "Mohammed", "Mohammad", "Mohamed", "Muhammed"), ("Aisha", "Ayesha", "Aysha"),
    ("Sophia", "Sofia"), ("Isabelle", "Isabel", "Isobel"), ("Zara", "Zarah"),
    ("Katie", "Katy", "Katey"), ("Leah", "Lea"), ("Freya", "Freja"), ("Layla", "Leila", "Laila"),
    ("Hollie", "Holly"), ("Jayden", "Jaden", "Jaiden"), ("Elsie", "Elsey"), ("Evie", "Evey"),
    ("Maisie", "Maisy", "Maizie"), ("Phoebe", "Pheobe"), ("Esme", "Esmee"), ("Kian", "Keiran"),
    ("Louie", "Louis", "Lewis"), ("Finley", "Finlay"), ("Connor", "Conor"), ("Jaxon", "Jackson"),
    ("MacDonald", "McDonald"), ("MacLeod", "McLeod"), ("Thompson", "Thomson"),
    ("Clarke", "Clark"), ("Davies", "Davis"), ("Phillips", "Philips"), ("Chowdhury", "Choudhury"),
    ("Hussain", "Hussein", "Husain"), ("Mohamed", "Mohammed"), ("Reid", "Reed"),
    ("Stevens", "Stephens"), ("Gray", "Grey"), ("Ahmed", "Ahmad"), ("Siobhán", "Shivaun"),
    ("Niamh", "Neve", "Neeve"), ("Yusuf", "Yousuf", "Youssef"), ("Maryam", "Mariam"),
    ("Rahman", "Rehman"), ("Sean", "Shaun", "Seán"),
)


def _parse(table: str) -> tuple[tuple[str, ...], np.ndarray]:
    names, weights = [], []
    for item in table.split():
        name, weight = item.rsplit(":", 1)
        names.append(name)
        weights.append(float(weight))
    return tuple(names), np.asarray(weights, dtype=np.float64)


@dataclass(frozen=True)
class NameTable:
    """All names of one kind as one vocabulary, with per-origin sampling weights.

    ``vocabulary`` holds each distinct name once; ``weights[origin]`` has one probability
    per vocabulary entry (zero for names that origin does not use).
    """

    vocabulary: np.ndarray  # (V,) object array of str
    weights: dict[str, np.ndarray]  # origin -> (V,) float64 probabilities

    @classmethod
    def from_tables(cls, tables: dict[str, str]) -> NameTable:
        parsed = {origin: _parse(text) for origin, text in tables.items()}
        vocab = sorted({name for names, _ in parsed.values() for name in names})
        index = {name: i for i, name in enumerate(vocab)}
        weights = {}
        for origin, (names, w) in parsed.items():
            p = np.zeros(len(vocab))
            np.add.at(p, [index[n] for n in names], w)
            weights[origin] = p / p.sum()
        return cls(np.asarray(vocab, dtype=object), weights)

    def with_tail(self, tail: tuple[str, ...], shares: dict[str, float],
                  *, offset: float = 50.0) -> NameTable:
        """This table with a long tail of rarer names: origin ``o`` draws a name from
        ``tail`` with probability ``shares[o]`` (else from its own list, as before), tail
        names weighted ``1 / (rank + offset)`` in an order of their own for each origin
        (fixed, so cohorts repeat): flatter than the heads, like the thousands of rare
        names of a real register."""
        vocab = sorted(set(self.vocabulary.tolist()) | set(tail))
        position = {name: i for i, name in enumerate(vocab)}
        index = np.asarray([position[n] for n in self.vocabulary.tolist()])
        tail_index = np.asarray([position[n] for n in tail])
        rank_weight = 1.0 / (np.arange(len(tail)) + offset)
        rank_weight /= rank_weight.sum()
        weights = {}
        for k, (origin, head) in enumerate(sorted(self.weights.items())):
            share = shares.get(origin, 0.0)
            p = np.zeros(len(vocab))
            p[index] = (1.0 - share) * head
            order = np.random.default_rng(k).permutation(len(tail))
            p[tail_index[order]] += share * rank_weight
            weights[origin] = p / p.sum()
        return NameTable(np.asarray(vocab, dtype=object), weights)

    def sample(self, origins: np.ndarray, origin_names: tuple[str, ...],
               rng: np.random.Generator) -> np.ndarray:
        """Draw one vocabulary index per entry of ``origins`` (int codes into ``origin_names``)."""
        out = np.empty(len(origins), dtype=np.int64)
        for code, origin in enumerate(origin_names):
            mask = origins == code
            count = int(mask.sum())
            if count:
                out[mask] = rng.choice(len(self.vocabulary), size=count, p=self.weights[origin])
        return out


GIVEN_MALE = NameTable.from_tables(_GIVEN_MALE)
GIVEN_FEMALE = NameTable.from_tables(_GIVEN_FEMALE)
FAMILY = NameTable.from_tables(_FAMILY)


def _tail(head: NameTable, starts: str, ends: str) -> tuple[str, ...]:
    """Every start joined to every end ("Ash" + "worth"), in a fixed order, less the names
    already in ``head`` (so that the head keeps its own figures)."""
    known = set(head.vocabulary.tolist())
    return tuple(name for a in starts.split() for b in ends.split()
                 if (name := a + b) not in known)


#: Rarer family names, made from English place-name parts (1,860 names: the 2,000
#: combinations less those in the head lists; a few, such as "Stanley", are also given
#: names, as in life).
FAMILY_TAIL = _tail(FAMILY, """Ash Brad Black Brook Cald Craw Dun Elm Fair Gold Hal Hart Holl
    Kings Lang Mar Mid Nor Oak Pen Rad Red Rock Sand Shel Stan Sut Thorn Wal West Whit Brom
    Carl Dar Fen Gar Hay Kirk Lin Mel Ox Pres Ring Stain Tad Wyn Bur Cran Ell Fox Glen Hurl
    Ips Kel Lox Mort Nether Ock Pym Quen Rams Scar Tib Up Ver Wig Yar Ald Bax Chad Dray Eg
    Frod Grims Hob Ing Jes Knap Lud Mab Nut Orp Pock Rud Sel Tuck Und Wen Yat Ack Birk Col
    Dove""", """ley ton worth field ford well by ham wood more stone bridge hurst wick dale
    croft shaw land gate cott""")
_GIVEN_TAIL_STARTS = """Al Bel Cal Dar El Fen Gal Har Is Jas Kel Lor Mar Nel Or Per Ros Sol
    Tam Val Wil Zar Ar Bri Cor Dex Em Fin Hol Ive Ken Lev Mil Nor"""
#: Rarer given names, from syllables (374 boys' and 369 girls' names).
GIVEN_MALE_TAIL = _tail(GIVEN_MALE, _GIVEN_TAIL_STARTS, "an en ius o on ric ton as er im us")
GIVEN_FEMALE_TAIL = _tail(GIVEN_FEMALE, _GIVEN_TAIL_STARTS,
                          "a ia ie elle ina ette yn ara ey ise ona")

#: Share of each origin's children drawn from the tails (family names, given names):
#: about three in four English family names lie outside the commonest hundred in England
#: and Wales, and about half of babies' given names outside the top hundred; the other
#: origins' short lists are given smaller tails.
FAMILY_TAIL_SHARE = {origin: 0.75 if origin == "english" else 0.3 for origin in ORIGIN_WEIGHTS}
GIVEN_TAIL_SHARE = {origin: 0.45 if origin == "english" else 0.2 for origin in ORIGIN_WEIGHTS}
