"""Multilingual row: keyword search over German and French pages, per-language stemming
against the English-only index it replaced.

The pages are written into this file: one small handbook per language (a town's
services), ten pages each on neighbouring subjects so that pages share much of
their vocabulary. Each question names its page's subject in other forms of its
words, as people ask: another case or number ("Versicherungen" for
"Versicherung"), the start of a compound ("Krankenhaus" for
"Krankenhausaufenthalt"), no accents ("reservation" for "réservation").

Both sides index the same pages and answer the same questions with the top 5 pages:

* **app**: ``KeywordIndex`` over a library written by ``LibraryService`` (each
  document's language detected, Snowball stems, compounds matched by their start);
* **English-only**: the index as it was, FTS5's ``porter unicode61 remove_diacritics 2``
  over the page texts, queried with the same words OR-ed.

    python -m bench.multilingual_keywords [--show]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from allma_desktop.services.retrieval.keyword_index import query_words

# fmt: off
GERMAN_PAGES = (
    "Die Stadtbibliothek leiht Bücher, Zeitschriften und Filme aus. Ein Bibliotheksausweis "
    "kostet für Erwachsene zwölf Euro im Jahr; Kinder und Schüler erhalten ihn kostenlos.",
    "Wer eine Wohnung anmelden will, geht mit dem Personalausweis und der Bestätigung des "
    "Vermieters zum Bürgeramt. Die Anmeldung muss innerhalb von zwei Wochen nach dem Umzug "
    "erfolgen.",
    "Die Müllabfuhr holt den Restmüll alle zwei Wochen ab. Biotonnen werden im Sommer "
    "wöchentlich geleert; Sperrmüll wird nach Terminvereinbarung abgeholt.",
    "Für einen Krankenhausaufenthalt übernimmt die gesetzliche Krankenversicherung die Kosten. "
    "Patienten zahlen zehn Euro Zuzahlung pro Tag, höchstens für achtundzwanzig Tage im Jahr.",
    "Das Hallenbad ist von Montag bis Samstag geöffnet. Schwimmkurse für Kinder beginnen im "
    "Frühjahr und im Herbst; die Anmeldung erfolgt an der Kasse.",
    "Anwohner beantragen einen Parkausweis beim Ordnungsamt. Die Gebühr beträgt dreißig Euro "
    "jährlich, und der Ausweis gilt nur in der eigenen Parkzone.",
    "Hundehalter zahlen eine Hundesteuer von hundert Euro im Jahr. Für jeden weiteren Hund "
    "steigt die Steuer; Blindenhunde sind von der Steuer befreit.",
    "Die Volkshochschule bietet Sprachkurse, Kochkurse und Vorträge an. Die Kursgebühren "
    "werden bei der Anmeldung fällig; Ermäßigungen gibt es für Studenten.",
    "Baugenehmigungen erteilt das Bauamt. Dem Bauantrag sind Lagepläne, Bauzeichnungen und "
    "eine Baubeschreibung beizufügen; die Bearbeitung dauert etwa drei Monate.",
    "Der Wochenmarkt findet dienstags und freitags auf dem Marktplatz statt. Händler "
    "verkaufen Obst, Gemüse, Käse und Blumen aus der Region.",
)
GERMAN_QUESTIONS = (
    ("Was kosten Ausweise der Bibliothek?", 1),
    ("Welche Frist gilt für Anmeldungen nach Umzügen?", 2),
    ("Wie oft werden die Biotonnen im Sommer geleert?", 3),
    ("Wie hoch sind Zuzahlungen im Krankenhaus?", 4),
    ("Wann fangen Schwimmkurse für Kinder an?", 5),
    ("Wo beantragen Anwohner Parkausweise?", 6),
    ("Müssen Halter von Blindenhunden Steuern zahlen?", 7),
    ("Gibt es Ermäßigungen für Sprachkurse?", 8),
    ("Was gehört zu einem Antrag beim Bauamt?", 9),
    ("Welche Händler gibt es auf dem Markt?", 10),
)
FRENCH_PAGES = (
    "La médiathèque prête des livres, des revues et des films. L'abonnement annuel coûte "
    "douze euros pour les adultes ; il est gratuit pour les enfants et les étudiants.",
    "Pour une carte d'identité, il faut prendre rendez-vous à la mairie et apporter une "
    "photographie récente ainsi qu'un justificatif de domicile.",
    "Les ordures ménagères sont collectées deux fois par semaine. Les encombrants sont "
    "ramassés sur réservation auprès des services techniques.",
    "La piscine municipale est ouverte tous les jours sauf le lundi. Les leçons de natation "
    "pour les enfants commencent en septembre.",
    "Le stationnement résidentiel exige une vignette délivrée par la police municipale. "
    "Elle coûte trente euros par an et n'est valable que dans le quartier du résident.",
    "L'inscription à l'école maternelle se fait au printemps. Les familles présentent le "
    "livret de famille et le carnet de vaccinations de l'enfant.",
    "Le marché a lieu le mercredi et le samedi matin sur la place de l'église. Les "
    "producteurs vendent des fruits, des légumes, des fromages et des fleurs.",
    "Le permis de construire est délivré par le service de l'urbanisme. Le dossier comprend "
    "les plans, une notice descriptive et des photographies ; l'instruction dure trois mois.",
    "Les associations sportives reçoivent des subventions de la commune. Les demandes "
    "doivent être déposées avant la fin de l'année précédente.",
    "Le conservatoire propose des cours de musique et de danse. Les frais d'inscription "
    "dépendent du quotient familial ; des réductions existent pour les fratries.",
)
FRENCH_QUESTIONS = (
    ("Combien coutent les abonnements de la mediatheque ?", 1),
    ("Faut-il un rendez-vous pour les cartes d'identite ?", 2),
    ("Comment reserver le ramassage des encombrants ?", 3),
    ("Quand commencent les lecons de natation ?", 4),
    ("Qui delivre les vignettes aux residents ?", 5),
    ("Quand s'inscrire a la maternelle ?", 6),
    ("Qu'est-ce que les producteurs vendent au marche ?", 7),
    ("Combien de temps dure l'instruction d'un permis ?", 8),
    ("Quand les associations deposent-elles leurs demandes de subventions ?", 9),
    ("Les frais du conservatoire dependent-ils du quotient familial ?", 10),
)
# fmt: on
SETS = {"de": (GERMAN_PAGES, GERMAN_QUESTIONS), "fr": (FRENCH_PAGES, FRENCH_QUESTIONS)}


@dataclass(frozen=True)
class Score:
    top5: int
    first: int
    total: int
    ranks: tuple[int | None, ...]


def _score(ranked: list[list[int]], questions: tuple[tuple[str, int], ...]) -> Score:
    ranks = tuple(
        next((n for n, page in enumerate(pages[:5], 1) if page == wanted), None)
        for pages, (_, wanted) in zip(ranked, questions, strict=True)
    )
    return Score(
        sum(rank is not None for rank in ranks), sum(rank == 1 for rank in ranks), len(ranks), ranks
    )


def app_ranking(folder: Path, language: str) -> list[list[int]]:
    from allma_desktop.services.documents.model import Chunk, DocumentMetadata
    from allma_desktop.services.library.catalog import LibraryService
    from allma_desktop.services.library.storage import open_database
    from allma_desktop.services.retrieval.keyword_index import KeywordIndex

    pages, questions = SETS[language]
    db = open_database(folder / f"app-{language}.sqlite3")
    try:
        library = LibraryService(db)
        collection = library.default_collection()
        document = library.start_document(collection.id, f"/bench/handbook-{language}.txt")
        chunks = [
            Chunk(
                f"{document.id}:{n}",
                document.id,
                n,
                text,
                document.path,
                "handbook",
                n + 1,
                (),
                0,
                len(text),
            )
            for n, text in enumerate(pages)
        ]
        library.commit_document(
            document.id,
            chunks=chunks,
            collection_key=collection.key,
            metadata=DocumentMetadata(title="handbook", file_type="text"),
        )
        index = KeywordIndex(db)
        return [
            [int(hit.page or 0) for hit in index.search(collection.key, question, k=5)]
            for question, _ in questions
        ]
    finally:
        db.close()


def english_only_ranking(language: str) -> list[list[int]]:
    """The index as it was: FTS5's porter stemmer (English) over the raw texts."""
    pages, questions = SETS[language]
    with sqlite3.connect(":memory:") as db:
        db.execute(
            "CREATE VIRTUAL TABLE pages USING fts5(text, "
            "tokenize='porter unicode61 remove_diacritics 2')"
        )
        db.executemany(
            "INSERT INTO pages(rowid, text) VALUES (?, ?)",
            [(n + 1, text) for n, text in enumerate(pages)],
        )
        ranked = []
        for question, _ in questions:
            match = " OR ".join('"' + w.replace('"', '""') + '"' for w in query_words(question))
            rows = db.execute(
                "SELECT rowid FROM pages WHERE pages MATCH ? ORDER BY rank LIMIT 5", (match,)
            ).fetchall()
            ranked.append([int(row[0]) for row in rows])
    return ranked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--show", action="store_true", help="print each question's ranks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for language, (_, questions) in SETS.items():
            app = _score(app_ranking(Path(folder), language), questions)
            old = _score(english_only_ranking(language), questions)
            print(
                f"{language}: per-language stems top-5 {app.top5}/{app.total}, first "
                f"{app.first}/{app.total}; English-only top-5 {old.top5}/{old.total}, "
                f"first {old.first}/{old.total}"
            )
            if args.show:
                for (question, _), new, before in zip(questions, app.ranks, old.ranks, strict=True):
                    print(f"  {new or '-'} / {before or '-'} | {question}")
            met = app.top5 >= old.top5 and app.first >= old.first
            print(
                f"ROW | (c) keyword search, {language}, page in top 5 / first | "
                f"{app.top5}/{app.total} / {app.first}/{app.total} | "
                f"{old.top5}/{old.total} / {old.first}/{old.total} (English-only index) | "
                f"{(app.first - old.first) / app.total:+.0%} points first | "
                f"at least English-only | {'met' if met else 'MISSED'}"
            )


if __name__ == "__main__":
    main()
