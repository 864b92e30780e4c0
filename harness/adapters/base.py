"""The path adapter interface: a data path of TRL run on cases, one Encoding (or a reason) per case.

An adapter turns (tokenizer, cases) into one Encoding per case by running TRL's own code.
It is the only kind of module that knows about TRL versions, and it knows them by feature
detection (does this class / config field exist?), never by comparing version strings. What
adapters share lives beside this module: tokenizer lending (``lending``), neighbour rows
(``neighbours``), the tiny model (``tiny_model``), ``datasets`` patching (``datasets_patch``),
versions and provenance (``versions``); warning capture is ``harness.pipeline.warnings_capture``.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.adapters import trl_driver
from harness.adapters.datasets_patch import without_dataset_fingerprints
from harness.adapters.lending import lent_tokenizer
from harness.adapters.neighbours import BATCH_LAYOUTS, neighbour_case, shorter_case
from harness.adapters.versions import provenance
from harness.pipeline.cases import Case, for_tokenizer
from harness.pipeline.encoding import Encoding, NotApplicable
from harness.pipeline.warnings_capture import captured_warnings, quiet_transformers
from harness.tokenizers.registry import LoadedTokenizer


@dataclass
class CaseRun:
    """Per-case result of an adapter: an Encoding or a reason it does not apply."""

    case: Case
    result: Encoding | NotApplicable


class PathAdapter:
    """Base class: subclasses set ``path``/``shapes`` and implement ``available`` and ``encode_group``."""

    path: str = ""
    shapes: tuple[str, ...] = ()
    needs_final_assistant: bool = False
    needs_chat_template: bool = False
    description: str = ""

    def available(self) -> NotApplicable | None:
        """``NotApplicable`` when the installed TRL does not offer this path."""
        raise NotImplementedError

    def release(self) -> None:
        """Let go of what this adapter keeps from one group to the next (kept trainers); a later group
        builds anew."""

    def accepts(self, case: Case, lt: LoadedTokenizer) -> NotApplicable | None:
        """Whether this path can carry this case with this tokenizer (data shape, template)."""
        if case.shape not in self.shapes:
            return NotApplicable(f"path {self.path} takes {' or '.join(self.shapes)} data; case is {case.shape}")
        if not case.allows_path(self.path):
            return NotApplicable(f"case {case.id} restricts itself to paths {list(case.paths)}")
        if self.needs_final_assistant and case.shape == "conversation" and not case.ends_with_assistant:
            return NotApplicable(f"path {self.path} needs a conversation that ends with an assistant message")
        if (self.needs_chat_template or case.shape == "conversation") and not lt.has_chat_template:
            return NotApplicable(f"tokenizer {lt.id} has no chat template; path {self.path} needs one for "
                                 "conversational data")
        return None

    def encode(self, lt: LoadedTokenizer, cases: list[Case]) -> dict[str, Encoding | NotApplicable]:
        """Encode every case; cases sharing a ``max_length`` go through TRL together."""
        out: dict[str, Encoding | NotApplicable] = {}
        missing = self.available()
        todo = []
        for original in cases:
            case = for_tokenizer(original, lt)
            if isinstance(case, str):  # a {bos}/{eos}/{eot} this tokenizer lacks
                out[original.id] = NotApplicable(case)
                continue
            reason = missing or self.accepts(case, lt)
            if reason:
                out[case.id] = reason
            else:
                todo.append(case)
        # One TRL run per (max_length, data shape): a dataset cannot mix string and message-list
        # columns, and max_length is a trainer option.
        groups: dict[tuple[int | None, str], list[Case]] = {}
        for case in todo:
            groups.setdefault((case.max_length, case.shape), []).append(case)
        with without_dataset_fingerprints(), quiet_transformers():
            for (max_length, _), group in groups.items():
                out.update(self._encode_isolating_errors(lt, group, max_length))
        return out

    def _encode_isolating_errors(self, lt, group, max_length, parted: bool = False):
        try:
            return self.encode_group(lt, group, max_length)
        except Exception as exc:  # noqa: BLE001 - find which case TRL refused, then report it per case
            if len(group) == 1:
                return {group[0].id: self.refusal(lt, group[0], exc, max_length)}
            group_error = error_text(exc)
        parts = [] if parted else template_refusal_parts(lt, group, self.refusal_guess)
        if len(parts) > 1:  # each part goes through TRL on its own: usually the first one is accepted whole
            return {k: v for part in parts for k, v in
                    self._encode_isolating_errors(lt, part, max_length, parted=True).items()}
        results: dict[str, dict | BaseException] = {}

        def alone(case):
            """Encode one case once; the result (or TRL's exception) is kept for reuse."""
            if case.id not in results:
                try:
                    results[case.id] = self.encode_group(lt, [case], max_length)
                except Exception as exc:  # noqa: BLE001
                    results[case.id] = exc
            return results[case.id]

        def split(cases):
            """Halve a refused group until each refusal is one case; a half that TRL accepts is kept
            whole (one build where preparing every case alone took one each: 9 instead of 18)."""
            if len(cases) == 1:
                r = alone(cases[0])
                return ({cases[0].id: self.refusal(lt, cases[0], r, max_length)} if isinstance(r, BaseException)
                        else r)
            try:
                return self.encode_group(lt, cases, max_length)
            except Exception:  # noqa: BLE001 - one of these cases is refused: look in each half
                mid = len(cases) // 2
                return {**split(cases[:mid]), **split(cases[mid:])}

        # A refusal of the tokenizer or template (not of one case) fails the first and the last case
        # alone with the group's exact message, and the first case without its neighbour row too: then
        # every case gets it without one build each.
        if all(isinstance(r, BaseException) and error_text(r) == group_error
               for r in (alone(group[0]), alone(group[-1]))) and self.refused_without_neighbour(lt, group[0],
                                                                                                max_length):
            return {case.id: self.refused(lt, case, results[group[0].id]) for case in group}
        mid = len(group) // 2
        return {**split(group[:mid]), **split(group[mid:])}

    def encode_group(self, lt: LoadedTokenizer, cases: list[Case], max_length: int | None) -> dict[str, Encoding]:
        raise NotImplementedError

    def refusal_guess(self, case: Case) -> str:
        """What about the case's row this path's TRL may refuse, as a part key for
        ``template_refusal_parts`` ("" for nothing); only a guess, every part still goes through TRL."""
        return ""

    def batch_variants(self, lt: LoadedTokenizer, case: Case) -> dict[str, Encoding] | NotApplicable:
        """The case as the model receives it in each batch a training step may put it in.

        ``BATCH_VARIANTS``: alone, beside a longer neighbour, beside a shorter one, behind the shorter
        one, and beside the longer one with the tokenizer set to left padding. One TRL preparation
        serves all five; the trained tokens must be the same in every one of them.
        """
        case = for_tokenizer(case, lt)
        if isinstance(case, str):
            return NotApplicable(case)
        reason = self.available() or self.accepts(case, lt)
        if reason:
            return reason
        items = (neighbour_case(case), shorter_case(case))
        with without_dataset_fingerprints(), quiet_transformers(), lent_tokenizer(lt) as tok, \
                captured_warnings() as seen:
            try:
                collate = self.batch_collator(lt, tok, case, items)
            except Exception as exc:  # noqa: BLE001 - a refusal is judged by the golden suite, not here
                return NotApplicable(f"TRL raised {error_text(exc)[:300]}")
            if isinstance(collate, NotApplicable):
                return collate
            out = {}
            for name, order, row in BATCH_LAYOUTS:
                if name == "left_padded":
                    tok.padding_side = "left"
                try:
                    batch = collate(order)
                except Exception as exc:  # noqa: BLE001 - as above: TRL refused this input
                    return NotApplicable(f"TRL raised {error_text(exc)[:300]}")
                ids, labels, att = trl_driver.row_of_batch(batch, row)
                out[name] = self.make_encoding(lt, case, "variant", ids, labels, att, seen, tok)
            return out

    def batch_collator(self, lt, tok, case: Case, neighbours: tuple[dict, dict]):
        """A function from item indices (0 the case, 1 the longer, 2 the shorter neighbour) to a
        collated batch, built with TRL's code for this path; ``NotApplicable`` if TRL drops one."""
        raise NotImplementedError

    # helpers for subclasses ------------------------------------------------------------

    # True while ``refusal`` prepares a case without its neighbour row; ``encode_group`` then leaves it out
    without_neighbour = False

    def refusal(self, lt: LoadedTokenizer, case: Case, exc: BaseException, max_length: int | None) -> Encoding:
        """What TRL's exception for the case (prepared beside its longer neighbour row) means for the case.

        The neighbour is the harness's own row: every text of the case a few words longer. TRL may refuse
        the pair for the neighbour's sake alone (a longer prompt leaves nothing after truncation; a template
        refuses text where the case has none), and reporting that as TRL's refusal of the case would pass
        DROP-001 and leave every other rule not applicable, though nothing of the case was judged. So the case
        goes through TRL once more, alone: refused again, it is TRL's refusal; accepted, every rule is
        UNDECIDABLE and says why."""
        if self.refused_without_neighbour(lt, case, max_length):
            return self.refused(lt, case, exc)
        why = (f"TRL refused the case beside the harness's longer neighbour row ({error_text(exc)[:300]}) and "
               "accepted it alone, so its tensors beside another row could not be judged")
        return Encoding(lt.id, self.path, case.id, "n/a", provenance=provenance(lt), unjudged=why)

    def refused_without_neighbour(self, lt: LoadedTokenizer, case: Case, max_length: int | None) -> bool:
        """Whether TRL refuses the case prepared alone, without its neighbour row."""
        self.without_neighbour = True
        try:
            self.encode_group(lt, [case], max_length)
        except Exception:  # noqa: BLE001 - TRL's refusal, whatever it raises
            return True
        finally:
            self.without_neighbour = False
        return False

    def refused(self, lt: LoadedTokenizer, case: Case, exc: BaseException) -> Encoding:
        msg = f"TRL raised {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        return Encoding(lt.id, self.path, case.id, "n/a", refused=msg[:500], provenance=provenance(lt))

    def reference_view(self, lt: LoadedTokenizer, case: Case) -> str:
        """How the installed TRL renders this case: ``native`` (its own shape) or ``chat`` (string
        prompt/completion turned into a user/assistant conversation); the oracle follows it."""
        return "native"

    def make_encoding(self, lt, case, scope, input_ids, labels, attention_mask, warnings_seen, tok) -> Encoding:
        """Build the Encoding; ``tok`` is the working copy TRL used (its pad token may have been set)."""
        from harness.pipeline.timing import phase

        with phase("assemble"):
            ids = [int(x) for x in input_ids]
            mask = [int(x) for x in attention_mask]
            return Encoding(
                tokenizer_id=lt.id, path=self.path, case_id=case.id, loss_scope=scope,
                input_ids=ids, labels=[int(x) for x in labels], attention_mask=mask,
                tokens=_pieces(lt, tok, ids), warnings=list(warnings_seen),
                provenance={**provenance(lt), "pad_token_id": tok.pad_token_id, "eos_token_id": tok.eos_token_id,
                            "reference_view": self.reference_view(lt, case)},
                signs=pad_signs(ids, mask, tok.pad_token_id),
            )


def pad_signs(ids: list[int], attention_mask: list[int], pad_token_id: int | None) -> list[str]:
    """``pad_id_inside_row``: a token of the row itself (attention 1) has the pad token's id, as the EOS does
    when pad_token = eos_token; a collator that masks every pad id (transformers'
    DataCollatorForLanguageModeling, #976) masks it too."""
    inside = pad_token_id is not None and any(i == pad_token_id and m for i, m in zip(ids, attention_mask))
    return ["pad_id_inside_row"] if inside else []


def template_refusal_parts(lt: LoadedTokenizer, cases: list[Case], guess=lambda case: "") -> list[list[Case]]:
    """The cases of a refused group, parted by what the chat template says when it renders each one
    alone and by the path's ``guess`` (first the cases it renders and nothing is guessed of, then one part
    per error message and guess).

    Only a guess at where TRL's refusals lie, to save trainer builds (a Gemma group with system
    turns took 30 builds to bisect, 5 once parted); every part still goes through TRL, and each
    verdict comes from TRL's own result or exception.
    """
    from harness.pipeline.clock import frozen_clock

    memo = lt.memo.setdefault("template_refusal", {})
    parts: dict[str, list[Case]] = {}
    for case in cases:
        key = (case.id, case.shape)
        if key not in memo:
            memo[key] = ""
            if case.conversation is not None and lt.has_chat_template:
                try:
                    with frozen_clock():
                        lt.tokenizer.apply_chat_template(list(case.conversation), tokenize=False,
                                                         **case.render_kwargs)
                except Exception as exc:  # noqa: BLE001 - the template's own refusal is what is recorded
                    memo[key] = error_text(exc)
        parts.setdefault((memo[key], guess(case)), []).append(case)
    return [parts[k] for k in sorted(parts)]


def _pieces(lt: LoadedTokenizer, tok, ids: list[int]) -> list[str]:
    """Each id decoded alone, memoised per tokenizer (a single-id decode has no context)."""
    cache = lt.memo.setdefault("decoded_pieces", {})
    missing = sorted({i for i in ids if i not in cache})
    if missing:
        cache.update(zip(missing, tok.batch_decode([[i] for i in missing])))
    return [cache[i] for i in ids]


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
