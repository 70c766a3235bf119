#!/usr/bin/python3
"""Reference values for the stemmed ROUGE of src/eval/rouge.ts and the Porter port in src/eval/porter.ts.

Run from the repository root with Debian's python (python3-nltk 3.8 there):

    /usr/bin/python3 scripts/reference/porter_reference.py

It writes two fixtures (test/fixtures/rouge/README in test/fixtures/README.md):

- test/fixtures/rouge/porter-nltk.json: a word list and NLTK's PorterStemmer output for every word
  in each of NLTK's three modes (NLTK_EXTENSIONS is the default, and what rouge_score uses).
- test/fixtures/rouge/rouge-pairs.json: 200 fixed reference/candidate pairs with their tokens and
  ROUGE-1/2/L precision, recall and F, with and without stemming.

Google's rouge_score is not installable here, so its tokenizer and score arithmetic are written out
below from its source (rouge/tokenize.py, rouge/rouge_scorer.py, rouge/scoring.py of
google-research/google-research; RougeScorer(..., use_stemmer=True) uses nltk.stem.porter.PorterStemmer()),
operation for operation, with NLTK's own stemmer. Everything is deterministic (fixed seeds, sorted
sources), so re-running gives the same files unless a source changes (the Dave data set, the GPT-2
vocabulary fixture, or the NLTK version).

Word sources: hand-written edge cases; every word of the nltk.stem.porter module's own source (its
docstrings hold the examples of Porter's paper); the words of datasets/dave/*.jsonl; a seeded sample
of whole-word entries of the GPT-2 vocabulary (test/fixtures/tokenizers/gpt2/encoder.json); and
inflections of a seeded sample of those (every suffix the stemmer's rules look at).
"""
import collections
import inspect
import json
import os
import random
import re
import sys

import nltk
from nltk.stem import porter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "rouge")

# ---------------------------------------------------------------- rouge_score, written out

NON_ALPHANUM_RE = re.compile(r"[^a-z0-9]+")
SPACES_RE = re.compile(r"\s+")
VALID_TOKEN_RE = re.compile(r"^[a-z0-9]+$")


def rouge_tokenize(text, stemmer):
    """rouge_score.tokenize.tokenize: lower, non-[a-z0-9] runs -> space, split, stem if len > 3, keep valid."""
    text = text.lower()
    text = NON_ALPHANUM_RE.sub(" ", text)
    tokens = SPACES_RE.split(text)
    if stemmer:
        tokens = [stemmer.stem(x) if len(x) > 3 else x for x in tokens]
    return [x for x in tokens if VALID_TOKEN_RE.match(x)]


def fmeasure(precision, recall):
    """rouge_score.scoring.fmeasure."""
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def create_ngrams(tokens, n):
    ngrams = collections.Counter()
    for ngram in (tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)):
        ngrams[ngram] += 1
    return ngrams


def score_ngrams(target_ngrams, prediction_ngrams):
    """rouge_score.rouge_scorer._score_ngrams."""
    intersection = 0
    for ngram in target_ngrams.keys():
        intersection += min(target_ngrams[ngram], prediction_ngrams[ngram])
    target_count = sum(target_ngrams.values())
    prediction_count = sum(prediction_ngrams.values())
    precision = intersection / max(prediction_count, 1)
    recall = intersection / max(target_count, 1)
    return {"precision": precision, "recall": recall, "fmeasure": fmeasure(precision, recall)}


def lcs_table(ref, can):
    rows, cols = len(ref), len(can)
    t = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(1, rows + 1):
        for j in range(1, cols + 1):
            if ref[i - 1] == can[j - 1]:
                t[i][j] = t[i - 1][j - 1] + 1
            else:
                t[i][j] = max(t[i - 1][j], t[i][j - 1])
    return t


def score_lcs(target_tokens, prediction_tokens):
    """rouge_score.rouge_scorer._score_lcs (rougeL, no sentence splitting)."""
    if not target_tokens or not prediction_tokens:
        return {"precision": 0, "recall": 0, "fmeasure": 0}
    lcs = lcs_table(target_tokens, prediction_tokens)[-1][-1]
    precision = lcs / len(prediction_tokens)
    recall = lcs / len(target_tokens)
    return {"precision": precision, "recall": recall, "fmeasure": fmeasure(precision, recall)}


def rouge_scores(target, prediction, stemmer):
    """RougeScorer(['rouge1', 'rouge2', 'rougeL'], use_stemmer=stemmer is not None).score(target, prediction)."""
    t = rouge_tokenize(target, stemmer)
    p = rouge_tokenize(prediction, stemmer)
    return t, p, {
        "rouge1": score_ngrams(create_ngrams(t, 1), create_ngrams(p, 1)),
        "rouge2": score_ngrams(create_ngrams(t, 2), create_ngrams(p, 2)),
        "rougeL": score_lcs(t, p),
    }


# ---------------------------------------------------------------- word list

