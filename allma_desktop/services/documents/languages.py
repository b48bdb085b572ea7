"""Which language a text is in, and the words keyword search indexes for it.

Keyword search matches words after reducing them to a stem in the document's own
language (Snowball stemmers, through PyStemmer): German "Versicherungen" and
"Versicherung", French "économiques" and "economie". Chinese, Japanese and
Korean are written without spaces between words, so their text is indexed as
overlapping pairs of characters (the CJK bigrams of Lucene's CJKAnalyzer): a
query's pairs then match the same word wherever it stands in a sentence.

The language of a document is detected from its text: the script first (kana
means Japanese, Hangul Korean, Han alone Chinese, Cyrillic Russian, and so on),
then, for Latin script, by which language's most common words the text uses
most. Documents are long, so the common words of a few hundred words of text
are a reliable sign; a text too short to tell is taken as English.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Any

DEFAULT_LANGUAGE = "en"
DETECTION_CHARS = 20_000  # enough text to tell; a long document is not read whole

# ISO 639-1 code -> Snowball stemmer name (PyStemmer's).
SNOWBALL = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german",
    "el": "greek", "en": "english", "es": "spanish", "eu": "basque", "fi": "finnish",
    "fr": "french", "hu": "hungarian", "id": "indonesian", "it": "italian",
    "lt": "lithuanian", "nl": "dutch", "no": "norwegian", "pl": "polish",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sv": "swedish",
    "tr": "turkish",
}  # fmt: skip
CJK_LANGUAGES = frozenset(("ja", "zh", "ko"))
# Languages that join nouns into one word: a query word also matches the compounds it
# begins (German "Krankenhaus" finds "Krankenhausaufenthalt").
COMPOUNDING = frozenset(("de", "nl", "sv", "da", "no", "fi"))

# The most common words of each Latin-script language (short, frequent, and distinct
# across the set: words two languages share, such as "de" or "la", are left out).
# fmt: off
_COMMON_WORDS = {
    "en": "the and of to is that for with are this was be on as by from have which not",
    "de": "der die und ist nicht ein eine mit den das sich auf dem des zu für von auch wird",
    "fr": "le les et des est une pour dans que qui sur pas par au avec ce sont du aux",
    "es": "el los las y es una para con por del que se al como más pero sus entre",
    "it": "il gli che di è una per con sono della nel alla non delle anche come più",
    "pt": "os as uma para com não por mais dos das como mas ao pelo pela são foi",
    "nl": "het een van en is dat niet op zijn voor met die worden ook aan bij",
    "sv": "och att det som är på för med inte av till den har ett om var",
    "da": "og at det som er på for med ikke af til den har et om var",
    "no": "og at det som er på for med ikke av til den har et om var",
    "fi": "ja on ei että se ovat oli kun mutta myös tai niin joka sen",
    "pl": "i w na nie jest się że do to z jak od po przez oraz dla",
    "cs": "a v na je se že to s z do jako od po pro také jsou",
    "ro": "și în de la cu pe este că nu din care mai sau pentru",
    "hu": "a az és hogy nem is egy van ez meg csak de mint már",
    "tr": "ve bir bu için ile de da olarak daha çok gibi en ya ama",
    "id": "dan yang di ini dengan untuk tidak dari dalam akan pada itu",
    "ca": "el la els les i és amb per que una del als no com",
}
# fmt: on
COMMON_WORDS = {language: frozenset(words.split()) for language, words in _COMMON_WORDS.items()}
"""Per language, its most common words (used to detect it, and left out of queries)."""

_WORD = re.compile(r"[^\W_]+")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_CHAR = r"\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_RUN = re.compile(f"[{_CJK_CHAR}]+")
_SCRIPTS = (
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
)


def detect_language(text: str) -> str:
    """The ISO 639-1 code of the language ``text`` is mostly written in ("en" if unsure)."""
    sample = text[:DETECTION_CHARS]
    letters = sum(ch.isalpha() for ch in sample)
    if not letters:
        return DEFAULT_LANGUAGE
    kana, hangul, han = (len(p.findall(sample)) for p in (_KANA, _HANGUL, _HAN))
    if (kana + hangul + han) * 4 >= letters:  # a quarter of the letters: a CJK text
        if kana * 10 >= han and kana >= hangul:
            return "ja"  # Japanese writes kana between its kanji
        return "ko" if hangul > han else "zh"
    for language, script in _SCRIPTS:
        if len(script.findall(sample)) * 2 >= letters:
            return language
    counts: Counter[str] = Counter()
    for word in _WORD.findall(sample.lower()):
        for language, common in COMMON_WORDS.items():
            if word in common:
                counts[language] += 1
    if not counts:
        return DEFAULT_LANGUAGE
    language, hits = counts.most_common(1)[0]
    return language if hits >= 3 else DEFAULT_LANGUAGE


@functools.cache
def _stemmer(language: str) -> Any:
    name = SNOWBALL.get(language)
    if name is None:
        return None
    import Stemmer  # PyStemmer: Snowball's C stemmers, no type information

    return Stemmer.Stemmer(name)


def strip_diacritics(word: str) -> str:
    """ "économie" -> "economie", "Übung" -> "Ubung" (the base letters, marks dropped)."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def stems(words: list[str], language: str) -> list[str]:
    """Each lower-cased word reduced to its stem in ``language``, without diacritics."""
    stemmer = _stemmer(language)
    if stemmer is not None:
        words = list(stemmer.stemWords(words))
    return [strip_diacritics(word) for word in words]


