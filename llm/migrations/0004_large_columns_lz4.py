from django.db import migrations

from config.compression import compress_with_lz4


class Migration(migrations.Migration):
    """The prompts and replies of the call log and the cache, compressed with LZ4 on PostgreSQL
    (config.compression)."""

    dependencies = [
        ("llm", "0003_call_prompt_kept_once"),
    ]

    operations = [
        compress_with_lz4(
            ("llm.LLMCall", ["messages", "response_text"]),
            ("llm.CachedResponse", ["response_text"]),
        ),
    ]
