"""Why the harness prepares a refused case again without its neighbour (PathAdapter.refusal): from 1.8.0,
DataCollatorForChatML raises "An example has no prompt tokens left after truncation" for the whole batch when one
row's completion fills max_length, so a row it accepts alone is refused beside a longer one.

A short conversation (accepted alone with max_length=16) and the same conversation with a longer answer are
collated alone and together. Exit 1 when the short row is accepted alone and the pair is refused (the batch is
refused for the other row's sake), 0 otherwise; argv[1] = tokenizer id (default llama3.1)."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import chatml_collator_class, load_tok, report

tid = sys.argv[1] if len(sys.argv) > 1 else "llama3.1"
tok = load_tok(tid)
if tok.pad_token is None:
    tok.pad_token = tok.eos_token
cls = chatml_collator_class()
short = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Blue."}]}
longer = {"messages": [{"role": "user", "content": "Hi"},
                       {"role": "assistant", "content": "Blue, as it is on every clear day, and a few words more to fill it."}]}


def outcome(rows):
    try:
        cls(tokenizer=tok, max_length=16)(rows)
    except Exception as exc:  # the refusal is the datum
        return f"refused ({type(exc).__name__}: {str(exc)[:70]})"
    return "accepted"


alone, pair = outcome([short]), outcome([short, longer])
report(alone == "accepted" and pair != "accepted", f"short row alone: {alone}; beside the longer one: {pair}; "
                                                   f"longer alone: {outcome([longer])}")