EDGE_WORDS = """
generously generous generate generation generational sky skies Sky SKIES dying lying tying dies died
spied flies fly flying tries tried try ties tie ies sses ied eed ing ed s ss y yy yyy a i is as us
news innings inning outings outing cannings canning howe proceed proceeds exceed exceeded succeed
succeeding caresses ponies caress cats feed agreed plastered bled motoring sing conflated troubled
sized hopping tanned falling hissing fizzed failing filing happy enjoy enjoyment relational
conditional rational valenci hesitanci digitizer conformabli radicalli differentli vileli analogousli
vietnamization predication operator feudalism decisiveness hopefulness callousness formaliti
sensitiviti sensibiliti triplicate formative formalize electriciti electrical hopeful goodness
revival allowance inference airliner gyroscopic adjustable defensible irritant replacement adjustment
dependent adoption homologou communism activate angulariti homologous effective bowdlerize probate
rate cease controll roll archaeology geology theology philology analogi logi fulli hopefulli
beautifully syzygy toy trouble troubles oats trees ivy private oaten orrery tr ee tree by abbey
ability abilities national nationally nationalism nationalization internationalization
university universities universal universally running runner runs ran skiing skis ski dye dyed
dyeing lie lied tied agreement agreements 0 7 42 2024 1990s 3rd 21st 100000 covid19 mp3s a1b2c3
1st 2nd 4th abc123def 12ing 99s Generously GENEROUSLY Dying dying. caf\u00e9 na\u00efve r\u00e9sum\u00e9s
stra\u00dfe \u0130stanbul \u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3 \U0001d49clphabets
runs\U0001f600ing \u00e9t\u00e9s xylophones rhythms crwths zzz zzzs bless blessed blessing
""".split()

SUFFIXES = [
    "s", "es", "ies", "sses", "ed", "ied", "eed", "ing", "er", "ers", "ly", "ness", "ful", "fully",
    "fulness", "ment", "ments", "ement", "ation", "ational", "ations", "ator", "ize", "ized", "izes",
    "ization", "izer", "able", "ability", "abli", "bli", "ible", "ive", "ively", "iveness", "iviti",
    "ity", "ities", "iti", "ism", "ist", "ous", "ously", "ousness", "ousli", "al", "ally", "alli",
    "alism", "ality", "aliti", "alize", "ance", "anci", "ence", "enci", "ent", "ently", "entli", "eli",
    "ant", "ic", "ical", "ically", "icate", "iciti", "ative", "ion", "ou", "ate", "logi", "logy", "y",
    "e", "ll",
]


def words_of(text):
    return re.findall(r"[A-Za-z0-9\u00c0-\u024f]+", text)


