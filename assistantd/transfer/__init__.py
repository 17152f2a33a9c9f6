"""Moving data: ``assistantd export`` and ``assistantd import`` (archives, and dumps from OpenAI's API)."""
