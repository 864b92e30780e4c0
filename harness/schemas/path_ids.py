"""The SFT data path ids, in one place that imports nothing (cases validate against it; adapters implement it)."""

PATH_IDS = ("text", "prompt_completion", "conversational_prompt_completion", "messages", "completion_only_collator",
            "chatml_collator", "completion_only_loss", "assistant_only_loss")