def word_list():
    words = set(EDGE_WORDS)
    # nltk's porter module: docstrings with the paper's examples.
    words.update(words_of(inspect.getsource(porter)))
    # Dave data set: every text field.
    dave = os.path.join(ROOT, "datasets", "dave")
    for name in sorted(os.listdir(dave)):
        if not name.endswith(".jsonl"):
            continue
        with open(os.path.join(dave, name), encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                for k, v in rec.items():
                    if k in ("id", "split"):
                        continue
                    for s in v if isinstance(v, list) else [v]:
                        if isinstance(s, str):
                            words.update(words_of(s))
    # GPT-2 vocabulary: whole lower-case words ("Ġword"), a seeded sample.
    with open(os.path.join(ROOT, "test", "fixtures", "tokenizers", "gpt2", "encoder.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    gpt2 = sorted(t[1:] for t in vocab if re.fullmatch(r"\u0120[a-z]{3,}", t))
    rng = random.Random(1980)
    sample = rng.sample(gpt2, 1800)
    words.update(sample)
    # Inflections of some of them, with every suffix the rules look at.
    for base in rng.sample(sorted(sample), 40):
        for suf in SUFFIXES:
            words.add(base + suf)
            if base.endswith("e"):
                words.add(base[:-1] + suf)
    return sorted(words)


# ---------------------------------------------------------------- ROUGE pairs

EDGE_PAIRS = [
    ("The cat sat on the mat.", "the cat the cat"),
    ("Dave was born in Paris, France.", "DAVE WAS BORN IN PARIS"),
    ("a b c d", "d c b a"),
    ("Dave lives in Paris", ""),
    ("Dave lives in Paris", "..."),
    ("", "Dave lives in Paris"),
    ("", ""),
    ("He generously donated books.", "He generously donates a book."),
    ("The skies were clear and the sky was blue.", "The sky is clear; skies are blue."),
    ("She was dying to see the flies flying.", "She died to see a fly fly."),
    ("Relational databases are conditional.", "Relate the conditions of the database."),
    ("Dave's e-mail: DAVE@Example.com, 2024!", "dave s email dave example com 2024"),
    ("Caf\u00e9 na\u00efve r\u00e9sum\u00e9s", "cafe naive resumes"),
    ("He was born in 1990 and moved in 2004.", "Born 1990; moved 2004."),
    ("running runner runs ran", "run run run run"),
    ("Dave writes books. Dave lives in Paris.", "Dave lives in Paris. Dave writes books."),
    ("news innings outings", "new inning outing"),
    ("The caresses of ponies", "caress pony"),
    ("hopefulness callousness decisiveness", "hopeful callous decisive"),
    ("universities universally universal", "university universe"),
]


def dave_records():
    out = []
    dave = os.path.join(ROOT, "datasets", "dave")
    for name in ["forget.jsonl", "retain.jsonl", "holdout.jsonl", "decoys.jsonl"]:
        with open(os.path.join(dave, name), encoding="utf-8") as f:
            out.extend(json.loads(line) for line in f)
    return out


def general_texts():
    with open(os.path.join(ROOT, "datasets", "dave", "general.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


INFLECT = ["s", "ed", "ing", "ly", "er", "ness", "ation", "ies", "es"]


def perturb(text, rng):
    """A candidate from a reference: inflect, drop, duplicate, swap words, change case and punctuation."""
    words = text.split()
    out = []
    for w in words:
        r = rng.random()
        if r < 0.12:
            continue  # drop
        if r < 0.32:
            core = re.sub(r"[^A-Za-z]+$", "", w)
            tail = w[len(core):]
            if len(core) > 2:
                if core.endswith("s") and rng.random() < 0.5:
                    core = core[:-1]
                else:
                    core = core + rng.choice(INFLECT)
            w = core + tail
        elif r < 0.38:
            w = w.upper()
        elif r < 0.42:
            out.append(w)  # duplicate
        out.append(w)
    if len(out) > 3 and rng.random() < 0.4:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    s = " ".join(out)
    if rng.random() < 0.3:
        s = s.replace(" ", ", ", 1)
    return s


def pairs():
    rng = random.Random(2004)
    recs = dave_records()
    gen = general_texts()
    out = [{"kind": "edge", "reference": r, "candidate": c} for r, c in EDGE_PAIRS]
    picks = rng.sample(recs, 120)
    for i, rec in enumerate(picks):
        k = i % 6
        if k == 0:
            out.append({"kind": "answer/paraphrased", "reference": rec["answer"], "candidate": rec["paraphrased_answer"]})
        elif k == 1:
            out.append({"kind": "statement/paraphrase", "reference": rec["statement"], "candidate": rng.choice(rec["paraphrases"])})
        elif k == 2:
            out.append({"kind": "paraphrased/perturbed", "reference": rec["paraphrased_answer"], "candidate": rng.choice(rec["perturbed_answers"])})
        elif k == 3:
            out.append({"kind": "statement/perturbed", "reference": rec["statement"], "candidate": perturb(rec["statement"], rng)})
        elif k == 4:
            out.append({"kind": "paraphrase/statement", "reference": rng.choice(rec["paraphrases"]), "candidate": rec["statement"] + " " + rec["answer"]})
        else:
            out.append({"kind": "answer/statement", "reference": rec["answer"], "candidate": rec["statement"]})
    for text in rng.sample(gen, 40):
        out.append({"kind": "general/perturbed", "reference": text, "candidate": perturb(text, rng)})
    # Longer texts: several sentences against a shuffled, perturbed version (LCS over 30-60 tokens).
    while len(out) < 200:
        refs = rng.sample(gen, 3)
        cand = [perturb(t, rng) for t in refs]
        rng.shuffle(cand)
        out.append({"kind": "long", "reference": " ".join(refs), "candidate": " ".join(cand)})
    assert len(out) == 200
    return out


def dump_rows(f, head, key, rows):
    """JSON with one row per line (small diffs, readable)."""
    f.write("{\n")
    for k, v in head.items():
        f.write(f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n")
    f.write(f"{json.dumps(key)}: [\n")
    f.write(",\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    f.write("\n]\n}\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    stemmers = {m: porter.PorterStemmer(mode=m) for m in ("NLTK_EXTENSIONS", "MARTIN_EXTENSIONS", "ORIGINAL_ALGORITHM")}
    words = word_list()
    rows = [[w] + [stemmers[m].stem(w) for m in stemmers] for w in words]
    with open(os.path.join(OUT, "porter-nltk.json"), "w", encoding="utf-8") as f:
        dump_rows(f, {
            "generator": "scripts/reference/porter_reference.py",
            "nltk": nltk.__version__,
            "python": sys.version.split()[0],
            "columns": ["word"] + list(stemmers),
        }, "words", rows)

    default = porter.PorterStemmer()
    out = []
    for p in pairs():
        rt, ct, stemmed = rouge_scores(p["reference"], p["candidate"], default)
        _, _, plain = rouge_scores(p["reference"], p["candidate"], None)
        out.append({**p, "reference_tokens": rt, "candidate_tokens": ct, "stemmed": stemmed, "unstemmed": plain})
    with open(os.path.join(OUT, "rouge-pairs.json"), "w", encoding="utf-8") as f:
        dump_rows(f, {
            "generator": "scripts/reference/porter_reference.py",
            "nltk": nltk.__version__,
            "python": sys.version.split()[0],
            "scorer": "rouge_score RougeScorer(['rouge1','rouge2','rougeL'], use_stemmer=True or False).score(target=reference, prediction=candidate), written out",
        }, "pairs", out)
    changed = sum(1 for r in rows if r[1] != r[0].lower())
    print(f"{len(rows)} words ({changed} changed by the NLTK stemmer), {len(out)} pairs, nltk {nltk.__version__}")


if __name__ == "__main__":
    main()
