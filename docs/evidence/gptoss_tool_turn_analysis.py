"""Conversational prompt/completion on gpt-oss whose prompt ends with a tool result after a turn that thought and then
called the tool (the golden case chat_reasoning_then_tool_call). The gpt-oss template keeps that turn's analysis
(thinking) when the prompt is rendered alone with the generation prompt (the conversation ends in a tool result, so
the turn is still under way) and drops it once a final answer follows, so the prompt's ids are no prefix of the
conversation's. The thinking is written as the case writes it (`reasoning_content`); transformers 5 passes it to the
template as the turn's thinking, transformers 4 leaves it out (no analysis, so the renders agree).
Expected labels: the final answer and its <|return|> trained, nothing before it.
Exit 3 where TRL refuses with an error. Exit 2 where the release trains prompt/completion rows in full. Exit 1 when a
token before the answer is trained or an answer token is masked."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import first_batch, load_tok, make_trainer, report, report_answer_labels

tok = load_tok("gpt-oss")
tools = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city name."}},
                   "required": ["city"]}}}]
prompt = [{"role": "user", "content": "Should I take a coat in Bern?"},
          {"role": "assistant", "reasoning_content": "I need the temperature in Bern.", "content": "",
           "tool_calls": [{"id": "call6bern", "type": "function",
                           "function": {"name": "get_weather", "arguments": {"city": "Bern"}}}]},
          {"role": "tool", "tool_call_id": "call6bern", "content": "{\"temperature_c\": 4}"}]
completion = [{"role": "assistant", "content": "Yes: it is 4 degrees in Bern."}]
alone = tok.apply_chat_template(prompt, tools=tools, tokenize=False, add_generation_prompt=True)
whole = tok.apply_chat_template(prompt + completion, tools=tools, tokenize=False)
print(f"prompt render is a prefix of the conversation's: {whole.startswith(alone)}")
try:
    tr = make_trainer(tok, [{"prompt": prompt, "completion": completion, "tools": tools}] * 2)
except ValueError as exc:
    print(f"TRL refused: {str(exc).splitlines()[0]}")
    sys.exit(3)
if not getattr(tr, "completion_only_loss", False):
    print("this release trains prompt/completion rows in full (no completion-only loss): nothing to judge")
    sys.exit(2)
if len(tr.train_dataset) == 0:
    report(True, "both rows were removed from the train dataset without an error")
ids, labels, _ = first_batch(tr)
answer = tok("Yes: it is 4 degrees in Bern.", add_special_tokens=False)["input_ids"]
start = next((k for k in range(len(ids)) if ids[k:k + len(answer)] == answer), None)
if start is None:
    print("the answer's tokens are not in the prepared row")
    sys.exit(4)
report_answer_labels(tok, ids, labels, start, len(answer))
