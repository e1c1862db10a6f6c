from django.db import migrations

from config.compression import compress_with_lz4


class Migration(migrations.Migration):
    """A run persona's artefacts compressed with LZ4 on PostgreSQL (config.compression)."""

    dependencies = [
        ("studies", "0011_heldrun_chunk_size_heldrun_seed"),
    ]

    operations = [
        compress_with_lz4(
            ("studies.RunPersona", ["profile", "context", "consistency", "experience", "response"]),
        ),
    ]