def cjk_bigrams(run: str) -> list[str]:
    """Overlapping pairs of a run of CJK characters; a lone character stands alone."""
    if len(run) < 2:
        return [run] if run else []
    return [run[i : i + 2] for i in range(len(run) - 1)]


def split_words(text: str) -> tuple[list[str], list[str]]:
    """The lower-cased words of ``text`` (letters and digits), and its CJK bigrams."""
    lowered = text.lower()
    if _CJK_RUN.search(lowered) is None:  # most text: no CJK run to cut out
        return _WORD.findall(lowered), []
    words: list[str] = []
    pairs: list[str] = []
    for token in _WORD.findall(lowered):
        if _CJK_RUN.search(token) is None:
            words.append(token)
            continue
        last = 0
        for run in _CJK_RUN.finditer(token):
            if run.start() > last:
                words.append(token[last : run.start()])
            pairs.extend(cjk_bigrams(run.group()))
            last = run.end()
        if last < len(token):
            words.append(token[last:])
    return words, pairs


# Two runs of letters joined by a hyphen ("pre-training", "E-Mail", "non-specialist").
_HYPHENATED = re.compile(r"([^\W\d_]+)-(?=([^\W\d_]+))")


def joined_words(text: str) -> list[str]:
    """The words that hyphens join, written as one: "pre-training" -> "pretraining".

    Writers join the same compound either way ("pre-training" and "pretraining",
    "non-specialist" and "nonspecialist", "E-Mail" and "Email"); indexing and
    querying the joined form as well lets each spelling find the other. Letters only:
    "2015-2030" or "Qwen2-72B" are not compounds. Lower-cased; "a-b-c" gives "ab", "bc".
    """
    if "-" not in text:
        return []
    return [left + right for left, right in _HYPHENATED.findall(text.lower())]


def index_terms(text: str, language: str) -> str:
    """What the keyword index holds for ``text`` of a document in ``language``: its
    words stemmed for that language, its CJK bigrams, and the joined form of each
    hyphenated word (``joined_words``), separated by spaces.

    Diacritics are left to the index's tokenizer (FTS5's ``remove_diacritics``), which
    folds the query's terms the same way.
    """
    words, pairs = split_words(text)
    words += joined_words(text)  # after the text's own words: phrase positions hold
    stemmer = _stemmer(language)
    if stemmer is not None:
        words = stemmer.stemWords(words)
    return " ".join(words + pairs) if pairs else " ".join(words)


def query_variants(word: str, languages: Iterable[str]) -> list[str]:
    """The stems of one query word under each of ``languages``, distinct, in order."""
    found: list[str] = []
    for language in languages:
        stem = stems([word], language)[0]
        if stem and stem not in found:
            found.append(stem)
    return found


# --- the embedding model for a library that is not English ---
LANGUAGE_NAMES = {
    "ar": "Arabic", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "eu": "Basque", "fi": "Finnish",
    "fr": "French", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "ko": "Korean", "lt": "Lithuanian", "nl": "Dutch", "no": "Norwegian", "pl": "Polish",
    "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "tr": "Turkish",
    "zh": "Chinese",
}  # fmt: skip
# Embedding models in Ollama's library trained on many languages (name prefixes).
MULTILINGUAL_EMBEDDERS = (
    "bge-m3",
    "paraphrase-multilingual",
    "snowflake-arctic-embed2",
    "granite-embedding:278m",
    "nomic-embed-text-v2",
    "qwen3-embedding",
    "jina-embeddings-v2-base-de",
    "jeffh/intfloat-multilingual",
)
SUGGESTED_EMBEDDER = "bge-m3"


def is_multilingual_embedder(model: str) -> bool:
    name = model.strip().lower()
    return any(name.startswith(known) for known in MULTILINGUAL_EMBEDDERS)


def embedding_advice(languages: Iterable[str], model: str) -> str | None:
    """What to tell a user whose library holds documents not in English, when the
    embedding model was trained on English text only; None when there is nothing to say."""
    others = sorted(LANGUAGE_NAMES.get(code, code) for code in set(languages) - {"en"})
    if not others or is_multilingual_embedder(model):
        return None
    listed = ", ".join(others[:-1]) + (" and " if len(others) > 1 else "") + others[-1]
    return (
        f"Your library has documents in {listed}. {model or 'This model'} was trained "
        "mostly on English, so it places passages in other languages poorly and search "
        f"misses them (keyword search still matches their words). A multilingual model "
        f"such as {SUGGESTED_EMBEDDER} finds them far better: download it below "
        "(`ollama pull bge-m3`) and choose it here."
    )
