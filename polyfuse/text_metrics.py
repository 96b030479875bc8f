"""Metrics of generated text against one or more references, from maintained libraries.

- BLEU-1..4 and chrF: ``sacrebleu`` (corpus level, several references per hypothesis, its ``13a``
  tokeniser, or ``zh`` for Chinese; case-insensitive, as caption benchmarks score),
  https://github.com/mjpost/sacrebleu;
- ROUGE-L (F-measure, best reference per hypothesis), WER and CER: ``torchmetrics``;
- CIDEr-D: ``pycocoevalcap``'s ``Cider`` (the COCO caption server's CIDEr-D, pure Python: no Java,
  no network; Java is only needed by its PTB tokeniser and METEOR/SPICE, which are not used). Texts
  are lower-cased and split on whitespace and punctuation first, as the PTB tokeniser would.
- exact match: normalised strings (case, surrounding whitespace and final punctuation ignored).

METEOR is left out: ``nltk``'s needs the WordNet corpus, a download at run time. Every metric is a
``*_score`` (higher is better, BLEU/chrF/ROUGE/CIDEr scaled to 0-100 like the papers report them)
or an ``*_error`` (WER, CER; lower is better).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed (exact match and CIDEr tokens)."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def _has_cjk(texts: Sequence[str]) -> bool:
    sample = "".join(texts[:200])
    return any("\u4e00" <= ch <= "\u9fff" for ch in sample)


def _ref_streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    """sacrebleu's layout: one stream per reference position, ``None`` where a row has fewer."""
    width = max((len(r) for r in references), default=1)
    return [[refs[i] if i < len(refs) else None for refs in references] for i in range(width)]


def generation_metrics(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], *, char_level: bool | None = None
) -> dict[str, Any]:
    """Corpus metrics of hypotheses (one per group of identical inputs) and their references.

    Args:
        hypotheses: N generated texts.
        references: N lists of reference texts (at least one each).
        char_level: score Chinese/Japanese text by character (sacrebleu ``zh`` tokeniser, CIDEr
            on characters); ``None`` decides from the texts.

    Returns:
        ``bleu1_score`` .. ``bleu4_score``, ``chrf_score``, ``rougeL_score``, ``cider_score``,
        ``exact_match_score``, ``wer_error``, ``cer_error`` and ``num_groups``.
    """
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        return {"num_groups": 0}
    hyps = [str(h) for h in hypotheses]
    refs = [[str(r) for r in rs] for rs in references]
    cjk = _has_cjk([*hyps, *(r[0] for r in refs)]) if char_level is None else char_level
    streams = _ref_streams(refs)
    metrics: dict[str, Any] = {}
    for n in range(1, 5):
        bleu = BLEU(max_ngram_order=n, tokenize="zh" if cjk else "13a", lowercase=True, force=True)
        metrics[f"bleu{n}_score"] = float(bleu.corpus_score(hyps, streams).score)  # type: ignore[arg-type]
    metrics["chrf_score"] = float(CHRF(lowercase=True).corpus_score(hyps, streams).score)  # type: ignore[arg-type]
    metrics["rougeL_score"] = _rouge_l(hyps, refs, cjk)
    metrics["cider_score"] = _cider(hyps, refs, cjk)
    metrics["exact_match_score"] = (
        100.0
        * sum(normalise(h) in {normalise(r) for r in rs} for h, rs in zip(hyps, refs, strict=True))
        / len(hyps)
    )
    metrics.update(_error_rates(hyps, refs))
    metrics["num_groups"] = len(hyps)
    return metrics


def _tokens(text: str, cjk: bool) -> str:
    """Space-separated tokens: normalised words, or characters for CJK text."""
    clean = normalise(text)
    return " ".join(clean.replace(" ", "")) if cjk else clean


def _rouge_l(hyps: list[str], refs: list[list[str]], cjk: bool) -> float:
    from torchmetrics.functional.text import rouge_score

    preds = [_tokens(h, cjk) for h in hyps]
    target = [[_tokens(r, cjk) for r in rs] for rs in refs]
    scores = rouge_score(preds, target, rouge_keys="rougeL", accumulate="best")
    return 100.0 * float(scores["rougeL_fmeasure"])


def _cider(hyps: list[str], refs: list[list[str]], cjk: bool) -> float:
    from pycocoevalcap.cider.cider import Cider

    gts = {i: [_tokens(r, cjk) or "<empty>" for r in rs] for i, rs in enumerate(refs)}
    res = {i: [_tokens(h, cjk) or "<empty>"] for i, h in enumerate(hyps)}
    score, _ = Cider().compute_score(gts, res)
    return 100.0 * float(score)


def _error_rates(hyps: list[str], refs: list[list[str]]) -> dict[str, float]:
    """WER and CER against each hypothesis's first reference (transcripts have one)."""
    from torchmetrics.functional.text import char_error_rate, word_error_rate

    preds = [normalise(h) for h in hyps]
    target = [normalise(rs[0]) for rs in refs]
    if not any(target):
        return {}
    return {
        "wer_error": float(word_error_rate(preds, target)),
        "cer_error": float(char_error_rate(preds, target)),
    }
